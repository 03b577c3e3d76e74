"""carecore's own command-line commands, added through ``carecore_cli``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.plugins import hookimpl

if TYPE_CHECKING:
    import click

    from carecore.access import Actor, StaffActor


@hookimpl(trylast=True)
def carecore_cli(app: click.Group) -> None:
    """Add ``demo``, ``plugins``, ``billing``, ``db``, ``tcm``, ``outbox``, ``worklist``, ``readings``, ``report``, ``registry``, ``simulate``, ``import``, ``attest``, ``audit`` and ``export``."""
    from carecore._cli_audit import audit_command  # noqa: PLC0415 - click loads only for the CLI
    from carecore._cli_billing import billing  # noqa: PLC0415
    from carecore._cli_commands import demo, plugins  # noqa: PLC0415
    from carecore._cli_db import db  # noqa: PLC0415
    from carecore._cli_export import export_command  # noqa: PLC0415
    from carecore._cli_gaps import gaps  # noqa: PLC0415
    from carecore._cli_import import import_command  # noqa: PLC0415
    from carecore._cli_meds import meds  # noqa: PLC0415
    from carecore._cli_outbox import outbox  # noqa: PLC0415
    from carecore._cli_readings import readings  # noqa: PLC0415
    from carecore._cli_registry import attest_command, registry_command  # noqa: PLC0415
    from carecore._cli_report import report  # noqa: PLC0415
    from carecore._cli_simulate import simulate  # noqa: PLC0415
    from carecore._cli_tcm import tcm  # noqa: PLC0415
    from carecore._cli_worklist import worklist  # noqa: PLC0415

    for command in (
        demo,
        plugins,
        billing,
        db,
        tcm,
        outbox,
        worklist,
        readings,
        report,
        registry_command,
        simulate,
        import_command,
        meds,
        gaps,
        attest_command,
        audit_command,
        export_command,
    ):
        # An installed plugin may replace a built-in command: its carecore_cli
        # runs first (this one is trylast), so keep what it added.
        if command.name not in app.commands:
            app.add_command(command)


@hookimpl(trylast=True)
def carecore_resolve_actor(actor_id: str) -> Actor | StaffActor | None:
    """Inside a ``carecore`` command: who the actor its user named is (see :doc:`/explanation/access-control`)."""
    from carecore._cli_actor import command_actor  # noqa: PLC0415

    return command_actor(actor_id)
