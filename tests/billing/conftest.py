"""The month-close tests run once per close engine, through one fixture.

As cattrs runs its suite once per converter class, every test that takes
``close_engine`` runs three times:

* ``engine``: the reference close with its fast path switched off, so every
  patient-month goes through :func:`carecore.billing.evaluate`;
* ``fast``: the reference close as shipped (time-only months through the
  fast path's cache of engine results);
* ``columnar``: the polars close (skipped without polars).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

CLOSE_ENGINES = ("engine", "fast", "columnar")


class CloseEngine:
    """One close engine as the tests drive it: through the library or the CLI."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def option(self) -> str:
        """The ``--engine`` value the CLI takes for this engine."""
        return "columnar" if self.name == "columnar" else "reference"

    def close(
        self,
        patients_csv: Path,
        events_csv: Path,
        month: Any,
        rules: Any,
        out: Path | None,
        **kw: Any,
    ) -> Any:
        """:func:`carecore.billing.close_files` with this engine."""
        from carecore.billing import close_files

        return close_files(patients_csv, events_csv, month, rules, out, engine=self.option, **kw)

    def __repr__(self) -> str:
        return self.name


def switch_off_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the reference close evaluate every patient-month with the engine."""
    from carecore.billing import _close as close_module

    monkeypatch.setattr(close_module._LightParser, "time_only", lambda self, rows, patient: None)
    monkeypatch.setattr(
        close_module,
        "_close_idle",
        lambda row, fast, month, rules: close_module._close_one(row, [], [], month, rules),
    )


@pytest.fixture(params=CLOSE_ENGINES)
def close_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> CloseEngine:
    """Each close engine in turn (see the module's docstring)."""
    name = request.param
    if name == "columnar":
        pytest.importorskip("polars")
    if name == "engine":
        switch_off_the_fast_path(monkeypatch)
    return CloseEngine(name)
