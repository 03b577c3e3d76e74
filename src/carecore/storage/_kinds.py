"""The stored kinds: which model values a store keeps, under which table and key.

Every SQL store builds its tables and its row functions from :data:`KINDS`, so
the list of columns is written once, derived from the attrs fields of each
model class. A field becomes a typed column (text, integer, boolean, date,
instant, decimal); nested values (a patient's identifiers, an enrollment's
history) become one JSON column; a :class:`~carecore.model.ServicePeriod`
becomes two date columns, ``period_start`` and ``period_end``.

Schema changes are additive and numbered: a column or kind added after the
first schema carries ``since=N`` and the migration to version ``N`` adds it.
A kind may also keep *derived* columns, worked out from the value when it is
written (a care-plan version's CMS completeness, schema 20), for readers that
need them without building the value.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pendulum

from carecore import errors, model
from carecore.careplans import completeness
from carecore.convert import from_primitive, to_primitive

__all__ = ["KINDS", "Column", "Kind", "kind_for"]

#: Logical column types; each SQL dialect maps them to its own types.
COLUMN_TYPES = ("text", "int", "bool", "date", "time", "instant", "decimal", "json")


def _json_default(value: object) -> object:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    msg = f"cannot store {type(value).__name__} as JSON"
    raise TypeError(msg)


#: ``json.dumps(..., default=_json_default, separators=(",", ":"))``, the encoder made once
#: (a bulk load dumps a dozen values a row; json.dumps builds an encoder for each).
_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"))


def dump_json(value: object) -> str:
    """A nested model value as compact JSON text (sets become sorted lists)."""
    if type(value) is tuple and all(type(item) is str for item in value):
        # Codes, modifiers, source tags: plain text is its own primitive (a claim line
        # has two such cells, a denial one; a close writes tens of thousands).
        return _ENCODER.encode(value)
    return _ENCODER.encode(to_primitive(value))


def _load_date(value: object) -> pendulum.Date | None:
    if value is None:
        return None
    if isinstance(value, str):
        # Few distinct days recur across many rows: each text is parsed once (dates are immutable).
        found = _DAYS.get(value)
        if found is None:
            found = _parse_day(value)
            if len(_DAYS) < _SHARED_DAYS:
                _DAYS[value] = found
        return found
    assert isinstance(value, dt.date)  # noqa: S101 - the column type guarantees it
    return pendulum.Date(value.year, value.month, value.day)


def _parse_day(text: str) -> pendulum.Date:
    value = dt.date.fromisoformat(text)
    return pendulum.Date(value.year, value.month, value.day)


#: Dates read from text, by their text (see _load_date).
_DAYS: dict[str, pendulum.Date] = {}


def _load_instant(value: object) -> pendulum.DateTime | None:
    if value is None:
        return None
    if isinstance(value, str):
        # An ISO text gives UTC or an unnamed fixed UTC offset: pendulum's zone for each is
        # found once, and the instant built as pendulum.instance builds it (a wall time in
        # such a zone has fold 0), without a zone lookup and a conversion every time.
        parsed = dt.datetime.fromisoformat(value)
        tzinfo = parsed.tzinfo
        zone = pendulum.UTC if tzinfo is dt.UTC else _OFFSETS.get(tzinfo)
        if zone is None:
            zone = _offset_zone(parsed)
        if zone is None:
            return pendulum.instance(parsed)
        return pendulum.DateTime(
            parsed.year,
            parsed.month,
            parsed.day,
            parsed.hour,
            parsed.minute,
            parsed.second,
            parsed.microsecond,
            tzinfo=zone,
            fold=0,
        )
    assert isinstance(value, dt.datetime)  # noqa: S101
    return pendulum.instance(value)


#: The fixed UTC offsets of ISO texts -> pendulum's zone for each (see _load_instant).
_OFFSETS: dict[object, pendulum.FixedTimezone] = {}


def _offset_zone(parsed: dt.datetime) -> pendulum.FixedTimezone | None:
    """The zone pendulum gives *parsed*'s fixed UTC offset (kept), or None for any other zone."""
    tzinfo = parsed.tzinfo
    if type(tzinfo) is not dt.timezone or tzinfo is dt.UTC:
        return None
    zone = pendulum.instance(parsed).tzinfo
    if type(zone) is not pendulum.FixedTimezone:
        return None
    if len(_OFFSETS) < _SHARED_OFFSETS:
        _OFFSETS[tzinfo] = zone
    return zone


#: Distinct UTC offsets kept (there are fewer than a hundred in use).
_SHARED_OFFSETS = 512


def _load_time(value: object) -> dt.time | None:
    if value is None:
        return None
    if isinstance(value, str):
        return dt.time.fromisoformat(value)
    assert isinstance(value, dt.time)  # noqa: S101
    return value


def _load_decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _load_bool(value: object) -> bool | None:
    return None if value is None else bool(value)


def _load_json(kind: object) -> Callable[[object], object]:
    # Short texts repeat across rows (a code, a status on a day, a team member): each
    # distinct one is checked and built once. The values are immutable, so rows share them.
    # Texts that name a patient never repeat, so the memo is emptied when it fills: it
    # holds at most _SHARED_VALUES values for the process's life, and the texts that do
    # repeat are back in it after a few rows.
    seen: dict[str, object] = {}

    def load(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, str) and len(value) <= _SHARED_TEXT:
            found = seen.get(value, _UNSEEN)
            if found is _UNSEEN:
                found = from_primitive(json.loads(value), kind)  # type: ignore[arg-type]
                if len(seen) >= _SHARED_VALUES:
                    seen.clear()
                seen[value] = found
            return found
        data = json.loads(value) if isinstance(value, (str, bytes)) else value
        return from_primitive(data, kind)  # type: ignore[arg-type]

    return load


#: JSON cells up to this length share one built value per distinct text, up to this many texts
#: at once (a column's memo is emptied when it is full).
_SHARED_TEXT = 512
_SHARED_VALUES = 10_000
#: Distinct day texts parsed once each (a century of birth dates is about 36,500 days).
_SHARED_DAYS = 100_000
_UNSEEN = object()


def _same(value: object) -> object:
    return value


@attrs.frozen
class Column:
    """One column of a kind's table.

    ``expr`` is a Python expression over ``v`` (the value being stored) that
    gives the column's value; ``load`` turns what the driver returns back into
    the field's value; ``field`` is the attrs field it fills (None for the
    parts of a composite field, and for a derived column: a value worked out
    from the record when it is written, which a build reads past).
    """

    name: str
    type: str
    expr: str
    load: Callable[[object], object]
    field: str | None
    nullable: bool = False
    since: int = 1
    #: The value given to rows written before the column existed (NOT NULL columns added later):
    #: an attrs default (a bool, a number) or ``"[]"`` for an empty list.
    backfill: object = None

    @property
    def plain(self) -> bool:
        """Whether the stored value is the field's value as it is (its load changes nothing)."""
        return self.load is _same


@attrs.frozen
class Kind:
    """A stored kind: a model class, its table, its key and its columns."""

    cls: type[Any]
    table: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    patient_column: str | None
    versioned: bool
    references_patient: bool
    to_row: Callable[[Any], tuple[Any, ...]] = attrs.field(eq=False, repr=False)
    key_of: Callable[[Any], tuple[Any, ...]] = attrs.field(eq=False, repr=False)
    since: int = 1

    @property
    def name(self) -> str:
        """The class name, as used in audit entries (``"CarePlan"``)."""
        return self.cls.__name__

    @property
    def column_names(self) -> tuple[str, ...]:
        """Every column, in table order."""
        # Asked for on every write: made once per kind (the entry keeps the columns it
        # was made from, so a kind made later in the same place is not given another's).
        found = _COLUMN_NAMES.get(id(self))
        if found is None or found[0] is not self.columns:
            found = _COLUMN_NAMES[id(self)] = (self.columns, tuple(c.name for c in self.columns))
        return found[1]

    def patient_of(self, value: object) -> str | None:
        """The patient a record belongs to (a patient's own id), or None."""
        if self.patient_column is None:
            return None
        found: str = getattr(value, self.patient_column)
        return found

    def key_text(self, key: tuple[Any, ...]) -> str:
        """The key as one string, for audit entries (parts joined by ``|``)."""
        return "|".join(str(part) for part in key)

    def build(self, row: typing.Sequence[object]) -> Any:
        """The model value for one row (columns in table order)."""
        found = _BUILDERS.get(id(self))
        if found is None or found[0] is not self.columns:
            found = _BUILDERS[id(self)] = (self.columns, _compile_build(self))
        return found[1](row)

    def builder(
        self,
        *,
        init: Callable[..., None] | None = None,
        shared: frozenset[str] = frozenset(),
    ) -> Callable[[typing.Sequence[object]], Any]:
        """A new function that builds a value from one row as :meth:`build` does, with two changes.

        With *init* (an ``__init__`` for the kind's class, such as one made
        without its validators), each value is a new instance of the class
        that *init* fills, instead of one the class builds; a kind with a
        period in two columns is built by :meth:`build` whatever *init*.
        Columns whose type is in *shared* (``"text"``, ``"date"``, ``"bool"``:
        immutable values that repeat) load each distinct stored value once,
        up to 4,096 of them a column. Each call makes a new function: keep it.

        >>> from carecore.model import Coding, Condition
        >>> kind = kind_for(Condition)
        >>> row = kind.to_row(Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("I10")))
        >>> kind.builder(shared=frozenset({"text", "date"}))(row) == kind.build(row)
        True
        """
        return _compile_build(self, init=init, shared=shared)


_Load = Callable[[object], object]
#: Per kind (by id): the columns its builder was made from, and the builder (see _compile_build).
_BUILDERS: dict[int, tuple[tuple[Column, ...], Callable[[typing.Sequence[object]], Any]]] = {}
#: Per kind (by id): its columns and their names (see :attr:`Kind.column_names`).
_COLUMN_NAMES: dict[int, tuple[tuple[Column, ...], tuple[str, ...]]] = {}


def _build_plan(
    columns: tuple[Column, ...],
) -> tuple[tuple[tuple[int, str, _Load], ...], tuple[tuple[int, _Load], tuple[int, _Load]] | None]:
    """What :meth:`Kind.build` does with each column, worked out once per kind."""
    fields = tuple((at, c.field, c.load) for at, c in enumerate(columns) if c.field is not None)
    names = [c.name for c in columns]
    halves = None
    if "period_start" in names:
        first, last = names.index("period_start"), names.index("period_end")
        halves = ((first, columns[first].load), (last, columns[last].load))
    return fields, halves


def _compile_build(
    kind: Kind,
    *,
    init: Callable[..., None] | None = None,
    shared: frozenset[str] = frozenset(),
) -> Callable[[typing.Sequence[object]], Any]:
    """One generated function per kind that builds a value from a row (a read builds millions).

    Each field's column goes through its load (a column stored as it is read
    is passed on as it is; one of a type in *shared* through a memo of its
    loaded values); a ServicePeriod field is built from its two halves when
    the first is set (else the field keeps its default). With *init*, see
    :meth:`Kind.builder`.
    """
    fields, halves = _build_plan(kind.columns)
    if init is not None and halves is not None:
        return kind.build
    namespace: dict[str, Any] = {"_cls": kind.cls, "_period": model.ServicePeriod, "_init": init}
    args = []
    for at, name, load in fields:
        if load is _same:
            args.append(f"{name}=row[{at}]")
        elif kind.columns[at].type in shared:
            # A dict lookup for a value seen before (a day, a code, a flag).
            namespace[f"_m{at}"] = _Memo(load)
            args.append(f"{name}=_m{at}[row[{at}]]")
        else:
            namespace[f"_l{at}"] = load
            args.append(f"{name}=_l{at}(row[{at}])")
    width, table = len(kind.columns), kind.table
    lines = [
        "def build(row):",
        f"    if len(row) != {width}:",
        f"        raise ValueError(f'a {table} row has {{len(row)}} columns, not {width}')",
    ]
    if init is not None:
        lines += [
            "    value = _cls.__new__(_cls)",
            f"    _init(value, {', '.join(args)})",
            "    return value",
        ]
    elif halves is None:
        lines.append(f"    return _cls({', '.join(args)})")
    else:  # the two halves of a ServicePeriod field
        (first, load_first), (last, load_last) = halves
        namespace["_first"], namespace["_last"] = load_first, load_last
        lines += [
            f"    start = _first(row[{first}])",
            "    if start is None:",
            f"        return _cls({', '.join(args)})",
            f"    period = _period(start=start, end=_last(row[{last}]))",
            f"    return _cls({', '.join([*args, 'period=period'])})",
        ]
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<carecore.storage build {kind.cls.__name__}>", "exec"), namespace)  # noqa: S102
    fn: Callable[[typing.Sequence[object]], Any] = namespace["build"]
    return fn


class _Memo(dict[object, object]):
    """A column's loaded values by stored value, each loaded on first sight.

    At most :attr:`LIMIT` are kept: past it a value is loaded every time.
    """

    LIMIT = 4096

    def __init__(self, load: Callable[[object], object]) -> None:
        super().__init__()
        self.load = load

    def __missing__(self, value: object) -> object:
        loaded = self.load(value)
        if len(self) < self.LIMIT:
            self[value] = loaded
        return loaded


def _unwrap_optional(tp: object) -> tuple[object, bool]:
    args = typing.get_args(tp)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0], True
    return tp, False


def _columns_for(cls: type[Any]) -> list[Column]:  # noqa: C901 - one branch per field type
    hints = typing.get_type_hints(cls)
    columns: list[Column] = []
    for f in attrs.fields(cls):
        tp, nullable = _unwrap_optional(hints[f.name])
        ref = f"v.{f.name}"

        def guarded(expr: str, *, ref: str = ref, nullable: bool = nullable) -> str:
            return f"(None if {ref} is None else {expr})" if nullable else expr

        if tp is model.ServicePeriod:
            columns.append(
                Column("period_start", "date", f"{ref}.start.isoformat()", _load_date, None)
            )
            columns.append(Column("period_end", "date", f"{ref}.end.isoformat()", _load_date, None))
        elif tp is bool:
            columns.append(Column(f.name, "bool", ref, _load_bool, f.name, nullable))
        elif tp is int:
            columns.append(Column(f.name, "int", ref, _same, f.name, nullable))
        elif tp is str:
            columns.append(Column(f.name, "text", ref, _same, f.name, nullable))
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            columns.append(
                Column(f.name, "text", guarded(f"{ref}.value"), _enum_loader(tp), f.name, nullable)
            )
        elif tp is pendulum.DateTime:
            columns.append(
                Column(
                    f.name,
                    "instant",
                    guarded(f"{ref}.isoformat()"),
                    _load_instant,
                    f.name,
                    nullable,
                )
            )
        elif tp is dt.time:
            columns.append(
                Column(f.name, "time", guarded(f"{ref}.isoformat()"), _load_time, f.name, nullable)
            )
        elif tp is pendulum.Date:
            columns.append(
                Column(f.name, "date", guarded(f"{ref}.isoformat()"), _load_date, f.name, nullable)
            )
        elif tp is Decimal:
            columns.append(
                Column(f.name, "decimal", guarded(f"str({ref})"), _load_decimal, f.name, nullable)
            )
        else:
            columns.append(
                Column(
                    f.name,
                    "json",
                    guarded(f"_dump({ref})"),
                    _load_json(hints[f.name]),
                    f.name,
                    nullable,
                )
            )
    return columns


def _enum_loader(tp: type[enum.Enum]) -> Callable[[object], object]:
    members = {member.value: member for member in tp}

    def load(value: object) -> object:
        if value is None:
            return None
        found = members.get(value)
        return tp(value) if found is None else found

    return load


def _compile(cls: type[Any], name: str, columns: list[Column]) -> Callable[[Any], tuple[Any, ...]]:
    # One generated function per kind, as attrs does for __init__: the bulk path
    # turns a million values into rows, and a loop over getters costs twice as much.
    body = ", ".join(c.expr for c in columns)
    source = f"def {name}(v):\n    return ({body},)\n"
    namespace: dict[str, Any] = {"_dump": dump_json, **_DERIVED}
    exec(compile(source, f"<carecore.storage {name} {cls.__name__}>", "exec"), namespace)  # noqa: S102
    fn: Callable[[Any], tuple[Any, ...]] = namespace[name]
    return fn


def _cms_complete(plan: model.CarePlan) -> bool:
    return completeness(plan).complete


#: Functions of a stored value that derived columns store beside its fields, by name.
_DERIVED: dict[str, Callable[[Any], object]] = {"_cms_complete": _cms_complete}

#: Schema 20 (issue 15): each care-plan version keeps whether it was CMS-complete
#: (:func:`carecore.careplans.completeness`), worked out when it is written, so a
#: month close reads a plan's dates without building its content. Null: not known
#: (the close then builds the version and asks).
CMS_COMPLETE = Column(
    "cms_complete", "bool", "_cms_complete(v)", _load_bool, None, nullable=True, since=20
)


def _kind(
    cls: type[Any],
    table: str,
    key: tuple[str, ...] = ("id",),
    *,
    versioned: bool = False,
    references_patient: bool = True,
    patient_column: str | None = "patient_id",
    since: int = 1,
    added: dict[str, int] | None = None,
    derived: tuple[Column, ...] = (),
    filled: frozenset[str] = frozenset(),
) -> Kind:
    # *filled*: columns added later whose values the migration works out in Python
    # (they need no literal backfill; the column is nullable until then).
    later = added or {}
    defaults = {f.name: f.default for f in attrs.fields(cls)}
    columns = []
    for c in _columns_for(cls):
        when = later.get(c.name, since)
        fill: object = None
        if when > since and not c.nullable:
            default = defaults.get(c.name)
            fill = (
                "[]"
                if c.type == "json"
                else (default if isinstance(default, (bool, int, str)) else None)
            )
        columns.append(attrs.evolve(c, since=when, backfill=fill))
    # Derived columns come last and fill no field: a build reads past them.
    columns += derived
    for c in columns:
        if c.since > since and not c.nullable and c.backfill is None and c.name not in filled:
            msg = f"{cls.__name__}.{c.name} was added in schema {c.since}: make it optional or give a backfill"
            raise AssertionError(msg)
    names = {c.name for c in columns}
    if patient_column not in names:
        patient_column = None
    return Kind(
        cls=cls,
        table=table,
        key=key,
        columns=tuple(columns),
        patient_column=patient_column,
        versioned=versioned,
        references_patient=references_patient and patient_column == "patient_id",
        since=since,
        to_row=_compile(cls, "to_row", columns),
        key_of=_compile(cls, "key_of", [next(c for c in columns if c.name == k) for k in key]),
    )


#: Every stored kind, in the order their tables are created.
KINDS: tuple[Kind, ...] = (
    _kind(model.Patient, "patients", patient_column="id"),
    _kind(model.Practitioner, "practitioners"),
    _kind(model.Program, "programs"),
    _kind(model.CareTeam, "care_teams"),
    _kind(model.Condition, "conditions"),
    _kind(model.Consent, "consents"),
    _kind(model.Enrollment, "enrollments"),
    _kind(
        model.CarePlan,
        "care_plans",
        versioned=True,
        # The clinical content arrived with schema 3 (issue 5).
        added=dict.fromkeys(
            (
                "problems",
                "goals",
                "barriers",
                "tasks",
                "symptom_plans",
                "referrals",
                "assessments",
                "expected_outcome",
                "medication_management",
                "review",
                "responsible_id",
                "contributors",
                "shared_with_patient_on",
                "last_reviewed_on",
            ),
            3,
        ),
        derived=(CMS_COMPLETE,),
    ),
    _kind(model.TimeEntry, "time_entries"),
    _kind(model.InteractiveContact, "interactive_contacts"),
    _kind(model.FaceToFaceVisit, "face_to_face_visits"),
    _kind(model.DeviceReadingDay, "device_reading_days", ("patient_id", "family", "device", "on")),
    # ADT feeds may announce patients the program has not registered yet.
    _kind(model.AdtEvent, "adt_events", references_patient=False, added={"visit_number": 4}),
    _kind(
        model.TransitionEpisode,
        "transition_episodes",
        versioned=True,
        # Opened from ADT feeds, which may announce a patient before registration.
        references_patient=False,
        # What the transitions engine tracks arrived with schema 4 (issue 6).
        added=dict.fromkeys(
            (
                "to_setting",
                "qualifies",
                "visit_due_7",
                "med_rec_due",
                "period_end",
                "contact_attempts",
                "contact_made_on",
                "visit_on",
                "med_rec_on",
                "readmitted",
                "readmission_event_id",
                "close_reason",
            ),
            4,
        )
        # A discharge without its disposition is flagged (issue 17).
        | {"disposition_unknown": 10}
        # Why an episode closed, typed (issue 21); migration 16 fills it in from the reason.
        | {"close_kind": 16}
        # The local discharge day (issue 17): PostgreSQL gives the instant back in UTC.
        | {"discharge_date": 21},
        filled=frozenset({"discharge_date"}),
    ),
    _kind(
        model.ClaimLine,
        "claim_lines",
        ("patient_id", "period_start", "code", "billing_practitioner_id", "date_of_service"),
    ),
    _kind(model.Denial, "denials", ("patient_id", "period_start", "code", "reason", "rule")),
    _kind(
        model.Observation,
        "observations",
        since=3,
        # A home reading's urgent findings and their acknowledgement (issue 22).
        added=dict.fromkeys(("findings", "acknowledged_by", "acknowledged_at"), 19),
    ),
    _kind(model.AssessmentResult, "assessment_results", since=3),
    _kind(model.DeadLetter, "dead_letters", since=4),
    _kind(
        model.ContactPreferences,
        "contact_preferences",
        ("patient_id",),
        since=6,
        # Where to reach the patient arrived with schema 7 (issue 8).
        added={"phone": 7, "email": 7},
    ),
    _kind(model.Coverage, "coverages", since=7),
    _kind(model.Appointment, "appointments", since=7),
    # What else a month close reads (issue 15): MDM outside a visit, device set-ups,
    # APCM behavioral-health add-ons, codes billed outside carecore, family elections.
    _kind(model.MdmAssessment, "mdm_assessments", since=8),
    _kind(model.DeviceSetup, "device_setups", since=8),
    _kind(model.ApcmAddon, "apcm_addons", since=8),
    _kind(model.ExternalClaim, "external_claims", since=8),
    _kind(model.ProgramElection, "program_elections", since=8),
    # Claims out (issue 19): the practice's billing identity and where patients live.
    _kind(model.BillingIdentity, "billing_identities", since=11),
    _kind(model.PatientAddress, "patient_addresses", ("patient_id",), since=11),
    # Records in (issue 17): the practice's settings, and which patient an outside
    # identifier (an HL7 PID-3 with its assigning authority) names.
    _kind(
        model.PracticeSetting,
        "practice_settings",
        ("name",),
        references_patient=False,
        since=10,
    ),
    _kind(model.PatientLink, "patient_links", ("system", "value"), since=10),
    # Medications, reconciliations, fills and the records that close care gaps (issue 18).
    _kind(model.MedicationStatement, "medication_statements", since=9),
    _kind(model.MedicationFill, "medication_fills", since=9),
    _kind(model.MedicationReconciliation, "medication_reconciliations", since=9),
    _kind(model.ClinicalService, "clinical_services", since=9),
)

_BY_CLASS = {k.cls: k for k in KINDS}


def kind_for(cls: type[Any]) -> Kind:
    """The stored kind for a model class, or a typed error naming it.

    >>> kind_for(model.TimeEntry).table
    'time_entries'
    """
    try:
        return _BY_CLASS[cls]
    except (KeyError, TypeError):
        names = ", ".join(k.name for k in KINDS)
        raise errors.InvalidValue(
            f"is not a stored kind (stored: {names})", field="kind", value=cls
        ) from None
