"""carecore-jsonl: a notification channel that appends messages to a JSON Lines file."""

from __future__ import annotations

from carecore_jsonl.channel import JsonlChannel

__all__ = ["JsonlChannel"]
