"""The billing rules the engine and the month close's fast paths share.

:func:`carecore.billing.evaluate` decides every month by these
primitives, and the fast paths (:mod:`carecore.billing._fast`, the columnar
close) read them too instead of keeping copies: whose minutes count toward
which code (:func:`minute_class`, :data:`TIME_TRACKS`), how many minutes a
line needs (:func:`threshold_minutes`), the date of service
(:func:`date_of_service`), the days whose minutes count
(:func:`countable_window`), and the monthly prerequisites a patient's facts
meet (:func:`consent_in_force`, :func:`care_plan_in_force`,
:func:`recent_visit`, :data:`CONDITIONS_NEEDED`). Changing a rule here
changes the engine and the fast paths together.

>>> from carecore.billing.rules import Switches
>>> track = time_track("99437")
>>> track.base, track.personal
('99491', True)
>>> minute_class(Switches(), ServiceFamily.CCM, RoleClass.QHP, Credential.LCSW)
<MinuteClass.STAFF: 1>
>>> counts_toward(track, MinuteClass.STAFF)
False
"""

from __future__ import annotations

import enum
import functools
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from attrs import frozen

from carecore.billing.rules import DateOfService, TimeRule
from carecore.model.codes import Credential, RoleClass, ServiceFamily

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from decimal import Decimal

    import pendulum

    from carecore.billing.facts import CarePlanFact, PatientFacts, VisitFact
    from carecore.billing.rules import CodeRule, RuleSet, Switches
    from carecore.model.codes import VisitKind
    from carecore.model.money import ClaimLine
    from carecore.model.period import ServicePeriod

__all__ = [
    "BILLING_CREDENTIALS",
    "CONDITIONS_NEEDED",
    "CONSENT_FAMILIES",
    "DIAGNOSIS_MONTHS",
    "G0323_CREDENTIALS",
    "MAX_CLAIM_DIAGNOSES",
    "MONITORING_ROLES",
    "MONITORING_TRACKS",
    "NOT_COUNTED_ROLES",
    "NOT_PERSONAL_ROLES",
    "PERSONAL_CREDENTIALS",
    "PERSONAL_ROLES",
    "STAFF_ROLES",
    "TIME_TRACKS",
    "MinuteClass",
    "TimeTrack",
    "care_plan_established",
    "care_plan_in_force",
    "claim_diagnoses",
    "claim_line_order",
    "closed_with",
    "code_rule_id",
    "consent_in_force",
    "countable_window",
    "counts_toward",
    "date_of_service",
    "dates_at_threshold",
    "diagnosis_pointers",
    "duration_thresholds",
    "first_unit",
    "initiating_visit_from",
    "initiating_visit_met",
    "initiating_years",
    "interactive_month",
    "line_amount",
    "minute_class",
    "minutes_for_units",
    "monitoring_families",
    "monitoring_time_counts",
    "monitoring_track",
    "monitoring_tracks",
    "personal_codes",
    "personal_time_counts",
    "recent_visit",
    "threshold_minutes",
    "time_families",
    "time_track",
    "unit_thresholds",
]

F = ServiceFamily

# -- who counts -------------------------------------------------------------------

#: Roles whose minutes count toward clinical-staff codes (docs/billing/index.md, "Whose time counts"):
#: clinical staff plus the billing practitioner doing clinical-staff work.
STAFF_ROLES = frozenset(
    {RoleClass.CLINICAL_STAFF, RoleClass.PHYSICIAN, RoleClass.QHP, RoleClass.BH_CARE_MANAGER}
)
#: Roles that are the practitioner personally.
PERSONAL_ROLES = frozenset({RoleClass.PHYSICIAN, RoleClass.QHP})
#: Roles other than the practitioner personally.
NOT_PERSONAL_ROLES = frozenset(RoleClass) - PERSONAL_ROLES
#: Roles whose minutes never count toward CCM, PCM or BHI.
NOT_COUNTED_ROLES = frozenset(RoleClass) - STAFF_ROLES
#: Families whose services need the patient's consent first (docs/billing/index.md).
CONSENT_FAMILIES = frozenset({F.CCM, F.PCM, F.BHI, F.COCM, F.RPM, F.RTM, F.APCM, F.CHI, F.PIN})
#: Behavioral-health practitioners who bill general BHI as G0323 (docs/billing/bhi-cocm.md).
G0323_CREDENTIALS = frozenset({Credential.CP, Credential.LCSW, Credential.MFT, Credential.MHC})
#: Physicians and the practitioners CMS lets bill the physician/NPP care-management codes.
BILLING_CREDENTIALS = frozenset(c for c in Credential if c.is_billing_practitioner)
#: Credentials whose personal minutes count toward a family's personally performed codes
#: (99491/99437, 99424/99425, G0323, 99497/99498). Other families have no such codes.
PERSONAL_CREDENTIALS: dict[ServiceFamily, frozenset[Credential]] = {
    F.CCM: BILLING_CREDENTIALS,
    F.PCM: BILLING_CREDENTIALS,
    F.ACP: BILLING_CREDENTIALS,
    F.BHI: BILLING_CREDENTIALS | G0323_CREDENTIALS,
}


def personal_time_counts(
    switches: Switches, family: ServiceFamily, role: RoleClass, credential: Credential | None
) -> bool:
    """Whether a minute counts as the billing practitioner's own for *family*'s personal codes.

    The role must be the practitioner personally (physician or QHP); with the
    switch ``personal_time_needs_billing_credential`` (the default) its
    credential must also be one that may bill the family. A minute without a
    credential is trusted to be the practitioner's own.

    >>> from carecore.billing.rules import Switches
    >>> personal_time_counts(Switches(), ServiceFamily.CCM, RoleClass.QHP, Credential.LCSW)
    False
    >>> personal_time_counts(Switches(), ServiceFamily.CCM, RoleClass.QHP, Credential.NP)
    True
    """
    if role not in PERSONAL_ROLES:
        return False
    if credential is None or not switches.personal_time_needs_billing_credential:
        return True
    allowed = PERSONAL_CREDENTIALS.get(family)
    return allowed is None or credential in allowed


class MinuteClass(enum.IntEnum):
    """What a minute of CCM, PCM or BHI time counts toward."""

    PERSONAL = 0  #: the practitioner personally: personal and clinical-staff codes
    STAFF = 1  #: clinical-staff codes only
    NONE = 2  #: no code of the family


def minute_class(
    switches: Switches, family: ServiceFamily, role: RoleClass, credential: Credential | None
) -> MinuteClass:
    """What a minute logged for *family* by *role* with *credential* counts toward.

    >>> from carecore.billing.rules import Switches
    >>> minute_class(Switches(), ServiceFamily.CCM, RoleClass.AUXILIARY, None)
    <MinuteClass.NONE: 2>
    """
    if personal_time_counts(switches, family, role, credential):
        return MinuteClass.PERSONAL
    return MinuteClass.STAFF if role in STAFF_ROLES else MinuteClass.NONE


@frozen
class TimeTrack:
    """A base code and its add-on reached by one kind of minutes of a family."""

    family: ServiceFamily
    base: str
    add_on: str | None
    #: Counted from the practitioner's own minutes only (else from every clinical-staff minute).
    personal: bool
    #: What the minutes are called in hints and refusals.
    label: str


#: The time tracks of CCM, PCM and BHI, as the engine evaluates them (docs/billing/ccm.md,
#: pcm.md, bhi-cocm.md). CCM's complex track also needs moderate or high MDM.
TIME_TRACKS = (
    TimeTrack(F.CCM, "99487", "99489", personal=False, label="clinical-staff"),
    TimeTrack(F.CCM, "99491", "99437", personal=True, label="personal practitioner"),
    TimeTrack(F.CCM, "99490", "99439", personal=False, label="clinical-staff"),
    TimeTrack(F.PCM, "99424", "99425", personal=True, label="personal practitioner"),
    TimeTrack(F.PCM, "99426", "99427", personal=False, label="clinical-staff"),
    TimeTrack(F.BHI, "G0323", None, personal=True, label="personal"),
    TimeTrack(F.BHI, "99484", None, personal=False, label="clinical-staff"),
)
_TRACK_OF = {
    code: track for track in TIME_TRACKS for code in (track.base, track.add_on) if code is not None
}


def time_track(code: str) -> TimeTrack | None:
    """The time track *code* (a base code or its add-on) belongs to, if any.

    >>> time_track("99439").base, time_track("99497")
    ('99490', None)
    """
    return _TRACK_OF.get(code)


def time_families() -> frozenset[ServiceFamily]:
    """Families whose codes come from :data:`TIME_TRACKS`.

    >>> sorted(f.value for f in time_families())
    ['BHI', 'CCM', 'PCM']
    """
    return frozenset(track.family for track in TIME_TRACKS)


def personal_codes() -> frozenset[str]:
    """Codes reached by the practitioner's own minutes only.

    >>> sorted(personal_codes())
    ['99424', '99425', '99437', '99491', 'G0323']
    """
    return frozenset(code for code, track in _TRACK_OF.items() if track.personal)


#: Roles whose minutes count toward remote monitoring's treatment management (RPM, RTM).
MONITORING_ROLES = STAFF_ROLES
#: The treatment-management time tracks of remote monitoring, as the engine evaluates them
#: (docs/billing/rpm-rtm.md): per family the full track (20 minutes and its add-on) first,
#: then the short one reported when the full one is not reached.
MONITORING_TRACKS = (
    TimeTrack(F.RPM, "99457", "99458", personal=False, label="management"),
    TimeTrack(F.RPM, "99470", None, personal=False, label="management"),
    TimeTrack(F.RTM, "98980", "98981", personal=False, label="management"),
    TimeTrack(F.RTM, "98979", None, personal=False, label="management"),
)
_MONITORING_TRACK_OF = {
    code: track
    for track in MONITORING_TRACKS
    for code in (track.base, track.add_on)
    if code is not None
}


def monitoring_tracks(family: ServiceFamily) -> tuple[TimeTrack, TimeTrack]:
    """*family*'s full and short treatment-management tracks (RPM or RTM).

    >>> [t.base for t in monitoring_tracks(ServiceFamily.RPM)]
    ['99457', '99470']
    """
    full, short = (t for t in MONITORING_TRACKS if t.family is family)
    return full, short


def monitoring_track(code: str) -> TimeTrack | None:
    """The treatment-management track *code* belongs to, if any.

    >>> monitoring_track("99458").base, monitoring_track("99454")
    ('99457', None)
    """
    return _MONITORING_TRACK_OF.get(code)


def monitoring_time_counts(role: RoleClass) -> bool:
    """Whether a minute logged by *role* counts toward remote monitoring's treatment management.

    >>> monitoring_time_counts(RoleClass.CLINICAL_STAFF), monitoring_time_counts(RoleClass.AUXILIARY)
    (True, False)
    """
    return role in MONITORING_ROLES


def interactive_month(flags: Iterable[bool]) -> bool:
    """Whether a month's counted management time had a real-time interactive communication.

    *flags* are the ``interactive`` flags of the month's counted entries: one
    interactive entry is enough (a successful contact in the month also is,
    which the engine checks beside this).

    >>> interactive_month([False, True]), interactive_month([])
    (True, False)
    """
    return any(flags)


def monitoring_families() -> frozenset[ServiceFamily]:
    """Families whose months carry device data and management time (remote monitoring).

    >>> sorted(f.value for f in monitoring_families())
    ['RPM', 'RTM']
    """
    return frozenset(track.family for track in MONITORING_TRACKS)


def counts_toward(track: TimeTrack, kind: MinuteClass) -> bool:
    """Whether a minute of class *kind* counts toward *track*.

    >>> counts_toward(time_track("99490"), MinuteClass.PERSONAL)
    True
    """
    if track.personal:
        return kind is MinuteClass.PERSONAL
    return kind is not MinuteClass.NONE


# -- thresholds and the date of service ------------------------------------------------


def first_unit(rule: CodeRule, override: TimeRule | None = None) -> int:
    """Minutes needed for one unit of a base code."""
    if rule.minutes is None:
        return 0
    time_rule = override or rule.time_rule
    return rule.minutes // 2 + 1 if time_rule is TimeRule.MIDPOINT else rule.minutes


def minutes_for_units(
    base_minutes: int, rule: CodeRule, units: int, override: TimeRule | None = None
) -> int:
    """Total minutes needed for *units* add-on units after a base block of *base_minutes*."""
    block = rule.minutes or 0
    time_rule = override or rule.time_rule
    need = block // 2 + 1 if time_rule is TimeRule.MIDPOINT else block
    return base_minutes + need + (units - 1) * block


def threshold_minutes(
    base: CodeRule,
    add_on: CodeRule | None = None,
    units: int = 1,
    override: TimeRule | None = None,
) -> int:
    """Minutes of a track a line needs: *base*'s first unit, or *units* of *add_on* after it.

    >>> from carecore.billing.cms import cms_rule_set
    >>> rules = cms_rule_set(2026)
    >>> threshold_minutes(rules.rule("99490")), threshold_minutes(rules.rule("99490"), rules.rule("99439"), 2)
    (20, 60)
    """
    if add_on is None:
        return first_unit(base, override)
    return minutes_for_units(base.minutes or 0, add_on, units, override)


def unit_thresholds(rules: RuleSet, base: str) -> tuple[int, ...]:
    """The minutes at which each unit of *base*'s track is reached, by :func:`threshold_minutes`.

    *base*'s first unit, then each unit of the add-on code of *rules* that
    names *base* (``add_on_to``), up to its ``max_units`` (one unit when it
    has no cap). A code that is not time-based, or not in *rules*, has none.

    >>> from carecore.billing.cms import cms_rule_set
    >>> rules = cms_rule_set(2026)
    >>> unit_thresholds(rules, "99490"), unit_thresholds(rules, "99426"), unit_thresholds(rules, "99495")
    ((20, 40, 60), (30, 60), ())
    """
    rule = rules.by_code.get(base)
    if rule is None or rule.first_unit_minutes is None:
        return ()
    found = [threshold_minutes(rule)]
    for add_on in rules.codes:
        if add_on.add_on_to == base and add_on.first_unit_minutes is not None:
            found += [
                threshold_minutes(rule, add_on, units)
                for units in range(1, (add_on.max_units or 1) + 1)
            ]
    return tuple(sorted(set(found)))


def code_rule_id(family: ServiceFamily, code: str) -> str:
    """The dotted id of the rule that bills *code* for *family*, as claim lines cite it.

    The same form as a refusal's rule id (``ccm.99439.threshold``), without
    the check: the claim line of an audit packet and of ``billing evaluate``
    JSON both carry it.

    >>> code_rule_id(ServiceFamily.CCM, "99439"), code_rule_id(ServiceFamily.APCM, "G0556")
    ('ccm.99439', 'apcm.g0556')
    """
    return f"{family.value.lower()}.{code.lower()}"


def line_amount(rule: CodeRule | None, units: int = 1) -> Decimal | None:
    """What a claim line of *units* units of *rule*'s code charges: the rule's amount times the units.

    None when the rule set lists no fee for the code (or has no rule for it):
    such a line is counted apart as unpriced, never as $0.

    >>> from carecore.billing.cms import cms_rule_set
    >>> rules = cms_rule_set(2026)
    >>> line_amount(rules.rule("99439"), 2), line_amount(rules.rule("99427"))
    (Decimal('100.88'), None)
    """
    if rule is None or rule.amount is None:
        return None
    return rule.amount * units


def dates_at_threshold(switches: Switches) -> bool:
    """Whether a monthly code is dated the day its threshold is met (else the period's end)."""
    return switches.date_of_service is DateOfService.THRESHOLD_MET


def date_of_service(
    switches: Switches,
    period: ServicePeriod,
    entries: Iterable[Any],
    minutes: int,
    *,
    day: Callable[[Any], pendulum.Date] = itemgetter(0),
    length: Callable[[Any], int] = itemgetter(1),
) -> pendulum.Date:
    """The day the running total of *entries* first reaches *minutes*.

    An entry is a ``(day, minutes)`` pair, or anything *day* and *length*
    read those from. Entries are taken in day order (entries of one day in
    the order given). The period's end when the total never gets there, or
    when the switch ``date_of_service`` dates monthly codes at the period's
    end.

    >>> import pendulum
    >>> from carecore.billing.rules import Switches
    >>> from carecore.model.period import ServicePeriod
    >>> date_of_service(Switches(), ServicePeriod.month(2026, 3),
    ...     [(pendulum.Date(2026, 3, 9), 12), (pendulum.Date(2026, 3, 2), 10)], 20)
    Date(2026, 3, 9)
    """
    if not dates_at_threshold(switches):
        return period.end
    total = 0
    for entry in sorted(entries, key=day):
        total += length(entry)
        if total >= minutes:
            return day(entry)
    return period.end


# -- the days that count, and the monthly prerequisites --------------------------------


def countable_window(
    patient: PatientFacts, family: ServiceFamily, period: ServicePeriod
) -> tuple[pendulum.Date, pendulum.Date]:
    """The first and last day whose minutes count for *family* in *period*.

    Time counts from consent on (for the families that need consent) and up
    to the date of death. When the first day is after the last, nothing
    counts.

    >>> import pendulum
    >>> from carecore.billing.facts import PatientFacts
    >>> from carecore.model.period import ServicePeriod
    >>> patient = PatientFacts(id="p1", consent_on={ServiceFamily.CCM: pendulum.Date(2026, 3, 20)},
    ...     date_of_death=pendulum.Date(2026, 3, 25))
    >>> countable_window(patient, ServiceFamily.CCM, ServicePeriod.month(2026, 3))
    (Date(2026, 3, 20), Date(2026, 3, 25))
    """
    start, end = period.start, period.end
    if family in CONSENT_FAMILIES:
        # Services start after consent: earlier minutes do not count.
        consent = patient.consent(family)
        if consent is not None and consent > start:
            start = consent
    death = patient.date_of_death
    if death is not None and death < end:
        end = death
    return start, end


def consent_in_force(patient: PatientFacts, family: ServiceFamily, period: ServicePeriod) -> bool:
    """Whether the patient's *family* consent is on file by the period's end."""
    day = patient.consent(family)
    return day is not None and day <= period.end


def care_plan_in_force(patient: PatientFacts, family: ServiceFamily, period: ServicePeriod) -> bool:
    """Whether the patient facts date a *family* care plan by the period's end.

    (The engine also accepts a care-plan event dated by then.)
    """
    day = patient.care_plan(family)
    return day is not None and day <= period.end


#: Years before the program start within which the initiating visit must fall (default 1).
_INITIATING_YEARS = {F.APCM: 3}


def initiating_years(family: ServiceFamily) -> int:
    """Years before *family*'s start within which an initiating visit counts.

    >>> initiating_years(ServiceFamily.CCM), initiating_years(ServiceFamily.APCM)
    (1, 3)
    """
    return _INITIATING_YEARS.get(family, 1)


def initiating_visit_from(
    patient: PatientFacts, family: ServiceFamily, period: ServicePeriod
) -> pendulum.Date:
    """The earliest day an initiating visit may fall on: *initiating_years* before the program start.

    The program starts on the consent day (the period's start without consent).
    """
    start = patient.consent(family) or period.start
    return _years_before(start, initiating_years(family))


@functools.lru_cache(maxsize=4096)
def _years_before(day: pendulum.Date, years: int) -> pendulum.Date:
    """*day* less *years* calendar years (pendulum's arithmetic, once per day and count)."""
    return day.subtract(years=years)


def recent_visit(patient: PatientFacts, family: ServiceFamily, period: ServicePeriod) -> bool:
    """Whether the patient facts alone meet *family*'s initiating-visit rule.

    An established patient whose last visit falls on or after
    :func:`initiating_visit_from` (the engine also accepts a qualifying
    visit event with the billing practitioner).
    """
    last = patient.last_visit
    return (
        patient.established
        and last is not None
        and last >= initiating_visit_from(patient, family, period)
    )


def care_plan_established(
    patient: PatientFacts,
    family: ServiceFamily,
    period: ServicePeriod,
    plan_events: Iterable[CarePlanFact],
) -> bool:
    """Whether a *family* care plan is in place for the period (the engine's care-plan prerequisite).

    The patient facts date one by the period's end, or a care-plan event of
    the family is dated by then.
    """
    if care_plan_in_force(patient, family, period):
        return True
    return any(e.family is family and e.date <= period.end for e in plan_events)


def initiating_visit_met(  # noqa: PLR0917 - the rule's inputs
    patient: PatientFacts,
    family: ServiceFamily,
    period: ServicePeriod,
    practitioner: str,
    visits: Iterable[VisitFact],
    kinds: frozenset[VisitKind],
) -> bool:
    """Whether *family*'s initiating-visit rule is met (the engine's prerequisite).

    The patient facts alone meet it (:func:`recent_visit`), or a visit of one
    of *kinds* (not a level-1 staff visit, 99211) with the billing
    *practitioner* falls between :func:`initiating_visit_from` and the
    period's end.
    """
    if recent_visit(patient, family, period):
        return True
    earliest = initiating_visit_from(patient, family, period)
    return any(
        visit.practitioner == practitioner
        and visit.kind in kinds
        and visit.em_code != "99211"
        and earliest <= visit.date <= period.end
        for visit in visits
    )


#: Chronic conditions a family needs: how many, and expected to last at least how many months.
CONDITIONS_NEEDED: dict[ServiceFamily, tuple[int, int]] = {
    F.CCM: (2, 12),
    F.PCM: (1, 3),
    F.PIN: (1, 3),
}
#: What each family's claim lines are for: conditions of the months given (significant
#: risk, expected duration), None for behavioral conditions, 0 for any condition.
DIAGNOSIS_MONTHS: dict[ServiceFamily, int | None] = {
    F.CCM: 12,
    F.APCM: 12,
    F.PCM: 3,
    F.PIN: 3,
    F.BHI: None,
    F.COCM: None,
}


def duration_thresholds() -> tuple[int, ...]:
    """The expected durations (months) the rules compare conditions against, longest first.

    >>> duration_thresholds()
    (12, 3)
    """
    months = {m for _, m in CONDITIONS_NEEDED.values()}
    months |= {m for m in DIAGNOSIS_MONTHS.values() if m}
    return tuple(sorted(months, reverse=True))


def closed_with(period: ServicePeriod, month: ServicePeriod) -> bool:
    """Whether a claim line or denial of service period *period* belongs to *month*'s close.

    A time-based code's period is its calendar month, but TCM's 30 days from
    the discharge and a device's 30 days may end in the next month: the close
    keeps such a line with the month its period starts in, so claims, stored
    results, measures and the report count it with that month, once.

    >>> from carecore.model.period import ServicePeriod
    >>> import pendulum
    >>> march = ServicePeriod.month(2026, 3)
    >>> tcm = ServicePeriod.days_from(pendulum.Date(2026, 3, 20), 30)
    >>> closed_with(tcm, march), closed_with(tcm, ServicePeriod.month(2026, 4))
    (True, False)
    """
    return period.start in month


# -- a claim's diagnoses ---------------------------------------------------------------

#: Diagnoses one claim lists (the 837P HI segment and the CMS-1500 hold twelve).
MAX_CLAIM_DIAGNOSES = 12


def claim_line_order(line: ClaimLine) -> tuple[pendulum.Date, str, tuple[str, ...]]:
    """Where *line* stands on its claim: by date of service, then code, then modifiers."""
    return (line.date_of_service, line.code, line.modifiers)


def claim_diagnoses(lines: Iterable[ClaimLine]) -> tuple[str, ...]:
    """The diagnosis list of a claim holding *lines* (one patient, one billing practitioner).

    Every code the lines point at, once, in the order the lines first use
    them when taken in claim order (:func:`claim_line_order`; lines that tie
    keep the order given): the first code is the claim's principal
    diagnosis. The list is not cut: a claim whose list is longer than
    :data:`MAX_CLAIM_DIAGNOSES` cannot be sent, and
    :func:`carecore.billing.claims.assemble_claims` refuses it (the engine
    never gives a practitioner's lines more, see
    :func:`carecore.billing.line_diagnoses`).

    >>> import pendulum
    >>> from carecore.model import ClaimLine, ServiceFamily, ServicePeriod
    >>> march = ServicePeriod.month(2026, 3)
    >>> def line(code, day, *codes):
    ...     return ClaimLine(patient_id="p1", code=code, units=1, family=ServiceFamily.CCM,
    ...         billing_practitioner_id="dr1", date_of_service=pendulum.Date(2026, 3, day),
    ...         period=march, diagnoses=codes)
    >>> bhi, ccm = line("99484", 4, "F33.1"), line("99490", 3, "E11.65", "I10")
    >>> claim_diagnoses([bhi, ccm])
    ('E11.65', 'I10', 'F33.1')
    >>> diagnosis_pointers(claim_diagnoses([bhi, ccm]), bhi)
    (3,)
    """
    codes: dict[str, None] = {}
    for line in sorted(lines, key=claim_line_order):
        codes.update(dict.fromkeys(line.diagnoses))
    return tuple(codes)


def diagnosis_pointers(diagnoses: tuple[str, ...], line: ClaimLine) -> tuple[int, ...]:
    """The 1-based positions of *line*'s diagnoses in its claim's list *diagnoses*.

    *diagnoses* is :func:`claim_diagnoses` of the claim's lines, so it holds
    every code of *line*; a code missing from it raises ``ValueError``.
    """
    return tuple(diagnoses.index(code) + 1 for code in line.diagnoses)
