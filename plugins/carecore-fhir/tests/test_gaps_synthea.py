"""The nine Synthea bundles: after import, each patient's care gaps on 2021-04-01 match a list
worked out by hand from the bundle (dates of birth, conditions, immunizations, procedures, labs)."""

from __future__ import annotations

import pendulum
import pytest
from carecore_fhir.importer import import_files

from carecore.gaps import GapStatus
from carecore.model import Patient

ON = pendulum.Date(2021, 4, 1)
C, DUE, OVER = GapStatus.CLOSED, GapStatus.DUE, GapStatus.OVERDUE
D = pendulum.Date

# Rules in effect on 2021-04-01, each version starting on the day its source was published:
# colorectal (2016 version, 50 to 75), breast (2016, women 50 to 74), cervical (2018, women 21 to
# 29 and 30 to 65), osteoporosis (women 65 and over; 50 to 64 with a coded risk factor, which no
# woman here has), influenza (season from 2020-08-01, overdue from 2020-10-31), pneumococcal
# (2019 version, 65 and over: PPSV23), pneumococcal for 19 to 64 with a risk condition (2010
# version, PPSV23; diabetes is one), zoster (50+, from 2018-01-26), Td/Tdap (10 years), Tdap once
# (from 2012-06-29: the bundles hold only Td, CVX 113, so it is overdue from 2012-09-27 for every
# living adult), hepatitis B vaccine for 19 to 59 with diabetes (2011 version), falls prevention
# (2018 version, 65+), hepatitis C screening once (18 to 79, from 2020-03-02: never done, overdue
# from 2020-05-31 for everyone living), HIV screening once (15 to 65, 2019 version from
# 2019-06-11: never done, overdue from 2019-09-09), blood pressure screening (2015 version; 40+
# yearly, 18 to 39 every 3 years; not with hypertension, which Hartmann, Kuhlman, Gerhold and
# Quigley have), depression screening (2016 version, from 2016-01-26: no PHQ in any bundle,
# overdue from 2016-04-25), unhealthy alcohol use screening (from 2018-11-13: no AUDIT, overdue
# from 2019-02-11), and for diabetes: A1c (6 months), eye exam (ADA 2015), kidney health (eGFR and
# uACR, NCQA from 2020). Not yet in effect: blood pressure control with diabetes (NCQA BPD, from
# measurement year 2022), COVID-19, RSV, the universal hepatitis B rule. No patient has a coded
# tobacco history, so the lung and AAA rules apply to nobody. Each entry: status, and the day it
# is overdue or due since (open) or the record's day (closed).
TDAP = (OVER, D(2012, 9, 27))  # never; rule from 2012-06-29 + 90
HCV = (OVER, D(2020, 5, 31))  # never; rule from 2020-03-02 + 90
HIV = (OVER, D(2019, 9, 9))  # never; rule from 2019-06-11 + 90
FALLS = (OVER, D(2018, 7, 16))  # no fall-risk screening coded; rule from 2018-04-17 + 90
ZOSTER = (OVER, D(2018, 4, 26))  # never; rule from 2018-01-26 + 90
DEPRESSION = (OVER, D(2016, 4, 25))  # no PHQ-2 or PHQ-9; rule from 2016-01-26 + 90
ALCOHOL = (OVER, D(2019, 2, 11))  # no AUDIT-C; rule from 2018-11-13 + 90
CERVICAL = (OVER, D(2018, 11, 19))  # no cytology or HPV test; rule from 2018-08-21 + 90
EXPECTED = {
    # Born 1949-11-29 (71), male, hypertension (1968), coronary heart disease, prediabetes.
    "Hartmann": {
        "colorectal-cancer-screening": (OVER, D(2016, 9, 13)),  # never; rule from 2016-06-15 + 90
        "influenza-vaccine": (C, D(2021, 3, 31)),
        "pneumococcal-vaccine": (C, D(2016, 3, 2)),  # PPSV23 2016-03-02 (after PCV13 2015-02-25)
        "td-tdap-vaccine": (C, D(2021, 3, 31)),  # Td (CVX 113)
        "zoster-vaccine": ZOSTER,
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
        "falls-prevention": FALLS,
        "depression-screening": DEPRESSION,
        "unhealthy-alcohol-use-screening": ALCOHOL,
    },
    "MacGyver": {},  # died 1983
    "Barton": {},  # died 2021-03-01
    # Born 1971-12-07 (49), male, diabetes and hypertension since 2019-03-05.
    "Kuhlman": {
        "influenza-vaccine": (OVER, D(2020, 10, 31)),  # last 2020-07-07, before the season
        "td-tdap-vaccine": (C, D(2013, 2, 19)),  # Td (CVX 113); Hep A (CVX 52) does not count
        "diabetes-a1c": (C, D(2021, 3, 2)),
        "diabetes-eye-exam": (OVER, D(2019, 4, 4)),  # diagnosis 2019-03-05 + 30
        "diabetes-kidney-health": (C, D(2021, 3, 2)),  # eGFR and uACR 2021-03-02
        "pneumococcal-vaccine-risk": (OVER, D(2019, 6, 3)),  # no PPSV23; diabetes 2019-03-05 + 90
        "hepatitis-b-vaccine": (OVER, D(2019, 6, 3)),  # no hepatitis B dose; diabetes + 90
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
        "hiv-screening": HIV,
        "depression-screening": DEPRESSION,
        "unhealthy-alcohol-use-screening": ALCOHOL,
    },
    # Born 1976-01-16 (45: not yet in the 2016 colorectal rule), male, diabetes since 2020-01-31,
    # no hypertension.
    "Maggio": {
        "influenza-vaccine": (C, D(2020, 10, 9)),
        "td-tdap-vaccine": (C, D(2018, 1, 26)),
        "diabetes-a1c": (C, D(2020, 10, 9)),
        "diabetes-eye-exam": (OVER, D(2020, 3, 1)),  # diagnosis 2020-01-31 + 30
        "diabetes-kidney-health": (C, D(2020, 10, 9)),
        "hypertension-screening": (C, D(2020, 10, 9)),  # 106/84, within the year
        "pneumococcal-vaccine-risk": (OVER, D(2020, 4, 30)),  # diabetes 2020-01-31 + 90
        "hepatitis-b-vaccine": (OVER, D(2020, 4, 30)),
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
        "hiv-screening": HIV,
        "depression-screening": DEPRESSION,
        "unhealthy-alcohol-use-screening": ALCOHOL,
    },
    # Born 1985-11-08 (35), female, hypertension (2004), prediabetes only.
    "Gerhold": {
        "influenza-vaccine": (OVER, D(2020, 10, 31)),  # last 2019-09-27
        "td-tdap-vaccine": (C, D(2019, 9, 27)),
        "cervical-cancer-screening": CERVICAL,  # 30 to 65
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
        "hiv-screening": HIV,
        "depression-screening": DEPRESSION,
        "unhealthy-alcohol-use-screening": ALCOHOL,
    },
    "Casper": {},  # died 2021-02-21
    # Born 1957-12-26 (63), female, hypertension (1976), diabetes since 2006-01-19; no fracture,
    # smoking or other coded risk for osteoporosis.
    "Quigley": {
        "colorectal-cancer-screening": (C, D(2017, 12, 24)),  # colonoscopy
        "breast-cancer-screening": (OVER, D(2016, 4, 11)),  # never; rule from 2016-01-12 + 90
        "cervical-cancer-screening": CERVICAL,
        "influenza-vaccine": (C, D(2021, 2, 18)),
        "zoster-vaccine": ZOSTER,
        "td-tdap-vaccine": (C, D(2019, 2, 7)),
        "diabetes-a1c": (C, D(2021, 3, 11)),
        "diabetes-eye-exam": (OVER, D(2015, 1, 31)),  # ADA 2015 rule from 2015-01-01 + 30
        "diabetes-kidney-health": (C, D(2021, 3, 11)),
        "pneumococcal-vaccine-risk": (OVER, D(2010, 12, 2)),  # 63; rule from 2010-09-03 + 90
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
        "hiv-screening": HIV,
        "depression-screening": DEPRESSION,
        "unhealthy-alcohol-use-screening": ALCOHOL,
    },
    # Born 1947-06-15 (73), male, prediabetes, heart failure (2020); no hypertension.
    "Friesen": {
        "colorectal-cancer-screening": (C, D(2017, 6, 10)),
        "influenza-vaccine": (OVER, D(2020, 10, 31)),  # last 2020-03-22
        "pneumococcal-vaccine": (C, D(2014, 2, 16)),  # PPSV23 2014-02-16 (after PCV13 2013-02-10)
        "td-tdap-vaccine": (C, D(2019, 3, 17)),
        "zoster-vaccine": ZOSTER,
        "hypertension-screening": (C, D(2020, 12, 13)),  # reading of 2020-12-13
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
        "falls-prevention": FALLS,
        "depression-screening": DEPRESSION,
        "unhealthy-alcohol-use-screening": ALCOHOL,
    },
}


@pytest.fixture(scope="module")
def found(synthea_paths, tmp_path_factory):
    from carecore.clock import FixedClock
    from carecore.plugins import get_plugin_manager
    from carecore.service import CareProgram

    program = CareProgram.open(
        f"sqlite:///{tmp_path_factory.mktemp('gaps') / 'gaps.db'}",
        actor="test",
        clock=FixedClock(pendulum.datetime(2021, 4, 1, 12, tz="UTC")),
        plugin_manager=get_plugin_manager(entry_points=False),
    )
    report = import_files(program, [(p.name, p.read_bytes()) for p in synthea_paths])
    assert not report.refused
    with program.transaction("names") as tx:
        names = {p.id: p.family_name.rstrip("0123456789") for p in tx.all(Patient)}
    gaps = program.care_gaps(on=ON)
    program.close()
    out: dict[str, dict] = {name: {} for name in names.values()}
    for gap in gaps:
        day = gap.closed_on if gap.status is C else gap.since
        out[names[gap.patient_id]][gap.rule_id] = (gap.status, day)
    return out


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_each_patients_gaps_match_the_hand_worked_list(found, family):
    assert found[family] == EXPECTED[family]
