"""What records coming in need kept: the practice's settings and identifier links."""

from __future__ import annotations

from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.people import PatientId

__all__ = ["PRACTICE_SETTINGS", "PatientLink", "PracticeSetting"]

#: The practice settings carecore knows, with what each holds.
PRACTICE_SETTINGS: dict[str, str] = {
    "time-zone": "the practice's IANA time zone (service periods, local times without an offset)",
}


def _setting_name(_inst: object, _attribute: object, value: str) -> None:
    if value not in PRACTICE_SETTINGS:
        raise errors.InvalidValue(
            f"is not a practice setting (known: {', '.join(PRACTICE_SETTINGS)})",
            field="name",
            value=value,
        )


@frozen(kw_only=True, field_transformer=v.name_errors)
class PracticeSetting:
    """One of the practice's settings, stored once for every command (``time-zone``).

    >>> PracticeSetting(name="time-zone", value="America/Chicago").value
    'America/Chicago'
    """

    name: str = field(validator=_setting_name)
    value: str = field(validator=v.not_blank)

    def __attrs_post_init__(self) -> None:
        if self.name == "time-zone":
            v.check_time_zone(self.value, "time-zone")


@frozen(kw_only=True, field_transformer=v.name_errors)
class PatientLink:
    """An identifier another system gave a patient, linked to the carecore patient it names.

    Keyed by (``system``, ``value``), so one identifier never names two
    patients. ADT intake writes one when it matches or registers a patient.

    >>> PatientLink(system="GEN", value="P1", patient_id="p1").patient_id
    'p1'
    """

    system: str = field(validator=v.not_blank)
    value: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
