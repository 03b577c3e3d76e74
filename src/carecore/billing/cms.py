"""Medicare (CMS) care-management rule sets for calendar years 2024, 2025 and 2026.

Every figure comes from ``shared/billing/SPEC.md`` (its section and source
tags are given per code). Payment amounts are the *approximate* national
non-facility amounts of SPEC.md §14, before geographic adjustment; None
where no figure was found. Code descriptors are paraphrased.

>>> rules = cms_rule_set(2025)
>>> rules.rule("99490").minutes, rules.rule("99445").in_effect(pendulum.Date(2025, 6, 1))
(20, False)
"""

from __future__ import annotations

from decimal import Decimal

import pendulum

from carecore import errors
from carecore.billing.rules import CodeRule, RuleSet, Switches, TimeRule
from carecore.model.codes import ServiceFamily as F

__all__ = ["CMS_YEARS", "cms_rule_set"]

#: The calendar years with a CMS rule set.
CMS_YEARS = (2024, 2025, 2026)

_D = pendulum.Date
Y2024 = _D(2024, 1, 1)
Y2025 = _D(2025, 1, 1)
Y2026 = _D(2026, 1, 1)

# Approximate national non-facility amounts (SPEC.md §14). 2024 uses the
# amount after the 9 March 2024 conversion-factor fix.
_AMOUNTS: dict[int, dict[str, str]] = {
    2024: {"99490": "62.58", "99439": "47.93", "99487": "134.15", "99489": "72.23"},
    2025: {
        "99490": "60.49",
        "99439": "45.93",
        "99491": "82.16",
        "99437": "57.58",
        "99487": "131.65",
        "99489": "70.52",
        "99496": "272.68",
        "99453": "19.73",
        "99454": "43.02",
        "99457": "47.87",
        "G0556": "15.00",
        "G0557": "50.00",
        "G0558": "110.00",
    },
    2026: {
        "99490": "66.13",
        "99439": "50.44",
        "99487": "144.29",
        "99489": "78.16",
        "99424": "88.00",
        "99496": "298.00",
        "99454": "49.10",
        "99457": "51.28",
        "99445": "47.00",
        "99470": "25.00",
        "G0568": "149.00",
    },
}


def _codes(year: int) -> list[CodeRule]:
    full, mid, none = TimeRule.FULL, TimeRule.MIDPOINT, TimeRule.NONE
    # §6: 16 days of data before 2026; from 2026 the full code covers 16-30 days.
    max_days = None if year < 2026 else 30  # noqa: PLR2004
    # §6, §15.7: the 2026 set-up day rule is UNCONFIRMED; 2 days (the new floor) is assumed.
    setup_days = 16 if year < 2026 else 2  # noqa: PLR2004
    c = CodeRule
    rules = [
        # -- CCM (§2) --
        c(
            code="99490",
            family=F.CCM,
            summary="Non-complex CCM, first 20 minutes of clinical staff time in a month",
            minutes=20,
            time_rule=full,
            sources=("S1", "S8", "S10"),
        ),
        c(
            code="99439",
            family=F.CCM,
            summary="Each additional 20 minutes of clinical staff CCM",
            minutes=20,
            time_rule=full,
            add_on_to="99490",
            max_units=2,
            sources=("S26", "S27", "S24"),
        ),
        c(
            code="99491",
            family=F.CCM,
            summary="Non-complex CCM, first 30 minutes personally by the physician or QHP",
            minutes=30,
            time_rule=full,
            sources=("S1", "S29"),
        ),
        # §15.6: no Medicare unit cap found for 99437 (UNCONFIRMED): None.
        c(
            code="99437",
            family=F.CCM,
            summary="Each additional 30 minutes of personal CCM",
            minutes=30,
            time_rule=full,
            add_on_to="99491",
            sources=("S29",),
        ),
        c(
            code="99487",
            family=F.CCM,
            summary="Complex CCM, first 60 minutes of clinical staff time",
            minutes=60,
            time_rule=full,
            sources=("S28",),
        ),
        c(
            code="99489",
            family=F.CCM,
            summary="Each additional 30 minutes of complex CCM",
            minutes=30,
            time_rule=full,
            add_on_to="99487",
            sources=("S28",),
        ),
        c(
            code="G0506",
            family=F.CCM,
            summary="Add-on to the initiating visit for extensive CCM assessment and care planning, once",
            time_rule=none,
            max_units=1,
            sources=("S1",),
        ),
        # -- PCM (§4) --
        c(
            code="99424",
            family=F.PCM,
            summary="PCM, first 30 minutes personally by the physician or QHP",
            minutes=30,
            time_rule=full,
            sources=("S2", "S30"),
        ),
        c(
            code="99425",
            family=F.PCM,
            summary="Each additional 30 minutes of personal PCM",
            minutes=30,
            time_rule=full,
            add_on_to="99424",
            sources=("S2", "S30"),
        ),
        c(
            code="99426",
            family=F.PCM,
            summary="PCM, first 30 minutes of clinical staff time",
            minutes=30,
            time_rule=full,
            sources=("S2", "S30"),
        ),
        c(
            code="99427",
            family=F.PCM,
            summary="Each additional 30 minutes of clinical staff PCM",
            minutes=30,
            time_rule=full,
            add_on_to="99426",
            sources=("S2", "S30"),
        ),
        # -- TCM (§3) --
        c(
            code="99495",
            family=F.TCM,
            summary="TCM, at least moderate MDM, visit within 14 days",
            time_rule=none,
            max_units=1,
            sources=("S17", "S21", "S22"),
        ),
        c(
            code="99496",
            family=F.TCM,
            summary="TCM, high MDM, visit within 7 days",
            time_rule=none,
            max_units=1,
            sources=("S17", "S21", "S22"),
        ),
        # -- BHI and CoCM (§5) --
        c(
            code="99484",
            family=F.BHI,
            summary="General BHI care management by clinical staff, at least 20 minutes a month",
            minutes=20,
            time_rule=full,
            sources=("S3", "S98"),
        ),
        c(
            code="G0323",
            family=F.BHI,
            summary="General BHI by a clinical psychologist, social worker, MFT or counselor, 20 minutes a month",
            minutes=20,
            time_rule=full,
            available_from=Y2024,
            sources=("S36", "S34"),
        ),
        c(
            code="99492",
            family=F.COCM,
            summary="CoCM, first month of an episode, first 70 minutes",
            minutes=70,
            time_rule=mid,
            sources=("S4", "S33", "S34"),
        ),
        c(
            code="99493",
            family=F.COCM,
            summary="CoCM, later month, first 60 minutes",
            minutes=60,
            time_rule=mid,
            sources=("S4", "S33"),
        ),
        c(
            code="99494",
            family=F.COCM,
            summary="Each additional 30 minutes of CoCM",
            minutes=30,
            time_rule=mid,
            add_on_to="99492",
            sources=("S33",),
        ),
        c(
            code="G2214",
            family=F.COCM,
            summary="CoCM, first 30 minutes in any month when 99492/99493 are not met",
            minutes=30,
            time_rule=mid,
            sources=("S4", "S33"),
        ),
        # -- RPM (§6) --
        c(
            code="99453",
            family=F.RPM,
            summary="RPM set-up and patient education, once per episode",
            time_rule=none,
            max_units=1,
            min_days=setup_days,
            sources=("S45", "S84", "S38"),
        ),
        c(
            code="99454",
            family=F.RPM,
            summary="RPM device supply with daily recordings, each 30 days",
            time_rule=none,
            max_units=1,
            sources=("S38", "S41", "S43"),
            min_days=16,
            max_days=max_days,
        ),
        c(
            code="99445",
            family=F.RPM,
            summary="RPM device supply, 2 to 15 days in a 30-day period",
            time_rule=none,
            max_units=1,
            min_days=2,
            max_days=15,
            available_from=Y2026,
            sources=("S43", "S44", "S45"),
        ),
        c(
            code="99457",
            family=F.RPM,
            summary="RPM treatment management, first 20 minutes a month, with an interactive contact",
            minutes=20,
            time_rule=full,
            sources=("S46", "S47"),
        ),
        # §17.2: Medicare MUE of 3 units since July 2023.
        c(
            code="99458",
            family=F.RPM,
            summary="Each additional 20 minutes of RPM treatment management",
            minutes=20,
            time_rule=full,
            add_on_to="99457",
            max_units=3,
            sources=("S46",),
        ),
        c(
            code="99470",
            family=F.RPM,
            summary="RPM treatment management, first 10 minutes a month, with an interactive contact",
            minutes=10,
            time_rule=full,
            available_from=Y2026,
            sources=("S43", "S45"),
        ),
        # -- RTM (§7) --
        c(
            code="98975",
            family=F.RTM,
            summary="RTM set-up and patient education, once per episode",
            time_rule=none,
            max_units=1,
            min_days=setup_days,
            sources=("S47", "S38"),
        ),
        c(
            code="98976",
            family=F.RTM,
            summary="RTM device supply, respiratory, each 30 days",
            time_rule=none,
            max_units=1,
            sources=("S47", "S38"),
            min_days=16,
            max_days=max_days,
        ),
        c(
            code="98977",
            family=F.RTM,
            summary="RTM device supply, musculoskeletal, each 30 days",
            time_rule=none,
            max_units=1,
            sources=("S47", "S38"),
            min_days=16,
            max_days=max_days,
        ),
        c(
            code="98978",
            family=F.RTM,
            summary="RTM device supply, cognitive behavioral therapy, each 30 days",
            time_rule=none,
            max_units=1,
            sources=("S47", "S38"),
            min_days=16,
            max_days=max_days,
        ),
        c(
            code="98984",
            family=F.RTM,
            summary="RTM device supply, respiratory, 2 to 15 days",
            time_rule=none,
            max_units=1,
            min_days=2,
            max_days=15,
            available_from=Y2026,
            sources=("S48", "S49"),
        ),
        c(
            code="98985",
            family=F.RTM,
            summary="RTM device supply, musculoskeletal, 2 to 15 days",
            time_rule=none,
            max_units=1,
            min_days=2,
            max_days=15,
            available_from=Y2026,
            sources=("S48", "S49"),
        ),
        c(
            code="98986",
            family=F.RTM,
            summary="RTM device supply, CBT, 2 to 15 days (Medicare status UNCONFIRMED)",
            time_rule=none,
            max_units=1,
            min_days=2,
            max_days=15,
            available_from=Y2026,
            sources=("S48", "S49"),
        ),
        c(
            code="98980",
            family=F.RTM,
            summary="RTM treatment management, first 20 minutes a month, with an interactive contact",
            minutes=20,
            time_rule=full,
            sources=("S49",),
        ),
        # §15.6: no unit cap found for 98981 (UNCONFIRMED): None.
        c(
            code="98981",
            family=F.RTM,
            summary="Each additional 20 minutes of RTM treatment management",
            minutes=20,
            time_rule=full,
            add_on_to="98980",
            sources=("S49",),
        ),
        c(
            code="98979",
            family=F.RTM,
            summary="RTM treatment management, first 10 minutes a month, with an interactive contact",
            minutes=10,
            time_rule=full,
            available_from=Y2026,
            sources=("S48", "S49"),
        ),
        # -- ACP (§10) --
        c(
            code="99497",
            family=F.ACP,
            summary="Advance care planning, first 30 minutes face to face",
            minutes=30,
            time_rule=mid,
            sources=("S12", "S10", "S13"),
        ),
        c(
            code="99498",
            family=F.ACP,
            summary="Advance care planning, each additional 30 minutes",
            minutes=30,
            time_rule=mid,
            add_on_to="99497",
            sources=("S13",),
        ),
        # -- APCM (§8) --
        c(
            code="G0556",
            family=F.APCM,
            summary="APCM level 1: one or no chronic condition",
            time_rule=none,
            max_units=1,
            available_from=Y2025,
            sources=("S50", "S51", "S52"),
        ),
        c(
            code="G0557",
            family=F.APCM,
            summary="APCM level 2: two or more chronic conditions",
            time_rule=none,
            max_units=1,
            available_from=Y2025,
            sources=("S50", "S51", "S52"),
        ),
        c(
            code="G0558",
            family=F.APCM,
            summary="APCM level 3: two or more chronic conditions and QMB status",
            time_rule=none,
            max_units=1,
            available_from=Y2025,
            sources=("S50", "S51", "S52"),
        ),
        c(
            code="G0568",
            family=F.APCM,
            summary="APCM add-on: CoCM first month",
            time_rule=none,
            max_units=1,
            available_from=Y2026,
            sources=("S57", "S58", "S59"),
        ),
        c(
            code="G0569",
            family=F.APCM,
            summary="APCM add-on: CoCM later months",
            time_rule=none,
            max_units=1,
            available_from=Y2026,
            sources=("S57", "S58", "S59"),
        ),
        c(
            code="G0570",
            family=F.APCM,
            summary="APCM add-on: general BHI",
            time_rule=none,
            max_units=1,
            available_from=Y2026,
            sources=("S57", "S58", "S59"),
        ),
        # -- CHI and PIN (§9); the 60-minute rule is the chi_pin_time_rule switch --
        c(
            code="G0019",
            family=F.CHI,
            summary="Community health integration, first 60 minutes a month",
            minutes=60,
            time_rule=full,
            available_from=Y2024,
            sources=("S61", "S63"),
        ),
        c(
            code="G0022",
            family=F.CHI,
            summary="Each additional 30 minutes of CHI",
            minutes=30,
            time_rule=full,
            add_on_to="G0019",
            available_from=Y2024,
            sources=("S61", "S63"),
        ),
        c(
            code="G0023",
            family=F.PIN,
            summary="Principal illness navigation, first 60 minutes a month",
            minutes=60,
            time_rule=full,
            available_from=Y2024,
            sources=("S64", "S65", "S66"),
        ),
        c(
            code="G0024",
            family=F.PIN,
            summary="Each additional 30 minutes of PIN",
            minutes=30,
            time_rule=full,
            add_on_to="G0023",
            available_from=Y2024,
            sources=("S64", "S65", "S66"),
        ),
        c(
            code="G0140",
            family=F.PIN,
            summary="PIN peer support, first 60 minutes a month",
            minutes=60,
            time_rule=full,
            available_from=Y2024,
            sources=("S64", "S66"),
        ),
        c(
            code="G0146",
            family=F.PIN,
            summary="Each additional 30 minutes of PIN peer support",
            minutes=30,
            time_rule=full,
            add_on_to="G0140",
            available_from=Y2024,
            sources=("S64", "S66"),
        ),
        # -- RHC/FQHC (§11, §17.5) --
        c(
            code="G0511",
            family=F.CCM,
            summary="RHC/FQHC general care management (CCM, PCM, BHI, RPM, RTM, CHI, PIN)",
            minutes=20,
            time_rule=full,
            available_to=_D(2025, 9, 30),
            sources=("S71", "S72", "S68", "S69"),
        ),
        c(
            code="G0512",
            family=F.COCM,
            summary="RHC/FQHC psychiatric collaborative care (70 minutes first month, 60 later)",
            minutes=60,
            time_rule=full,
            available_to=_D(2025, 12, 31),
            sources=("S68", "S34", "S73"),
        ),
    ]
    amounts = _AMOUNTS.get(year, {})
    return [
        rule if rule.code not in amounts else _with_amount(rule, Decimal(amounts[rule.code]))
        for rule in rules
    ]


def _with_amount(rule: CodeRule, amount: Decimal) -> CodeRule:
    import attrs  # noqa: PLC0415

    return attrs.evolve(rule, amount=amount)


def cms_rule_set(year: int, *, switches: Switches | None = None) -> RuleSet:
    """The CMS rule set for calendar *year* (2024, 2025 or 2026).

    >>> cms_rule_set(2024).rule("G0511").in_effect(pendulum.Date(2024, 5, 1))
    True
    """
    if year not in CMS_YEARS:
        raise errors.NotFound(
            f"no CMS rule set (known years: {', '.join(map(str, CMS_YEARS))})",
            field="year",
            value=year,
        )
    return RuleSet(
        id=f"cms-{year}",
        payer="cms",
        year=year,
        version=f"{year}.1",
        title=f"Medicare Physician Fee Schedule care-management rules, CY {year}",
        codes=_codes(year),
        switches=switches or Switches(),
    )
