"""The ``fhir`` EHR source: bundle files and FHIR R4 servers, read as carecore values."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from carecore import errors
from carecore._cli_config import cleartext_allowed
from carecore.clock import SystemClock
from carecore.model.validators import check_time_zone
from carecore.service import ImportRefusal, ImportSkip
from carecore_fhir.importer import (
    _GZIP_MAGIC,
    ImportReport,
    Outcome,
    ParsedBundle,
    _dated,
    _store_lookup,
    _write,
    map_bundle,
    read_bundle,
)
from carecore_fhir.mapping import CONSUMED, Options
from carecore_fhir.rest import FhirClient

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    import pendulum

    from carecore.service import CareProgram

__all__ = ["FhirSource", "fetch", "import_from_server"]

_PATIENT_URL = re.compile(r"^(?P<base>https?://.+)/Patient/(?P<id>[A-Za-z0-9\-.]{1,64})/?$")

#: The file names a bundle goes by; other files are read when their first bytes say so.
_BUNDLE_NAMES = (".json", ".json.gz")


def _holds_a_bundle(path: Path) -> bool:
    """Whether *path* is a bundle file: named ``.json``/``.json.gz``, or gzip or JSON by content.

    The content decides as :func:`~carecore_fhir.importer.read_bundle` does
    (gzip by its first two bytes), so a bundle downloaded as ``bundle.gz`` or
    ``export`` is read, and a folder's ``README.md`` is not.
    """
    if path.name.lower().endswith(_BUNDLE_NAMES):
        return True
    try:
        with path.open("rb") as file:
            head = file.read(64)
    except OSError:
        return False
    return head.startswith(_GZIP_MAGIC) or head.lstrip()[:1] == b"{"


def fetch(
    client: FhirClient, *, patient_id: str | None = None, page_size: int = 100
) -> ParsedBundle:
    """Every resource of the types carecore reads, from the server, as one bundle.

    With *patient_id*, only that patient's: the Patient itself, the resources
    whose ``patient`` search parameter names it (less any the server answered
    although they name another patient), and the practitioners and
    organizations they refer to.
    """
    client.capabilities()
    resources: list[dict[str, Any]] = []
    if patient_id is None:
        for kind in sorted(CONSUMED):
            resources.extend(client.search(kind, page_size=page_size))
    else:
        patient, _ = client.read("Patient", patient_id)
        resources.append(patient)
        for kind in sorted(CONSUMED - {"Patient", "Practitioner"}):
            found = client.search(kind, {"patient": patient_id}, page_size=page_size)
            resources.extend(r for r in found if not _names_another_patient(r, patient_id))
        wanted = sorted(_referred(resources, ("Practitioner", "Organization")))
        for kind, rid in wanted:
            try:
                resources.append(client.read(kind, rid)[0])
            except errors.NotFound:
                continue  # reported by the mapping as a reference that does not resolve
    index = {f"{r['resourceType']}/{r['id']}": r for r in resources if r.get("id")}
    return ParsedBundle(source=client.base_url, resources=tuple(resources), index=index)


_PATIENT_ELEMENTS = ("subject", "patient", "beneficiary", "for")
_PATIENT_REF = re.compile(r"(?:^|/)Patient/(?P<id>[^/]+)(?:/_history/[^/]+)?$")


def _names_another_patient(resource: dict[str, Any], patient_id: str) -> bool:
    """Whether the resource's patient element refers to a patient other than *patient_id*.

    A server may ignore a search parameter it does not support (saying so only in an
    OperationOutcome entry) and answer every resource of the type: sekmet-fhir 0.1.1 does
    for ``Goal?patient=`` and ``CareTeam?patient=``. Such answers are dropped here. A
    resource naming no patient by a literal reference is kept: the server matched it.

    >>> _names_another_patient({"subject": {"reference": "Patient/b"}}, "a")
    True
    >>> _names_another_patient({"for": {"reference": "https://x/fhir/Patient/a"}}, "a")
    False
    """
    for element in _PATIENT_ELEMENTS:
        ref = resource.get(element)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            match = _PATIENT_REF.search(ref["reference"])
            if match and match["id"] != patient_id:
                return True
    return False


def _referred(resources: list[dict[str, Any]], kinds: tuple[str, ...]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and ref.count("/") == 1 and ref.split("/")[0] in kinds:
                kind, rid = ref.split("/")
                found.add((kind, rid))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resources)
    return found


def import_from_server(
    program: CareProgram,
    client: FhirClient,
    *,
    patient_id: str | None = None,
    options: Options | None = None,
) -> ImportReport:
    """Import from a FHIR server (one patient, or everything carecore reads), with outcomes.

    The source identifier system of imported patients is the server's base URL
    unless *options* names another.
    """
    options = _dated(options or Options(source=client.base_url), program)
    try:
        bundle = fetch(client, patient_id=patient_id)
    except errors.CarecoreError as exc:
        where = f"Patient/{patient_id}" if patient_id else "Bundle/-"
        return ImportReport(
            outcomes=(
                Outcome(source=client.base_url, resource=where, status="refused", reason=str(exc)),
            )
        )
    results, unmapped = map_bundle(bundle, options=options, known=_store_lookup(program))
    return _write(program, client.base_url, results, unmapped)


class FhirSource:
    """An :class:`~carecore.protocols.EhrSource` for FHIR R4.

    ``location`` is a bundle file (``.json``, or gzip-compressed ``.json.gz``:
    known by its content, as ``carecore fhir import`` knows it), a folder of
    them (read file by file, in name order), a server's base URL (every
    resource of the types carecore reads is searched, page by page), or a
    patient's URL on a server (``<base>/Patient/<id>``: that patient's
    record); what is fetched is mapped as one bundle, searched *page_size*
    resources a page. A resource that cannot be read is yielded as an
    :class:`~carecore.service.ImportRefusal` naming it (``Condition/c9``) and
    why; so is a location that cannot be read at all. Resources carecore
    deliberately does not keep (an ambulatory encounter, a Claim) are yielded
    as :class:`~carecore.service.ImportSkip` values with the reason
    :func:`carecore_fhir.import_bundle` reports for them.

    >>> FhirSource().can_read("bundle.json"), FhirSource().can_read("https://ehr.example/fhir")
    (True, True)
    >>> FhirSource().can_read("bundle.json.gz"), FhirSource().can_read("notes.md")
    (True, False)
    """

    def __init__(
        self,
        *,
        options: Options | None = None,
        client: FhirClient | None = None,
        page_size: int = 100,
        insecure: bool | None = None,
    ) -> None:
        self.options = options or Options()
        self.client = client
        self.page_size = page_size
        #: Allow ``http://`` servers; None: as configured (``CARECORE_FHIR_INSECURE``, the
        #: settings file's ``fhir_insecure``).
        self.insecure = insecure

    @property
    def id(self) -> str:
        """``"fhir"``."""
        return "fhir"

    def configured(self, options: Mapping[str, str]) -> FhirSource:
        """This source with ``carecore import --option`` values: ``time_zone``, ``source``, ``page_size``.

        A ``time_zone`` that is not an IANA zone name is refused here, before
        anything is read (:class:`~carecore.errors.InvalidValue` naming it).

        >>> FhirSource().configured({"page_size": "20"}).page_size
        20
        """
        unknown = sorted(set(options) - {"time_zone", "source", "page_size"})
        if unknown:
            raise errors.InvalidValue(
                "the fhir source takes time_zone, source and page_size",
                field="--option",
                value=unknown,
            )
        if options.get("time_zone") is not None:
            check_time_zone(options["time_zone"], "time_zone")
        size = options.get("page_size", str(self.page_size))
        if not size.isdigit() or not 1 <= int(size) <= 1000:  # noqa: PLR2004 - a FHIR server's usual cap
            raise errors.InvalidValue(
                "must be a whole number from 1 to 1000", field="page_size", value=size
            )
        read = attrs.evolve(
            self.options,
            source=options.get("source", self.options.source),
            time_zone=options.get("time_zone", self.options.time_zone),
        )
        return FhirSource(
            options=read, client=self.client, page_size=int(size), insecure=self.insecure
        )

    def as_of(self, now: pendulum.DateTime) -> FhirSource:
        """This source checking birth dates against *now*: the importing program's clock time.

        ``carecore import`` gives it ``program.clock.now()``, as ``carecore fhir
        import`` and :func:`~carecore_fhir.import_bundle` check against the
        program's clock; a source read without a program checks against the
        system clock. *now* must be timezone-aware (as ``Options.now``).

        >>> import pendulum
        >>> FhirSource().as_of(pendulum.datetime(2024, 1, 10, tz="UTC")).options.now.year
        2024
        """
        dated = copy.copy(self)  # every setting kept, only the options' time changes
        dated.options = attrs.evolve(self.options, now=now)
        return dated

    def can_read(self, location: str) -> bool:
        """An ``http(s)://`` URL, a folder, or a bundle file (``.json``, ``.json.gz``, or gzip or JSON by content)."""
        if location.startswith(("http://", "https://")):
            return True
        path = Path(location)
        return path.is_dir() or _holds_a_bundle(path)

    def read(self, location: str) -> Iterator[object]:
        """The carecore values of every resource that maps, and a refusal for each that cannot.

        A folder is read file by file, in name order: each bundle file in it
        (as :meth:`can_read` says) is mapped as one bundle, and one that
        cannot be read is refused by its path while the others are read.
        """
        if self.options.now is None:
            # Given no program's time (as_of), birth dates are checked against the
            # system clock's, read once for the whole location.
            yield from self.as_of(SystemClock().now()).read(location)
            return
        path = Path(location)
        if location.startswith(("http://", "https://")) or not path.is_dir():
            yield from self._read_one(location)
            return
        for file in sorted(path.iterdir()):
            if file.is_file() and _holds_a_bundle(file):
                yield from self._read_one(str(file))

    def _read_one(self, location: str) -> Iterator[object]:
        try:
            bundle, options = self._fetch(location)
        except (errors.CarecoreError, OSError) as exc:
            yield ImportRefusal(where=location, reason=f"{type(exc).__name__}: {exc}")
            return
        results, _ = map_bundle(bundle, options=options)
        for outcome, mapped in results:
            if mapped is not None:
                yield from mapped.values
            elif outcome.status == "refused":
                yield ImportRefusal(where=outcome.resource, reason=outcome.reason)
            elif outcome.status == "skipped":
                yield ImportSkip(where=outcome.resource, reason=outcome.reason)

    def _fetch(self, location: str) -> tuple[ParsedBundle, Options]:
        if location.startswith(("http://", "https://")):
            match = _PATIENT_URL.match(location)
            base = match["base"] if match else location.rstrip("/")
            patient_id = match["id"] if match else None
            insecure = (
                cleartext_allowed("fhir_insecure") if self.insecure is None else self.insecure
            )
            client = self.client or FhirClient(base, insecure=insecure)
            try:
                bundle = fetch(client, patient_id=patient_id, page_size=self.page_size)
            finally:
                if self.client is None:
                    client.close()
            return bundle, attrs.evolve(self.options, source=client.base_url)
        return read_bundle(Path(location).read_bytes(), source=location), self.options
