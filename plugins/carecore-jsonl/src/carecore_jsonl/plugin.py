"""Hook implementations of carecore-jsonl (registered as the ``jsonl`` entry point)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from carecore.plugins import hookimpl
from carecore.protocols import Channel

from carecore_jsonl.channel import JsonlChannel


@hookimpl
def carecore_channels() -> Sequence[Channel]:
    """Give the ``jsonl`` channel, writing to ``$CARECORE_JSONL_PATH``."""
    return [JsonlChannel(Path(os.environ.get("CARECORE_JSONL_PATH", "carecore-outbox.jsonl")))]
