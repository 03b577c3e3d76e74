"""A patient's postal address in FHIR (US Core Patient's must-support ``address``) and back.

carecore keeps one United States address per patient
(:class:`~carecore.model.PatientAddress`, the one a claim gives). On export it
is the Patient's ``home`` address; on import the Patient's current home
address (else its first address) is read, with the state given as its USPS
code or its name (Synthea writes ``Massachusetts``). An address carecore cannot
keep (another country, no street or ZIP code) leaves the patient imported,
with a note saying why.

>>> from carecore.model import PostalAddress
>>> doc = address_resource(PostalAddress(line1="1 Elm St", city="Evanston", state="IL",
...                                      postal_code="602011234"))
>>> doc["postalCode"], read_address({"address": [doc]})[0].postal_code
('60201-1234', '602011234')
>>> read_address({"address": [{"line": ["1 Elm St"], "city": "Boston",
...                            "state": "Massachusetts", "postalCode": "02108"}]})[0].state
'MA'
"""

from __future__ import annotations

from typing import Any

from carecore import errors
from carecore.model import PostalAddress

__all__ = ["US_STATES", "address_resource", "read_address"]

#: USPS codes of the states, the District of Columbia and the territories, by name
#: (https://pe.usps.com/text/pub28/28apb.htm).
US_STATES: dict[str, str] = {
    "alabama": "AL",
    "alaska": "AK",
    "arizona": "AZ",
    "arkansas": "AR",
    "california": "CA",
    "colorado": "CO",
    "connecticut": "CT",
    "delaware": "DE",
    "district of columbia": "DC",
    "florida": "FL",
    "georgia": "GA",
    "hawaii": "HI",
    "idaho": "ID",
    "illinois": "IL",
    "indiana": "IN",
    "iowa": "IA",
    "kansas": "KS",
    "kentucky": "KY",
    "louisiana": "LA",
    "maine": "ME",
    "maryland": "MD",
    "massachusetts": "MA",
    "michigan": "MI",
    "minnesota": "MN",
    "mississippi": "MS",
    "missouri": "MO",
    "montana": "MT",
    "nebraska": "NE",
    "nevada": "NV",
    "new hampshire": "NH",
    "new jersey": "NJ",
    "new mexico": "NM",
    "new york": "NY",
    "north carolina": "NC",
    "north dakota": "ND",
    "ohio": "OH",
    "oklahoma": "OK",
    "oregon": "OR",
    "pennsylvania": "PA",
    "rhode island": "RI",
    "south carolina": "SC",
    "south dakota": "SD",
    "tennessee": "TN",
    "texas": "TX",
    "utah": "UT",
    "vermont": "VT",
    "virginia": "VA",
    "washington": "WA",
    "west virginia": "WV",
    "wisconsin": "WI",
    "wyoming": "WY",
    "american samoa": "AS",
    "guam": "GU",
    "northern mariana islands": "MP",
    "puerto rico": "PR",
    "virgin islands": "VI",
}
_ZIP9 = 9


def address_resource(address: PostalAddress) -> dict[str, Any]:
    """*address* as a FHIR ``Address`` (``use`` home, ZIP+4 written ``NNNNN-NNNN``)."""
    zip_code = address.postal_code
    if len(zip_code) == _ZIP9:
        zip_code = f"{zip_code[:5]}-{zip_code[5:]}"
    return {
        "use": "home",
        "line": [line for line in (address.line1, address.line2) if line],
        "city": address.city,
        "state": address.state,
        "postalCode": zip_code,
        "country": "US",
    }


def _chosen(addresses: list[dict[str, Any]]) -> dict[str, Any] | None:
    current = [a for a in addresses if not (a.get("period") or {}).get("end")]
    return next(
        (a for a in current if a.get("use") == "home"),
        next(iter(current), None),
    )


def read_address(resource: dict[str, Any]) -> tuple[PostalAddress | None, str | None]:
    """The patient's address carecore keeps, or None with the reason it keeps none.

    >>> read_address({"address": [{"city": "Lyon", "country": "FR"}]})
    (None, "address not kept: not a United States address (country 'FR')")
    """
    found = [a for a in resource.get("address", ()) if isinstance(a, dict)]
    if not found:
        return None, None
    address = _chosen(found)
    if address is None:
        return None, "address not kept: no current address"
    country = str(address.get("country") or "US")
    if country.upper() not in {"US", "USA", "UNITED STATES"}:
        return None, f"address not kept: not a United States address (country {country!r})"
    lines = [str(line) for line in address.get("line", ()) if line]
    state = str(address.get("state") or "")
    state = US_STATES.get(state.strip().lower(), state.strip().upper())
    try:
        kept = PostalAddress(
            line1=lines[0] if lines else "",
            line2=" ".join(lines[1:]) or None,
            city=str(address.get("city") or ""),
            state=state,
            postal_code=str(address.get("postalCode") or ""),
        )
    except errors.InvalidValue as exc:
        # The value is not repeated: an address is protected health information.
        return None, f"address not kept: {exc.field} {exc.reason}"
    return kept, None
