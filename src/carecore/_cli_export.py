"""``carecore export``: a store's records, de-identified (Safe Harbor) or as a limited data set."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carecore import errors
from carecore._cli_actor import actor_option
from carecore._cli_common import check_out_folder, day_option
from carecore.deidentify import KEY_ENV, MIN_KEY_LENGTH, Deidentifier, export
from carecore.service import CareProgram

if TYPE_CHECKING:
    import pluggy


def _key(key_file: Path | None) -> str:
    """The pseudonym key: the file's text, else ``$CARECORE_DEIDENTIFY_KEY``; never shown."""
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except OSError:
            raise errors.InvalidValue(
                "cannot be read", field="--key-file", value=str(key_file)
            ) from None
    else:
        key = os.environ.get(KEY_ENV, "").strip()
        if not key:
            raise click.UsageError(
                f"--key-file or ${KEY_ENV} is needed: the pseudonym key (a secret of at least "
                f"{MIN_KEY_LENGTH} characters)"
            )
    if len(key) < MIN_KEY_LENGTH:
        short = f"the pseudonym key must have at least {MIN_KEY_LENGTH} characters"
        if key_file is not None:
            raise errors.InvalidValue(short, field="--key-file", value=str(key_file))
        raise errors.InvalidValue(short, field=f"${KEY_ENV}")
    return key


@click.command("export")
@click.option("--db", "db_url", required=True, metavar="URL", help="The store to read.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the JSON-lines files and manifest.json (made 0700; files 0600).",
)
@click.option(
    "--deidentify",
    "method",
    type=click.Choice(["safe-harbor"]),
    required=True,
    help="The de-identification standard (45 CFR 164.514(b)(2)).",
)
@click.option(
    "--limited-data-set",
    is_flag=True,
    help="Keep dates, city and five-digit ZIP codes (for a data use agreement).",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"File holding the pseudonym key (default: ${KEY_ENV}); never written to the output.",
)
@day_option("--as-of", help="The day ages are taken on (default: today, UTC).")
@actor_option
@click.pass_context
def export_command(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    db_url: str,
    out: Path,
    method: str,
    limited_data_set: bool,  # noqa: FBT001 - a click flag
    key_file: Path | None,
    as_of: dt.date | None,
    actor: str,
) -> None:
    """Export a store's patient records de-identified, for research: one JSON-lines file per kind."""
    check_out_folder(out)
    pm: pluggy.PluginManager = ctx.obj["pm"]
    day = as_of if as_of is not None else dt.datetime.now(dt.UTC).date()
    rules = Deidentifier(
        key=_key(key_file),
        method="limited-data-set" if limited_data_set else method,
        as_of=day,
    )
    with (
        CareProgram.open(db_url, actor=actor, plugin_manager=pm, create=False) as program,
        # The reason says where the records went: the audit log records the disclosure.
        program.transaction(f"research export ({rules.method}) to {out.resolve()}") as tx,
    ):
        counts = export(tx, out, rules)
    total = sum(counts.values())
    records = f"{total} record{'' if total == 1 else 's'}"
    files = f"{len(counts)} file{'' if len(counts) == 1 else 's'}"
    click.echo(f"{out}: {records} in {files} ({rules.method})")
