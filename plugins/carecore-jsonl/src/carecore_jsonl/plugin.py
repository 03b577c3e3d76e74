"""Hook implementations of carecore-jsonl (registered as the ``jsonl`` entry point)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from carecore.plugins import hookimpl
from carecore_jsonl.channel import JsonlChannel

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.protocols import Channel


@hookimpl
def carecore_channels() -> Sequence[Channel]:
    """Give the ``jsonl`` channel, writing to ``$CARECORE_JSONL_PATH``."""
    return [JsonlChannel(Path(os.environ.get("CARECORE_JSONL_PATH", "carecore-outbox.jsonl")))]
