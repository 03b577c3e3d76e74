"""Where the read-only shared inputs live (``$CARECORE_SHARED_DIR``, else found beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``$CARECORE_SHARED_DIR``, else the ``shared`` folder beside the repository."""
    override = os.environ.get("CARECORE_SHARED_DIR")
    candidates = [Path(override)] if override else []
    candidates += [ROOT.parent / "shared", Path("/work/shared")]
    for candidate in candidates:
        if (candidate / "billing" / "scenarios.json").is_file():
            return candidate
    msg = "the shared inputs (billing/scenarios.json) were not found; set CARECORE_SHARED_DIR"
    raise FileNotFoundError(msg)
