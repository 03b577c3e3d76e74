"""Gap rules at their age boundaries and look-back edges, effective dates, and the rule hook."""

from __future__ import annotations

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.gaps import (
    GapStatus,
    Record,
    builtin_rules,
    closure_rate,
    evaluate,
    rule_from_dict,
    rules_in_effect,
)
from carecore.model import AdministrativeSex, CodeSystem, Coding, Condition, Patient

D = pendulum.Date


def patient(born, sex=AdministrativeSex.FEMALE, **kw):
    return Patient(
        id="p1",
        given_name="Ada",
        family_name="Lopez",
        birth_date=born,
        sex=sex,
        time_zone="UTC",
        **kw,
    )


def gaps(p, on, records=(), conditions=(), rules=None):
    return {
        g.rule_id: g
        for g in evaluate(p, on=on, records=records, conditions=conditions, rules=rules)
    }


DIABETES = Condition(
    id="c1",
    patient_id="p1",
    coding=Coding(system=CodeSystem.ICD10CM, code="E11.9"),
    onset=D(2020, 3, 1),
)


def test_every_rule_cites_its_source_and_versions_do_not_overlap():
    for rule in builtin_rules():
        assert rule.source.url.startswith("https://")
        assert rule.source.publisher
    for day in (D(2016, 1, 1), D(2021, 5, 17), D(2021, 5, 18), D(2024, 10, 23), D(2026, 12, 6)):
        ids = [r.id for r in rules_in_effect(day)]
        assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("on", "inside"),
    [
        (D(2025, 6, 14), False),  # the day before the 45th birthday
        (D(2025, 6, 15), True),  # the 45th birthday
        (D(2056, 6, 14), True),  # the last day at 75
        (D(2056, 6, 15), False),  # 76
    ],
)
def test_colorectal_screening_age_boundaries(on, inside):
    assert ("colorectal-cancer-screening" in gaps(patient(D(1980, 6, 15)), on)) is inside


def test_colorectal_screening_started_at_50_before_the_2021_update():
    p = patient(D(1974, 1, 1))  # 47 in May 2021
    assert "colorectal-cancer-screening" not in gaps(p, D(2021, 5, 17))
    assert "colorectal-cancer-screening" in gaps(p, D(2021, 5, 18))


def test_a_colonoscopy_counts_for_ten_years_to_the_day():
    p = patient(D(1955, 1, 1))
    scope = Record(id="pr1", system="SNOMED", code="73761001", on=D(2016, 4, 2), text="Colonoscopy")
    last_day = gaps(p, D(2026, 4, 1), [scope])["colorectal-cancer-screening"]
    assert last_day.status is GapStatus.CLOSED
    assert last_day.closed_by == ("pr1",)
    assert last_day.next_due == D(2026, 4, 2)
    due = gaps(p, D(2026, 4, 2), [scope])["colorectal-cancer-screening"]
    assert due.status is GapStatus.DUE
    assert due.since == D(2026, 4, 2)
    assert "stopped counting on 2026-04-02" in due.explanation
    overdue = gaps(p, D(2026, 7, 1), [scope])["colorectal-cancer-screening"]  # 90 days' grace
    assert (overdue.status, overdue.since) == (GapStatus.OVERDUE, D(2026, 7, 1))


def test_a_record_after_the_day_asked_about_does_not_count():
    p = patient(D(1955, 1, 1))
    scope = Record(id="pr1", system="CPT", code="45378", on=D(2026, 4, 2))
    assert gaps(p, D(2026, 4, 1), [scope])["colorectal-cancer-screening"].open


def test_influenza_is_by_season():
    p = patient(D(1950, 1, 1))
    flu = Record(id="i1", system="CVX", code="140", on=D(2025, 9, 30))
    assert gaps(p, D(2026, 7, 31), [flu])["influenza-vaccine"].status is GapStatus.CLOSED
    new_season = gaps(p, D(2026, 8, 1), [flu])["influenza-vaccine"]
    assert (new_season.status, new_season.since) == (GapStatus.DUE, D(2026, 8, 1))
    late = gaps(p, D(2026, 10, 31), [flu])["influenza-vaccine"]
    assert (late.status, late.since) == (GapStatus.OVERDUE, D(2026, 10, 31))


def test_zoster_needs_two_doses_and_pneumococcal_a_completed_series():
    p = patient(D(1950, 1, 1))
    one = [Record(id="z1", system="CVX", code="187", on=D(2024, 1, 1))]
    assert gaps(p, D(2026, 1, 1), one)["zoster-vaccine"].open
    assert "(1 of 2)" in gaps(p, D(2026, 1, 1), one)["zoster-vaccine"].explanation
    two = [*one, Record(id="z2", system="CVX", code="187", on=D(2024, 4, 1))]
    assert gaps(p, D(2026, 1, 1), two)["zoster-vaccine"].closed_by == ("z1", "z2")
    ppsv = [Record(id="v1", system="CVX", code="33", on=D(2020, 1, 1))]
    assert gaps(p, D(2026, 1, 1), ppsv)["pneumococcal-vaccine"].open
    both = [*ppsv, Record(id="v2", system="CVX", code="133", on=D(2019, 1, 1))]
    assert gaps(p, D(2026, 1, 1), both)["pneumococcal-vaccine"].status is GapStatus.CLOSED


def test_pneumococcal_age_moved_from_65_to_50_when_published_in_january_2025():
    """ACIP voted on 2024-10-23; the rule starts when the recommendation was published."""
    p = patient(D(1970, 1, 1))  # 54
    assert "pneumococcal-vaccine" not in gaps(p, D(2025, 1, 8))
    assert "pneumococcal-vaccine" in gaps(p, D(2025, 1, 9))


def test_sex_and_conditions_decide_the_population():
    man = patient(D(1955, 1, 1), sex=AdministrativeSex.MALE)
    assert "breast-cancer-screening" not in gaps(man, D(2026, 1, 1))
    assert "breast-cancer-screening" in gaps(patient(D(1955, 1, 1)), D(2026, 1, 1))
    assert "diabetes-a1c" not in gaps(man, D(2026, 1, 1))
    found = gaps(man, D(2026, 1, 1), conditions=[DIABETES])
    assert {
        "diabetes-a1c",
        "diabetes-eye-exam",
        "diabetes-kidney-health",
        "diabetes-bp-control",
    } <= set(found)
    assert "diabetes (E11.9)" in found["diabetes-a1c"].explanation
    # Overdue since the diagnosis (the later of it and the rule's start) plus 30 days' grace.
    assert found["diabetes-eye-exam"].since == D(2020, 3, 31)


def test_kidney_health_needs_both_labs_and_bp_control_reads_the_latest_reading():
    p = patient(D(1955, 1, 1))
    egfr = Record(id="l1", system="LOINC", code="33914-3", on=D(2025, 6, 1))
    uacr = Record(id="l2", system="LOINC", code="14959-1", on=D(2025, 7, 1))
    assert gaps(p, D(2026, 1, 1), [egfr], [DIABETES])["diabetes-kidney-health"].open
    closed = gaps(p, D(2026, 1, 1), [egfr, uacr], [DIABETES])["diabetes-kidney-health"]
    assert closed.closed_by == ("l1", "l2")
    assert closed.next_due == D(2026, 6, 1)  # the earlier lab lapses first
    bp = [
        Record(id="s1", system="LOINC", code="8480-6", on=D(2025, 5, 1), value=128),
        Record(id="d1", system="LOINC", code="8462-4", on=D(2025, 5, 1), value=78),
        Record(id="s2", system="LOINC", code="8480-6", on=D(2025, 11, 1), value=150),
        Record(id="d2", system="LOINC", code="8462-4", on=D(2025, 11, 1), value=85),
    ]
    high = gaps(p, D(2025, 11, 15), bp, [DIABETES])["diabetes-bp-control"]
    assert (high.status, high.since) == (GapStatus.DUE, D(2025, 11, 1))
    assert "150/85 on 2025-11-01 is not below 140/90" in high.explanation
    assert gaps(p, D(2025, 10, 1), bp, [DIABETES])["diabetes-bp-control"].closed_by == ("s1", "d1")


def test_exclusions_and_death():
    cancer = Condition(
        id="c2",
        patient_id="p1",
        coding=Coding(system=CodeSystem.ICD10CM, code="C18.9"),
        onset=D(2010, 1, 1),
    )
    assert "colorectal-cancer-screening" not in gaps(
        patient(D(1955, 1, 1)), D(2026, 1, 1), conditions=[cancer]
    )
    assert gaps(patient(D(1955, 1, 1), date_of_death=D(2025, 1, 1)), D(2026, 1, 1)) == {}


def test_an_organisation_rule_replaces_or_adds():
    statin = rule_from_dict(
        {
            "id": "statin-review",
            "title": "Statin therapy reviewed yearly",
            "effective_from": "2020-01-01",
            "population": {
                "min_age": 40,
                "conditions": [{"label": "diabetes", "ICD10CM": ["E11"]}],
            },
            "evidence": [
                {"label": "review", "steps": [{"CPT": ["4013F"], "lookback": {"years": 1}}]}
            ],
            "source": {
                "publisher": "Example payer",
                "title": "Statin measure",
                "url": "https://example.org/statin",
            },
        }
    )
    found = gaps(
        patient(D(1955, 1, 1)),
        D(2026, 1, 1),
        conditions=[DIABETES],
        rules=[*builtin_rules(), statin],
    )
    assert found["statin-review"].open
    with pytest.raises(errors.InvalidValue) as caught:
        rule_from_dict(
            {
                "id": "x",
                "effective_from": "2020-01-01",
                "evidence": [{"steps": [{"CPT": ["1"], "lookback": {"years": 1}}]}],
            }
        )
    assert caught.value.field == "rule[x].source.publisher"


def test_closure_rate():
    p = patient(D(1955, 1, 1))
    start = evaluate(p, on=D(2026, 1, 1))
    flu = Record(id="i1", system="CVX", code="140", on=D(2026, 1, 10))
    end = evaluate(p, on=D(2026, 1, 31), records=[flu])
    closed, opened = closure_rate(start, end)
    assert closed == 1
    assert opened == sum(g.open for g in start)


# -- property: a record that closes a gap never opens one ---------------------------

_codes = st.sampled_from(
    [
        ("CVX", "140"),
        ("CVX", "187"),
        ("CVX", "33"),
        ("CVX", "133"),
        ("CVX", "113"),
        ("SNOMED", "73761001"),
        ("CPT", "77067"),
        ("LOINC", "4548-4"),
        ("LOINC", "33914-3"),
        ("LOINC", "14959-1"),
        ("CPT", "92014"),
        # the rules added later: COVID-19, hepatitis B, RSV and conjugate pneumococcal doses,
        # depression, alcohol and HIV screening, blood pressure, cervical and bone density tests
        ("CVX", "309"),
        ("CVX", "43"),
        ("CVX", "189"),
        ("CVX", "305"),
        ("CVX", "216"),
        ("LOINC", "44261-6"),
        ("LOINC", "75626-2"),
        ("LOINC", "75622-1"),
        ("LOINC", "8480-6"),
        ("CPT", "88175"),
        ("CPT", "87624"),
        ("CPT", "77080"),
    ]
)
_records = st.lists(
    st.tuples(_codes, st.dates(min_value=D(2010, 1, 1), max_value=D(2026, 12, 31))), max_size=8
)


@settings(max_examples=150, deadline=None)
@given(
    records=_records,
    extra=st.tuples(_codes, st.dates(min_value=D(2010, 1, 1), max_value=D(2026, 12, 31))),
    born=st.dates(min_value=D(1930, 1, 1), max_value=D(1990, 1, 1)),
    on=st.dates(min_value=D(2016, 1, 1), max_value=D(2026, 12, 31)),
)
def test_a_record_that_closes_a_gap_never_opens_one(records, extra, born, on):
    p = patient(D(born.year, born.month, born.day))
    day = D(on.year, on.month, on.day)

    def rec(i, item):
        (system, code), when = item
        return Record(id=f"r{i}", system=system, code=code, on=D(when.year, when.month, when.day))

    base = [rec(i, r) for i, r in enumerate(records)]
    before = gaps(p, day, base, [DIABETES])
    after = gaps(p, day, [*base, rec(99, extra)], [DIABETES])
    assert set(before) == set(after)  # a record never changes who a rule is for
    for rule_id, gap in before.items():
        if not gap.open:
            assert not after[rule_id].open


def test_the_gap_rules_hook_adds_and_replaces_rules(tmp_path):
    from carecore.gaps._store import rule_set
    from carecore.plugins import get_plugin_manager, hookimpl

    class Payer:
        @hookimpl
        def carecore_gap_rules(self):
            return [
                {
                    "id": "influenza-vaccine",
                    "title": "Influenza vaccine (the payer's: from September 1)",
                    "effective_from": "2015-01-01",
                    "population": {"min_age": 65},
                    "evidence": [
                        {
                            "label": "flu shot",
                            "steps": [{"CVX": ["140"], "lookback": {"season_start": "09-01"}}],
                        }
                    ],
                    "source": {
                        "publisher": "Example payer",
                        "title": "Flu measure",
                        "url": "https://example.org/flu",
                    },
                }
            ]

    pm = get_plugin_manager(entry_points=False)
    pm.register(Payer(), name="payer")
    rules = rule_set(pm)
    flu = [r for r in rules if r.id == "influenza-vaccine"]
    assert [r.source.publisher for r in flu] == ["Example payer"]  # every built-in version replaced
    assert {r.id for r in rules} >= {"colorectal-cancer-screening", "zoster-vaccine"}
    found = gaps(patient(D(1950, 1, 1)), D(2026, 8, 15), rules=rules)
    # The payer's season starts September 1 (the built-in one, August 1, would be due since
    # 2026-08-01): on 2026-08-15 it is still last season, overdue after 90 days' grace.
    flu_gap = found["influenza-vaccine"]
    assert (flu_gap.status, flu_gap.since) == (GapStatus.OVERDUE, D(2025, 11, 30))

    class Broken:
        @hookimpl
        def carecore_gap_rules(self):
            return "not rules"

    pm.register(Broken(), name="broken")
    with pytest.raises(errors.PluginError):
        rule_set(pm)
