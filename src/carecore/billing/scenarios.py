"""Billing scenarios: the JSON scenario format (docs/how-to/evaluate-a-scenario.md), read into facts.

A file holds one case, or a document with ``"cases"``. Reading is strict:
every problem in a case is reported at once, with the case id and the JSON
path, in one :class:`carecore.errors.InvalidInput`; nothing is evaluated
from a document that did not read cleanly. A key the format does not define
is a problem too (a misspelt optional flag would otherwise change the
decision without a word); only the annotation keys in :data:`ANNOTATION_KEYS`
may appear in any object.

>>> case = {"id": "X-1", "year": 2026, "evaluation_period": {"start": "2026-03-01", "end": "2026-03-31"},
...         "practitioners": [{"id": "dr1", "credential": "MD"}], "patient": {"id": "p1"}, "events": []}
>>> [s.id for s in read_scenarios(case)]
['X-1']
>>> read_scenarios({"cases": [{**case, "year": "2026"}]})
Traceback (most recent call last):
...
carecore.errors.InvalidInput: invalid scenario X-1: 1 problem
  $.cases[0].year: expected a whole number (got '2026')
>>> read_scenarios({**case, "patient": {"id": "p1", "qbm": True}})
Traceback (most recent call last):
...
carecore.errors.InvalidInput: invalid scenario X-1: 1 problem
  $.patient.qbm: unknown field (did you mean qmb?)
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pendulum
from attrs import frozen

from carecore import errors, limits
from carecore.billing.facts import (
    AdmissionFact,
    BhAddon,
    BillingFacts,
    BillingPractitioner,
    CarePlanAction,
    CarePlanFact,
    ChronicCondition,
    ContactFact,
    DeviceReadingsFact,
    DeviceSetupFact,
    DischargeFact,
    ElectionFact,
    Event,
    MdmFact,
    OtherClaimFact,
    PatientFacts,
    ProgramMonthFact,
    Setting,
    TimeFact,
    VisitFact,
)
from carecore.model.codes import (
    CareSetting,
    ContactMode,
    Credential,
    MdmLevel,
    RoleClass,
    RtmSystem,
    ServiceFamily,
    VisitKind,
)
from carecore.model.period import ServicePeriod

if TYPE_CHECKING:
    from carecore.billing._engine import EvaluationResult
    from carecore.billing.rules import RuleSet

__all__ = [
    "ANNOTATION_KEYS",
    "CREDENTIAL_ALIASES",
    "CREDENTIAL_DEPENDENT_ROLES",
    "Scenario",
    "load_scenarios",
    "read_scenarios",
    "result_to_json",
]

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")

#: Spellings seen in scenario files and exports, mapped to carecore's codes.
CREDENTIAL_ALIASES = {
    "PATIENT_NAVIGATOR": Credential.NAVIGATOR,
    "NAVIGATOR": Credential.NAVIGATOR,
    "PEER_SUPPORT_SPECIALIST": Credential.PEER_SPECIALIST,
    "CERTIFIED_PEER_SPECIALIST": Credential.PEER_SPECIALIST,
    "CPS": Credential.PEER_SPECIALIST,
    "PHD": Credential.CP,
    "PSYD": Credential.CP,
    "CLINICAL_PSYCHOLOGIST": Credential.CP,
    "LMFT": Credential.MFT,
    "LMHC": Credential.MHC,
    "LPCC": Credential.LPC,
    "APRN": Credential.NP,
    "FNP": Credential.NP,
    "CMA": Credential.MA,
    "LVN": Credential.LPN,
    "PHARMACIST": Credential.PHARMD,
    "RPH": Credential.PHARMD,
    "NONE": Credential.NONE,
}
#: Roles whose minutes count differently by credential (the personally
#: performed codes): an unknown credential is refused on their time entries.
#: Other roles accept any credential text and keep it as written.
CREDENTIAL_DEPENDENT_ROLES = frozenset({RoleClass.PHYSICIAN, RoleClass.QHP})

#: Keys any object of a scenario document may carry besides its own fields:
#: free annotations that the evaluation does not read (a case's
#: ``description`` and ``confidence`` are kept on the :class:`Scenario`).
ANNOTATION_KEYS = frozenset({"notes", "note", "comment", "description", "source", "confidence"})

#: The first and last dates a scenario may hold.
_EARLIEST, _LATEST = dt.date(1900, 1, 1), dt.date(2199, 12, 31)

_DOCUMENT_KEYS = frozenset({"schema_version", "conventions", "cases"})
_CASE_KEYS = frozenset(
    {
        "id",
        "year",
        "setting",
        "evaluation_period",
        "practitioners",
        "patient",
        "events",
        "expected",
    }
)
_PERIOD_KEYS = frozenset({"start", "end"})
_PRACTITIONER_KEYS = frozenset({"id", "credential", "specialty", "primary_care_focal_point"})
_PATIENT_KEYS = frozenset(
    {
        "id",
        "chronic_conditions",
        "consent_on",
        "care_plan_on",
        "established_patient",
        "last_visit_with_billing_practitioner",
        "qmb",
        "date_of_death",
    }
)
_CONDITION_KEYS = frozenset(
    {"icd10", "label", "expected_duration_months", "significant_risk", "behavioral"}
)
_EXPECTED_KEYS = frozenset({"billable", "not_billable"})
_BILLABLE_KEYS = frozenset({"code", "units", "practitioner", "date_of_service", "modifiers"})
_NOT_BILLABLE_KEYS = frozenset({"code", "reason"})
_EVENT_KEYS = frozenset({"type", "date", "practitioner"})

SETTING_ALIASES = {
    "inpatient": CareSetting.INPATIENT_ACUTE,
    "acute_inpatient": CareSetting.INPATIENT_ACUTE,
    "inpatient_hospital": CareSetting.INPATIENT_ACUTE,
    "inpatient_psych": CareSetting.INPATIENT_PSYCHIATRIC,
    "psychiatric_hospital": CareSetting.INPATIENT_PSYCHIATRIC,
    "long_term_care_hospital": CareSetting.LONG_TERM_CARE_HOSPITAL,
    "skilled_nursing_facility": CareSetting.SKILLED_NURSING_FACILITY,
    "inpatient_rehabilitation": CareSetting.INPATIENT_REHABILITATION,
    "inpatient_rehab": CareSetting.INPATIENT_REHABILITATION,
    "observation_stay": CareSetting.OBSERVATION,
    "hospital_observation": CareSetting.OBSERVATION,
    "partial_hospitalization_cmhc": CareSetting.CMHC_PARTIAL_HOSPITALIZATION,
    "community_mental_health_center": CareSetting.CMHC_PARTIAL_HOSPITALIZATION,
    "ed": CareSetting.EMERGENCY_DEPARTMENT,
    "emergency": CareSetting.EMERGENCY_DEPARTMENT,
    "emergency_room": CareSetting.EMERGENCY_DEPARTMENT,
    "nursing_home": CareSetting.NURSING_FACILITY,
    "nf": CareSetting.NURSING_FACILITY,
    "assisted_living_facility": CareSetting.ASSISTED_LIVING,
    "death": CareSetting.EXPIRED,
}


@frozen(kw_only=True)
class Scenario:
    """One case: its facts, the year whose rules apply, and what it expects (if given)."""

    id: str
    year: int
    description: str
    facts: BillingFacts
    expected: dict[str, Any] | None
    confidence: str | None
    #: Where the case sits in its document (``$`` or ``$.cases[3]``).
    path: str = "$"


class _Reader:
    """Reads one case, collecting problems with their JSON paths."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.problems: list[errors.Problem] = []

    def problem(self, path: str, message: str, value: object = errors._MISSING) -> None:  # noqa: SLF001
        self.problems.append(
            errors.Problem(path=f"{self.base}{path}", message=message, value=value)
        )

    def keys(self, obj: dict[str, Any], known: frozenset[str], path: str) -> None:
        """One problem per key that is neither a field of *obj* nor an annotation."""
        for key in obj:
            name = str(key)
            if name in known or name in ANNOTATION_KEYS:
                continue
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(known))}"
            self.problem(f"{path}.{name}", f"unknown field ({hint})")

    def build(self, cls: type[T], path: str, **kwargs: Any) -> T | None:
        """``cls(**kwargs)``, a validation failure becoming a problem at *path*."""
        try:
            return cls(**kwargs)
        except errors.CarecoreError as exc:
            field = exc.field.rsplit(".", 1)[-1] if exc.field else None
            value = exc.value if getattr(exc, "_has_value", False) else errors._MISSING  # noqa: SLF001
            self.problem(f"{path}.{field}" if field else path, exc.reason or str(exc), value)
            return None

    def get(self, obj: dict[str, Any], key: str, path: str, *, required: bool = True) -> Any:
        if key not in obj:
            if required:
                self.problem(f"{path}.{key}", "required field missing")
            return None
        if obj[key] is None and required:
            self.problem(f"{path}.{key}", "required field is null")
        return obj[key]

    def text(
        self, obj: dict[str, Any], key: str, path: str, *, required: bool = True
    ) -> str | None:
        value = self.get(obj, key, path, required=required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(f"{path}.{key}", "expected a non-empty string", value)
            return None
        return value

    def string(self, obj: dict[str, Any], key: str, path: str) -> str | None:
        """An optional free-text field: any string, or absent or null."""
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            self.problem(f"{path}.{key}", "expected a string", value)
            return None
        return value

    def integer(
        self, obj: dict[str, Any], key: str, path: str, *, required: bool = True
    ) -> int | None:
        value = self.get(obj, key, path, required=required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(f"{path}.{key}", "expected a whole number", value)
            return None
        return value

    def boolean(self, obj: dict[str, Any], key: str, path: str, default: bool) -> bool:  # noqa: FBT001
        value = obj.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(f"{path}.{key}", "expected true or false", value)
            return default
        return value

    def date(self, value: object, path: str) -> pendulum.Date | None:
        if not isinstance(value, str):
            self.problem(path, "expected a date as YYYY-MM-DD", value)
            return None
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            self.problem(path, "expected a date as YYYY-MM-DD", value)
            return None
        if len(value) != 10:  # noqa: PLR2004 - only the plain YYYY-MM-DD form
            self.problem(path, "expected a date as YYYY-MM-DD", value)
            return None
        if not _EARLIEST <= day <= _LATEST:
            self.problem(path, f"expected a date from {_EARLIEST} to {_LATEST}", value)
            return None
        return pendulum.Date(day.year, day.month, day.day)

    def date_field(
        self, obj: dict[str, Any], key: str, path: str, *, required: bool = True
    ) -> pendulum.Date | None:
        value = self.get(obj, key, path, required=required)
        return None if value is None else self.date(value, f"{path}.{key}")

    def code(
        self, cls: type[E], value: object, path: str, aliases: dict[str, E] | None = None
    ) -> E | None:
        found = _lookup(cls, value, aliases)
        if found is None:
            allowed = ", ".join(str(m.value) for m in cls)
            self.problem(path, f"expected one of {allowed}", value)
        return found

    def code_field(
        self,
        cls: type[E],
        obj: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = True,
        aliases: dict[str, E] | None = None,
    ) -> E | None:
        value = self.get(obj, key, path, required=required)
        return None if value is None else self.code(cls, value, f"{path}.{key}", aliases)

    def family_dates(
        self, obj: dict[str, Any], key: str, path: str
    ) -> dict[ServiceFamily, pendulum.Date | None]:
        value = obj.get(key) or {}
        if not isinstance(value, dict):
            self.problem(f"{path}.{key}", "expected an object of FAMILY: date", value)
            return {}
        out: dict[ServiceFamily, pendulum.Date | None] = {}
        for family_name, day in value.items():
            family = self.code(ServiceFamily, family_name, f"{path}.{key}.{family_name}")
            parsed = None if day is None else self.date(day, f"{path}.{key}.{family_name}")
            if family is not None:
                out[family] = parsed
        return out

    def items(self, obj: dict[str, Any], key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
        """The objects of an optional list field, each with its path."""
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(f"{path}.{key}", "expected a list", value)
            return []
        out = []
        for index, item in enumerate(value):
            ipath = f"{path}.{key}[{index}]"
            if isinstance(item, dict):
                out.append((ipath, item))
            else:
                self.problem(ipath, "expected an object", item)
        return out


def _lookup(cls: type[E], value: object, aliases: dict[str, E] | None) -> E | None:
    """The member of *cls* that *value* spells (any case, or an alias), or None."""
    if not isinstance(value, str):
        return None
    for candidate in (value, value.lower(), value.upper()):
        try:
            return cls(candidate)
        except ValueError:
            pass
    return (aliases or {}).get(value.upper() if cls is Credential else value.lower())


def _patient(r: _Reader, raw: object, path: str) -> PatientFacts | None:
    if not isinstance(raw, dict):
        r.problem(path, "expected an object", raw)
        return None
    r.keys(raw, _PATIENT_KEYS, path)
    conditions = []
    for cpath, item in r.items(raw, "chronic_conditions", path):
        r.keys(item, _CONDITION_KEYS, cpath)
        icd10 = r.text(item, "icd10", cpath)
        months = r.integer(item, "expected_duration_months", cpath, required=False)
        if months is not None and months < 0:
            r.problem(f"{cpath}.expected_duration_months", "must not be negative", months)
            months = None
        label = r.string(item, "label", cpath)
        significant_risk = r.boolean(item, "significant_risk", cpath, default=False)
        behavioral = r.boolean(item, "behavioral", cpath, default=False)
        if icd10 is not None:
            condition = r.build(
                ChronicCondition,
                cpath,
                icd10=icd10,
                label=label,
                expected_duration_months=months,
                significant_risk=significant_risk,
                behavioral=behavioral,
            )
            if condition is not None:
                conditions.append(condition)
    pid = r.text(raw, "id", path)
    consent = r.family_dates(raw, "consent_on", path)
    plans = r.family_dates(raw, "care_plan_on", path)
    last = r.date_field(raw, "last_visit_with_billing_practitioner", path, required=False)
    death = r.date_field(raw, "date_of_death", path, required=False)
    established = r.boolean(raw, "established_patient", path, default=True)
    qmb = r.boolean(raw, "qmb", path, default=False)
    if pid is None:
        return None
    return r.build(
        PatientFacts,
        path,
        id=pid,
        conditions=conditions,
        consent_on=consent,
        care_plan_on=plans,
        established=established,
        last_visit=last,
        qmb=qmb,
        date_of_death=death,
    )


_STR, _INT, _BOOL = "str", "int", "bool"

#: Per event type: the facts class and its fields as (name, kind, required).
#: The practitioner is handled for every type (see _event).
_EVENTS: dict[str, tuple[type, tuple[tuple[str, object, bool], ...]]] = {
    "time_entry": (
        TimeFact,
        (
            ("minutes", _INT, True),
            ("role", RoleClass, True),
            ("credential", Credential, False),
            ("family", ServiceFamily, True),
            ("interactive", _BOOL, False),
            ("activity", _STR, False),
        ),
    ),
    "interactive_contact": (
        ContactFact,
        (
            ("mode", ContactMode, True),
            ("successful", _BOOL, True),
            ("role", RoleClass, False),
            ("family", ServiceFamily, True),
        ),
    ),
    "face_to_face_visit": (
        VisitFact,
        (("kind", VisitKind, True), ("mdm", MdmLevel, False), ("em_code", _STR, False)),
    ),
    "discharge": (
        DischargeFact,
        (
            ("from_setting", CareSetting, True),
            ("to_setting", CareSetting, True),
            ("med_rec_on", "date", False),
        ),
    ),
    "admission": (AdmissionFact, (("setting", CareSetting, True),)),
    "device_readings": (
        DeviceReadingsFact,
        (
            ("period_start", "date", True),
            ("period_end", "date", True),
            ("days_with_data", _INT, True),
            ("device", _STR, False),
            ("family", ServiceFamily, True),
            ("rtm_system", RtmSystem, False),
        ),
    ),
    "device_setup": (DeviceSetupFact, (("family", ServiceFamily, True), ("device", _STR, False))),
    "care_plan": (
        CarePlanFact,
        (("family", ServiceFamily, True), ("action", CarePlanAction, True)),
    ),
    "mdm_assessment": (MdmFact, (("family", ServiceFamily, True), ("level", MdmLevel, True))),
    "program_month": (
        ProgramMonthFact,
        (
            ("family", ServiceFamily, True),
            ("month", _STR, True),
            ("bh_addon", BhAddon, False),
            ("episode_month", _INT, False),
        ),
    ),
    "other_claim": (OtherClaimFact, (("code", _STR, True),)),
    "election": (ElectionFact, (("prefer_family", ServiceFamily, True),)),
}
#: Defaults for optional fields the facts classes require.
_DEFAULTS: dict[str, object] = {
    "role": RoleClass.CLINICAL_STAFF,
    "mdm": MdmLevel.STRAIGHTFORWARD,
    "device": "device",
}
#: Event types without a billing practitioner of their own.
_NO_PRACTITIONER = frozenset({"admission", "discharge"})


def _value(
    r: _Reader, raw: dict[str, Any], name: str, kind: object, *, required: bool, path: str
) -> object:
    if kind == _INT:
        return r.integer(raw, name, path, required=required)
    if kind == _BOOL:
        value = r.get(raw, name, path, required=required)
        if value is not None and not isinstance(value, bool):
            r.problem(f"{path}.{name}", "expected true or false", value)
            return None
        return value
    if kind == _STR:
        return r.text(raw, name, path, required=required)
    if kind == "date":
        return r.date_field(raw, name, path, required=required)
    aliases: dict[str, Any] | None = {
        Credential: CREDENTIAL_ALIASES,
        CareSetting: SETTING_ALIASES,
    }.get(kind)  # type: ignore[call-overload]
    return r.code_field(kind, raw, name, path, required=required, aliases=aliases)  # type: ignore[arg-type]


def _time_credential(r: _Reader, raw: dict[str, Any], path: str, kwargs: dict[str, Any]) -> None:
    """A time entry's credential: kept as written; refused if unknown where it counts."""
    text = raw.get("credential")
    if text is None:
        return
    if not isinstance(text, str) or not text.strip():
        r.problem(f"{path}.credential", "expected a credential as text", text)
        return
    known = _lookup(Credential, text, CREDENTIAL_ALIASES)
    role = kwargs.get("role")
    if known is None and role in CREDENTIAL_DEPENDENT_ROLES:
        allowed = ", ".join(str(m.value) for m in Credential)
        r.problem(
            f"{path}.credential",
            f"unknown credential; {role.value} time counts by credential, so it must be "
            f"one of {allowed}",
            text,
        )
        return
    kwargs["credential"] = known
    kwargs["credential_text"] = text


def _event(r: _Reader, raw: object, path: str, default_practitioner: str | None) -> Event | None:  # noqa: C901
    if not isinstance(raw, dict):
        r.problem(path, "expected an object", raw)
        return None
    kind = r.text(raw, "type", path)
    day = r.date_field(raw, "date", path)
    if kind is None:
        return None
    spec = _EVENTS.get(kind)
    if spec is None:
        r.problem(f"{path}.type", f"unknown event type (known: {', '.join(sorted(_EVENTS))})", kind)
        return None
    cls, fields = spec
    before = len(r.problems)
    kwargs: dict[str, Any] = {"date": day}
    for name, field_kind, required in fields:
        if name == "credential":
            continue
        value = _value(r, raw, name, field_kind, required=required, path=path)
        kwargs[name] = _DEFAULTS.get(name) if value is None and name in _DEFAULTS else value
    if cls is TimeFact:
        _time_credential(r, raw, path, kwargs)
    practitioner = raw.get("practitioner", default_practitioner)
    if kind not in _NO_PRACTITIONER or "practitioner" in raw:
        if not isinstance(practitioner, str) or not practitioner.strip():
            r.problem(
                f"{path}.practitioner",
                "required field missing" if practitioner is None else "expected a practitioner id",
                practitioner,
            )
        elif kind != "admission":
            kwargs["practitioner"] = practitioner
    if len(r.problems) > before or day is None:
        return None
    if kind == "other_claim":
        kwargs["code"] = str(kwargs["code"]).upper()
    if kind == "discharge" and "med_rec_on" in raw:
        # Given (a date, or null for none done): TCM's reconciliation requirement is checked.
        kwargs["med_rec_tracked"] = True
    event: Event | None = r.build(cls, path, **{k: v for k, v in kwargs.items() if v is not None})
    return event


def _period(r: _Reader, raw: dict[str, Any]) -> ServicePeriod | None:
    period_raw = r.get(raw, "evaluation_period", "")
    if period_raw is None:
        return None
    if not isinstance(period_raw, dict):
        r.problem(".evaluation_period", "expected an object with start and end", period_raw)
        return None
    r.keys(period_raw, _PERIOD_KEYS, ".evaluation_period")
    start = r.date_field(period_raw, "start", ".evaluation_period")
    end = r.date_field(period_raw, "end", ".evaluation_period")
    if not start or not end:
        return None
    if end < start:
        r.problem(".evaluation_period.end", "is before the start", period_raw.get("end"))
        return None
    return r.build(ServicePeriod, ".evaluation_period", start=start, end=end)


def _practitioners(r: _Reader, raw: dict[str, Any]) -> list[BillingPractitioner]:
    practitioners: list[BillingPractitioner] = []
    raw_practitioners = r.get(raw, "practitioners", "")
    if raw_practitioners is None:
        return practitioners
    if not isinstance(raw_practitioners, list) or not raw_practitioners:
        r.problem(".practitioners", "expected a non-empty list", raw_practitioners)
        return practitioners
    seen_ids: set[str] = set()
    for ppath, item in r.items(raw, "practitioners", ""):
        r.keys(item, _PRACTITIONER_KEYS, ppath)
        pid = r.text(item, "id", ppath)
        credential = r.code_field(Credential, item, "credential", ppath, aliases=CREDENTIAL_ALIASES)
        focal = r.boolean(item, "primary_care_focal_point", ppath, default=False)
        specialty = r.string(item, "specialty", ppath)
        if pid in seen_ids:
            r.problem(f"{ppath}.id", "the same practitioner is listed twice", pid)
        if pid and credential:
            seen_ids.add(pid)
            practitioner = r.build(
                BillingPractitioner,
                ppath,
                id=pid,
                credential=credential,
                specialty=specialty,
                primary_care_focal_point=focal,
            )
            if practitioner is not None:
                practitioners.append(practitioner)
    return practitioners


def _expected(r: _Reader, raw: dict[str, Any]) -> dict[str, Any] | None:
    """The optional ``expected`` block: checked for shape, not used by the evaluation."""
    expected = raw.get("expected")
    if expected is None:
        return None
    if not isinstance(expected, dict):
        r.problem(".expected", "expected an object", expected)
        return None
    r.keys(expected, _EXPECTED_KEYS, ".expected")
    for ipath, item in r.items(expected, "billable", ".expected"):
        r.keys(item, _BILLABLE_KEYS, ipath)
        r.text(item, "code", ipath)
        units = r.integer(item, "units", ipath, required=False)
        if units is not None and units < 1:
            r.problem(f"{ipath}.units", "must be at least 1", units)
        r.text(item, "practitioner", ipath, required=False)
        r.date_field(item, "date_of_service", ipath, required=False)
        modifiers = item.get("modifiers")
        if modifiers is not None and (
            not isinstance(modifiers, list) or not all(isinstance(m, str) for m in modifiers)
        ):
            r.problem(f"{ipath}.modifiers", "expected a list of strings", modifiers)
    for ipath, item in r.items(expected, "not_billable", ".expected"):
        r.keys(item, _NOT_BILLABLE_KEYS, ipath)
        r.text(item, "code", ipath)
        r.string(item, "reason", ipath)
    return expected


def _case(raw: object, path: str) -> Scenario:
    case_id = (
        raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"at {path}"
    )
    r = _Reader(path)
    if not isinstance(raw, dict):
        r.problem("", "expected a case object", raw)
        raise errors.InvalidInput(f"scenario {case_id}", problems=r.problems)
    r.keys(raw, _CASE_KEYS, "")
    r.text(raw, "id", "")
    year = r.integer(raw, "year", "")
    setting = r.code_field(Setting, raw, "setting", "", required=False) or Setting.PHYSICIAN_OFFICE
    description = r.string(raw, "description", "") or ""
    confidence = r.string(raw, "confidence", "")
    period = _period(r, raw)
    practitioners = _practitioners(r, raw)
    raw_patient = r.get(raw, "patient", "")
    patient = None if raw_patient is None else _patient(r, raw_patient, ".patient")
    default_pr = practitioners[0].id if len(practitioners) == 1 else None
    events: list[Event] = []
    raw_events = raw.get("events", [])
    if not isinstance(raw_events, list):
        r.problem(".events", "expected a list", raw_events)
        raw_events = []
    for index, item in enumerate(raw_events):
        # Unknown keys are checked here, not in _event: the CSV close reads its
        # rows with _event too, and a row carries every column of the file.
        spec = _EVENTS.get(str(item.get("type"))) if isinstance(item, dict) else None
        if spec is not None:
            r.keys(item, _EVENT_KEYS | {name for name, _, _ in spec[1]}, f".events[{index}]")
        event = _event(r, item, f".events[{index}]", default_pr)
        if event is not None:
            events.append(event)
    expected = _expected(r, raw)
    facts = None
    if not r.problems and period is not None and patient is not None and year is not None:
        facts = r.build(
            BillingFacts,
            "",
            period=period,
            setting=setting,
            practitioners=practitioners,
            patient=patient,
            events=events,
        )
    if facts is None or year is None:
        if not r.problems:  # pragma: no cover - every path above names its problem
            r.problem("", "could not be read")
        raise errors.InvalidInput(f"scenario {case_id}", problems=r.problems)
    return Scenario(
        id=str(raw["id"]),
        year=year,
        description=description,
        facts=facts,
        expected=expected,
        confidence=confidence,
        path=path,
    )


def read_scenarios(data: object) -> list[Scenario]:
    """Read a parsed scenario document (one case, or ``{"cases": [...]}``).

    Raises :class:`~carecore.errors.InvalidInput` naming the first bad case
    and listing all of its problems; nothing is returned from a bad document.
    """
    if isinstance(data, dict) and "cases" in data:
        top = _Reader("$")
        top.keys(data, _DOCUMENT_KEYS, "")
        cases = data["cases"]
        if not isinstance(cases, list):
            top.problem(".cases", "expected a list", cases)
        if top.problems:
            raise errors.InvalidInput("scenario document", problems=top.problems)
        scenarios = [_case(case, f"$.cases[{index}]") for index, case in enumerate(cases)]
    else:
        scenarios = [_case(data, "$")]
    ids = [s.id for s in scenarios]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise errors.InvalidInput(
            "scenario document",
            problems=[
                errors.Problem(path="$.cases", message="duplicate case ids", value=duplicates)
            ],
        )
    return scenarios


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Read a scenario file (see :func:`read_scenarios`); bad JSON is an InvalidInput too."""
    file = Path(path)
    try:
        text = file.read_bytes()
    except FileNotFoundError:
        raise errors.NotFound("no such scenario file", field="file", value=str(file)) from None
    # Within the input limits: nesting, number digits and size are refused by name.
    return read_scenarios(limits.load_json(text, what=str(file)))


def _rules_named(rule_set_id: str) -> RuleSet | None:
    """The CMS rule set with this id, if it is one."""
    from carecore.billing.cms import CMS_YEARS, cms_rule_set  # noqa: PLC0415 - cms is heavy

    return next((cms_rule_set(y) for y in CMS_YEARS if cms_rule_set(y).id == rule_set_id), None)


def result_to_json(
    scenario_id: str, result: EvaluationResult, rules: RuleSet | None = None
) -> dict[str, Any]:
    """The CLI's JSON shape for one evaluated case.

    Claim lines carry their diagnoses and the rule (id and title) that bills
    them, as audit packets do. *rules* is the rule set the case was evaluated
    under (by default the CMS rule set named by the result).
    """
    from carecore.billing._encode import line_json  # noqa: PLC0415 - the encoder imports much

    rules = rules if rules is not None else _rules_named(result.rule_set)
    return {
        "id": scenario_id,
        "rule_set": result.rule_set,
        "billable": [line_json(line, rules) for line in result.claim_lines],
        "not_billable": [
            {
                "code": d.code,
                "reason": d.message,
                "reason_code": d.reason.value,
                "rule": d.rule,
                "sources": list(d.sources),
            }
            for d in result.denials
        ],
        "hints": [
            {"code": h.code, "practitioner": h.practitioner, "message": h.message}
            for h in result.hints
        ],
    }
