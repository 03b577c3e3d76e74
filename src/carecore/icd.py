"""ICD-10-CM look-ups, backed by the CMS tables inside ``simple-icd-10-cm``.

The tables are loaded on first use, not on import: reading them takes about
two seconds, and most programs that import carecore never need them. The
package in use ships the CMS April 1, 2026 ICD-10-CM release; see
:func:`release`.

>>> normalize("e119")
'E11.9'
>>> is_valid("E11.9"), is_valid("Z99.99")
(True, False)
>>> is_billable("E11")
False
"""

from __future__ import annotations

import functools
import re
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["describe", "is_billable", "is_valid", "normalize", "release", "shipped_billable"]

_SHAPE = re.compile(r"[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?")


@functools.cache
def _lib() -> ModuleType:
    # Deliberately lazy: the import parses the whole CMS tabular list (~2 s).
    # simple-icd-10-cm 1.5 reads its data with a deprecated importlib.resources
    # call; that warning is the package's business, not our users'.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm  # noqa: PLC0415

    module: ModuleType = simple_icd_10_cm
    return module


def normalize(code: str) -> str:
    """Return *code* upper-cased with the dot after the category (``E119`` -> ``E11.9``).

    Only the shape is changed; use :func:`is_valid` to check the code exists.

    >>> normalize(" i5022 ")
    'I50.22'
    """
    text = code.strip().upper().replace(".", "")
    return text if len(text) <= 3 else f"{text[:3]}.{text[3:]}"  # noqa: PLR2004


@functools.cache
def shipped_billable() -> frozenset[str] | None:
    """The billable ICD-10-CM codes shipped with carecore, if they are of the installed release.

    Reading them takes about 20 ms and 8 MB; the ICD-10-CM tables take about
    two seconds and 170 MB a process, which every month-close worker and
    every store read of conditions would pay. None when the list is of
    another release than the installed tables (regenerate it).

    >>> "E11.65" in shipped_billable(), "E11" in shipped_billable()
    (True, False)
    """
    import gzip  # noqa: PLC0415
    from importlib import resources  # noqa: PLC0415

    # Found beside carecore.billing's rule data, without importing that package.
    path = resources.files("carecore") / "billing" / "data" / "icd10cm-billable.txt.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as lines:
        if lines.readline().removeprefix("# ").strip() != release():
            return None
        return frozenset(line.strip() for line in lines if line.strip())


@functools.lru_cache(maxsize=65536)
def is_valid(code: str) -> bool:
    """Whether *code* (dotted, canonical form) is a code or category in ICD-10-CM.

    A billable code of the shipped list is valid without loading the tables.

    >>> is_valid("I50.22")
    True
    """
    if not _SHAPE.fullmatch(code):
        return False
    shipped = shipped_billable()
    if shipped is not None and code in shipped:
        return True
    return bool(_lib().is_valid_item(code)) and "-" not in code


@functools.lru_cache(maxsize=65536)
def is_billable(code: str) -> bool:
    """Whether *code* is a billable (leaf) ICD-10-CM code.

    >>> is_billable("I50.22"), is_billable("I50")
    (True, False)
    """
    return is_valid(code) and bool(_lib().is_leaf(code))


def describe(code: str) -> str:
    """The CMS description of *code*.

    >>> describe("E11.9")
    'Type 2 diabetes mellitus without complications'
    """
    from carecore import errors  # noqa: PLC0415

    if not is_valid(code):
        raise errors.InvalidCode("not an ICD-10-CM code", field="code", value=code)
    return str(_lib().get_description(code))


def release() -> str:
    """The CMS release of the ICD-10-CM tables in use, from the installed package.

    >>> release().startswith("icd10cm")
    True
    """
    import importlib.util  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    # Found without importing the package: its import parses the whole tabular list.
    spec = importlib.util.find_spec("simple_icd_10_cm")
    folders = [Path(p) / "data" for p in (spec.submodule_search_locations or [])] if spec else []
    names = sorted(
        p.name
        for folder in folders
        if folder.is_dir()
        for p in folder.iterdir()
        if p.name.startswith("icd10c") and p.name.endswith(".xml")
    )
    return "icd10cm " + (
        names[-1].removeprefix("icd10c-tabular-").removesuffix(".xml") if names else "unknown"
    )
