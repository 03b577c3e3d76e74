"""A month close's output folder, all or nothing: written aside, renamed into place.

The close writes every file into a new private folder beside the output
folder (``.<name>.closing-*``). Only when the close has succeeded is the
previous output folder renamed aside and the new one renamed into its place;
files the close does not write (a README the user keeps there) are then moved
over, and the previous folder is removed. A close that fails, or is killed,
leaves the previous output exactly as it was (a killed one may also leave its
``.closing-*`` folder, which the next close does not read).
"""

from __future__ import annotations

import contextlib
import contextvars
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from carecore import errors

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["staged_output", "staging_active"]

# Set while a close writes into a staging folder, so the close it calls does not stage again.
_STAGING: contextvars.ContextVar[bool] = contextvars.ContextVar("close_staging", default=False)


def staging_active() -> bool:
    """Whether the running close already writes into a staging folder."""
    return _STAGING.get()


@contextlib.contextmanager
def staged_output(out: str | Path | None) -> Iterator[Path | None]:
    """Yield the folder to write a close into; on success it replaces *out* whole.

    None (nothing written) and a close already writing into a staging folder
    are passed through.
    """
    if out is None or _STAGING.get():
        yield None if out is None else Path(out)
        return
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise errors.InvalidValue("must be a folder", field="out", value=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.closing-", dir=target.parent))
    token = _STAGING.set(True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        _STAGING.reset(token)
    _replace(staging, target)


def _replace(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    previous = target.parent / f".{target.name}.previous-{uuid.uuid4().hex[:8]}"
    target.rename(previous)
    staging.rename(target)
    # What the close did not write stays in the folder (the user's own files).
    for entry in previous.iterdir():
        if not (target / entry.name).exists():
            entry.replace(target / entry.name)
    shutil.rmtree(previous, ignore_errors=True)
