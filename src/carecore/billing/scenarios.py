"""Billing scenarios: the JSON scenario format (docs/how-to/evaluate-a-scenario.md), read into facts.

A file holds one case, or a document with ``"cases"``. Reading is strict:
every problem in a case is reported at once, with the case id and the JSON
path, in one :class:`carecore.errors.InvalidInput`; nothing is evaluated
from a document that did not read cleanly.

>>> case = {"id": "X-1", "year": 2026, "evaluation_period": {"start": "2026-03-01", "end": "2026-03-31"},
...         "practitioners": [{"id": "dr1", "credential": "MD"}], "patient": {"id": "p1"}, "events": []}
>>> [s.id for s in read_scenarios(case)]
['X-1']
>>> read_scenarios({"cases": [{**case, "year": "2026"}]})
Traceback (most recent call last):
...
carecore.errors.InvalidInput: invalid scenario X-1: 1 problem
  $.cases[0].year: expected a whole number (got '2026')
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pendulum
from attrs import frozen

from carecore import errors
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
    from carecore.billing.engine import EvaluationResult

__all__ = ["Scenario", "load_scenarios", "read_scenarios", "result_to_json"]

E = TypeVar("E", bound=enum.Enum)

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


class _Reader:
    """Reads one case, collecting problems with their JSON paths."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.problems: list[errors.Problem] = []

    def problem(self, path: str, message: str, value: object = errors._MISSING) -> None:  # noqa: SLF001
        self.problems.append(
            errors.Problem(path=f"{self.base}{path}", message=message, value=value)
        )

    def get(self, obj: dict[str, Any], key: str, path: str, *, required: bool = True) -> Any:
        if key not in obj:
            if required:
                self.problem(f"{path}.{key}", "required field missing")
            return None
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
        return pendulum.Date(day.year, day.month, day.day)

    def date_field(
        self, obj: dict[str, Any], key: str, path: str, *, required: bool = True
    ) -> pendulum.Date | None:
        value = self.get(obj, key, path, required=required)
        return None if value is None else self.date(value, f"{path}.{key}")

    def code(
        self, cls: type[E], value: object, path: str, aliases: dict[str, E] | None = None
    ) -> E | None:
        if isinstance(value, str):
            for candidate in (value, value.lower(), value.upper()):
                try:
                    return cls(candidate)
                except ValueError:
                    pass
            alias = (aliases or {}).get(value.upper() if cls is Credential else value.lower())
            if alias is not None:
                return alias
        allowed = ", ".join(str(m.value) for m in cls)
        self.problem(path, f"expected one of {allowed}", value)
        return None

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


def _patient(r: _Reader, raw: object, path: str) -> PatientFacts | None:
    if not isinstance(raw, dict):
        r.problem(path, "expected an object", raw)
        return None
    conditions = []
    raw_conditions = raw.get("chronic_conditions") or []
    if not isinstance(raw_conditions, list):
        r.problem(f"{path}.chronic_conditions", "expected a list", raw_conditions)
        raw_conditions = []
    for index, item in enumerate(raw_conditions):
        cpath = f"{path}.chronic_conditions[{index}]"
        if not isinstance(item, dict):
            r.problem(cpath, "expected an object", item)
            continue
        icd10 = r.text(item, "icd10", cpath)
        months = r.integer(item, "expected_duration_months", cpath, required=False)
        if months is not None and months < 0:
            r.problem(f"{cpath}.expected_duration_months", "must not be negative", months)
            months = None
        if icd10 is not None:
            conditions.append(
                ChronicCondition(
                    icd10=icd10,
                    label=item.get("label") if isinstance(item.get("label"), str) else None,
                    expected_duration_months=months,
                    significant_risk=r.boolean(item, "significant_risk", cpath, default=False),
                    behavioral=r.boolean(item, "behavioral", cpath, default=False),
                )
            )
    pid = r.text(raw, "id", path)
    consent = r.family_dates(raw, "consent_on", path)
    plans = r.family_dates(raw, "care_plan_on", path)
    last = r.date_field(raw, "last_visit_with_billing_practitioner", path, required=False)
    death = r.date_field(raw, "date_of_death", path, required=False)
    established = r.boolean(raw, "established_patient", path, default=True)
    qmb = r.boolean(raw, "qmb", path, default=False)
    if pid is None:
        return None
    return PatientFacts(
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
        (("from_setting", CareSetting, True), ("to_setting", CareSetting, True)),
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


def _value(  # noqa: PLR0911 - one return per field kind
    r: _Reader, raw: dict[str, Any], name: str, kind: object, *, required: bool, path: str
) -> object:
    if kind == _INT:
        return r.integer(raw, name, path, required=required)
    if kind == _BOOL:
        value = raw.get(name)
        if value is None:
            if required:
                r.problem(f"{path}.{name}", "required field missing")
            return None
        if not isinstance(value, bool):
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
        value = _value(r, raw, name, field_kind, required=required, path=path)
        kwargs[name] = _DEFAULTS.get(name) if value is None and name in _DEFAULTS else value
    practitioner = raw.get("practitioner", default_practitioner)
    if kind not in _NO_PRACTITIONER or "practitioner" in raw:
        if not isinstance(practitioner, str) or not practitioner:
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
    try:
        event: Event = cls(**{k: v for k, v in kwargs.items() if v is not None})
    except errors.CarecoreError as exc:
        r.problem(f"{path}.{exc.field}" if exc.field else path, exc.reason, exc.value)
        return None
    return event


def _case(raw: object, path: str) -> Scenario:  # noqa: C901, PLR0912, PLR0915 - one flat reader
    case_id = (
        raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"at {path}"
    )
    r = _Reader(path)
    if not isinstance(raw, dict):
        r.problem("", "expected a case object", raw)
        raise errors.InvalidInput(f"scenario {case_id}", problems=r.problems)
    r.text(raw, "id", "")
    year = r.integer(raw, "year", "")
    setting = r.code_field(Setting, raw, "setting", "", required=False) or Setting.PHYSICIAN_OFFICE
    period_raw = r.get(raw, "evaluation_period", "")
    period = None
    if isinstance(period_raw, dict):
        start = r.date_field(period_raw, "start", ".evaluation_period")
        end = r.date_field(period_raw, "end", ".evaluation_period")
        if start and end:
            if end < start:
                r.problem(".evaluation_period.end", "is before the start", period_raw.get("end"))
            else:
                period = ServicePeriod(start=start, end=end)
    elif period_raw is not None:
        r.problem(".evaluation_period", "expected an object with start and end", period_raw)
    practitioners: list[BillingPractitioner] = []
    raw_practitioners = r.get(raw, "practitioners", "")
    if raw_practitioners is not None and (
        not isinstance(raw_practitioners, list) or not raw_practitioners
    ):
        r.problem(".practitioners", "expected a non-empty list", raw_practitioners)
        raw_practitioners = []
    seen_ids: set[str] = set()
    for index, item in enumerate(raw_practitioners or []):
        ppath = f".practitioners[{index}]"
        if not isinstance(item, dict):
            r.problem(ppath, "expected an object", item)
            continue
        pid = r.text(item, "id", ppath)
        credential = r.code_field(Credential, item, "credential", ppath, aliases=CREDENTIAL_ALIASES)
        focal = r.boolean(item, "primary_care_focal_point", ppath, default=False)
        if pid in seen_ids:
            r.problem(f"{ppath}.id", "the same practitioner is listed twice", pid)
        if pid and credential:
            seen_ids.add(pid)
            specialty = item.get("specialty") if isinstance(item.get("specialty"), str) else None
            practitioners.append(
                BillingPractitioner(
                    id=pid,
                    credential=credential,
                    specialty=specialty,
                    primary_care_focal_point=focal,
                )
            )
    patient = _patient(r, r.get(raw, "patient", ""), ".patient") if "patient" in raw else None
    default_pr = practitioners[0].id if len(practitioners) == 1 else None
    events: list[Event] = []
    raw_events = raw.get("events", [])
    if not isinstance(raw_events, list):
        r.problem(".events", "expected a list", raw_events)
        raw_events = []
    for index, item in enumerate(raw_events):
        event = _event(r, item, f".events[{index}]", default_pr)
        if event is not None:
            events.append(event)
    expected = raw.get("expected")
    if expected is not None and not isinstance(expected, dict):
        r.problem(".expected", "expected an object", expected)
    if r.problems or period is None or patient is None or year is None:
        raise errors.InvalidInput(f"scenario {case_id}", problems=r.problems)
    facts = BillingFacts(
        period=period, setting=setting, practitioners=practitioners, patient=patient, events=events
    )
    description = str(raw.get("description") or "")
    confidence = raw.get("confidence") if isinstance(raw.get("confidence"), str) else None
    return Scenario(
        id=str(raw["id"]),
        year=year,
        description=description,
        facts=facts,
        expected=expected,
        confidence=confidence,
    )


def read_scenarios(data: object) -> list[Scenario]:
    """Read a parsed scenario document (one case, or ``{"cases": [...]}``).

    Raises :class:`~carecore.errors.InvalidInput` naming the first bad case
    and listing all of its problems; nothing is returned from a bad document.
    """
    if isinstance(data, dict) and "cases" in data:
        cases = data["cases"]
        if not isinstance(cases, list):
            raise errors.InvalidInput(
                "scenario document",
                problems=[errors.Problem(path="$.cases", message="expected a list", value=cases)],
            )
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
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise errors.NotFound("no such scenario file", field="file", value=str(file)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidInput(
            str(file), problems=[errors.Problem(path="$", message=f"not valid JSON: {exc}")]
        ) from exc
    return read_scenarios(data)


def result_to_json(scenario_id: str, result: EvaluationResult) -> dict[str, Any]:
    """The CLI's JSON shape for one evaluated case."""
    return {
        "id": scenario_id,
        "rule_set": result.rule_set,
        "billable": [
            {
                "code": line.code,
                "units": line.units,
                "practitioner": line.billing_practitioner_id,
                "date_of_service": line.date_of_service.isoformat(),
                "modifiers": list(line.modifiers),
                "amount": None if line.amount is None else str(line.amount),
            }
            for line in result.claim_lines
        ],
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
