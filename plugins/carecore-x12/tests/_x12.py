"""Helpers of the 837P tests: pyx12 validation and a small segment reader."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pyx12.params
import pyx12.x12n_document


def pyx12_errors(text: str) -> list[object]:
    """Validate *text* with pyx12 (x12valid's engine); the errors it reports (none: valid)."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "claims.837"
        source.write_text(text, encoding="ascii")
        report = Path(folder) / "errors.json"
        with report.open("w", encoding="utf-8") as fd_json:
            ok = pyx12.x12n_document.x12n_document(
                param=pyx12.params.params(),
                src_file=str(source),
                fd_997=None,
                fd_html=None,
                fd_json=fd_json,
            )
        errors = json.loads(report.read_text(encoding="utf-8") or "{}")
    found = _collect_errors(errors)
    if not ok and not found:
        found = ["pyx12 refused the file (see its log)"]
    return found


def _collect_errors(node: object) -> list[object]:
    out: list[object] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"errors", "err_list", "elem_errors"} and value:
                out.extend(value if isinstance(value, list) else [value])
            else:
                out.extend(_collect_errors(value))
    elif isinstance(node, list):
        for item in node:
            out.extend(_collect_errors(item))
    return out


def segments(text: str) -> list[list[str]]:
    """The segments of an 837P, each as its elements (the id first)."""
    return [s.strip().split("*") for s in text.split("~") if s.strip()]
