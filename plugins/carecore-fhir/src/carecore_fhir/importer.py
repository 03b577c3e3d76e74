"""Importing FHIR R4 bundles into a care program, with one outcome per resource.

A bundle is parsed with :mod:`json`; each resource carecore reads is mapped
(:mod:`carecore_fhir.mapping`) and validated with ``fhir.resources.R4B``;
the values are written kind by kind (patients first) with
:meth:`~carecore.service.CareProgram.import_records`, and inpatient
discharges go through :meth:`~carecore.service.CareProgram.receive`, which
opens transition episodes. Nothing one bad resource does stops the others.
"""

from __future__ import annotations

import zlib
from collections import Counter
from typing import TYPE_CHECKING, Any

import attrs

from carecore import errors, limits
from carecore._redact import redact
from carecore.model import (
    AdtEvent,
    AssessmentResult,
    CarePlan,
    CareTeam,
    Condition,
    Consent,
    ContactPreferences,
    Coverage,
    Enrollment,
    Observation,
    Patient,
    PatientAddress,
    Practitioner,
)
from carecore_fhir.mapping import Mapped, Options, Resolver, Skip, to_carecore
from carecore_fhir.validate import described

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from carecore.service import CareProgram

__all__ = ["ImportReport", "Outcome", "ParsedBundle", "import_bundle", "read_bundle"]

SOURCE = "fhir"

#: The order kinds are written in: what others refer to first.
_WRITE_ORDER: list[type] = [
    Patient,
    PatientAddress,
    ContactPreferences,
    Practitioner,
    Condition,
    Coverage,
    CareTeam,
    CarePlan,
    # After the care plans: a reading is checked against the plans stored with it.
    Observation,
    Consent,
    Enrollment,
    AssessmentResult,
]


@attrs.frozen(kw_only=True)
class Outcome:
    """What became of one resource (or of a whole file that could not be read).

    ``status`` is ``imported`` (new), ``updated`` (stored before, changed at the
    source), ``unchanged`` (stored before, the same; or a care plan, whose stored
    versions an import never overwrites), ``duplicate`` (an ADT event already
    received), ``skipped`` (carecore does not use it; ``reason`` says why) or
    ``refused`` (an error; ``reason`` names the resource and the path).
    """

    source: str
    resource: str
    status: str
    reason: str = ""
    notes: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """The resource type (``"Bundle"`` for a whole file)."""
        return self.resource.split("/", 1)[0]


@attrs.frozen(kw_only=True)
class ImportReport:
    """Every outcome of an import, the unmapped condition codes, and what the store did."""

    outcomes: tuple[Outcome, ...]
    unmapped: tuple[tuple[str, int], ...] = ()
    stored: tuple[tuple[str, int, int], ...] = ()  #: (kind, added, already stored)

    def counts(self) -> Counter[tuple[str, str]]:
        """How many resources of each (kind, status)."""
        return Counter((o.kind, o.status) for o in self.outcomes)

    @property
    def refused(self) -> tuple[Outcome, ...]:
        """The outcomes that are errors."""
        return tuple(o for o in self.outcomes if o.status == "refused")

    def merged(self, other: ImportReport) -> ImportReport:
        """This report and *other* as one."""
        return ImportReport.combine([self, other])

    @staticmethod
    def combine(reports: Iterable[ImportReport]) -> ImportReport:
        """Many reports as one, in order (linear in their outcomes, unlike repeated merges).

        >>> ImportReport.combine([ImportReport(outcomes=()), ImportReport(outcomes=())]).outcomes
        ()
        """
        try:
            reports = list(reports)
        except TypeError:
            raise errors.InvalidValue(
                "must be ImportReport values", field="reports", value=reports
            ) from None
        outcomes: list[Outcome] = []
        unmapped: Counter[str] = Counter()
        stored: dict[str, tuple[int, int]] = {}
        for index, report in enumerate(reports):
            if not isinstance(report, ImportReport):
                raise errors.InvalidValue(
                    "must be an ImportReport", field=f"reports[{index}]", value=report
                )
            outcomes.extend(report.outcomes)
            unmapped.update(dict(report.unmapped))
            for kind, added, skipped in report.stored:
                a, s = stored.get(kind, (0, 0))
                stored[kind] = (a + added, s + skipped)
        return ImportReport(
            outcomes=tuple(outcomes),
            unmapped=tuple(sorted((+unmapped).items())),
            stored=tuple((k, a, s) for k, (a, s) in sorted(stored.items())),
        )


@attrs.frozen(kw_only=True)
class ParsedBundle:
    """The resources of one bundle file, and the index their references resolve through."""

    source: str
    resources: tuple[dict[str, Any], ...]
    index: dict[str, dict[str, Any]]


_GZIP_MAGIC = b"\x1f\x8b"


def _unpacked(data: bytes | str, source: str) -> bytes | str:
    """*data*, or its content when it is a gzip file (known by its first bytes).

    The content is unpacked no further than the JSON size limit allows. A
    damaged file, or one that unpacks to more than ``json_bytes``, is an
    :class:`~carecore.errors.InvalidInput` naming *source* (a small file that
    unpacks to gigabytes stops at the limit).
    """
    if not isinstance(data, bytes) or data[:2] != _GZIP_MAGIC:
        return data
    allowed = limits.current().json_bytes
    unpacker = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = unpacker.decompress(data, allowed + 1)
    except zlib.error as exc:
        message, out = f"not a readable gzip file: {exc}", b""
    else:
        message = "" if unpacker.eof else "not a readable gzip file: it ends before its data does"
    if len(out) > allowed:
        message = f"unpacks to more than the limit json_bytes={allowed}"
    if message:
        raise errors.InvalidInput(
            f"FHIR bundle {source}",
            problems=[errors.Problem(path="$", message=message, value=f"{len(data)} bytes")],
        )
    return out


def _resource_doc(doc: object, source: str) -> dict[str, Any]:
    """*doc* when it is a FHIR resource (a JSON object with a resourceType), else refused.

    The refusal describes what the file holds (``a list``), never its text.
    """
    if not isinstance(doc, dict):
        raise errors.InvalidInput(
            f"FHIR bundle {source}",
            problems=[
                errors.Problem(
                    path="$", message=f"not a FHIR resource: the file holds {described(doc)}"
                )
            ],
        )
    if not isinstance(doc.get("resourceType"), str):
        what = "missing" if "resourceType" not in doc else described(doc["resourceType"])
        raise errors.InvalidInput(
            f"FHIR bundle {source}",
            problems=[
                errors.Problem(
                    path="$.resourceType", message=f"not a FHIR resource: resourceType is {what}"
                )
            ],
        )
    return doc


def read_bundle(data: bytes | str, *, source: str) -> ParsedBundle:  # noqa: C901 - one check per shape
    """Parse a FHIR R4 Bundle (or a single resource) from JSON, plain or gzip-compressed.

    Raises :class:`~carecore.errors.InvalidInput` naming *source* and the
    JSON path when the text is not JSON or not a FHIR resource.

    >>> read_bundle('{"resourceType": "Bundle", "type": "collection", "entry": ['
    ...     '{"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "1"}}]}',
    ...     source="b.json").index["urn:uuid:1"]["id"]
    '1'
    >>> read_bundle("not json", source="b.json")
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidInput: invalid FHIR bundle b.json: 1 problem
      $: not JSON: Expecting value at line 1 column 1

    The file's text is never shown (it may be a patient's record): a problem
    names the file, the place and what is wrong, and describes a value by its
    kind (``a list``, ``text of 6 characters``).
    """
    data = _unpacked(data, source)
    try:
        # Within carecore's input limits (size, depth, number digits): a bundle
        # nested too deep is refused by name instead of crashing the import.
        doc = limits.load_json(data, what=f"FHIR bundle {source}")
    except errors.InvalidInput as exc:
        problem = exc.problems[0]
        if not problem.message.startswith("not valid JSON: "):
            raise
        message = "not JSON: " + problem.message.removeprefix("not valid JSON: ")
        raise errors.InvalidInput(
            f"FHIR bundle {source}", problems=[errors.Problem(path="$", message=message)]
        ) from None
    doc = _resource_doc(doc, source)
    if doc["resourceType"] != "Bundle":
        resources: list[dict[str, Any]] = [doc]
        urls: list[str | None] = [None]
    else:
        entries = doc.get("entry", [])
        if not isinstance(entries, list):
            raise errors.InvalidInput(
                f"FHIR bundle {source}",
                problems=[
                    errors.Problem(
                        path="$.entry", message=f"must be a list, not {described(entries)}"
                    )
                ],
            )
        resources, urls = [], []
        for position, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                resource = {"resourceType": None, "id": f"entry[{position}]"}
            url = entry.get("fullUrl") if isinstance(entry, dict) else None
            if "id" not in resource and isinstance(url, str) and url.startswith("urn:uuid:"):
                resource = {**resource, "id": url.removeprefix("urn:uuid:")}
            resources.append(resource)
            urls.append(url if isinstance(url, str) else None)
    index: dict[str, dict[str, Any]] = {}
    for resource, url in zip(resources, urls, strict=True):
        if url:
            index[url] = resource
        if resource.get("id") and isinstance(resource.get("resourceType"), str):
            index[f"{resource['resourceType']}/{resource['id']}"] = resource
    return ParsedBundle(source=source, resources=tuple(resources), index=index)


def _store_lookup(program: CareProgram) -> Callable[[str, str], bool]:
    classes: dict[str, type] = {
        "Patient": Patient,
        "Practitioner": Practitioner,
        "Condition": Condition,
        "CareTeam": CareTeam,
    }
    cache: dict[tuple[str, str], bool] = {}

    def known(kind: str, rid: str) -> bool:
        if (kind, rid) not in cache:
            cls = classes.get(kind)
            found = False
            if cls is not None:
                with program.transaction("FHIR import: resolve a reference") as tx:
                    try:
                        tx.get(cls, rid)
                        found = True
                    except errors.NotFound:
                        found = False
            cache[kind, rid] = found
        return cache[kind, rid]

    return known


def _resource_name(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType') or '?'}/{resource.get('id', '?')}"


def map_bundle(
    bundle: ParsedBundle,
    *,
    options: Options,
    known: Callable[[str, str], bool] | None = None,
    check: bool = True,
) -> tuple[list[tuple[Outcome, Mapped | None]], Counter[str]]:
    """Map every resource of *bundle*: an outcome for each, with its values when it maps."""
    resolver = Resolver(bundle.index, known=known)
    results: list[tuple[Outcome, Mapped | None]] = []
    unmapped: Counter[str] = Counter()
    for resource in bundle.resources:
        name = _resource_name(resource)
        try:
            mapped = to_carecore(resource, resolver, options, check=check)
        except Skip as skip:
            results.append(
                (
                    Outcome(
                        source=bundle.source, resource=name, status="skipped", reason=skip.reason
                    ),
                    None,
                )
            )
            continue
        except errors.CarecoreError as exc:
            results.append(
                (
                    Outcome(source=bundle.source, resource=name, status="refused", reason=str(exc)),
                    None,
                )
            )
            continue
        unmapped.update(mapped.unmapped)
        outcome = Outcome(
            source=bundle.source, resource=name, status="imported", notes=mapped.notes
        )
        results.append((outcome, mapped))
    return results, unmapped


def import_bundle(
    program: CareProgram,
    data: bytes | str,
    *,
    source: str,
    options: Options | None = None,
    check: bool = True,
) -> ImportReport:
    """Import one bundle file into *program*; never raises for bad content, reports it.

    >>> from carecore.service import CareProgram
    >>> program = CareProgram.open("memory://")
    >>> report = import_bundle(program, '{"resourceType": "Patient", "id": "p1", '
    ...     '"gender": "male", "birthDate": "1941-08-11", "name": [{"family": "Barton", "given": ["Dino"]}]}',
    ...     source="p1.json")
    >>> [(o.resource, o.status) for o in report.outcomes]
    [('Patient/p1', 'imported')]
    """
    options = _dated(options or Options(), program)
    try:
        bundle = read_bundle(data, source=source)
    except errors.InvalidInput as exc:
        return ImportReport(
            outcomes=(
                Outcome(source=source, resource="Bundle/-", status="refused", reason=str(exc)),
            )
        )
    results, unmapped = map_bundle(
        bundle, options=options, known=_store_lookup(program), check=check
    )
    return _write(program, source, results, unmapped)


def _dated(options: Options, program: CareProgram) -> Options:
    """*options* with the import's time (a birth date after its date is refused): the program's clock."""
    return options if options.now is not None else attrs.evolve(options, now=program.clock.now())


_RANK = {"refused": 4, "imported": 3, "updated": 2, "unchanged": 1}


def _key(value: Any) -> str:
    """What a stored record is known by: its id, or its patient (a patient's address, contact)."""
    return str(value.id) if hasattr(value, "id") else str(value.patient_id)


def _existing(
    program: CareProgram, by_kind: dict[type, list[tuple[int, Any]]]
) -> dict[type, dict[str, Any]]:
    """The stored records with the ids of the values, per kind, read in one transaction.

    Patients and practitioners are read by id; other kinds once per patient.
    """
    found: dict[type, dict[str, Any]] = {}
    with program.transaction("FHIR import: what is stored already") as tx:
        for cls, items in by_kind.items():
            have = found.setdefault(cls, {})
            if cls in {Patient, Practitioner}:
                for _, value in items:
                    try:
                        have[value.id] = tx.get(cls, value.id)
                    except errors.NotFound:
                        continue
                continue
            ids = {_key(v) for _, v in items}
            for patient_id in sorted({v.patient_id for _, v in items}):
                stored: list[Any] = tx.find(cls, patient_id=patient_id)
                have.update({_key(r): r for r in stored if _key(r) in ids})
    return found


def _add(
    program: CareProgram, reason: str, items: list[tuple[int, Any]], status: dict[int, str]
) -> tuple[int, int]:
    """Bulk-add new records; when the bulk load fails, add one by one to find the bad ones.

    New Observations need no path of their own:
    :meth:`~carecore.service.CareProgram.import_records` stores readings as
    :meth:`~carecore.service.CareProgram.record_readings` does, each compared
    with its patient's care plans and raising the urgent findings in the same
    transaction, except a reading older than
    :data:`~carecore.service.READING_ALERT_DAYS` days, which is history (a
    bundle of last year's readings alerts no one).
    """
    if not items:
        return 0, 0
    try:
        result = program.import_records([v for _, v in items], reason=reason)
    except errors.CarecoreError:
        added = skipped = 0
        for position, value in items:
            try:
                one = program.import_records([value], reason=reason)
                added, skipped = added + one.added, skipped + one.skipped
            except errors.CarecoreError as exc:
                status[position] = f"refused:{exc}"
        return added, skipped
    return result.added, result.skipped


def _replace(
    program: CareProgram, reason: str, items: list[tuple[int, Any]], status: dict[int, str]
) -> None:
    """Replace changed records, one transaction each (a bad one keeps the others).

    A reading the source changed is a correction: it goes through
    :meth:`~carecore.service.CareProgram.correct_readings`, which checks it
    again (a finding it adds is raised, an unacknowledged one it takes back
    closes its worklist item).
    """
    for position, value in items:
        try:
            if isinstance(value, Observation):
                program.correct_readings([value], reason=reason)
                continue
            with program.transaction(reason) as tx:
                tx.replace(value)
        except errors.CarecoreError as exc:
            status[position] = f"refused:{exc}"


def _sort(
    results: list[tuple[Outcome, Mapped | None]],
) -> tuple[dict[type, list[tuple[int, Any]]], list[tuple[int, AdtEvent]]]:
    """The mapped values by kind (in write order) and the ADT events, with their positions."""
    by_kind: dict[type, list[tuple[int, Any]]] = {cls: [] for cls in _WRITE_ORDER}
    events: list[tuple[int, AdtEvent]] = []
    for position, (_, mapped) in enumerate(results):
        for value in mapped.values if mapped is not None else ():
            if isinstance(value, AdtEvent):
                events.append((position, value))
            else:
                by_kind.setdefault(type(value), []).append((position, value))
    return by_kind, events


def _write_kind(
    program: CareProgram,
    reason: str,
    cls: type,
    items: list[tuple[int, Any]],
    have: dict[str, Any],
) -> tuple[dict[int, str], tuple[str, int, int]]:
    """Add the new records of one kind, replace the changed ones; a status per position."""
    groups: dict[str, list[tuple[int, Any]]] = {"imported": [], "updated": [], "unchanged": []}
    for position, given in items:
        old = have.get(_key(given))
        value = given
        if isinstance(old, Observation):
            # What carecore added to a stored reading (its findings, their acknowledgement)
            # is not the source's to change: a reading the same but for them is unchanged,
            # and a changed one is checked again as a correction (_replace).
            value = attrs.evolve(
                given,
                findings=old.findings,
                acknowledged_by=old.acknowledged_by,
                acknowledged_at=old.acknowledged_at,
            )
        if old is None:
            groups["imported"].append((position, value))
        elif cls is CarePlan or old == value:  # carecore's own plan versions are not overwritten
            groups["unchanged"].append((position, value))
        else:
            groups["updated"].append((position, value))
    failed: dict[int, str] = {}
    added, skipped = _add(program, reason, groups["imported"], failed)
    _replace(program, reason, groups["updated"], failed)
    status: dict[int, str] = {}
    for label, group in groups.items():
        for p, _ in group:
            # A resource mapped to several records (a blood-pressure panel) takes the
            # strongest of their labels: one component updated is an update.
            mine = failed.get(p, label)
            if p not in status or _rank(mine) > _rank(status[p]):
                status[p] = mine
    already = skipped + len(groups["updated"]) + len(groups["unchanged"])
    return status, (cls.__name__, added, already)


def _rank(label: str) -> int:
    return _RANK[label.split(":", 1)[0]]


def _outcome_for(outcome: Outcome, labels: list[str]) -> Outcome:
    label = max(labels, key=_rank)
    status, _, why = label.partition(":")
    if status == "unchanged":
        why = (
            "a plan with this id is stored; an import does not overwrite carecore's plan versions"
            if outcome.kind == "CarePlan"
            else "already stored, the same"
        )
    return attrs.evolve(outcome, status=status, reason=why)


def _receive(program: CareProgram, outcome: Outcome, event: AdtEvent) -> Outcome:
    try:
        received = program.receive(event, source=SOURCE)
    except errors.CarecoreError as exc:
        return attrs.evolve(outcome, status="refused", reason=str(exc))
    if received.duplicate:
        return attrs.evolve(outcome, status="duplicate", reason="already received")
    return outcome


def _write(
    program: CareProgram,
    source: str,
    results: list[tuple[Outcome, Mapped | None]],
    unmapped: Counter[str],
) -> ImportReport:
    by_kind, events = _sort(results)
    outcomes = [outcome for outcome, _ in results]
    labels: dict[int, list[str]] = {}
    stored: list[tuple[str, int, int]] = []
    by_kind = {cls: items for cls, items in by_kind.items() if items}
    stored_now = _existing(program, by_kind) if by_kind else {}
    for cls, items in by_kind.items():
        status, counts = _write_kind(
            program, f"FHIR import {redact(source)}", cls, items, stored_now[cls]
        )
        stored.append(counts)
        for position, label in status.items():
            labels.setdefault(position, []).append(label)
    for position, found in labels.items():
        outcomes[position] = _outcome_for(outcomes[position], found)
    for position, event in events:
        outcomes[position] = _receive(program, outcomes[position], event)
    return ImportReport(
        outcomes=tuple(outcomes),
        unmapped=tuple(sorted(unmapped.items())),
        stored=tuple(stored),
    )


def import_files(
    program: CareProgram,
    items: Iterable[tuple[str, bytes]],
    *,
    options: Options | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import many bundles (``(name, bytes)`` pairs) and merge their reports."""
    reports = []
    for name, data in items:
        reports.append(import_bundle(program, data, source=name, options=options))
        if progress is not None:
            progress(name)
    return ImportReport.combine(reports)
