"""The month-close fast path gives exactly the reference engine's result."""

from __future__ import annotations

import attrs
import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore.billing import cms_rule_set, evaluate
from carecore.billing._fast import FAST_FAMILIES, FastClose
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    CarePlanAction,
    CarePlanFact,
    ChronicCondition,
    PatientFacts,
    Setting,
    TimeFact,
    VisitFact,
)
from carecore.billing.rules import DateOfService, Switches
from carecore.model import (
    Credential,
    MdmLevel,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    VisitKind,
)

FAMILIES = sorted(FAST_FAMILIES, key=lambda f: f.value)


@st.composite
def time_only_months(draw):
    year = draw(st.sampled_from((2024, 2025, 2026)))
    period = ServicePeriod.month(year, draw(st.integers(1, 12)))
    around = st.dates(
        min_value=(period.start.subtract(years=3)), max_value=period.end.add(days=40)
    ).map(lambda d: pendulum.Date(d.year, d.month, d.day))
    patient = PatientFacts(
        id=draw(st.sampled_from(("p1", "p-2", "x"))),
        conditions=draw(
            st.lists(
                st.builds(
                    ChronicCondition,
                    icd10=st.sampled_from(("E11.65", "I10", "F33.1")),
                    expected_duration_months=st.none() | st.integers(0, 30),
                    significant_risk=st.booleans(),
                    behavioral=st.booleans(),
                ),
                max_size=3,
            )
        ),
        consent_on=draw(st.dictionaries(st.sampled_from(FAMILIES), st.none() | around, max_size=3)),
        care_plan_on=draw(
            st.dictionaries(st.sampled_from(FAMILIES), st.none() | around, max_size=3)
        ),
        established=draw(st.booleans()),
        last_visit=draw(st.none() | around),
        qmb=draw(st.booleans()),
        date_of_death=draw(st.none() | around),
    )
    practitioner = BillingPractitioner(
        id=draw(st.sampled_from(("dr1", "dr_pcp"))),
        credential=draw(
            st.sampled_from((Credential.MD, Credential.NP, Credential.LCSW, Credential.CP))
        ),
        primary_care_focal_point=draw(st.booleans()),
    )
    entries = draw(
        st.lists(
            st.tuples(
                st.dates(
                    min_value=period.start.subtract(days=5), max_value=period.end.add(days=5)
                ).map(lambda d: pendulum.Date(d.year, d.month, d.day)),
                st.integers(1, 70),
                st.sampled_from(RoleClass),
                st.sampled_from(FAMILIES),
                st.none()
                | st.sampled_from(
                    (
                        Credential.RN,
                        Credential.MD,
                        Credential.MA,
                        Credential.CHW,
                        Credential.NP,
                        Credential.LCSW,
                    )
                ),
                st.booleans(),
            ),
            max_size=9,
        )
    )
    switches = draw(
        st.sampled_from(
            (
                Switches(),
                Switches(date_of_service=DateOfService.PERIOD_END),
                Switches(personal_time_needs_billing_credential=False),
            )
        )
    )
    return period, patient, practitioner, entries, cms_rule_set(year, switches=switches)


@settings(max_examples=400)
@given(time_only_months())
def test_fast_path_equals_reference(month):
    period, patient, practitioner, entries, rules = month
    reference = evaluate(
        BillingFacts(
            period=period,
            setting=Setting.PHYSICIAN_OFFICE,
            practitioners=[practitioner],
            patient=patient,
            events=[
                TimeFact(
                    date=d,
                    minutes=m,
                    role=r,
                    practitioner=practitioner.id,
                    family=f,
                    credential=c,
                    interactive=i,
                )
                for d, m, r, f, c, i in entries
            ],
        ),
        rules,
    )
    fast = FastClose(rules, period)
    # Twice: once filling the cache, once from it.
    for _ in range(2):
        got = fast.evaluate(patient, practitioner, entries)
        assert got.claim_lines == reference.claim_lines
        assert got.denials == reference.denials
        assert got.hints == reference.hints
    # Months the canonical form cannot decide (time before consent or after death, codes
    # a refusal must name) go to the reference engine, not the cache.
    inside = [e for e in entries if period.start <= e[0] <= period.end]
    assert fast.hits == (1 if fast.takes(patient, inside) else 0)


def test_cache_is_shared_across_patients():
    rules = cms_rule_set(2026)
    period = ServicePeriod.month(2026, 3)
    fast = FastClose(rules, period)
    pr = BillingPractitioner(id="dr1", credential=Credential.MD)
    for index in range(50):
        patient = PatientFacts(
            id=f"p{index}",
            conditions=[
                ChronicCondition(icd10="E11.65", significant_risk=True),
                ChronicCondition(icd10="I10", significant_risk=True),
            ],
            consent_on={ServiceFamily.CCM: pendulum.Date(2025, 1 + index % 12, 1)},
            care_plan_on={ServiceFamily.CCM: pendulum.Date(2025, 1, 1)},
            last_visit=pendulum.Date(2025, 1, 1),
        )
        day = pendulum.Date(2026, 3, 1 + index % 28)
        result = fast.evaluate(
            patient,
            pr,
            [(day, 22, RoleClass.CLINICAL_STAFF, ServiceFamily.CCM, Credential.RN, False)],
        )
        assert result.billable == [("99490", 1)]
        assert result.claim_lines[0].date_of_service == day
        assert result.claim_lines[0].patient_id == f"p{index}"
    assert fast.misses == 1


@st.composite
def store_months(draw):
    """A time-only month as a store reads it: time facts, with visits and care-plan events before it.

    Drawn mostly eligible (qualifying conditions, consent and enough minutes),
    so that the visits and care-plan events decide the month.
    """
    period, patient, practitioner, entries, rules = draw(time_only_months())
    if draw(st.booleans()):
        before_start = st.dates(
            min_value=period.start.subtract(years=2), max_value=period.start
        ).map(lambda d: pendulum.Date(d.year, d.month, d.day))
        patient = attrs.evolve(
            patient,
            conditions=[
                ChronicCondition(icd10="E11.65", significant_risk=True),
                ChronicCondition(icd10="I10", significant_risk=True),
                ChronicCondition(icd10="F33.1", significant_risk=True, behavioral=True),
            ],
            consent_on=draw(
                st.dictionaries(st.sampled_from(FAMILIES), before_start, min_size=1, max_size=3)
            ),
            care_plan_on=draw(
                st.dictionaries(st.sampled_from(FAMILIES), st.none() | before_start, max_size=2)
            ),
            last_visit=draw(st.none() | before_start),
            date_of_death=None,
        )
        entries = [
            (period.start.add(days=draw(st.integers(0, 27))), m, r, f, c, i)
            for _, m, r, f, c, i in entries
        ]
    before = st.dates(
        min_value=period.start.subtract(years=2), max_value=period.start.subtract(days=1)
    ).map(lambda d: pendulum.Date(d.year, d.month, d.day))
    visits = draw(
        st.lists(
            st.builds(
                VisitFact,
                date=before,
                kind=st.sampled_from(VisitKind),
                mdm=st.sampled_from(MdmLevel),
                practitioner=st.sampled_from((practitioner.id, "dr-other")),
                em_code=st.sampled_from((None, "99211", "99214")),
            ),
            max_size=3,
        )
    )
    plan_events = draw(
        st.lists(
            st.builds(
                CarePlanFact,
                date=before,
                family=st.sampled_from((*FAMILIES, ServiceFamily.RPM)),
                action=st.sampled_from(CarePlanAction),
                practitioner=st.just(practitioner.id),
            ),
            max_size=3,
        )
    )
    time_facts = [
        TimeFact(
            date=d,
            minutes=m,
            role=r,
            practitioner=practitioner.id,
            family=f,
            credential=c,
            interactive=i,
            activity="care management",
        )
        for d, m, r, f, c, i in entries
        if period.start <= d <= period.end  # the store reads the month's entries
    ]
    events = draw(st.permutations([*time_facts, *visits, *plan_events]))
    facts = BillingFacts(
        period=period,
        setting=Setting.PHYSICIAN_OFFICE,
        practitioners=[practitioner],
        patient=patient,
        events=events,
    )
    return facts, rules


@settings(max_examples=400)
@given(store_months())
def test_store_fast_path_equals_reference(month):
    """The store close's fast path gives the engine's result for every month it decides."""
    facts, rules = month
    reference = evaluate(facts, rules)
    fast = FastClose(rules, facts.period)
    inside = [
        (e.date, e.minutes, e.role, e.family, e.credential, e.interactive)
        for e in facts.events
        if isinstance(e, TimeFact)
    ]
    for _ in range(2):  # once filling the cache, once from it
        got = fast.evaluate_facts(facts)
        if got is None:
            # Only months the canonical form cannot decide go to the engine.
            assert not fast.takes(facts.patient, inside)
            return
        assert got.claim_lines == reference.claim_lines
        assert got.denials == reference.denials
        assert got.hints == reference.hints
    assert fast.hits == 1


def test_store_fast_path_declines_other_events():
    """A visit in the month, another practitioner's time or a second practitioner go to the engine."""
    rules = cms_rule_set(2026)
    period = ServicePeriod.month(2026, 3)
    pr = BillingPractitioner(id="dr1", credential=Credential.MD)
    patient = PatientFacts(
        id="p1",
        conditions=[
            ChronicCondition(icd10="E11.65", significant_risk=True),
            ChronicCondition(icd10="I10", significant_risk=True),
        ],
        consent_on={ServiceFamily.CCM: pendulum.Date(2025, 6, 1)},
        care_plan_on={ServiceFamily.CCM: pendulum.Date(2025, 6, 1)},
    )

    def minutes(practitioner="dr1"):
        return TimeFact(
            date=pendulum.Date(2026, 3, 4),
            minutes=25,
            role=RoleClass.CLINICAL_STAFF,
            practitioner=practitioner,
            family=ServiceFamily.CCM,
            credential=Credential.RN,
        )

    def visit(day):
        return VisitFact(
            date=day, kind=VisitKind.OFFICE_EM, mdm=MdmLevel.MODERATE, practitioner="dr1"
        )

    def facts(events, practitioners=(pr,)):
        return BillingFacts(
            period=period,
            setting=Setting.PHYSICIAN_OFFICE,
            practitioners=list(practitioners),
            patient=patient,
            events=events,
        )

    fast = FastClose(rules, period)
    decided = fast.evaluate_facts(facts([minutes(), visit(pendulum.Date(2025, 6, 1))]))
    assert decided is not None
    assert decided.billable == [("99490", 1)]
    assert decided.claim_lines[0].patient_id == "p1"
    assert fast.evaluate_facts(facts([minutes(), visit(pendulum.Date(2026, 3, 2))])) is None
    assert fast.evaluate_facts(facts([minutes("dr2")])) is None
    other = BillingPractitioner(id="dr2", credential=Credential.MD)
    assert fast.evaluate_facts(facts([minutes()], (pr, other))) is None


def _reference(period, patient, practitioner, entries, rules):
    return evaluate(
        BillingFacts(
            period=period,
            setting=Setting.PHYSICIAN_OFFICE,
            practitioners=[practitioner],
            patient=patient,
            events=[
                TimeFact(
                    date=d,
                    minutes=m,
                    role=r,
                    practitioner=practitioner.id,
                    family=f,
                    credential=c,
                    interactive=i,
                )
                for d, m, r, f, c, i in entries
            ],
        ),
        rules,
    )


@settings(max_examples=300)
@given(time_only_months(), st.data())
def test_minute_bands_equal_reference(month, data):
    """One cache over many months of a patient: months of one band of minutes are filled in."""
    period, patient, practitioner, entries, rules = month
    fast = FastClose(rules, period)
    others = data.draw(
        st.lists(
            st.lists(
                st.tuples(
                    st.sampled_from([e[0] for e in entries] or [period.start]),
                    st.integers(1, 90),
                    st.sampled_from([e[2] for e in entries] or list(RoleClass)),
                    st.sampled_from([e[3] for e in entries] or FAMILIES),
                    st.sampled_from([e[4] for e in entries] or [None]),
                    st.booleans(),
                ),
                max_size=8,
            ),
            max_size=6,
        )
    )
    for each in [entries, *others]:
        got = fast.evaluate(patient, practitioner, each)
        reference = _reference(period, patient, practitioner, each, rules)
        assert got.claim_lines == reference.claim_lines
        assert got.denials == reference.denials
        assert got.hints == reference.hints


def test_minute_bands_around_thresholds():
    """Every minute count up to two hours (and around the last band) of each role group, from one cache.

    The engine is asked once per band of minutes (and once per role group
    beside it); every other month is filled in, and equals the engine's answer.
    """
    period = ServicePeriod.month(2026, 3)
    patient = PatientFacts(
        id="p1",
        conditions=[
            ChronicCondition(icd10="E11.65", significant_risk=True),
            ChronicCondition(icd10="F33.1", significant_risk=True, behavioral=True),
        ],
        consent_on={family: pendulum.Date(2025, 6, 1) for family in FAMILIES},
        care_plan_on={family: pendulum.Date(2025, 6, 1) for family in FAMILIES},
        last_visit=pendulum.Date(2025, 6, 1),
    )
    staff = (RoleClass.CLINICAL_STAFF, Credential.RN)
    personal = (RoleClass.PHYSICIAN, Credential.MD)
    neither = (RoleClass.NON_CLINICAL, None)
    personal_minutes = (0, 1, 2, 19, 20, 21, 29, 30, 31, 45, 59, 60, 61)
    staff_minutes = (*range(122), 598, 599, 600, 601, 640)
    for rules in (
        cms_rule_set(2026),
        cms_rule_set(2026, switches=Switches(date_of_service=DateOfService.PERIOD_END)),
    ):
        for family in FAMILIES:
            practitioner = BillingPractitioner(id="dr1", credential=Credential.MD)
            fast = FastClose(rules, period)
            asked = 0
            for own in personal_minutes:
                for other in staff_minutes:
                    for idle in (0, 7):
                        entries = [
                            (pendulum.Date(2026, 3, day), minutes, role, family, credential, False)
                            for day, minutes, (role, credential) in (
                                (3, own, personal),
                                (9, other, staff),
                                (12, idle, neither),
                            )
                            if minutes
                        ]
                        asked += 1
                        got = fast.evaluate(patient, practitioner, entries)
                        reference = _reference(period, patient, practitioner, entries, rules)
                        assert got.claim_lines == reference.claim_lines, (family, own, other, idle)
                        assert got.denials == reference.denials, (family, own, other, idle)
                        assert got.hints == reference.hints, (family, own, other, idle)
            # The bands at work: far fewer evaluations than months.
            assert fast.evaluations * 3 < asked, (family, fast.evaluations, asked)


def test_a_band_does_not_reuse_a_plural_text_for_one_minute():
    """5 then 1 minutes of a role that never counts, through one cache: "1 PCM minute was logged"."""
    period = ServicePeriod.month(2026, 3)
    rules = cms_rule_set(2026)
    practitioner = BillingPractitioner(id="dr1", credential=Credential.MD)
    for family in FAMILIES:
        patient = PatientFacts(
            id="p1",
            conditions=[ChronicCondition(icd10="E11.65", significant_risk=True)],
            consent_on={family: pendulum.Date(2025, 6, 1)},
            care_plan_on={family: pendulum.Date(2025, 6, 1)},
            last_visit=pendulum.Date(2025, 6, 1),
        )
        for role in (RoleClass.NON_CLINICAL, RoleClass.AUXILIARY):
            fast = FastClose(rules, period)
            for minutes in (5, 1, 2, 1):
                entries = [(pendulum.Date(2026, 3, 5), minutes, role, family, None, False)]
                engine = _reference(period, patient, practitioner, entries, rules)
                got = fast.evaluate(patient, practitioner, entries)
                assert (got.denials, got.hints) == (engine.denials, engine.hints), (family, minutes)


def test_a_month_of_more_than_a_day_of_minutes_in_one_group_is_the_engines():
    """Two 800-minute rows (1,600 in one role group, more than one entry may hold): no error."""
    period = ServicePeriod.month(2026, 1)
    rules = cms_rule_set(2026)
    practitioner = BillingPractitioner(id="dr1", credential=Credential.MD)
    for family in FAMILIES:
        patient = PatientFacts(
            id="p1",
            conditions=[
                ChronicCondition(icd10="E11.65", significant_risk=True),
                ChronicCondition(icd10="F33.1", significant_risk=True, behavioral=True),
            ],
            consent_on={family: pendulum.Date(2025, 10, 1)},
            care_plan_on={family: pendulum.Date(2025, 10, 1)},
            last_visit=pendulum.Date(2025, 11, 3),
        )
        fast = FastClose(rules, period)
        for minutes in ((800, 800), (1440, 1440, 5), (700, 30)):
            entries = [
                (
                    pendulum.Date(2026, 1, 5 + n),
                    m,
                    RoleClass.CLINICAL_STAFF,
                    family,
                    Credential.RN,
                    False,
                )
                for n, m in enumerate(minutes)
            ]
            got = fast.evaluate(patient, practitioner, entries)
            engine = _reference(period, patient, practitioner, entries, rules)
            assert got.claim_lines == engine.claim_lines, (family, minutes)
            assert got.denials == engine.denials, (family, minutes)
            assert got.hints == engine.hints, (family, minutes)
