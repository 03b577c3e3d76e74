"""Payment arithmetic of the Medicare Physician Fee Schedule (national, before geographic adjustment).

The national non-facility amount of a code is its total non-facility RVU
times the year's conversion factor, rounded to the cent. The rule sets carry
*approximate* amounts, each with its source tags (:mod:`carecore.billing.sources`);
this is the arithmetic to check them against CMS's published RVU files.

>>> national_amount(Decimal("1.98"), Decimal("33.4009"))  # 99490, CY 2026
Decimal('66.13')
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from carecore import errors

__all__ = ["national_amount"]

_CENT = Decimal("0.01")


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
