"""De-identified and limited-data-set exports of a store, for research.

*Safe Harbor* (45 CFR 164.514(b)(2)) removes or generalises the 18 kinds of
identifiers: names, contact numbers, record and plan numbers and free text are
dropped; every date becomes its year; ZIP codes keep their first three digits
(``000`` for the 17 three-digit areas of 20,000 people or fewer); ages over 89
become ``"90+"`` with no birth year; every id becomes a pseudonym, a keyed hash
(HMAC-SHA-256) that is the same for the same id in every file and every export
made with the same key. A *limited data set* (45 CFR 164.514(e)) keeps dates,
city, state and five-digit ZIP codes, and removes the rest all the same.

>>> d = Deidentifier(key="a research key of some length", method="safe-harbor",
...                  as_of=dt.date(2026, 6, 30))
>>> d.zip_code("03601"), d.zip_code("60614-1234"), d.zip_code("6061")
('000', '606', None)
>>> d.pseudonym("p-0001") == d.pseudonym("p-0001") != d.pseudonym("p-0002")
True
>>> d.age(dt.date(1930, 1, 2)), d.age(dt.date(1950, 1, 2))
('90+', 76)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from carecore import errors
from carecore._files import write_private
from carecore.access import Action
from carecore.storage import KINDS

if TYPE_CHECKING:
    from carecore.protocols import Transaction
    from carecore.storage import Kind

__all__ = [
    "KEY_ENV",
    "METHODS",
    "RESTRICTED_ZIP3",
    "Deidentifier",
    "export",
]

#: The environment variable holding the pseudonym key when none is given.
KEY_ENV = "CARECORE_DEIDENTIFY_KEY"

Method = Literal["safe-harbor", "limited-data-set"]
#: The export methods.
METHODS: tuple[Method, ...] = ("safe-harbor", "limited-data-set")

#: Three-digit ZIP areas of 20,000 people or fewer in the 2000 census: written as ``000``
#: (HHS, Guidance Regarding Methods for De-identification of PHI, section 3.4:
#: https://www.hhs.gov/hipaa/for-professionals/special-topics/de-identification/index.html).
RESTRICTED_ZIP3 = frozenset(
    {
        "036", "059", "063", "102", "203", "556", "692", "790", "821",
        "823", "830", "831", "878", "879", "884", "890", "893",
    }
)  # fmt: skip

#: Shortest pseudonym key accepted (characters).
MIN_KEY_LENGTH = 16

#: Kinds not exported: their content is identifiers (a patient's identifiers in other systems).
SKIPPED_KINDS = frozenset({"PatientLink"})

#: Columns removed in both methods: names, contact details, plan and licence numbers, free text.
DROPPED_COLUMNS = frozenset(
    {
        "given_name", "family_name", "name", "phone", "email", "member_id", "npi", "tin",
        "identifiers", "text", "message", "title", "expected_outcome",
        "medication_management", "activity", "location", "facility", "close_reason",
        "dose", "quantity",
    }
)  # fmt: skip
#: Columns removed from one kind only (an appointment's reason is free text).
DROPPED_BY_KIND = {"Appointment": frozenset({"reason"})}
#: Columns removed under Safe Harbor only (a time zone can name an area smaller than a state).
DROPPED_SAFE_HARBOR = frozenset({"time_zone"})
#: Id columns that name no person or record of one (kept as they are).
CATALOGUE_IDS = frozenset({"program_id", "instrument_id"})
#: Other columns holding ids of people or records.
ID_COLUMNS = frozenset({"obtained_by", "reconciled_by", "source_key", "visit_number", "owner"})
#: Keys inside JSON values that are free text or contact details (removed).
DROPPED_KEYS = frozenset(
    {
        "text", "note", "notes", "description", "title", "comment", "name", "message",
        "detail", "reason", "phone", "email", "line1", "line2", "recipient", "by",
        "summary", "outcome", "signs", "actions",
    }
)  # fmt: skip
#: JSON keys whose lists hold ids of people or records.
ID_LIST_KEYS = frozenset({"sources", "contributors", "members", "problem_ids", "goal_ids"})

_DATE = re.compile(r"^(\d{4})-\d{2}-\d{2}")


def _is_id(name: str) -> bool:
    return name not in CATALOGUE_IDS and (
        name == "id" or name.endswith(("_id", "_ids")) or name in ID_COLUMNS
    )


class Deidentifier:
    """The rules of one export: the method, the pseudonym key and the day ages are taken on."""

    def __init__(self, *, key: str, method: str = "safe-harbor", as_of: dt.date) -> None:
        if method not in METHODS:
            raise errors.InvalidValue(
                f"must be one of {', '.join(METHODS)}", field="method", value=method
            )
        if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
            # The key itself is never repeated in a message.
            raise errors.InvalidValue(
                f"the pseudonym key must have at least {MIN_KEY_LENGTH} characters",
                field="key",
                value=None,
            )
        self.method = method
        self.as_of = as_of
        self._key = key.encode("utf-8")

    @property
    def limited(self) -> bool:
        """Whether dates and five-digit ZIP codes are kept (a limited data set)."""
        return self.method == "limited-data-set"

    def pseudonym(self, value: object) -> str:
        """The keyed hash of an id: 20 hexadecimal characters, the same for the same id and key."""
        digest = hmac.new(self._key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()
        return "x" + digest[:20]

    def zip_code(self, value: object) -> str | None:
        """A ZIP code as exported: three digits (``000`` for restricted areas), or five kept."""
        digits = re.sub(r"\D", "", str(value or ""))
        if len(digits) < 5:  # noqa: PLR2004 - a ZIP code's length
            return None
        if self.limited:
            return digits[:5]
        zip3 = digits[:3]
        return "000" if zip3 in RESTRICTED_ZIP3 else zip3

    def age(self, born: dt.date) -> int | str:
        """Age in whole years on :attr:`as_of`, ``"90+"`` over 89."""
        years = (
            self.as_of.year
            - born.year
            - ((self.as_of.month, self.as_of.day) < (born.month, born.day))
        )
        return "90+" if years > 89 else years  # noqa: PLR2004 - the Safe Harbor age limit

    def date(self, value: object) -> object:
        """A date or instant as exported: its year, or kept in a limited data set."""
        if value is None:
            return None
        text = value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)
        if self.limited:
            return text
        match = _DATE.match(text)
        return int(match.group(1)) if match else None

    def _json(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k in DROPPED_KEYS:
                    continue
                if _is_id(k) and v is not None:
                    out[k] = (
                        [self.pseudonym(x) for x in v] if isinstance(v, list) else self.pseudonym(v)
                    )
                else:
                    out[k] = self._json(v, k)
            return out
        if isinstance(value, list):
            if key in ID_LIST_KEYS:
                return [self.pseudonym(x) if isinstance(x, str) else self._json(x) for x in value]
            return [self._json(x, key) for x in value]
        if isinstance(value, str) and _DATE.match(value):
            return self.date(value)
        return value

    def address(self, value: dict[str, Any]) -> dict[str, Any]:
        """A postal address as exported: state and ZIP (and city in a limited data set)."""
        out: dict[str, Any] = {
            "state": value.get("state"),
            "zip": self.zip_code(value.get("postal_code")),
        }
        if self.limited:
            out["city"] = value.get("city")
        return out

    def record(self, kind: Kind, row: tuple[Any, ...]) -> dict[str, Any]:
        """One stored row as exported."""
        dropped = DROPPED_COLUMNS | DROPPED_BY_KIND.get(kind.name, frozenset())
        if not self.limited:
            dropped |= DROPPED_SAFE_HARBOR
        out: dict[str, Any] = {}
        for column, value in zip(kind.columns, row, strict=True):
            if column.name in dropped:
                continue
            if kind.name == "Patient" and column.name == "birth_date":
                self._birth(out, value)
            else:
                out[column.name] = self._value(column.name, column.type, value)
        return out

    def _value(self, name: str, kind: str, value: Any) -> Any:
        if kind == "json" and isinstance(value, str):
            value = json.loads(value)
        if name == "address" and isinstance(value, dict):
            return self.address(value)
        if _is_id(name) and value is not None:
            return self.pseudonym(value)
        if kind in {"date", "instant"}:
            return self.date(value)
        if kind == "json":
            return self._json(value, name)
        if kind == "decimal" and value is not None:
            return str(value)
        return value

    def _birth(self, out: dict[str, Any], value: object) -> None:
        if value is None:
            out["age"] = None
            return
        born = dt.date.fromisoformat(str(value)[:10])
        age = self.age(born)
        out["age"] = age
        if self.limited:
            out["birth_date"] = born.isoformat()
        elif age != "90+":
            out["birth_year"] = born.year


def export(tx: Transaction, out: Path, rules: Deidentifier) -> dict[str, int]:
    """Write every patient-linked kind of the store to *out* as de-identified JSON lines.

    One file per kind (``<table>.jsonl``, lines sorted) and a ``manifest.json``
    naming the method; the folder is made 0700 and the files 0600. The key is
    never written. Returns the number of records per file.
    """
    out = Path(out)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    out.chmod(0o700)
    counts: dict[str, int] = {}
    # A program's transaction checks these reads as a de-identified export (what a
    # researcher may do), not as reads of identified records.
    reading_as = getattr(tx, "reading_as", None)
    for kind in KINDS:
        if kind.patient_column is None or kind.name in SKIPPED_KINDS:
            continue
        with (
            reading_as(Action.DEIDENTIFIED_EXPORT)
            if reading_as is not None
            else contextlib.nullcontext()
        ):
            found = tx.all(kind.cls)
        lines = sorted(
            json.dumps(
                rules.record(kind, tuple(kind.to_row(r))), sort_keys=True, ensure_ascii=False
            )
            for r in found
        )
        name = f"{kind.table}.jsonl"
        write_private(out / name, "".join(line + "\n" for line in lines))
        counts[name] = len(lines)
    manifest = {
        "method": rules.method,
        "standard": (
            "45 CFR 164.514(e) limited data set"
            if rules.limited
            else "45 CFR 164.514(b)(2) safe harbor"
        ),
        "ages_on": rules.as_of.isoformat(),
        "pseudonyms": "HMAC-SHA-256 of each id under the exporter's key (not included)",
        "files": counts,
    }
    write_private(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return counts
