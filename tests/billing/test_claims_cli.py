"""``carecore billing claims`` in the core: finds writers through the hook, refuses bad input."""

from __future__ import annotations

import io

import pendulum
import pytest
from click.testing import CliRunner

from carecore.billing.claims import ClaimBatch, person_name
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager, hookimpl


class _Lines:
    """A claim writer listing each claim's patient and total (a plugin's stand-in)."""

    id = "lines"

    def write(self, batch: ClaimBatch, out: io.BufferedIOBase, *, created: pendulum.DateTime):
        out.writelines(f"{claim.patient.id} {claim.total}\n".encode() for claim in batch.claims)


class _Plugin:
    @hookimpl
    def carecore_claim_writers(self):
        return [_Lines()]


def _run(*args, writer=False):
    pm = get_plugin_manager(entry_points=False)
    if writer:
        pm.register(_Plugin(), name="lines")
    return CliRunner().invoke(make_app(pm), ["billing", "claims", *args])


def test_an_uninstalled_format_exits_2_naming_the_installed_ones(tmp_path):
    result = _run("--db", "sqlite:///x.db", "--month", "2026-03", "--out", str(tmp_path / "c"))
    assert result.exit_code == 2
    assert "format='x12'" in result.output
    assert "installed: none" in result.output
    result = _run(
        "--db", "sqlite:///x.db", "--month", "2026-03", "--format", "x12",
        "--out", str(tmp_path / "c"), writer=True,
    )  # fmt: skip
    assert "installed: lines" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13", "--db", "sqlite:///x.db"], "--month"),
        (["--month", "2026-03"], "--db URL"),
        (["--month", "2026-03", "--db", "sqlite:///x.db", "--close", "."], "--db URL"),
        (["--month", "2026-03", "--close", "."], "--practice"),
        (["--month", "2026-03", "--db", "sqlite:///x.db", "--patients", "p.csv"], "--patients"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, args, message):
    result = _run(*args, "--out", str(tmp_path / "c"), writer=True)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "c").exists()


def test_a_missing_store_exits_2(tmp_path):
    url = f"sqlite:///{tmp_path / 'none.db'}"
    result = _run("--db", url, "--month", "2026-03", "--format", "lines",
                  "--out", str(tmp_path / "c"), writer=True)  # fmt: skip
    assert result.exit_code == 2
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("Dr. Ana Ruiz", ("Ruiz", "Ana")),
        ("Jin Park, RN", ("Park", "Jin")),
        ("Maria de la Cruz", ("Cruz", "Maria de la")),
        ("Ruiz", ("Ruiz", "")),
    ],
)
def test_person_name_splits_a_display_name(name, split):
    assert person_name(name) == split


def test_a_store_that_does_not_exist_is_named_by_db(tmp_path, monkeypatch):
    # As every other command says it (docs/reference/errors.md), not by the library's url=.
    monkeypatch.chdir(tmp_path)
    url = "sqlite:///nope/x.db"
    result = _run(
        "--db", url, "--month", "2026-03", "--format", "lines", "--out", str(tmp_path / "c"),
        writer=True,
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"--db={url!r}" in result.output
    assert "url=" not in result.output
    app = make_app(get_plugin_manager(entry_points=False))
    close = CliRunner().invoke(app, ["billing", "close", "--db", url, "--month", "2026-03"])
    assert close.exit_code == 2
    assert f"--db={url!r}" in close.output
