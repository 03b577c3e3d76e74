"""Claims out: a month's claim lines grouped into claims a payer can be sent.

:func:`assemble_claims` is the one place that decides which claims exist,
what each holds and what is refused: one claim per patient and billing
practitioner in the month, its diagnoses numbered in order of first use, each
line pointing at its own. A claim writer (the ``carecore_claim_writers``
hook: ``x12`` from carecore-x12, ``fhir`` from carecore-fhir) only formats
the :class:`ClaimBatch` it is given.

What a claim needs and the records lack refuses that claim only, as a
:class:`ClaimRefusal` naming the field; the rest of the batch is kept.
Refusals name ids and fields, never a value (names, MBIs and addresses are
PHI).

:func:`claims_from_store` reads a store's month; :func:`claims_from_close`
reads a CSV close's output folder with a practice file and a patients file.

>>> from carecore.model import ClaimLine, ServiceFamily, ServicePeriod
>>> import pendulum
>>> month = ServicePeriod.month(2026, 3)
>>> line = ClaimLine(patient_id="p1", code="99490", units=1, family=ServiceFamily.CCM,
...     billing_practitioner_id="dr1", date_of_service=pendulum.Date(2026, 3, 20),
...     period=month, amount=Decimal("60.49"), diagnoses=("E11.9", "I10"))
>>> batch = assemble_claims([line], period=month, identity=None, patients={},
...     practitioners={}, addresses={}, mbis={})
>>> [(r.patient_id, r.field) for r in batch.refusals]
[('p1', 'patient')]
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

import pendulum
from attrs import frozen

from carecore import errors, limits
from carecore.billing.primitives import (
    MAX_CLAIM_DIAGNOSES,
    claim_diagnoses,
    claim_line_order,
    closed_with,
    diagnosis_pointers,
)
from carecore.model import (
    MBI_SYSTEM,
    AdministrativeSex,
    BillingIdentity,
    ClaimLine,
    Coverage,
    CoveragePlan,
    MedicareBeneficiaryId,
    Patient,
    PatientAddress,
    PostalAddress,
    Practitioner,
    ServiceFamily,
    ServicePeriod,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from carecore.protocols import Transaction

__all__ = [
    "PATIENT_COLUMNS",
    "Claim",
    "ClaimBatch",
    "ClaimRefusal",
    "ClaimWriter",
    "assemble_claims",
    "claims_from_close",
    "claims_from_store",
    "person_name",
    "practice_identity",
    "read_practice_file",
]

_HONORIFICS = frozenset({"dr", "dr.", "mr", "mr.", "mrs", "mrs.", "ms", "ms."})


def person_name(name: str) -> tuple[str, str]:
    """A practitioner's display name as (family, given): honorifics and credentials dropped.

    >>> person_name("Dr. Ana Ruiz"), person_name("Jin Park, RN"), person_name("Cher")
    (('Ruiz', 'Ana'), ('Park', 'Jin'), ('Cher', ''))
    """
    words = [w for w in name.split(",", 1)[0].split() if w.lower() not in _HONORIFICS]
    if not words:
        return name.strip(), ""
    return words[-1], " ".join(words[:-1])


@frozen(kw_only=True)
class Claim:
    """One claim: a patient's lines billed by one practitioner in one period.

    ``diagnoses`` are ICD-10-CM codes in the order the lines first use them
    (the first is the principal diagnosis); :meth:`pointers` gives each
    line's 1-based positions in that list. Both are the billing engine's
    rule (:func:`carecore.billing.primitives.claim_diagnoses` and
    :func:`~carecore.billing.primitives.diagnosis_pointers`), so a claim lists
    what :meth:`carecore.billing.EvaluationResult.claim_diagnoses` gives.
    """

    control_number: str
    period: ServicePeriod
    patient: Patient
    mbi: MedicareBeneficiaryId
    address: PostalAddress
    rendering: Practitioner
    diagnoses: tuple[str, ...]
    lines: tuple[ClaimLine, ...]

    @property
    def total(self) -> Decimal:
        """The claim's total charge: the sum of its lines' amounts."""
        return sum((line.amount or Decimal(0) for line in self.lines), Decimal(0))

    def pointers(self, line: ClaimLine) -> tuple[int, ...]:
        """The 1-based positions of *line*'s diagnoses in :attr:`diagnoses`."""
        return diagnosis_pointers(self.diagnoses, line)


@frozen(kw_only=True)
class ClaimRefusal:
    """A claim not written: whose, which field is missing or wrong, and why (no PHI)."""

    patient_id: str
    practitioner_id: str
    field: str
    reason: str
    lines: int

    def __str__(self) -> str:
        """One line for a person: ``patient p1, practitioner dr1: patient.mbi: ...``."""
        return (
            f"patient {self.patient_id}, practitioner {self.practitioner_id}: "
            f"{self.field}: {self.reason} ({self.lines} claim line(s) not sent)"
        )


@frozen(kw_only=True)
class ClaimBatch:
    """A month's claims for one billing identity, and the claims refused."""

    period: ServicePeriod
    identity: BillingIdentity | None
    claims: tuple[Claim, ...]
    refusals: tuple[ClaimRefusal, ...]

    @property
    def total(self) -> Decimal:
        """The sum of the claims' totals."""
        return sum((claim.total for claim in self.claims), Decimal(0))

    @property
    def line_count(self) -> int:
        """How many claim lines the claims carry."""
        return sum(len(claim.lines) for claim in self.claims)


@runtime_checkable
class ClaimWriter(Protocol):
    """A claim file format (``carecore_claim_writers``): ``x12``, ``fhir``, ...

    ``write`` formats *batch* to the binary file *out*; ``created`` is when
    the file is made (it goes in interchange headers, so golden files can be
    reproduced). Only claims are written; refusals are the caller's to report.
    """

    @property
    def id(self) -> str:
        """The format's name, as ``--format`` gives it."""
        ...

    def write(self, batch: ClaimBatch, out: IO[bytes], *, created: pendulum.DateTime) -> None:
        """Write the claims of *batch* to *out*."""
        ...


def _control_number(period: ServicePeriod, patient_id: str, practitioner_id: str) -> str:
    """A claim number of 20 characters at most, the same each time the month is sent."""
    digest = hashlib.sha256(f"{patient_id}\x1f{practitioner_id}".encode()).hexdigest()
    return f"{period.start:%Y%m}{digest[:12].upper()}"


def _line_problem(line: ClaimLine) -> tuple[str, str] | None:
    when = f"{line.code} of {line.date_of_service.isoformat()}"
    if line.amount is None:
        return "claim_line.amount", f"{when} has no listed fee to charge"
    if not line.diagnoses:
        return "claim_line.diagnoses", f"{when} points at no diagnosis"
    return None


def _of_month(line: ClaimLine, month: ServicePeriod) -> bool:
    """Whether *line* was closed with *month*: its own service period starts in it.

    A line's period is the calendar month for the time-based codes, but its
    own span for the others (TCM's 30 days from the discharge, a device's 30
    days), which may end in the next month; the close stores such a line with
    the month its period starts in, so it is sent with that month, once.
    """
    return closed_with(line.period, month)


def assemble_claims(
    lines: Iterable[ClaimLine],
    *,
    period: ServicePeriod,
    identity: BillingIdentity | None,
    patients: Mapping[str, Patient],
    practitioners: Mapping[str, Practitioner],
    addresses: Mapping[str, PostalAddress],
    mbis: Mapping[str, str],
) -> ClaimBatch:
    """Group the period's claim *lines* into claims, refusing per claim what cannot be sent.

    :param lines: claim lines; those whose service period starts in another
        month are ignored (a TCM line's 30 days may run into the next month:
        it is still this month's).
    :param identity: the practice's billing identity (the caller checks it is there).
    :param patients: patients by id.
    :param practitioners: billing practitioners by id (each needs an NPI).
    :param addresses: where each patient lives, by patient id.
    :param mbis: each patient's MBI as recorded (checked here), by patient id.
    :returns: the claims, in patient then practitioner order, and the refusals.
    """
    groups: dict[tuple[str, str], list[ClaimLine]] = {}
    for line in lines:
        if _of_month(line, period):
            groups.setdefault((line.patient_id, line.billing_practitioner_id), []).append(line)
    claims: list[Claim] = []
    refusals: list[ClaimRefusal] = []
    for (patient_id, practitioner_id), group in sorted(groups.items()):
        group.sort(key=claim_line_order)
        made = _claim(
            period, patient_id, practitioner_id, group, patients, practitioners, addresses, mbis
        )
        if isinstance(made, Claim):
            claims.append(made)
        else:
            field, reason = made
            refusals.append(
                ClaimRefusal(
                    patient_id=patient_id,
                    practitioner_id=practitioner_id,
                    field=field,
                    reason=reason,
                    lines=len(group),
                )
            )
    return ClaimBatch(
        period=period, identity=identity, claims=tuple(claims), refusals=tuple(refusals)
    )


def _claim(  # noqa: PLR0911, PLR0917 - one return per refusal
    period: ServicePeriod,
    patient_id: str,
    practitioner_id: str,
    group: list[ClaimLine],
    patients: Mapping[str, Patient],
    practitioners: Mapping[str, Practitioner],
    addresses: Mapping[str, PostalAddress],
    mbis: Mapping[str, str],
) -> Claim | tuple[str, str]:
    patient = patients.get(patient_id)
    if patient is None:
        return "patient", "no patient record with this id"
    recorded = mbis.get(patient_id)
    if recorded is None:
        return "patient.mbi", (
            "no Medicare Beneficiary Identifier (an identifier of system "
            f"{MBI_SYSTEM}, or the member id of a Medicare Part B coverage)"
        )
    try:
        mbi = MedicareBeneficiaryId.parse(recorded, field="patient.mbi")
    except errors.InvalidValue:
        return "patient.mbi", "the recorded MBI does not follow the CMS MBI format"
    address = addresses.get(patient_id)
    if address is None:
        return "patient.address", "no address on file"
    rendering = practitioners.get(practitioner_id)
    if rendering is None:
        return "practitioner", "no practitioner with this billing id"
    if rendering.npi is None:
        return "practitioner.npi", "the billing practitioner has no NPI"
    for line in group:
        problem = _line_problem(line)
        if problem is not None:
            return problem
    diagnoses = claim_diagnoses(group)
    if len(diagnoses) > MAX_CLAIM_DIAGNOSES:
        return "diagnoses", (
            f"the lines use {len(diagnoses)} diagnoses; an 837P claim holds {MAX_CLAIM_DIAGNOSES}"
        )
    return Claim(
        control_number=_control_number(period, patient_id, practitioner_id),
        period=period,
        patient=patient,
        mbi=mbi,
        address=address,
        rendering=rendering,
        diagnoses=diagnoses,
        lines=tuple(group),
    )


# -- reading a store -----------------------------------------------------------------


def _mbi_of(patient: Patient, coverages: list[Coverage], day: pendulum.Date) -> str | None:
    """The patient's MBI: an identifier of the MBI system, else Part B coverage's member id."""
    for identifier in patient.identifiers:
        if identifier.system == MBI_SYSTEM:
            return identifier.value
    part_b = [
        c
        for c in coverages
        if c.plan is CoveragePlan.MEDICARE_PART_B and c.member_id is not None and c.active_on(day)
    ]
    return part_b[0].member_id if part_b else None


def practice_identity(tx: Transaction, identity_id: str | None = None) -> BillingIdentity:
    """The store's billing identity: the one stored, or the one named *identity_id*.

    Raises :class:`~carecore.errors.NotFound` (field ``billing_identity``)
    when there is none, or when several are stored and none is named.
    """
    stored = tx.all(BillingIdentity)
    if identity_id is not None:
        for identity in stored:
            if identity.id == identity_id:
                return identity
        raise errors.NotFound(
            "no billing identity with this id in the store",
            field="billing_identity",
            value=identity_id,
        )
    if len(stored) == 1:
        return stored[0]
    if not stored:
        raise errors.NotFound(
            "the store holds no billing identity for the practice (add a BillingIdentity "
            "record, or give --practice FILE)",
            field="billing_identity",
            value=None,
        )
    raise errors.NotFound(
        "the store holds several billing identities; name one with --identity",
        field="billing_identity",
        value=sorted(i.id for i in stored),
    )


def claims_from_store(
    tx: Transaction,
    period: ServicePeriod,
    *,
    identity: BillingIdentity | None = None,
    identity_id: str | None = None,
) -> ClaimBatch:
    """The period's stored claim lines as claims (run a close with ``--db`` first).

    The lines are those the close stored for the month: each whose service
    period starts in it, a TCM period running into the next month included.

    The MBI is read as of the period's last day. *identity* (from a practice
    file) wins over the stored one.
    """
    if identity is None:
        identity = practice_identity(tx, identity_id)
    lines = [line for line in tx.all(ClaimLine) if _of_month(line, period)]
    wanted = {line.patient_id for line in lines}
    patients = {p.id: p for p in tx.all(Patient) if p.id in wanted}
    coverages: dict[str, list[Coverage]] = {}
    for coverage in tx.all(Coverage):
        if coverage.patient_id in wanted:
            coverages.setdefault(coverage.patient_id, []).append(coverage)
    mbis: dict[str, str] = {}
    for pid, patient in patients.items():
        found = _mbi_of(patient, sorted(coverages.get(pid, []), key=lambda c: c.id), period.end)
        if found is not None:
            mbis[pid] = found
    addresses = {a.patient_id: a.address for a in tx.all(PatientAddress) if a.patient_id in wanted}
    practitioners = {p.id: p for p in tx.all(Practitioner)}
    return assemble_claims(
        lines,
        period=period,
        identity=identity,
        patients=patients,
        practitioners=practitioners,
        addresses=addresses,
        mbis=mbis,
    )


# -- reading a CSV close's folder -----------------------------------------------------


def _json_file(path: Path, what: str) -> Any:
    """*path*'s JSON within :mod:`carecore.limits` (size, depth, digits, UTF-8), else InvalidInput."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise errors.NotFound(f"no {what} here", field="path", value=str(path)) from None
    return limits.load_json(text, what=f"{what} {path.name}")


def read_practice_file(path: Path) -> tuple[BillingIdentity, dict[str, Practitioner]]:
    """A practice file: ``{"billing_identity": {...}, "practitioners": [{...}, ...]}``.

    Both parts use carecore's JSON form of :class:`~carecore.model.BillingIdentity`
    and :class:`~carecore.model.Practitioner`; a bad field raises
    :class:`~carecore.errors.InvalidInput` naming its JSON path.
    """
    from carecore.convert import from_primitive  # noqa: PLC0415

    data = _json_file(path, "practice file")
    if not isinstance(data, dict) or "billing_identity" not in data:
        raise errors.InvalidInput(
            f"practice file {path.name}",
            problems=[errors.Problem(path="$.billing_identity", message="is required")],
        )
    identity = from_primitive(data["billing_identity"], BillingIdentity)
    practitioners: dict[str, Practitioner] = {}
    for item in data.get("practitioners", []):
        practitioner = from_primitive(item, Practitioner)
        practitioners[practitioner.id] = practitioner
    return identity, practitioners


#: The columns of a claims patients file (``--patients`` of ``carecore billing claims``).
PATIENT_COLUMNS = (
    "patient_id",
    "family_name",
    "given_name",
    "birth_date",
    "sex",
    "mbi",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
)


def _patient_rows(
    path: Path,
) -> tuple[dict[str, Patient], dict[str, str], dict[str, PostalAddress], list[str]]:
    """Patients, MBIs and addresses of a patients file; a bad row is reported and skipped."""
    patients: dict[str, Patient] = {}
    mbis: dict[str, str] = {}
    addresses: dict[str, PostalAddress] = {}
    problems: list[str] = []
    try:
        handle = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise errors.NotFound("no patients file here", field="path", value=str(path)) from None
    with handle:
        # Within carecore.limits: a cell past csv_cell, or bytes that are not UTF-8,
        # are refused naming the file and line (they were untyped errors).
        reader = limits.csv_rows(handle, what=path.name)
        fieldnames = next(reader, [])
        missing = [c for c in PATIENT_COLUMNS if c not in fieldnames]
        if missing:
            raise errors.InvalidInput(
                f"patients file {path.name}",
                problems=[
                    errors.Problem(path=f"{path.name}:1", message=f"no column {c}") for c in missing
                ],
            )
        for number, cells in enumerate(reader, start=2):
            if not cells:
                continue  # a blank line
            row = dict(zip(fieldnames, cells + [""] * (len(fieldnames) - len(cells)), strict=False))
            pid = (row["patient_id"] or "").strip()
            try:
                patients[pid] = Patient(
                    id=pid,
                    family_name=row["family_name"],
                    given_name=row["given_name"],
                    birth_date=pendulum.Date.fromisoformat(row["birth_date"]),
                    sex=AdministrativeSex(row["sex"]),
                    time_zone="UTC",
                )
                addresses[pid] = PostalAddress(
                    line1=row["address_line1"],
                    line2=row["address_line2"] or None,
                    city=row["city"],
                    state=row["state"],
                    postal_code=row["postal_code"],
                )
            except errors.InvalidValue as exc:
                problems.append(f"{path.name}:{number}: {exc.field}: {exc.reason}")
                continue
            except ValueError:
                problems.append(f"{path.name}:{number}: birth_date or sex: not readable")
                continue
            if row["mbi"]:
                mbis[pid] = row["mbi"]
    return patients, mbis, addresses, problems


def _close_family(item: object, index: int) -> ServiceFamily:
    """The family the close decided for claims.json item *index* (PCM, BHI, TCM, ...), as it wrote it."""
    try:
        return ServiceFamily(item["family"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise errors.InvalidInput(
            "claims.json",
            problems=[
                errors.Problem(
                    path=f"$[{index}].family",
                    message="missing or not a service family (CCM, PCM, BHI, TCM, ...); "
                    "a close writes each line's family: close the month again",
                )
            ],
        ) from None


def _close_lines(folder: Path) -> list[ClaimLine]:
    data = _json_file(folder / "claims.json", "claims.json of a month close")
    if not isinstance(data, list):
        raise errors.InvalidInput(
            "claims.json", problems=[errors.Problem(path="$", message="is not a JSON array")]
        )
    lines = []
    for index, item in enumerate(data):
        family = _close_family(item, index)
        try:
            lines.append(
                ClaimLine(
                    patient_id=item["patient_id"],
                    code=item["code"],
                    units=item["units"],
                    family=family,
                    billing_practitioner_id=item["practitioner"],
                    date_of_service=pendulum.Date.fromisoformat(item["date_of_service"]),
                    period=ServicePeriod(
                        start=pendulum.Date.fromisoformat(item["period_start"]),
                        end=pendulum.Date.fromisoformat(item["period_end"]),
                    ),
                    modifiers=tuple(item["modifiers"]),
                    amount=None if item["amount"] is None else Decimal(str(item["amount"])),
                    diagnoses=tuple(item["diagnoses"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            field = exc.field if isinstance(exc, errors.CarecoreError) else str(exc)
            raise errors.InvalidInput(
                "claims.json",
                problems=[errors.Problem(path=f"$[{index}].{field}", message="not readable")],
            ) from None
    return lines


def claims_from_close(
    folder: Path,
    period: ServicePeriod,
    *,
    practice: Path,
    patients: Path,
) -> tuple[ClaimBatch, list[str]]:
    """The claims of a CSV close's output folder (its ``claims.json``).

    A CSV close knows no names, MBIs or addresses, so *patients* (a CSV file
    with :data:`PATIENT_COLUMNS`) gives them, and *practice* (a JSON file, see
    :func:`read_practice_file`) the billing identity and the practitioners'
    NPIs. Returns the batch and the patients file's refused rows.
    """
    identity, practitioners = read_practice_file(practice)
    people, mbis, addresses, problems = _patient_rows(patients)
    batch = assemble_claims(
        _close_lines(folder),
        period=period,
        identity=identity,
        patients=people,
        practitioners=practitioners,
        addresses=addresses,
        mbis=mbis,
    )
    return batch, problems
