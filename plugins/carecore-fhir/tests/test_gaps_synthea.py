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

# Rules in effect on 2021-04-01: colorectal (2016 version, 50 to 75), breast (2016, women 50 to 74),
# osteoporosis (women 65+), influenza (season from 2020-08-01, overdue from 2020-10-31),
# pneumococcal (65+), zoster (50+), Td/Tdap (10 years), and for diabetes: A1c (6 months),
# eye exam, kidney health (eGFR and uACR), blood pressure control (NCQA, 18 to 75); falls
# prevention (2018 version, 65+); hepatitis C screening once (18 to 79, from 2020-03-02: never
# done, overdue from 2020-05-31 for everyone living); Tdap once (from 2012-06-29: the bundles
# hold only Td, CVX 113, so it is overdue from 2012-09-27 for every living adult). No patient
# has a coded tobacco history, so the lung and AAA rules apply to nobody. Each entry: status,
# and the day it is overdue or due since (open) or the record's day (closed).
TDAP = (OVER, D(2012, 9, 27))  # never; rule from 2012-06-29 + 90
HCV = (OVER, D(2020, 5, 31))  # never; rule from 2020-03-02 + 90
FALLS = (OVER, D(2018, 7, 16))  # no fall-risk screening coded; rule from 2018-04-17 + 90
EXPECTED = {
    # Born 1949-11-29 (71), male, prediabetes only.
    "Hartmann": {
        "colorectal-cancer-screening": (OVER, D(2016, 9, 13)),  # never; rule from 2016-06-15 + 90
        "influenza-vaccine": (C, D(2021, 3, 31)),
        "pneumococcal-vaccine": (C, D(2016, 3, 2)),  # PCV13 2015-02-25, then PPSV23 2016-03-02
        "td-tdap-vaccine": (C, D(2021, 3, 31)),  # Td (CVX 113)
        "zoster-vaccine": (OVER, D(2018, 4, 25)),  # never; rule from 2018-01-25 + 90
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
        "falls-prevention": FALLS,
    },
    "MacGyver": {},  # died 1983
    "Barton": {},  # died 2021-03-01
    # Born 1971-12-07 (49), male, diabetes since 2019-03-05.
    "Kuhlman": {
        "influenza-vaccine": (OVER, D(2020, 10, 31)),  # last 2020-07-07, before the season
        "td-tdap-vaccine": (C, D(2013, 2, 19)),  # Td (CVX 113); Hep A (CVX 52) does not count
        "diabetes-a1c": (C, D(2021, 3, 2)),
        "diabetes-eye-exam": (OVER, D(2019, 4, 4)),  # diagnosis 2019-03-05 + 30
        "diabetes-kidney-health": (C, D(2021, 3, 2)),  # eGFR and uACR 2021-03-02
        "diabetes-bp-control": (OVER, D(2021, 4, 1)),  # 166/113 on 2021-03-02, + 30
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
    },
    # Born 1976-01-16 (45: not yet in the 2016 colorectal rule), male, diabetes since 2020-01-31.
    "Maggio": {
        "influenza-vaccine": (C, D(2020, 10, 9)),
        "td-tdap-vaccine": (C, D(2018, 1, 26)),
        "diabetes-a1c": (C, D(2020, 10, 9)),
        "diabetes-eye-exam": (OVER, D(2020, 3, 1)),  # diagnosis 2020-01-31 + 30
        "diabetes-kidney-health": (C, D(2020, 10, 9)),
        "diabetes-bp-control": (C, D(2020, 10, 9)),  # 106/84
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
    },
    # Born 1985-11-08 (35), female, prediabetes only.
    "Gerhold": {
        "influenza-vaccine": (OVER, D(2020, 10, 31)),  # last 2019-09-27
        "td-tdap-vaccine": (C, D(2019, 9, 27)),
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
    },
    "Casper": {},  # died 2021-02-21
    # Born 1957-12-26 (63), female, diabetes since 2006-01-19.
    "Quigley": {
        "colorectal-cancer-screening": (C, D(2017, 12, 24)),  # colonoscopy
        "breast-cancer-screening": (OVER, D(2016, 4, 11)),  # never; rule from 2016-01-12 + 90
        "influenza-vaccine": (C, D(2021, 2, 18)),
        "zoster-vaccine": (OVER, D(2018, 4, 25)),
        "td-tdap-vaccine": (C, D(2019, 2, 7)),
        "diabetes-a1c": (C, D(2021, 3, 11)),
        "diabetes-eye-exam": (OVER, D(2015, 1, 31)),  # rule from 2015-01-01 + 30
        "diabetes-kidney-health": (C, D(2021, 3, 11)),
        "diabetes-bp-control": (DUE, D(2021, 3, 11)),  # 175/111 on 2021-03-11, within 30 days
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
    },
    # Born 1947-06-15 (73), male, prediabetes only.
    "Friesen": {
        "colorectal-cancer-screening": (C, D(2017, 6, 10)),
        "influenza-vaccine": (OVER, D(2020, 10, 31)),  # last 2020-03-22
        "pneumococcal-vaccine": (C, D(2014, 2, 16)),  # PCV13 2013-02-10, then PPSV23 2014-02-16
        "td-tdap-vaccine": (C, D(2019, 3, 17)),
        "zoster-vaccine": (OVER, D(2018, 4, 25)),
        "tdap-vaccine": TDAP,
        "hepatitis-c-screening": HCV,
        "falls-prevention": FALLS,
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
