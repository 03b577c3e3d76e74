"""Records for the 837P tests: one patient per CMS code family, and a practice."""

from __future__ import annotations

from decimal import Decimal

import pendulum

from carecore.billing.claims import ClaimBatch, assemble_claims
from carecore.model import (
    AdministrativeSex,
    BillingIdentity,
    ClaimLine,
    Credential,
    Patient,
    PostalAddress,
    Practitioner,
    ServiceFamily,
    ServicePeriod,
)

MONTH = ServicePeriod.month(2026, 3)
CREATED = pendulum.datetime(2026, 4, 2, 9, 30, tz="UTC")

IDENTITY = BillingIdentity(
    id="practice",
    name="Lakeside Primary Care",
    npi="1245319599",
    tin="361234567",
    address=PostalAddress(
        line1="100 Main St", line2="Suite 200", city="Chicago", state="IL", postal_code="606011234"
    ),
    phone="3125550100",
    payer_id="06102",
    payer_name="MEDICARE PART B",
    taxonomy="207Q00000X",
    contact_name="Billing Office",
)
DOCTOR = Practitioner(id="dr-ruiz", name="Dr. Ana Ruiz", credential=Credential.MD, npi="1234567893")
NURSE_PRACTITIONER = Practitioner(
    id="np-obi", name="Grace Obi, NP", credential=Credential.NP, npi="1003000126"
)

#: One claim per code family: (family, lines as (code, units, modifiers, amount, diagnoses, day)).
FAMILIES: tuple[
    tuple[ServiceFamily, tuple[tuple[str, int, tuple[str, ...], str, tuple[str, ...], int], ...]],
    ...,
] = (
    (
        ServiceFamily.CCM,
        (
            ("99490", 1, (), "60.49", ("E11.9", "I10"), 12),
            ("99439", 2, (), "94.12", ("E11.9", "I10"), 26),
        ),
    ),
    (ServiceFamily.PCM, (("99424", 1, (), "79.59", ("I50.22",), 9),)),
    (ServiceFamily.BHI, (("99484", 1, (), "47.68", ("F33.1",), 18),)),
    (ServiceFamily.COCM, (("99492", 1, (), "159.10", ("F33.1",), 30),)),
    (ServiceFamily.TCM, (("99496", 1, (), "272.68", ("J44.1", "I10"), 20),)),
    (
        ServiceFamily.RPM,
        (
            ("99454", 1, (), "43.02", ("I10",), 31),
            ("99457", 1, (), "47.87", ("I10",), 15),
            ("99458", 1, (), "38.49", ("I10",), 28),
        ),
    ),
    (ServiceFamily.RTM, (("98977", 1, (), "40.50", ("M17.11",), 31),)),
    (ServiceFamily.APCM, (("G0557", 1, (), "49.00", ("E11.65", "N18.4", "I10"), 1),)),
    (ServiceFamily.CHI, (("G0019", 1, (), "79.24", ("Z59.00",), 16),)),
    (ServiceFamily.PIN, (("G0023", 1, (), "79.24", ("C34.90",), 16),)),
    (ServiceFamily.ACP, (("99497", 1, ("33",), "84.44", ("I50.22",), 5),)),
)


def family_lines() -> list[ClaimLine]:
    """The claim lines: patient ``p-<family>``, billed by the doctor (ACP: the NP)."""
    lines = []
    for family, items in FAMILIES:
        biller = NURSE_PRACTITIONER if family is ServiceFamily.ACP else DOCTOR
        for code, units, modifiers, amount, diagnoses, day in items:
            lines.append(
                ClaimLine(
                    patient_id=f"p-{family.value.lower()}",
                    code=code,
                    units=units,
                    family=family,
                    billing_practitioner_id=biller.id,
                    date_of_service=pendulum.Date(2026, 3, day),
                    period=MONTH,
                    modifiers=modifiers,
                    amount=Decimal(amount),
                    diagnoses=diagnoses,
                )
            )
    return lines


_GIVEN = ("Ada", "Ben", "Chen", "Dolores", "Emeka", "Farah", "Gus", "Hana", "Ines", "José", "Kai")
_FAMILY = ("Okafor", "Nakamura", "Silva", "O'Brien", "Kowalski", "Haddad", "Novak", "Reyes")
_MBIS = (
    "1EG4TE5MK73",
    "2AA0A00AA01",
    "3CD5EF6GH78",
    "4HJ7K89MN12",
    "5P01RT2UV34",
    "6VW5XY6AC56",
    "7DE8FG9HJ78",
    "8KM1NP2QR90",
    "9TU3VW4XY12",
    "1AC5DE6FG34",
    "2HJ7KM8NP56",
)


def people() -> tuple[dict[str, Patient], dict[str, str], dict[str, PostalAddress]]:
    """Patients, MBIs and addresses for every family's patient."""
    patients, mbis, addresses = {}, {}, {}
    for n, (family, _items) in enumerate(FAMILIES):
        pid = f"p-{family.value.lower()}"
        patients[pid] = Patient(
            id=pid,
            given_name=_GIVEN[n % len(_GIVEN)],
            family_name=_FAMILY[n % len(_FAMILY)],
            birth_date=pendulum.Date(1940 + n, 1 + n % 12, 1 + n),
            sex=AdministrativeSex.FEMALE if n % 2 else AdministrativeSex.MALE,
            time_zone="America/Chicago",
        )
        mbis[pid] = _MBIS[n]
        addresses[pid] = PostalAddress(
            line1=f"{10 + n} Elm St", city="Evanston", state="IL", postal_code="60201"
        )
    return patients, mbis, addresses


def family_batch() -> ClaimBatch:
    """The month's claims: one per family, none refused."""
    patients, mbis, addresses = people()
    return assemble_claims(
        family_lines(),
        period=MONTH,
        identity=IDENTITY,
        patients=patients,
        practitioners={DOCTOR.id: DOCTOR, NURSE_PRACTITIONER.id: NURSE_PRACTITIONER},
        addresses=addresses,
        mbis=mbis,
    )
