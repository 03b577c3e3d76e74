"""FHIR servers must be https:// unless cleartext is allowed on purpose (issue 20).

``--insecure`` for ``fhir pull``, ``CARECORE_FHIR_INSECURE=1`` or ``fhir_insecure``
in the settings file for the rest; a loopback test server opts in.
"""

from __future__ import annotations

import pytest
from carecore_fhir.rest import FhirClient
from carecore_fhir.source import FhirSource
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.service import ImportRefusal


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for var in ("CARECORE_FHIR_INSECURE", "CARECORE_CONFIG", "CARECORE_DB"):
        monkeypatch.delenv(var, raising=False)


def test_an_http_server_is_refused_naming_the_field_and_the_url():
    with pytest.raises(errors.InsecureTransport) as info:
        FhirClient("http://ehr.example/fhir")
    assert info.value.field == "base_url"
    assert "http://ehr.example/fhir" in str(info.value)
    assert "--insecure" in str(info.value)


def test_https_needs_no_permission():
    with FhirClient("https://ehr.example/fhir") as client:
        assert not client.insecure


def test_an_http_link_from_an_https_server_is_refused():
    with (
        FhirClient("https://ehr.example/fhir") as client,
        pytest.raises(errors.InsecureTransport) as info,
    ):
        client.request("GET", "http://ehr.example/fhir/Patient?page=2")
    assert info.value.field == "url"


def test_the_source_refuses_an_http_server_unless_allowed(fhir_server, monkeypatch):
    (refusal,) = list(FhirSource().read(fhir_server.base))
    assert isinstance(refusal, ImportRefusal)
    assert "InsecureTransport" in refusal.reason
    monkeypatch.setenv("CARECORE_FHIR_INSECURE", "1")
    assert not any(isinstance(v, ImportRefusal) for v in FhirSource().read(fhir_server.base))


def _pull(fhir_server, tmp_path, *options, config=None):
    db = f"sqlite:///{tmp_path / 'pull.db'}"
    app = make_app()
    assert CliRunner().invoke(app, ["db", "init", db]).exit_code == 0
    if config is not None:
        (tmp_path / "carecore.toml").write_text(config, encoding="utf-8")
    return CliRunner().invoke(app, ["fhir", "pull", fhir_server.base, "--db", db, *options])


def test_pull_from_an_http_server_exits_2_without_insecure(fhir_server, tmp_path):
    result = _pull(fhir_server, tmp_path)
    assert result.exit_code == 2, result.output
    assert "--insecure" in result.output
    assert fhir_server.store.requests == []


def test_pull_with_insecure_reads_the_loopback_server(fhir_server, tmp_path):
    result = _pull(fhir_server, tmp_path, "--insecure")
    assert result.exit_code == 0, result.output


def test_pull_with_the_settings_file_key(fhir_server, tmp_path):
    result = _pull(fhir_server, tmp_path, config="fhir_insecure = true\n")
    assert result.exit_code == 0, result.output
