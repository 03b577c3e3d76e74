"""The ``fhir`` claim writer: FHIR R4 Claim resources made from the same batch as the 837P."""

from __future__ import annotations

import json
from decimal import Decimal

import attrs
import pendulum
import pytest
from carecore_fhir import plugin as fhir_plugin
from carecore_fhir.claims import FhirClaimWriter, claim_bundle
from carecore_fhir.validate import structure_problems
from click.testing import CliRunner

from carecore.billing.claims import ClaimWriter, assemble_claims
from carecore.cli import make_app
from carecore.model import (
    AdministrativeSex,
    BillingIdentity,
    ClaimLine,
    Credential,
    Identifier,
    Patient,
    PatientAddress,
    PostalAddress,
    Practitioner,
    ServiceFamily,
    ServicePeriod,
)
from carecore.model.billing_identity import MBI_SYSTEM
from carecore.plugins import _collect, get_plugin_manager
from carecore.storage import open_store

MONTH = ServicePeriod.month(2026, 3)
CREATED = pendulum.datetime(2026, 4, 2, 9, 30, tz="UTC")
IDENTITY = BillingIdentity(
    id="practice",
    name="Lakeside Primary Care",
    npi="1245319599",
    tin="361234567",
    address=PostalAddress(line1="100 Main St", city="Chicago", state="IL", postal_code="606011234"),
    phone="3125550100",
    payer_id="06102",
)
DOCTOR = Practitioner(id="dr-ruiz", name="Dr. Ana Ruiz", credential=Credential.MD, npi="1234567893")
HOME = PostalAddress(line1="1 Elm St", city="Evanston", state="IL", postal_code="60201")


def _line(pid, code, amount, diagnoses, day, *, modifiers=(), units=1, family=ServiceFamily.CCM):
    return ClaimLine(
        patient_id=pid,
        code=code,
        units=units,
        family=family,
        billing_practitioner_id=DOCTOR.id,
        date_of_service=pendulum.Date(2026, 3, day),
        period=MONTH,
        modifiers=modifiers,
        amount=Decimal(amount),
        diagnoses=diagnoses,
    )


LINES = [
    _line("p1", "99490", "60.49", ("E11.9", "I10"), 12),
    _line("p1", "99439", "94.12", ("I10",), 26, units=2),
    _line("p2", "G0557", "49.00", ("N18.4",), 1, family=ServiceFamily.APCM),
    _line("p2", "99497", "84.44", ("I50.22",), 5, modifiers=("33",), family=ServiceFamily.ACP),
]
PATIENTS = {
    pid: Patient(
        id=pid,
        given_name=given,
        family_name="Okafor",
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone="America/Chicago",
    )
    for pid, given in (("p1", "Ada"), ("p2", "Ben"))
}
MBIS = {"p1": "1EG4TE5MK73", "p2": "2AA0A00AA01"}


def _batch(mbis=MBIS):
    return assemble_claims(
        LINES,
        period=MONTH,
        identity=IDENTITY,
        patients=PATIENTS,
        practitioners={DOCTOR.id: DOCTOR},
        addresses=dict.fromkeys(PATIENTS, HOME),
        mbis=mbis,
    )


def test_the_fhir_plugin_gives_the_fhir_claim_writer():
    pm = get_plugin_manager(entry_points=False)
    pm.register(fhir_plugin, name="fhir")
    writers = _collect(pm, "carecore_claim_writers", "claim writer", ClaimWriter)
    assert isinstance(writers["fhir"], FhirClaimWriter)


def test_every_resource_is_valid_fhir_r4():
    bundle = claim_bundle(_batch(), created=CREATED)
    assert structure_problems(bundle) == []
    for entry in bundle["entry"]:
        assert structure_problems(entry["resource"]) == [], entry["resource"]["resourceType"]


def test_claims_carry_the_batch_and_references_resolve():
    batch = _batch()
    bundle = claim_bundle(batch, created=CREATED)
    resources = {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
                 for e in bundle["entry"]}  # fmt: skip
    claims = [r for r in resources.values() if r["resourceType"] == "Claim"]
    assert len(claims) == len(batch.claims) == 2
    for claim in claims:
        for ref in (claim["patient"], claim["provider"], claim["careTeam"][0]["provider"],
                    claim["insurance"][0]["coverage"]):  # fmt: skip
            assert ref["reference"] in resources
        items = claim["item"]
        assert claim["total"]["value"] == pytest.approx(sum(i["net"]["value"] for i in items))
        for item in items:
            assert all(1 <= s <= len(claim["diagnosis"]) for s in item["diagnosisSequence"])
    total = sum(Decimal(str(c["total"]["value"])) for c in claims)
    assert total == sum(line.amount for line in LINES)
    p2 = next(c for c in claims if c["patient"]["reference"] == "Patient/p2")
    acp = next(i for i in p2["item"] if i["productOrService"]["coding"][0]["code"] == "99497")
    assert acp["modifier"][0]["coding"][0]["code"] == "33"
    apcm = next(i for i in p2["item"] if i["productOrService"]["coding"][0]["code"] == "G0557")
    assert apcm["productOrService"]["coding"][0]["system"].startswith("https://www.cms.gov/")
    patient = resources["Patient/p1"]
    assert patient["identifier"] == [{"system": MBI_SYSTEM, "value": "1EG4TE5MK73"}]
    organization = resources["Organization/practice"]
    assert {i["value"] for i in organization["identifier"]} == {"1245319599", "361234567"}


def test_a_refused_claim_is_not_in_the_bundle():
    batch = _batch({"p1": "1EG4TE5MK73"})
    assert [(r.patient_id, r.field) for r in batch.refusals] == [("p2", "patient.mbi")]
    bundle = claim_bundle(batch, created=CREATED)
    patients = {e["resource"]["id"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "Patient"}  # fmt: skip
    assert patients == {"p1"}


def test_cli_format_fhir_writes_a_bundle(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    store = open_store(url)
    store.initialize()
    with store.transaction(actor="t", reason="records", at=CREATED) as tx:
        for pid, patient in PATIENTS.items():
            tx.add(
                attrs.evolve(patient, identifiers=(Identifier(system=MBI_SYSTEM, value=MBIS[pid]),))
            )
            tx.add(PatientAddress(patient_id=pid, address=HOME))
        tx.add(DOCTOR)
        tx.add(IDENTITY)
        for line in LINES:
            tx.add(line)
    store.close()
    pm = get_plugin_manager(entry_points=False)
    pm.register(fhir_plugin, name="fhir")
    out = tmp_path / "claims.json"
    result = CliRunner().invoke(
        make_app(pm),
        ["billing", "claims", "--db", url, "--month", "2026-03", "--format", "fhir",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    bundle = json.loads(out.read_text(encoding="utf-8"))
    assert [e["resource"]["resourceType"] for e in bundle["entry"]].count("Claim") == 2
