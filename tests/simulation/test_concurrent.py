"""A patient in several monthly families at once (ProgramPolicy.concurrent_families).

The policy takes each family the engine bills together with the ones taken
before it; the patient's month goes to the engine once, with every family's
time, and the engine decides what is billed.
"""

from __future__ import annotations

import collections
from decimal import Decimal

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.billing import evaluate
from carecore.billing._engine import CONFLICTS
from carecore.model import Credential, ServiceFamily, ServicePeriod
from carecore.simulation import (
    PopulationSpec,
    ProgramPolicy,
    StaffRole,
    Study,
    billing_facts,
    policy_rules,
    run_replication,
    study_from_mapping,
)

pytest.importorskip("numpy")

F = ServiceFamily
#: The codes of each family a month of these studies can bill.
CCM_CODES = {"99490", "99439", "99491", "99437", "99487", "99489"}
BHI_CODES = {"99484"}


def _policy(families: tuple[ServiceFamily, ...], capacity: int = 20_000, reach: int = 400):
    return ProgramPolicy(
        families=families,
        concurrent_families=True,
        outreach_per_month=reach,
        enrollment_probability=1.0,
        staff=(StaffRole(capacity_minutes_per_fte_month=capacity),),
    )


def _month_lines(rep) -> dict[tuple[str, object], tuple[tuple[str, int, Decimal], ...]]:
    """The recorded claim lines of each patient-month, as the table's memo keeps them."""
    found: dict[tuple[str, object], list[tuple[str, int, Decimal]]] = collections.defaultdict(list)
    for line in rep.claim_lines:
        found[line.patient_id, line.period.start].append(
            (line.code, line.units, line.amount or Decimal(0))
        )
    return {key: tuple(sorted(lines)) for key, lines in found.items()}


def _engine_months(study: Study, rep):
    """Each recorded patient-month rebuilt from the recording and put to the engine directly.

    Yields ((patient id, month start), families, the engine's lines).
    """
    rules = policy_rules(study.policy)
    started = {}
    for enrollment in rep.enrollments:
        started.setdefault(enrollment.patient_id, enrollment.history[0].on)
    care = collections.defaultdict(list)
    for month in rep.recording.care:
        care[month.patient, month.month].append(month)
    for (patient, month), families in care.items():
        year, mon = (int(x) for x in month.split("-"))
        period = ServicePeriod.month(year, mon)
        time = tuple((c.family, sum(c.minutes), len(c.minutes)) for c in families)
        (first, minutes, contacts), *rest = time
        facts = billing_facts(
            period=period,
            conditions=rep.recording.patients[patient].conditions,
            family=first,
            start=started[f"p{patient}"],
            minutes=minutes,
            contacts=contacts,
            credential=Credential.RN,
            concurrent=tuple(rest),
        )
        lines = tuple(
            sorted(
                (line.code, line.units, line.amount or Decimal(0))
                for line in evaluate(facts, rules).claim_lines
            )
        )
        yield (f"p{patient}", period.start), {c.family for c in families}, lines


def test_a_patient_takes_only_families_the_engine_bills_together():
    study = Study(
        months=2,
        population=PopulationSpec(size=600, medicare_share=1.0),
        policy=_policy((F.CCM, F.PCM, F.APCM, F.BHI, F.RPM)),
    )
    rep = run_replication(study, 4, 0, record=True)
    families = collections.defaultdict(set)
    for enrollment in rep.enrollments:
        families[enrollment.patient_id].add(enrollment.family)
    assert any({F.CCM, F.BHI} <= fams for fams in families.values())
    assert any({F.CCM, F.RPM} <= fams for fams in families.values())
    for fams in families.values():
        for first, second in CONFLICTS:
            assert not {first, second} <= fams
    # without concurrent families, one family per patient, as before
    single = attrs.evolve(study, policy=attrs.evolve(study.policy, concurrent_families=False))
    alone = run_replication(single, 4, 0, record=True)
    ids = [e.patient_id for e in alone.enrollments]
    assert len(ids) == len(set(ids))


def test_ccm_and_bhi_are_both_billed_for_one_patient_month_as_the_engine_bills_them():
    study = Study(
        months=3,
        population=PopulationSpec(size=500, medicare_share=1.0),
        policy=_policy((F.CCM, F.BHI)),
    )
    rep = run_replication(study, 2, 0, record=True)
    table = _month_lines(rep)
    both = 0
    for key, families, engine in _engine_months(study, rep):
        assert table.get(key, ()) == engine
        codes = {code for code, _units, _amount in engine}
        if codes & CCM_CODES and codes & BHI_CODES:
            assert families == {F.CCM, F.BHI}
            both += 1
    assert both > 10
    # every BHI patient has the behavioral condition; the memo's table is the engine's
    assert all(
        "F32.A" in {c.icd10 for c in rep.recording.patients[int(e.patient_id[1:])].conditions}
        for e in rep.enrollments
        if e.family is F.BHI
    )
    plain = run_replication(study, 2, 0)
    assert plain.months == rep.months
    revenue = {name: value for _month, values in rep.months for name, value in values}
    assert revenue["revenue_99484"] > 0
    assert revenue["revenue_99490"] > 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    families=st.permutations([F.CCM, F.PCM, F.BHI, F.APCM]).map(lambda f: tuple(f[:3])),
    capacity=st.integers(0, 6000),
    size=st.integers(20, 200),
    months=st.integers(1, 3),
    start_month=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_each_concurrent_month_equals_the_engine_on_that_month(  # noqa: PLR0917 - hypothesis gives them
    families, capacity, size, months, start_month, seed
):
    # The memoised table equals the recorded one (each month through the engine), and each
    # recorded patient-month equals the engine called on the facts rebuilt from the recording.
    study = Study(
        months=months,
        start_month=start_month,
        population=PopulationSpec(size=size, medicare_share=0.9),
        policy=_policy(families, capacity, reach=size),
    )
    rep = run_replication(study, seed, 0, record=True)
    assert repr(run_replication(study, seed, 0).months) == repr(rep.months)  # NaN alike
    table = _month_lines(rep)
    for key, _families, engine in _engine_months(study, rep):
        assert table.get(key, ()) == engine
    for _month, values in rep.months:
        value = dict(values)
        assert value["minutes_billed"] <= value["minutes_logged"] <= value["capacity_minutes"]


def test_capacity_is_shared_between_a_patients_families():
    study = Study(
        months=2,
        population=PopulationSpec(size=800, medicare_share=1.0),
        policy=_policy((F.CCM, F.BHI, F.RPM), capacity=3000),
    )
    rep = run_replication(study, 9, 0, record=True)
    logged = collections.Counter()
    for care in rep.recording.care:
        logged[care.month] += sum(care.minutes)
    for month, values in rep.months:
        value = dict(values)
        assert value["minutes_logged"] == logged[month] <= 3000
        assert value["minutes_wanted"] > value["capacity_minutes"]  # it binds


def test_concurrent_families_is_read_from_a_config_and_refused_by_name():
    study = study_from_mapping(
        {"policy": {"families": ["CCM", "BHI"], "concurrent_families": True}}
    )
    assert study.policy.concurrent_families is True
    with pytest.raises(errors.InvalidValue) as caught:
        study_from_mapping({"policy": {"concurrent_families": "yes"}})
    assert caught.value.field == "policy.concurrent_families"
