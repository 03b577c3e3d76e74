"""The ``fhir`` EHR source: bundle files and FHIR R4 servers, read as carecore values."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from carecore_fhir.importer import ParsedBundle, map_bundle, read_bundle
from carecore_fhir.mapping import CONSUMED, Options
from carecore_fhir.rest import FhirClient

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["FhirSource"]


class FhirSource:
    """An :class:`~carecore.protocols.EhrSource` for FHIR R4.

    ``location`` is a bundle file (``.json``) or a server's base URL; from a
    server, every resource of the types carecore reads is searched (page by
    page) and mapped as one bundle. Resources that cannot be read are left
    out; :func:`carecore_fhir.import_bundle` reports them.

    >>> FhirSource().can_read("bundle.json"), FhirSource().can_read("https://ehr.example/fhir")
    (True, True)
    """

    def __init__(self, *, options: Options | None = None, client: FhirClient | None = None) -> None:
        self.options = options or Options()
        self.client = client

    @property
    def id(self) -> str:
        """``"fhir"``."""
        return "fhir"

    def can_read(self, location: str) -> bool:
        """A ``.json`` file or an ``http(s)://`` URL."""
        return location.startswith(("http://", "https://")) or location.endswith(".json")

    def read(self, location: str) -> Iterator[object]:
        """The carecore values of every resource that maps."""
        if location.startswith(("http://", "https://")):
            bundle = self._from_server(location)
            options = Options(
                source=location.rstrip("/"),
                time_zone=self.options.time_zone,
                families=self.options.families,
            )
        else:
            bundle = read_bundle(Path(location).read_bytes(), source=location)
            options = self.options
        results, _ = map_bundle(bundle, options=options)
        for _, mapped in results:
            if mapped is not None:
                yield from mapped.values

    def _from_server(self, base_url: str) -> ParsedBundle:
        client = self.client or FhirClient(base_url)
        try:
            client.capabilities()
            resources: list[dict[str, Any]] = []
            for kind in sorted(CONSUMED):
                resources.extend(client.search(kind))
        finally:
            if self.client is None:
                client.close()
        index = {f"{r['resourceType']}/{r['id']}": r for r in resources if r.get("id")}
        return ParsedBundle(source=base_url, resources=tuple(resources), index=index)
