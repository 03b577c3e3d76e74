"""The built-in CMS rule sets (2024-2026), registered through ``carecore_rule_sets``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.protocols import RuleSet


@hookimpl
def carecore_rule_sets() -> Sequence[RuleSet]:
    """Give the CMS rule sets for every supported calendar year."""
    from carecore.billing.cms import CMS_YEARS, cms_rule_set  # noqa: PLC0415

    return [cms_rule_set(year) for year in CMS_YEARS]
