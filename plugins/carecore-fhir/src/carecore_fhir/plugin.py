"""Hook implementations of carecore-fhir (registered as the ``fhir`` entry point)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from carecore.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Sequence

    import click

    from carecore.billing.claims import ClaimWriter
    from carecore.hookspecs import ExportTarget
    from carecore.model import CarePlan
    from carecore.protocols import EhrSource


@hookimpl
def carecore_cli(app: click.Group) -> None:
    """Add ``carecore fhir import`` and ``carecore fhir export``."""
    from carecore_fhir.cli import fhir  # noqa: PLC0415 - click loads only for the CLI

    app.add_command(fhir)


@hookimpl
def carecore_ehr_sources() -> Sequence[EhrSource]:
    """The ``fhir`` source: bundle files and FHIR R4 servers (``http(s)://`` base URLs)."""
    from carecore_fhir.source import FhirSource  # noqa: PLC0415

    return [FhirSource()]


@hookimpl
def carecore_export_careplan(plan: CarePlan, target: ExportTarget | None) -> str | None:
    """Write the plan (with its goals and tasks) to *target*'s FHIR server with its token.

    With no target, to ``$CARECORE_FHIR_URL`` (no token) when that is set; a target that is
    not an ``http(s)://`` URL is another exporter's, and this one returns None. An
    ``http://`` server needs ``CARECORE_FHIR_INSECURE=1`` (or ``fhir_insecure`` in the
    configuration file).
    """
    if target is not None:
        url, token = target.url.strip(), target.token
        if not url.startswith(("http://", "https://")):
            return None
    else:
        url, token = os.environ.get("CARECORE_FHIR_URL", "").strip(), None
        if not url:
            return None
    from carecore._cli_config import cleartext_allowed  # noqa: PLC0415
    from carecore_fhir.export import careplan_resources  # noqa: PLC0415
    from carecore_fhir.rest import FhirClient, FhirSink  # noqa: PLC0415

    with FhirClient(url, token=token, insecure=cleartext_allowed("fhir_insecure")) as client:
        sink = FhirSink(client)
        written = [sink.write(resource) for resource in careplan_resources(plan)]
    return written[0].id


@hookimpl
def carecore_claim_writers() -> Sequence[ClaimWriter]:
    """Give the ``fhir`` claim writer (a Bundle of FHIR R4 Claim resources)."""
    from carecore_fhir.claims import FhirClaimWriter  # noqa: PLC0415

    return [FhirClaimWriter()]
