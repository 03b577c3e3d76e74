"""Issue 23: carecore report's per-patient rows wait on disk (sorted runs, merged when written).

The files of a report built with its rows on disk are the files of today's
report, the whole store read at once (byte for byte: every CSV, page and
plot), for 1 and 7 partitions, with and without names; the runs are private
and their folder is gone when the report is written, when it fails, and when
the process is ended by SIGTERM.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.metrics import program_report
from carecore.model import ServicePeriod
from carecore.report import write_report
from carecore.report._build import build_report, care_sections, care_tables
from carecore.service import CareProgram

pytest.importorskip("matplotlib", reason="the report's plots need matplotlib (carecore[report])")
pytest.importorskip("jinja2", reason="the report's pages need jinja2 (carecore[report])")

SMALL = ["--patients", "40", "--months", "6", "--last-month", "2026-06", "--no-progress"]
PERIOD = ServicePeriod(
    start=ServicePeriod.month(2026, 1).start, end=ServicePeriod.month(2026, 6).end
)
OPTIONS = {
    "period": PERIOD,
    "as_of": PERIOD.end,
    "time_zone": "America/Chicago",
    "intervention": ServicePeriod.month(2026, 4).start,
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The demo's store (40 patients over 6 months: worklists of several owners, A1c, TCM)."""
    from carecore.plugins import get_plugin_manager

    folder = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{folder / 'demo.db'}"
    result = CliRunner().invoke(
        make_app(get_plugin_manager()),
        ["demo", *SMALL, "--db", url, "--out", str(folder / "report")],
    )
    assert result.exit_code == 0, result.output
    return url


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _today(url: str, out: Path, *, phi: bool) -> dict[str, bytes]:
    """Today's report: the whole store read at once, every row in memory."""
    with CareProgram.open(url, actor="test") as program:
        care = care_tables(program, PERIOD.start, PERIOD.end, reason="test")
        whole = program_report(program.program_data(), **OPTIONS)
        write_report(
            whole,
            out,
            extra=care,
            sections=care_sections(care, PERIOD.start, PERIOD.end),
            phi=phi,
        )
    return _files(out)


@pytest.mark.parametrize("phi", [True, False], ids=["names", "ids"])
def test_the_spooled_report_writes_todays_files(store, tmp_path, phi):
    today = _today(store, tmp_path / "today", phi=phi)
    # The store has what the runs hold: worklists of several owners, eligibility, risk.
    assert len([n for n in today if n.startswith("worklist-")]) > 1
    assert today["eligibility-by-rule.csv"].count(b"\n") > 10
    for partitions in (1, 7):
        out = tmp_path / f"spooled-{partitions}"
        with CareProgram.open(store, actor="test") as program:
            result, files, _ = build_report(
                program, out, reason="test", phi=phi, partitions=partitions, **OPTIONS
            )
        spooled = _files(out)
        assert sorted(spooled) == sorted(today), partitions
        for name, data in today.items():
            assert spooled[name] == data, (partitions, name)
        assert files.index == out / "index.html"
        # The rows went to the files: the report returned holds its measures, not them.
        assert result.measures
        assert result.eligibility == ()
        assert all(not w.items for w in result.worklists)


def test_the_runs_are_private_and_gone_once_written(store, tmp_path, monkeypatch):
    from carecore.report import _spool

    seen: list[tuple[Path, int, list[int]]] = []
    real = _spool.Runs.add

    def add(self, rows):
        real(self, rows)
        folder = Path(self._folder)
        modes = [stat.S_IMODE(f.stat().st_mode) for f in folder.iterdir()]
        seen.append((folder, stat.S_IMODE(folder.stat().st_mode), modes))

    monkeypatch.setattr(_spool.Runs, "add", add)
    with CareProgram.open(store, actor="test") as program:
        build_report(program, tmp_path / "out", reason="test", partitions=3, **OPTIONS)
    assert seen
    folders = {folder for folder, _, _ in seen}
    assert len(folders) == 1
    assert all(mode == 0o700 and set(files) == {0o600} for _, mode, files in seen)
    assert not any(f.exists() for f in folders)


def test_a_failed_report_leaves_no_runs(store, tmp_path, monkeypatch):
    from carecore.report import _build, _spool

    live: list[set[str]] = []

    class Boom(Exception):
        pass

    def fail(*args, **kwargs):
        live.append(set(_spool._LIVE))
        raise Boom

    monkeypatch.setattr(_build, "write_report", fail)
    with CareProgram.open(store, actor="test") as program, pytest.raises(Boom):
        build_report(program, tmp_path / "out", reason="test", partitions=2, **OPTIONS)
    (folders,) = live
    assert len(folders) == 1
    assert not any(Path(f).exists() for f in folders)
    assert not _spool._LIVE


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="POSIX signals")
def test_a_report_ended_by_sigterm_leaves_no_runs(tmp_path):
    """A process ended by SIGTERM while its runs are on disk removes them, and still ends by it."""
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        from carecore.report._spool import report_spool

        with report_spool() as spool:
            runs = spool.runs("rows", key=lambda n: n)
            runs.add([1, 2, 3])
            print(spool.folder, flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        sys.exit(3)  # not reached
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    folder = done.stdout.strip()
    assert folder
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert not Path(folder).exists()


def test_a_handler_set_before_still_runs_after_the_runs_are_removed(tmp_path):
    script = textwrap.dedent(
        """
        import os, signal, sys
        from carecore.report._spool import report_spool

        def mine(signum, frame):
            print("mine", flush=True)
            sys.exit(7)

        signal.signal(signal.SIGTERM, mine)
        with report_spool() as spool:
            print(spool.folder, flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    folder, said = done.stdout.split()
    assert said == "mine"
    assert done.returncode == 7
    assert not Path(folder).exists()


def test_runs_merge_in_order_and_keep_few_files(monkeypatch):
    """Many runs read back merged, by group too; runs of one level are merged as they pile up."""
    from carecore.report import _spool

    monkeypatch.setattr(_spool, "CHUNK", 2)
    monkeypatch.setattr(_spool, "FAN_IN", 3)
    rows = [(owner, n) for owner in "abc" for n in range(40)]
    with _spool.report_spool() as spool:
        runs = spool.runs("rows", key=lambda r: r, group=lambda r: r[0])
        for part in range(20):  # 20 runs, each a sorted share of the rows
            runs.add([r for r in rows if r[1] % 20 == part])
            assert len(list(Path(spool.folder).iterdir())) <= 2 * 3
        assert list(runs) == rows
        assert list(runs) == rows  # as often as asked
        assert len(runs) == len(rows)
        assert list(runs.group("b")) == [r for r in rows if r[0] == "b"]
        assert len(runs.group("b")) == 40
        assert len(runs.group("z")) == 0
        assert not list(runs.group("z"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_ended_by_sigterm_leaves_the_runs_of_its_parent(tmp_path):
    """A process pool's worker forked while the runs are on disk never removes them."""
    script = textwrap.dedent(
        """
        import os, signal, sys
        from carecore.report._spool import report_spool

        with report_spool() as spool:
            child = os.fork()
            if child == 0:
                os.kill(os.getpid(), signal.SIGTERM)
                os._exit(9)  # not reached
            _, status = os.waitpid(child, 0)
            print(spool.folder, os.WIFSIGNALED(status), os.path.isdir(spool.folder), flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    folder, signalled, there = done.stdout.split()
    assert done.returncode == 0, done.stderr
    assert signalled == "True"
    assert there == "True"
    assert not Path(folder).exists()
