"""The ``hl7v2`` EHR source: files of HL7 v2 ADT messages, read as carecore values.

:meth:`Hl7v2FilesSource.read` is the generic source: each message's
:class:`~carecore.model.AdtEvent`, and the patients and identifier links its
PID segments describe, with a refusal for each message that cannot be read.
:meth:`Hl7v2FilesSource.import_into` is what ``carecore import --source
hl7v2`` runs: the same intake as ``carecore hl7 import`` and the listener
(patients matched by PID-3 with its assigning authority, episodes opened,
dead letters kept), so a file and a feed are taken in one way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from carecore import errors
from carecore.model import AdministrativeSex, Patient, PatientLink
from carecore.model.validators import check_time_zone
from carecore.protocols import BulkResult
from carecore.service import ImportRefusal
from carecore_hl7v2.ingest import (
    UnknownPatients,
    _patient_id,  # the id intake gives a patient it registers; the same here
    handle_many,
    split_messages,
)
from carecore_hl7v2.mapping import Refused, check_limits, clean, demographics, parse, to_event

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from carecore.service import CareProgram

__all__ = ["SUFFIXES", "Hl7v2FilesSource", "message_files"]

#: The file names the source reads (a folder is read file by file, in name order).
SUFFIXES = (".hl7", ".er7", ".txt")


def message_files(folder: Path) -> list[Path]:
    """The message files in *folder* (named ``*.hl7``, ``*.er7`` or ``*.txt``), in name order."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())


class Hl7v2FilesSource:
    """An :class:`~carecore.protocols.EhrSource` for files of HL7 v2 messages.

    ``location`` is a file (batch files with FHS/BHS wrappers too) or a folder
    of them. *time_zone* is for message times without a UTC offset (default:
    the offset the message gives; ``import_into`` falls back on the
    practice's stored zone).

    >>> Hl7v2FilesSource().can_read("adt.hl7"), Hl7v2FilesSource().can_read("bundle.json")
    (True, False)
    """

    def __init__(
        self,
        *,
        time_zone: str | None = None,
        identifier_type: str = "MR",
        unknown_patients: UnknownPatients = "create",
    ) -> None:
        self.time_zone = time_zone
        self.identifier_type = identifier_type
        self.unknown_patients: UnknownPatients = unknown_patients

    @property
    def id(self) -> str:
        """``"hl7v2"``."""
        return "hl7v2"

    def configured(self, options: Mapping[str, str]) -> Hl7v2FilesSource:
        """This source with ``carecore import --option`` values: ``time_zone``, ``identifier_type``, ``unknown_patients``.

        >>> Hl7v2FilesSource().configured({"unknown_patients": "review"}).unknown_patients
        'review'
        """
        allowed = {"time_zone", "identifier_type", "unknown_patients"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise errors.InvalidValue(
                "the hl7v2 source takes time_zone, identifier_type and unknown_patients",
                field="--option",
                value=unknown,
            )
        if options.get("time_zone") is not None:
            check_time_zone(options["time_zone"], "time_zone")
        unmatched = options.get("unknown_patients", self.unknown_patients)
        if unmatched not in {"create", "review"}:
            raise errors.InvalidValue(
                "must be create or review", field="unknown_patients", value=unmatched
            )
        return Hl7v2FilesSource(
            time_zone=options.get("time_zone", self.time_zone),
            identifier_type=options.get("identifier_type", self.identifier_type),
            unknown_patients="review" if unmatched == "review" else "create",
        )

    def can_read(self, location: str) -> bool:
        """A folder, or a file named ``*.hl7``, ``*.er7`` or ``*.txt``."""
        path = Path(location)
        return path.is_dir() or path.suffix.lower() in SUFFIXES

    def _files(self, location: str) -> list[Path]:
        path = Path(location)
        return message_files(path) if path.is_dir() else [path]

    def _messages(self, location: str) -> Iterator[tuple[str, str | ImportRefusal]]:
        """``(where, message text)`` for each message, or a refusal for a file that cannot be read."""
        for path in self._files(location):
            try:
                raw = path.read_bytes()
            except OSError as exc:
                yield path.name, ImportRefusal(where=path.name, reason=f"cannot be read: {exc}")
                continue
            for n, text in enumerate(split_messages(raw), start=1):
                yield f"{path.name} message {n}", text

    def read(self, location: str) -> Iterator[object]:
        """Each message's ADT event, then the patients and links the PID segments describe.

        A patient is named by the id intake gives a patient it registers
        from that identifier, with the latest demographics the files give. A
        message that cannot be read is an :class:`~carecore.service.ImportRefusal`
        naming the file, the message's place in it and the field at fault.
        """
        patients: dict[str, Patient] = {}
        links: dict[tuple[str, str], PatientLink] = {}
        for where, text in self._messages(location):
            if isinstance(text, ImportRefusal):
                yield text
                continue
            try:
                check_limits(text)
                message = parse(clean(text))
                event = to_event(
                    message, time_zone=self.time_zone, identifier_type=self.identifier_type
                )
                people = demographics(message)
            except (Refused, errors.InvalidValue) as exc:
                yield ImportRefusal(where=where, reason=f"{type(exc).__name__}: {exc}")
                continue
            patient_id = _patient_id(people.identifiers[0])
            yield attrs.evolve(event, patient_id=patient_id)
            for identifier in people.identifiers:
                links[identifier.system, identifier.value] = PatientLink(
                    system=identifier.system, value=identifier.value, patient_id=patient_id
                )
            given, family, born = people.given_name, people.family_name, people.birth_date
            if given is not None and family is not None and born is not None:
                patients[patient_id] = Patient(
                    id=patient_id,
                    given_name=given,
                    family_name=family,
                    birth_date=born,
                    sex=people.sex or AdministrativeSex.UNKNOWN,
                    time_zone=self.time_zone or "UTC",
                    identifiers=people.identifiers,
                    date_of_death=people.date_of_death,
                )
        yield from patients.values()
        # A link names a patient the files register (or one intake already knows).
        yield from (link for link in links.values() if link.patient_id in patients)

    def import_into(
        self,
        program: CareProgram,
        location: str,
        *,
        refused: list[ImportRefusal] | None = None,
    ) -> BulkResult:
        """Take every message of *location* in through carecore's HL7 intake.

        Messages are matched to patients by PID-3 with its assigning
        authority, open or update episodes, and a refused one is kept as a
        dead letter and appended to *refused*. Returns the messages stored
        (``added``) and those already stored (``skipped``): taking the same
        files in again stores nothing new (each message is known by its
        control id).
        """
        refused = [] if refused is None else refused
        batch: list[tuple[str, str]] = []
        for where, text in self._messages(location):
            if isinstance(text, ImportRefusal):
                refused.append(text)
            else:
                batch.append((where, text))
        outcomes = handle_many(
            program,
            [text for _, text in batch],
            time_zone=self.time_zone,
            identifier_type=self.identifier_type,
            unknown_patients=self.unknown_patients,
        )
        refused += [
            ImportRefusal(where=where, reason=f"{outcome.code}: {outcome.reason}")
            for (where, _), outcome in zip(batch, outcomes, strict=True)
            if outcome.code != "AA"
        ]
        accepted = [outcome for outcome in outcomes if outcome.code == "AA"]
        return BulkResult(
            kind="AdtEvent",
            added=sum(1 for outcome in accepted if not outcome.duplicate),
            skipped=sum(1 for outcome in accepted if outcome.duplicate),
        )
