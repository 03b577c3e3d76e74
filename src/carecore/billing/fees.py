"""Medicare Physician Fee Schedule amounts of the CMS rule sets: the table, its sources and its gaps.

The national non-facility amount of a code is its total non-facility RVU
times the year's conversion factor, rounded to the cent, before any
geographic (GPCI) adjustment. The rule sets carry these *approximate*
amounts, one per code and year, read from ``carecore/billing/data/fees.csv``
with the source of each figure. A code for which no amount was found has
none (``None``): it is shown as "no listed fee", never as $0.

>>> national_amount(Decimal("1.98"), Decimal("33.4009"))  # 99490, CY 2026
Decimal('66.13')
>>> fee("99491", 2024).amount, fee("99491", 2024).sources
(Decimal('84.55'), ('cms-rvu24d',))
>>> format_amount(fee("99497", 2026).amount)
'no listed fee'
"""

from __future__ import annotations

import csv
import functools
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING

from attrs import frozen

from carecore import errors

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from carecore.model.money import ClaimLine

__all__ = [
    "CONVERSION_FACTORS",
    "FEE_SOURCES",
    "NO_LISTED_FEE",
    "QP_CONVERSION_FACTOR_2026",
    "VISIT_EM_CODES",
    "Fee",
    "FeeSource",
    "Revenue",
    "billable_codes",
    "fee",
    "fee_gaps",
    "fee_table",
    "format_amount",
    "national_amount",
    "revenue",
]

_CENT = Decimal("0.01")

#: What every output says instead of an amount for a code without one.
NO_LISTED_FEE = "no listed fee"

#: The conversion factor used for each year's amounts (non-qualifying APM
#: participants from 2026). CY 2024 is the factor from 9 March 2024
#: ($32.7442 applied from 1 January to 8 March).
CONVERSION_FACTORS: Mapping[int, Decimal] = {
    2024: Decimal("33.2875"),
    2025: Decimal("32.3465"),
    2026: Decimal("33.4009"),
}

#: The CY 2026 conversion factor for qualifying APM participants (not used
#: for the amounts in the table).
QP_CONVERSION_FACTOR_2026 = Decimal("33.5675")


@frozen(kw_only=True)
class FeeSource:
    """A source of fee figures that is not one of the rule-set source tags."""

    id: str
    title: str
    url: str


#: The fee sources beyond the rule-set source tags (S78, S79, ... resolve
#: through :mod:`carecore.billing.sources`).
FEE_SOURCES: Mapping[str, FeeSource] = {
    s.id: s
    for s in (
        FeeSource(
            id="cms-rvu24d",
            title="CMS, PFS national relative value file CY 2024, October release "
            "(RVU24D, PPRRVU24_OCT): total non-facility RVUs",
            url="https://www.cms.gov/medicare/payment/fee-schedules/physician/pfs-relative-value-files",
        ),
        FeeSource(
            id="cms-rvu25d",
            title="CMS, PFS national relative value file CY 2025, October release "
            "(RVU25D, PPRRVU2025_Oct): total non-facility RVUs and status codes",
            url="https://www.cms.gov/medicare/payment/fee-schedules/physician/pfs-relative-value-files",
        ),
        FeeSource(
            id="remetric-2026-rpm",
            title="ReMetric Health, Medicare's 2026 PFS: new RPM codes 99445 and 99470 "
            "(average amounts)",
            url="https://remetrichealth.com/?p=2815",
        ),
        FeeSource(
            id="hana-2026",
            title="HANA Health, Medicare programme pages: CY 2026 national non-facility amounts, "
            "given as total non-facility RVUs from the CY 2026 final rule's Addendum B "
            "(RVU26A/RVU26D) x $33.4009",
            url="https://www.hana.health/programs",
        ),
        FeeSource(
            id="cptcodecalculator",
            title="CPT Code Calculator, CY 2026 code pages with RVU components "
            "(G0568, valued by crosswalk to 99492; 99489; 98975)",
            url="https://cptcodecalculator.com/cpt-codes/",
        ),
    )
}


@frozen(kw_only=True)
class Fee:
    """The approximate national non-facility amount of one code in one year, with its source.

    ``amount`` is None when no amount was found; ``note`` then says why.
    ``total_rvu`` and ``conversion_factor`` are given when the amount is
    their product (:func:`national_amount`).
    """

    year: int
    code: str
    amount: Decimal | None
    total_rvu: Decimal | None = None
    conversion_factor: Decimal | None = None
    sources: tuple[str, ...] = ()
    note: str = ""

    @property
    def listed(self) -> bool:
        """Whether an amount was found."""
        return self.amount is not None


def national_amount(total_rvu: Decimal, conversion_factor: Decimal) -> Decimal:
    """Total RVU times conversion factor, rounded half-up to the cent.

    >>> national_amount(Decimal("1.85"), Decimal("34.6062"))  # 99490, CY 2022
    Decimal('64.02')
    """
    for name, value in (("total_rvu", total_rvu), ("conversion_factor", conversion_factor)):
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            raise errors.InvalidValue(
                "must be a finite, non-negative Decimal", field=name, value=value
            )
    return (total_rvu * conversion_factor).quantize(_CENT, rounding=ROUND_HALF_UP)


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if text else None


@functools.cache
def _table() -> Mapping[int, Mapping[str, Fee]]:
    text = resources.files("carecore.billing").joinpath("data", "fees.csv").read_text("utf-8")
    table: dict[int, dict[str, Fee]] = {}
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            entry = Fee(
                year=int(row["year"]),
                code=row["code"],
                amount=_decimal(row["amount"]),
                total_rvu=_decimal(row["total_rvu"]),
                conversion_factor=_decimal(row["conversion_factor"]),
                sources=tuple(filter(None, row["sources"].split(";"))),
                note=row["note"],
            )
        except (ValueError, ArithmeticError, KeyError) as exc:
            raise errors.InvalidInput(
                "fees.csv", problems=[errors.Problem(path=f"line {line}", message=str(exc))]
            ) from exc
        table.setdefault(entry.year, {})[entry.code] = entry
    return MappingProxyType({year: MappingProxyType(codes) for year, codes in table.items()})


def fee_table(year: int) -> Mapping[str, Fee]:
    """Every code the CMS rule set of *year* can bill, with its fee (listed or not).

    >>> len(fee_table(2025)) > 40
    True
    """
    found = _table().get(year)
    if found is None:
        raise errors.NotFound(
            f"no fee table (known years: {', '.join(map(str, sorted(_table())))})",
            field="year",
            value=year,
        )
    return found


def fee(code: str, year: int) -> Fee:
    """The fee of *code* in *year*; :class:`~carecore.errors.NotFound` for a code not billable then.

    A code the engine can bill with no amount (see :func:`fee_gaps`) has
    ``amount`` None and a ``note`` saying why: an office E/M code a refused
    TCM's visit is reported as, too.

    >>> fee("G0556", 2025).amount
    Decimal('15.20')
    >>> fee("99213", 2026).amount is None
    True
    """
    found = fee_table(year).get(code)
    if found is None and code in VISIT_EM_CODES:
        return Fee(year=year, code=code, amount=None, note=_VISIT_EM_NOTE)
    if found is None:
        raise errors.NotFound(
            f"not billable under the CMS rules of {year}", field="code", value=code
        )
    return found


#: The office and outpatient E/M codes a face-to-face visit may carry
#: (``VisitFact.em_code``). When TCM is refused, the engine reports the TCM
#: face-to-face visit as its own E/M code; carecore lists no E/M amounts, so
#: each is a code the engine can bill with no listed fee.
VISIT_EM_CODES: tuple[str, ...] = (
    "99202",
    "99203",
    "99204",
    "99205",
    "99211",
    "99212",
    "99213",
    "99214",
    "99215",
)

_VISIT_EM_NOTE = (
    "an E/M visit code, billed when TCM is refused and its face-to-face visit is reported "
    "as itself; carecore lists no E/M amounts"
)


def billable_codes(year: int) -> tuple[str, ...]:
    """Every code the engine can bill under the CMS rules of *year*, sorted.

    The codes of :func:`~carecore.billing.cms.cms_rule_set` in effect on some
    day of the year, and the E/M codes a TCM face-to-face visit is reported as
    when TCM is refused (:data:`VISIT_EM_CODES`).

    >>> "99490" in billable_codes(2025), "99213" in billable_codes(2025)
    (True, True)
    """
    import pendulum  # noqa: PLC0415 - only here

    from carecore.billing.cms import cms_rule_set  # noqa: PLC0415 - cms reads this module

    first, last = pendulum.Date(year, 1, 1), pendulum.Date(year, 12, 31)
    ruled = {
        rule.code
        for rule in cms_rule_set(year).codes
        if rule.available_from <= last and (rule.available_to is None or rule.available_to >= first)
    }
    return tuple(sorted(ruled | set(VISIT_EM_CODES)))


def fee_gaps(year: int | None = None) -> tuple[Fee, ...]:
    """The codes the engine can bill without a listed fee, of *year* or of every year, by year and code.

    Derived from :func:`billable_codes`: a code of the rule set whose fee
    has no amount, or a code the engine can bill that the fee table does not
    list (an E/M visit code; its ``note`` says why).

    >>> [f.code for f in fee_gaps(2025)]
    ['98978', '99202', '99203', '99204', '99205', '99211', '99212', '99213', '99214', '99215']
    """
    years = sorted(_table()) if year is None else [year]
    out: list[Fee] = []
    for y in years:
        table = fee_table(y)
        for code in billable_codes(y):
            found = table.get(code)
            if found is None:
                note = _VISIT_EM_NOTE if code in VISIT_EM_CODES else "not in the fee table"
                out.append(Fee(year=y, code=code, amount=None, note=note))
            elif not found.listed:
                out.append(found)
    return tuple(out)


def format_amount(amount: Decimal | None) -> str:
    """An amount for people: ``$62.58``, or ``no listed fee`` when there is none.

    >>> format_amount(Decimal("1234.5")), format_amount(None)
    ('$1,234.50', 'no listed fee')
    """
    return NO_LISTED_FEE if amount is None else f"${amount:,.2f}"


@frozen(kw_only=True)
class Revenue:
    """The approximate revenue of some claim lines, and how many of them have no listed fee.

    >>> Revenue(total=Decimal("62.58"), lines=3, unpriced_lines=2).describe()
    '$62.58 + 2 lines with no listed fee'
    >>> Revenue(total=Decimal(0), lines=1, unpriced_lines=1).describe()
    'no listed fee (1 line)'
    """

    total: Decimal
    lines: int
    unpriced_lines: int

    def describe(self) -> str:
        """The total as shown to people: never $0 for lines that have no listed fee."""
        if not self.unpriced_lines:
            return format_amount(self.total)
        plural = "s" if self.unpriced_lines != 1 else ""
        if self.unpriced_lines == self.lines:
            return f"{NO_LISTED_FEE} ({self.unpriced_lines} line{plural})"
        return (
            f"{format_amount(self.total)} + {self.unpriced_lines} line{plural} with {NO_LISTED_FEE}"
        )


def revenue(lines: Iterable[ClaimLine]) -> Revenue:
    """Add up the amounts of *lines*; lines without an amount are counted apart, not as 0.

    >>> revenue([]).describe()
    '$0.00'
    """
    total, count, unpriced = Decimal(0), 0, 0
    for line in lines:
        count += 1
        if line.amount is None:
            unpriced += 1
        else:
            total += line.amount
    return Revenue(total=total, lines=count, unpriced_lines=unpriced)
