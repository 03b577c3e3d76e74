"""Files only their owner can read: carecore's outputs name patients.

Every file carecore writes that may hold PHI (a close's claims, a report, a
de-identified export, a simulation's results) is created with mode 0600,
and an existing file it replaces is set to 0600 too, whatever the umask.
Folders made for such files are 0700.

>>> import stat, tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> write_private(folder / "notes.txt", "Ada Okafor")
>>> stat.S_IMODE((folder / "notes.txt").stat().st_mode) == 0o600
True
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "PRIVATE_FILE",
    "PRIVATE_FOLDER",
    "FileSequence",
    "FileValues",
    "private_folder",
    "private_open",
    "write_private",
]

_T = TypeVar("_T")

#: The mode of every file carecore writes that may hold PHI.
PRIVATE_FILE = 0o600
#: The mode of a folder carecore makes for such files.
PRIVATE_FOLDER = 0o700


def private_open(path: Path, mode: str = "w", *, exclusive: bool = False, **options: Any) -> Any:
    """Open *path* for writing, readable and writable by its owner only (0600).

    An existing file is truncated and its mode set to 0600; with *exclusive*
    an existing file is refused (``FileExistsError``). *mode* is ``"w"`` or
    ``"wb"``, or ``"a"``/``"ab"`` to append to an existing file instead of
    truncating it; *options* go to :func:`open` (``encoding``, ``newline``).
    """
    if mode.startswith("a"):
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_EXCL if exclusive else 0)
    else:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    descriptor = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
        return os.fdopen(descriptor, mode, **options)
    except BaseException:
        os.close(descriptor)
        raise


def write_private(path: Path, data: bytes | str) -> None:
    """Write *data* (text as UTF-8) to *path*, readable by its owner only (0600)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with private_open(path, "wb") as handle:
        handle.write(payload)


def private_folder(path: Path) -> None:
    """Create the folder *path* for its owner only (0700); an existing folder is left as it is.

    Missing parents are created as usual (they are the user's folders).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)


class FileSequence(Sequence[_T]):
    """A sequence read back from files as it is iterated: a subclass writes ``__iter__`` and ``__len__``.

    Indexing reads it whole (rows kept on disk are meant to be iterated, not indexed).
    """

    @overload
    def __getitem__(self, index: int) -> _T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[_T]: ...
    def __getitem__(self, index: int | slice) -> _T | Sequence[_T]:
        return tuple(self)[index]


class FileValues(FileSequence[_T]):
    """A :class:`FileSequence` equal to any sequence of the same rows (and so not hashable)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]
