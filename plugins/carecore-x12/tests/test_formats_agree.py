"""The 837P and the FHIR Claims of one batch carry the same claims, lines and charges."""

from __future__ import annotations

from decimal import Decimal

import pytest
from _records import CREATED, DOCTOR, IDENTITY, MONTH, NURSE_PRACTITIONER, family_lines, people
from _x12 import segments
from carecore_x12 import render_837p
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore.billing.claims import assemble_claims

claims_module = pytest.importorskip("carecore_fhir.claims")

LINES = family_lines()
PATIENTS, MBIS, ADDRESSES = people()


def _from_837p(text: str) -> dict[str, tuple[Decimal, list[tuple[str, int, Decimal, str, str]]]]:
    out: dict[str, tuple[Decimal, list[tuple[str, int, Decimal, str, str]]]] = {}
    current = ""
    diagnoses: list[str] = []
    pending: tuple[str, int, Decimal, list[str]] | None = None
    for seg in segments(text):
        if seg[0] == "CLM":
            current = seg[1]
            out[current] = (Decimal(seg[2]), [])
        elif seg[0] == "HI":
            diagnoses = [part.split(":")[1] for part in seg[1:]]
        elif seg[0] == "SV1":
            code = seg[1].split(":")[1]
            pointed = [diagnoses[int(p) - 1] for p in seg[7].split(":")]
            pending = (code, int(seg[4]), Decimal(seg[2]), pointed)
        elif seg[0] == "DTP" and seg[1] == "472" and pending is not None:
            code, units, charge, pointed = pending
            day = f"{seg[3][:4]}-{seg[3][4:6]}-{seg[3][6:]}"
            out[current][1].append((code, units, charge, day, ",".join(pointed)))
            pending = None
    return out


def _from_fhir(bundle: dict) -> dict[str, tuple[Decimal, list[tuple[str, int, Decimal, str, str]]]]:
    out = {}
    for entry in bundle["entry"]:
        claim = entry["resource"]
        if claim["resourceType"] != "Claim":
            continue
        codes = {
            d["sequence"]: d["diagnosisCodeableConcept"]["coding"][0]["code"].replace(".", "")
            for d in claim["diagnosis"]
        }
        items = [
            (
                item["productOrService"]["coding"][0]["code"],
                item["quantity"]["value"],
                Decimal(str(item["net"]["value"])).quantize(Decimal("0.01")).normalize(),
                item["servicedDate"],
                ",".join(codes[s] for s in item["diagnosisSequence"]),
            )
            for item in claim["item"]
        ]
        total = Decimal(str(claim["total"]["value"])).quantize(Decimal("0.01")).normalize()
        out[claim["identifier"][0]["value"]] = (total, items)
    return out


def _normal(found):
    return {
        number: (
            total.normalize(),
            [(c, u, charge.normalize(), d, p) for c, u, charge, d, p in items],
        )
        for number, (total, items) in found.items()
    }


@settings(max_examples=25, deadline=None)
@given(
    chosen=st.lists(st.sampled_from(range(len(LINES))), unique=True, min_size=1),
    without_mbi=st.sets(st.sampled_from(sorted(PATIENTS))),
)
def test_both_formats_carry_the_same_claims(chosen, without_mbi):
    batch = assemble_claims(
        [LINES[i] for i in sorted(chosen)],
        period=MONTH,
        identity=IDENTITY,
        patients=PATIENTS,
        practitioners={DOCTOR.id: DOCTOR, NURSE_PRACTITIONER.id: NURSE_PRACTITIONER},
        addresses=ADDRESSES,
        mbis={pid: mbi for pid, mbi in MBIS.items() if pid not in without_mbi},
    )
    bundle = claims_module.claim_bundle(batch, created=CREATED)
    from_fhir = _normal(_from_fhir(bundle))
    assert set(from_fhir) == {c.control_number for c in batch.claims}
    if batch.claims:
        assert _normal(_from_837p(render_837p(batch, created=CREATED))) == from_fhir
