"""Hook implementations of carecore-fhir (registered as the ``fhir`` entry point)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Sequence

    import click

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
