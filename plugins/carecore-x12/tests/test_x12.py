"""The 837P writer: pyx12 finds no error, the loops are in order, refusals keep the rest."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from _records import (
    CREATED,
    DOCTOR,
    FAMILIES,
    IDENTITY,
    MONTH,
    family_batch,
    family_lines,
    people,
)
from _x12 import pyx12_errors, segments
from carecore_x12 import X12ClaimWriter, render_837p

from carecore import errors
from carecore.billing.claims import assemble_claims

GOLDEN = Path(__file__).parent / "golden" / "families.837"


def test_one_claim_of_each_code_family_validates_with_pyx12():
    batch = family_batch()
    assert not batch.refusals
    assert {c.lines[0].family for c in batch.claims} == {family for family, _ in FAMILIES}
    assert pyx12_errors(render_837p(batch, created=CREATED)) == []


def test_the_file_is_the_golden_file():
    text = render_837p(family_batch(), created=CREATED)
    if os.environ.get("CARECORE_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="ascii")
    assert text == GOLDEN.read_text(encoding="ascii")


def test_pyx12_reports_a_broken_file():
    # The validator is live: a wrong code in a known place is an error.
    text = render_837p(family_batch(), created=CREATED).replace("*UN*", "*XX*", 1)
    assert pyx12_errors(text)


def _loops(text: str) -> list[str]:
    """Each segment named by its loop, as the implementation guide orders them."""
    names = []
    loop = "header"
    for seg in segments(text):
        sid = seg[0]
        if sid == "NM1":
            loop = {
                "41": "1000A",
                "40": "1000B",
                "85": "2010AA",
                "IL": "2010BA",
                "PR": "2010BB",
                "82": "2310B",
            }[seg[1]]
        elif sid == "HL":
            loop = {"20": "2000A", "22": "2000B"}[seg[3]]
        elif sid == "CLM":
            loop = "2300"
        elif sid == "LX":
            loop = "2400"
        elif sid in {"SE", "GE", "IEA"}:
            loop = "trailer"
        names.append(f"{loop}:{sid}")
    return names


def test_segments_come_in_the_guides_order():
    names = _loops(render_837p(family_batch(), created=CREATED))
    head = [
        "header:ISA",
        "header:GS",
        "header:ST",
        "header:BHT",
        "1000A:NM1",
        "1000A:PER",
        "1000B:NM1",
        "2000A:HL",
        "2000A:PRV",
        "2010AA:NM1",
        "2010AA:N3",
        "2010AA:N4",
        "2010AA:REF",
    ]
    assert names[: len(head)] == head
    assert names[-3:] == ["trailer:SE", "trailer:GE", "trailer:IEA"]
    subscriber = [
        "2000B:HL",
        "2000B:SBR",
        "2010BA:NM1",
        "2010BA:N3",
        "2010BA:N4",
        "2010BA:DMG",
        "2010BB:NM1",
        "2300:CLM",
        "2300:REF",
        "2300:HI",
        "2310B:NM1",
    ]
    body = names[len(head) : -3]
    starts = [i for i, n in enumerate(body) if n == "2000B:HL"]
    assert len(starts) == len(FAMILIES)
    for start, end in zip(starts, [*starts[1:], len(body)], strict=True):
        one = body[start:end]
        assert one[: len(subscriber)] == subscriber
        lines = one[len(subscriber) :]
        assert lines == ["2400:LX", "2400:SV1", "2400:DTP"] * (len(lines) // 3)
        assert lines


def test_hierarchy_counts_and_totals():
    batch = family_batch()
    segs = segments(render_837p(batch, created=CREATED))
    hls = [s for s in segs if s[0] == "HL"]
    assert hls[0][1:] == ["1", "", "20", "1"]
    assert [h[1] for h in hls] == [str(n) for n in range(1, len(hls) + 1)]
    assert all(h[2] == "1" and h[3] == "22" and h[4] == "0" for h in hls[1:])
    st = next(i for i, s in enumerate(segs) if s[0] == "ST")
    se = next(i for i, s in enumerate(segs) if s[0] == "SE")
    assert segs[se][1] == str(se - st + 1)
    isa, iea = segs[0], segs[-1]
    assert isa[13] == iea[2]
    # Claim totals are the sums of their lines, and the file's are the month's lines.
    charges = [Decimal(s[2]) for s in segs if s[0] == "SV1"]
    claims = [Decimal(s[2]) for s in segs if s[0] == "CLM"]
    expected = sum((line.amount for line in family_lines()), Decimal(0))
    assert sum(charges) == sum(claims) == expected == batch.total
    assert len(charges) == len(family_lines()) == batch.line_count


def test_pointers_name_the_lines_own_diagnoses():
    segs = segments(render_837p(family_batch(), created=CREATED))
    diagnoses: list[str] = []
    for seg in segs:
        if seg[0] == "HI":
            diagnoses = [part.split(":")[1] for part in seg[1:]]
            assert seg[1].startswith("ABK:")
            assert all(part.startswith("ABF:") for part in seg[2:])
        if seg[0] == "SV1":
            code = seg[1].split(":")[1]
            pointed = [diagnoses[int(p) - 1] for p in seg[7].split(":")]
            line = next(x for x in family_lines() if x.code == code)
            assert pointed == [d.replace(".", "") for d in line.diagnoses]


def test_modifiers_units_and_place_of_service():
    segs = segments(render_837p(family_batch(), created=CREATED))
    sv1 = {s[1]: s for s in segs if s[0] == "SV1"}
    assert sv1["HC:99497:33"][3:5] == ["UN", "1"]
    assert sv1["HC:99439"][3:5] == ["UN", "2"]
    assert {s[5] for s in segs if s[0] == "CLM"} == {"11:B:1"}


def _refused(**overrides):
    patients, mbis, addresses = people()
    records = {
        "patients": patients,
        "mbis": mbis,
        "addresses": addresses,
        "practitioners": {DOCTOR.id: DOCTOR, "np-obi": attrs.evolve(DOCTOR, id="np-obi")},
    }
    lines = overrides.pop("lines", family_lines())
    for key, change in overrides.items():
        records[key] = change(dict(records[key]))
    return assemble_claims(lines, period=MONTH, identity=IDENTITY, **records)


def _without(key):
    def change(mapping):
        del mapping[key]
        return mapping

    return change


@pytest.mark.parametrize(
    ("overrides", "patient", "field"),
    [
        ({"patients": _without("p-ccm")}, "p-ccm", "patient"),
        ({"mbis": _without("p-pcm")}, "p-pcm", "patient.mbi"),
        ({"mbis": lambda m: {**m, "p-bhi": "1EG4TE5MKS3"}}, "p-bhi", "patient.mbi"),
        ({"addresses": _without("p-tcm")}, "p-tcm", "patient.address"),
        (
            {
                "practitioners": lambda m: {
                    **m,
                    "np-obi": attrs.evolve(DOCTOR, id="np-obi", npi=None),
                }
            },
            "p-acp",
            "practitioner.npi",
        ),
        ({"practitioners": _without("np-obi")}, "p-acp", "practitioner"),
        (
            {
                "lines": [
                    attrs.evolve(x, amount=None) if x.code == "99458" else x for x in family_lines()
                ]
            },
            "p-rpm",
            "claim_line.amount",
        ),
        (
            {
                "lines": [
                    attrs.evolve(x, diagnoses=()) if x.code == "98977" else x
                    for x in family_lines()
                ]
            },
            "p-rtm",
            "claim_line.diagnoses",
        ),
    ],
)
def test_a_claim_the_records_cannot_support_is_refused_and_the_rest_written(
    overrides, patient, field
):
    batch = _refused(**overrides)
    (refusal,) = batch.refusals
    assert (refusal.patient_id, refusal.field) == (patient, field)
    assert refusal.reason
    assert len(batch.claims) == len(FAMILIES) - 1
    assert patient not in {c.patient.id for c in batch.claims}
    text = render_837p(batch, created=CREATED)
    assert f"REF*EA*{patient}~" not in text
    assert pyx12_errors(text) == []


def test_a_refusal_names_no_phi():
    batch = _refused(mbis=lambda m: {**m, "p-bhi": "1EG4TE5MKS3"})
    (refusal,) = batch.refusals
    assert "1EG4TE5MKS3" not in str(refusal)
    assert "p-bhi" in str(refusal)


def test_more_than_twelve_diagnoses_refuses_the_claim():
    codes = ["E11.9", "I10", "I50.22", "J44.1", "N18.4", "F33.1", "G30.9", "I25.10", "E66.01"]
    codes += ["M17.11", "Z59.00", "C34.90", "E78.5"]
    lines = [
        attrs.evolve(family_lines()[0], code=code, diagnoses=(dx,))
        for code, dx in zip(
            [f"9949{n}" for n in range(10)] + ["99439", "99487", "99489"], codes, strict=True
        )
    ]
    batch = _refused(lines=lines)
    assert [(r.patient_id, r.field) for r in batch.refusals] == [("p-ccm", "diagnoses")]


def test_names_and_separators_are_made_safe():
    patients, mbis, addresses = people()
    patients["p-ccm"] = attrs.evolve(
        patients["p-ccm"], family_name="Núñez*Smith~", given_name="Zoë"
    )
    batch = assemble_claims(
        family_lines(),
        period=MONTH,
        identity=IDENTITY,
        patients=patients,
        practitioners={DOCTOR.id: DOCTOR, "np-obi": attrs.evolve(DOCTOR, id="np-obi")},
        addresses=addresses,
        mbis=mbis,
    )
    text = render_837p(batch, created=CREATED)
    assert "NM1*IL*1*Nunez Smith*Zoe****MI*" in text
    assert pyx12_errors(text) == []


def test_a_batch_without_identity_is_a_typed_error():
    batch = attrs.evolve(family_batch(), identity=None)
    with pytest.raises(errors.InvalidValue) as info:
        render_837p(batch, created=CREATED)
    assert info.value.field == "identity"


def test_the_writer_writes_ascii_bytes(tmp_path):
    path = tmp_path / "claims.837"
    with path.open("wb") as out:
        X12ClaimWriter().write(family_batch(), out, created=CREATED)
    assert path.read_bytes() == render_837p(family_batch(), created=CREATED).encode("ascii")
