from __future__ import annotations

import pytest
from carecore_fhir import plugin
from carecore_fhir.source import FhirSource

from carecore.protocols import EhrSource
from carecore.testing.contracts import PluginContract


class TestFhirPlugin(PluginContract):
    @pytest.fixture
    def plugin(self):
        return plugin


def test_the_source_is_an_ehr_source(tmp_path):
    source = FhirSource()
    assert isinstance(source, EhrSource)
    assert source.can_read("https://ehr.example/fhir")
    assert not source.can_read("feed.hl7")
    bundle = tmp_path / "one.json"
    bundle.write_text(
        '{"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1941-08-11",'
        ' "name": [{"family": "Barton", "given": ["Dino"]}]}'
    )
    (patient,) = source.read(str(bundle))
    assert (patient.id, patient.family_name) == ("p1", "Barton")
