from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carecore import errors
from carecore.billing import CMS_YEARS, cms_rule_set, evaluate
from carecore.billing.fees import (
    CONVERSION_FACTORS,
    FEE_SOURCES,
    NO_LISTED_FEE,
    Revenue,
    billable_codes,
    fee,
    fee_gaps,
    fee_table,
    format_amount,
    national_amount,
    revenue,
)
from carecore.billing.scenarios import load_scenarios
from carecore.billing.sources import source
from carecore.model import ServiceFamily, ServicePeriod

from ..inputs import DATA, ROOT, SCENARIOS


def test_2022_rvu_rows_give_the_published_national_amounts():
    path = DATA / "cms_pfs" / "pprrvu22_jan_care_mgmt_subset.csv"
    rows = {row["HCPCS"]: row for row in csv.DictReader(path.read_text().splitlines())}
    amount = national_amount(
        Decimal(rows["99490"]["NON-FACILITY TOTAL"]), Decimal(rows["99490"]["CONV FACTOR"])
    )
    assert amount == Decimal("64.02")  # the CY 2025 national non-facility amount
    for code in ("99439", "99491", "99487", "99495", "99496"):
        value = national_amount(
            Decimal(rows[code]["NON-FACILITY TOTAL"]), Decimal(rows[code]["CONV FACTOR"])
        )
        assert value > 0


def test_the_2026_rule_set_amount_matches_the_spec_worked_check():
    # 99490, CY 2026: total non-facility RVU 1.98 x conversion factor $33.4009 = $66.13.
    assert cms_rule_set(2026).rule("99490").amount == national_amount(
        Decimal("1.98"), Decimal("33.4009")
    )


def test_amounts_refuse_floats():
    with pytest.raises(errors.InvalidValue) as caught:
        national_amount(1.98, Decimal("33.4009"))  # type: ignore[arg-type]
    assert caught.value.field == "total_rvu"


# -- the fee table (issue 15, item 7) ------------------------------------------------------------

DOCS = ROOT / "docs" / "billing" / "fees.md"
PUBLIC = SCENARIOS
MORE = Path(__file__).parent / "data" / "more_scenarios.json"


def _billable(year: int) -> set[str]:
    """The codes the CMS rule set of *year* can bill: in effect on some day of the year."""
    first, last = pendulum.Date(year, 1, 1), pendulum.Date(year, 12, 31)
    return {
        rule.code
        for rule in cms_rule_set(year).codes
        if rule.available_from <= last and (rule.available_to is None or rule.available_to >= first)
    }


def _docs_table(heading: str) -> list[list[str]]:
    """The body rows of the first markdown table under *heading* in the fees page."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows: list[str] = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break  # the end of the first table
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


@pytest.mark.parametrize("year", CMS_YEARS)
def test_the_fee_table_covers_exactly_the_codes_each_year_can_bill(year):
    assert set(fee_table(year)) == _billable(year)


@pytest.mark.parametrize("year", CMS_YEARS)
def test_every_billable_code_has_an_amount_or_is_a_documented_gap(year):
    documented = {(int(y), code) for y, code, _why in _docs_table("Codes with no listed fee")}
    for code in _billable(year):
        amount = cms_rule_set(year).rule(code).amount
        assert (amount is None) == ((year, code) in documented), (year, code)


def test_the_documented_gaps_are_the_data_gaps_with_their_reasons():
    documented = [(int(y), code, why) for y, code, why in _docs_table("Codes with no listed fee")]
    assert documented == [(f.year, f.code, f.note) for f in fee_gaps()]
    assert all(why for _y, _code, why in documented)


def test_tcm21s_e_m_line_is_a_listed_gap():
    # Failed before: TCM-21 bills 99213 with no listed fee, but fee_gaps() and the docs'
    # table of codes with no listed fee did not name it.
    scenario = next(s for s in load_scenarios(PUBLIC) if s.id == "TCM-21")
    billed = {
        (scenario.year, line.code)
        for line in evaluate(scenario.facts, cms_rule_set(2025)).claim_lines
        if line.amount is None
    }
    assert (2025, "99213") in billed
    gaps = {(f.year, f.code) for f in fee_gaps()}
    assert billed <= gaps
    documented = {(int(y), code) for y, code, _why in _docs_table("Codes with no listed fee")}
    assert billed <= documented


def test_every_unpriced_line_of_every_scenario_is_a_listed_gap():
    # Every code the engine bills without an amount, over every public and test case.
    gaps = {(f.year, f.code) for f in fee_gaps()}
    for scenario in [*load_scenarios(PUBLIC), *load_scenarios(MORE)]:
        if scenario.year not in CMS_YEARS:
            continue
        result = evaluate(scenario.facts, cms_rule_set(scenario.year))
        for line in result.claim_lines:
            if line.amount is None:
                assert (scenario.year, line.code) in gaps, (scenario.id, line.code)
            else:
                assert line.code in billable_codes(scenario.year), (scenario.id, line.code)


@pytest.mark.parametrize("year", CMS_YEARS)
def test_the_gaps_are_derived_from_the_rule_set(year):
    table = fee_table(year)
    expected = {
        code for code in billable_codes(year) if code not in table or not table[code].listed
    }
    assert {f.code for f in fee_gaps(year)} == expected
    assert _billable(year) <= set(billable_codes(year))


def test_the_docs_amount_table_is_the_data():
    shown = {row[0]: row[2:] for row in _docs_table("Amounts by code and year")}
    assert set(shown) == {rule.code for rule in cms_rule_set(2026).codes}
    for code, cells in shown.items():
        for year, cell in zip(CMS_YEARS, cells, strict=True):
            found = fee_table(year).get(code)
            if found is None:
                assert cell == "not in effect", (year, code)
            elif found.amount is None:
                assert cell == NO_LISTED_FEE, (year, code)
            else:
                assert cell == f"{format_amount(found.amount)} ({', '.join(found.sources)})"


@pytest.mark.parametrize("year", CMS_YEARS)
def test_amounts_are_rvu_times_the_years_conversion_factor_and_have_sources(year):
    for entry in fee_table(year).values():
        assert entry.sources or not entry.listed, (year, entry.code)
        for tag in entry.sources:
            assert tag in FEE_SOURCES or source(tag).id == tag
        if entry.listed:
            assert entry.amount > 0, (year, entry.code)  # the close summary relies on it
        if entry.total_rvu is not None:
            assert entry.conversion_factor == CONVERSION_FACTORS[year]
            assert entry.amount == national_amount(entry.total_rvu, entry.conversion_factor)


def test_the_rule_sets_carry_the_fee_tables_amounts():
    for year in CMS_YEARS:
        rules = cms_rule_set(year)
        for code, entry in fee_table(year).items():
            assert rules.rule(code).amount == entry.amount, (year, code)


# Failed before: these codes had no amount in 2024 (and most in 2025), so their lines were priced
# at $0 in the demo and the close summaries. Figures: CMS RVU file total x conversion factor.
@pytest.mark.parametrize(
    ("year", "code", "amount"),
    [
        (2024, "99491", "84.55"),
        (2024, "99437", "59.58"),
        (2024, "99495", "206.72"),
        (2025, "99495", "201.20"),
        (2024, "99484", "54.92"),
        (2025, "99484", "53.05"),
        (2025, "99492", "145.24"),
        (2025, "99493", "133.59"),
        (2024, "99497", "81.89"),
        (2025, "99498", "68.90"),
        (2024, "G0019", "80.56"),
        (2025, "G0023", "77.96"),
        (2025, "G0140", "77.96"),
    ],
)
def test_codes_that_had_no_fee_now_have_the_cms_amount(year, code, amount):
    assert cms_rule_set(year).rule(code).amount == Decimal(amount)


def test_a_code_without_a_fee_is_none_and_reads_no_listed_fee():
    assert cms_rule_set(2026).rule("99497").amount is None
    assert fee("99497", 2026).note
    assert format_amount(fee("99497", 2026).amount) == "no listed fee"
    with pytest.raises(errors.NotFound) as caught:
        fee("99470", 2024)  # not in effect before 2026
    assert caught.value.field == "code"
    with pytest.raises(errors.NotFound) as caught:
        fee_table(2019)
    assert caught.value.field == "year"


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_fee_agrees_with_fee_gaps_for_every_billable_code(year):
    # fees.md tells users to check a code with fee(): every code the engine can
    # bill (the office E/M codes a refused TCM's visit is billed as, too) answers.
    gaps = {f.code: f for f in fee_gaps(year)}
    for code in billable_codes(year):
        found = fee(code, year)
        assert found.code == code
        if code in gaps:
            assert found.amount is None
            assert found.note == gaps[code].note
            assert format_amount(found.amount) == "no listed fee"
    assert fee("99213", year).amount is None


def test_the_fee_docs_name_no_zero_amount_and_no_case_users_do_not_have():
    text = (ROOT / "docs" / "billing" / "fees.md").read_text(encoding="utf-8")
    assert '`"0"`' not in text
    assert "TCM-21" not in text
    tcm = (ROOT / "docs" / "billing" / "tcm.md").read_text(encoding="utf-8")
    assert "public scenarios" not in tcm


@given(
    total=st.decimals(min_value=0, max_value=10**6, places=2),
    lines=st.integers(min_value=1, max_value=10**5),
    data=st.data(),
)
def test_revenue_with_unpriced_lines_never_reads_as_zero_dollars(total, lines, data):
    unpriced = data.draw(st.integers(min_value=1, max_value=lines))
    if unpriced == lines:
        total = Decimal(0)
    text = Revenue(total=total, lines=lines, unpriced_lines=unpriced).describe()
    assert NO_LISTED_FEE in text
    assert f"{unpriced} line" in text
    if unpriced == lines:
        assert "$" not in text


def test_revenue_counts_lines_without_an_amount_apart():
    def line(amount):
        return SimpleNamespace(amount=None if amount is None else Decimal(amount))

    money = revenue([line("62.58"), line(None), line("47.93")])  # type: ignore[list-item]
    assert (money.total, money.lines, money.unpriced_lines) == (Decimal("110.51"), 3, 1)
    assert money.describe() == "$110.51 + 1 line with no listed fee"


def _demo_result(total, lines, unpriced):
    period = ServicePeriod(start=pendulum.Date(2026, 1, 1), end=pendulum.Date(2026, 6, 30))
    result = SimpleNamespace(
        settings=SimpleNamespace(period=period, months=6, seed=1),
        seconds=1.0,
        patients=1,
        from_fhir=0,
        eligible=1,
        enrolled=1,
        care_plans=1,
        imported_plans=0,
        adt_messages=0,
        acks=(),
        episodes=0,
        readmissions=0,
        minutes=30,
        claim_lines=lines,
        expected_revenue=Decimal(total),
        unpriced_lines=unpriced,
        measures=(),
        store_url="memory:",
        report=SimpleNamespace(index=Path("report/index.html")),
        care=(),
    )
    result.revenue = Revenue(total=Decimal(total), lines=lines, unpriced_lines=unpriced)
    return result


def _demo_output(result) -> str:
    from rich.console import Console

    from carecore._cli_commands import _print_demo

    console = Console(width=200, record=True)
    with console.capture() as captured:
        _print_demo(console, result)
    return captured.get()


# Failed before: the demo printed "$0.00 (3 lines without a listed fee)" for lines with no fee.
def test_the_demo_summary_never_prices_lines_without_a_fee_at_zero():
    text = _demo_output(_demo_result("0", 3, 3))
    assert "$0.00" not in text
    assert "no listed fee (3 lines)" in text
    text = _demo_output(_demo_result("125.16", 3, 1))
    assert "$125.16 + 1 line with no listed fee" in text


def _summary(codes, total):
    from carecore.billing import CloseSummary, CodeTotal

    return CloseSummary(
        month="2026-03",
        rule_set="cms-2026",
        rule_set_year=2026,
        rule_set_version="2026.1",
        codes=[CodeTotal(code=c, lines=n, units=n, amount=a) for c, n, a in codes],
        claim_lines=sum(n for _c, n, _a in codes),
        expected_revenue=total,
        # The close's summary: a code with no listed fee has amount None, its lines counted here.
        unpriced_lines=sum(n for _c, n, a in codes if a is None),
        patients_evaluated=2,
        patients_billed=2,
        denials=0,
        rows_rejected=0,
    )


# Failed before: a billed code with no fee was shown as "$0" in the close summary.
def test_the_close_summary_shows_no_listed_fee_not_zero(capsys):
    from carecore._cli_billing import _print_summary

    _print_summary(_summary([("99490", 2, "132.26"), ("99491", 1, None)], "132.26"), None)
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "99491" in line)
    assert "no listed fee" in row
    assert "$0" not in row
    assert "$132.26 + 1 line with no listed fee" in out


def test_the_revenue_measure_says_lines_without_a_fee_are_left_out():
    from carecore.metrics import expected_revenue
    from carecore.model import ClaimLine

    fields = {
        "patient_id": "p1",
        "billing_practitioner_id": "dr1",
        "family": ServiceFamily.CCM,
        "units": 1,
        "date_of_service": pendulum.Date(2026, 3, 20),
        "period": ServicePeriod.month(2026, 3),
    }
    lines = [
        ClaimLine(code="99490", amount=Decimal("66.13"), **fields),
        ClaimLine(code="99491", amount=None, **fields),
    ]
    measure = expected_revenue(lines, period=ServicePeriod.month(2026, 3))
    assert measure.value == Decimal("66.13")
    assert "1 with no listed fee, not included" in measure.definition


def test_revenue_pmpm_leaves_lines_without_a_fee_out_and_says_so():
    from carecore.metrics import pmpm_by_quarter
    from carecore.model import ClaimLine, Enrollment

    march = ServicePeriod.month(2026, 3)
    enrolled = Enrollment.start(
        id="e1",
        patient_id="p1",
        program_id="ccm",
        family=ServiceFamily.CCM,
        billing_practitioner_id="dr1",
        on=pendulum.Date(2026, 1, 5),
    )
    fields = {
        "patient_id": "p1",
        "billing_practitioner_id": "dr1",
        "family": ServiceFamily.CCM,
        "units": 1,
        "date_of_service": pendulum.Date(2026, 3, 20),
        "period": march,
    }
    lines = [
        ClaimLine(code="99490", amount=Decimal("66.13"), **fields),
        ClaimLine(code="99439", amount=None, **fields),
    ]
    (row,) = pmpm_by_quarter([enrolled], period=march, family=ServiceFamily.CCM, claim_lines=lines)
    assert row.observed_total == Decimal("66.13")
    assert "1 with no listed fee left out" in row.source


@pytest.mark.parametrize("page", ["ccm", "pcm", "tcm", "rpm", "apcm"])
def test_the_family_pages_show_the_fee_tables_amounts(page):
    lines = (ROOT / "docs" / "billing" / f"{page}.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if "approx. amount 2024 / 2025 / 2026" in line)
    checked = 0
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        shown = []
        for year in CMS_YEARS:
            entry = fee_table(year).get(cells[0])
            if entry is None:
                shown.append("n/a")
            else:
                shown.append("none listed" if entry.amount is None else format_amount(entry.amount))
        assert cells[-1] == " / ".join(shown), (page, cells[0])
        checked += 1
    assert checked
