from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from carecore import errors
from carecore.billing import cms_rule_set
from carecore.billing.fees import national_amount

from ..shared_data import shared_dir


def test_2022_rvu_rows_give_the_published_national_amounts():
    path = shared_dir() / "data" / "cms_pfs" / "pprrvu22_jan_care_mgmt_subset.csv"
    rows = {row["HCPCS"]: row for row in csv.DictReader(path.read_text().splitlines())}
    amount = national_amount(
        Decimal(rows["99490"]["NON-FACILITY TOTAL"]), Decimal(rows["99490"]["CONV FACTOR"])
    )
    assert amount == Decimal("64.02")  # ECOSYSTEM.md §5a
    for code in ("99439", "99491", "99487", "99495", "99496"):
        value = national_amount(
            Decimal(rows[code]["NON-FACILITY TOTAL"]), Decimal(rows[code]["CONV FACTOR"])
        )
        assert value > 0


def test_the_2026_rule_set_amount_matches_the_spec_worked_check():
    # SPEC.md §14: 99490 CY 2026 total non-facility RVU 1.98 x $33.4009 = $66.13.
    assert cms_rule_set(2026).rule("99490").amount == national_amount(
        Decimal("1.98"), Decimal("33.4009")
    )


def test_amounts_refuse_floats():
    with pytest.raises(errors.InvalidValue) as caught:
        national_amount(1.98, Decimal("33.4009"))  # type: ignore[arg-type]
    assert caught.value.field == "total_rvu"
