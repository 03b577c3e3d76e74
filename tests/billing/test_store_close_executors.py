"""The store close on any executor writes the files and stores the lines of the local close.

A Dask ``LocalCluster`` bound to 127.0.0.1 with two worker processes runs
the partitions both through the API (``close_store(..., executor=...)``) and
through ``carecore billing close --db URL --executor dask --scheduler
ADDRESS``; a process pool runs them too. Each gives, byte for byte, the
files of the close in this process.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from carecore.billing import close_store, cms_rule_set
from carecore.cli import make_app
from carecore.executors import get_executor
from carecore.plugins import get_plugin_manager

from .test_month_facts import MARCH
from .test_store_partitions import _files, _store, _stored


@pytest.fixture
def program(tmp_path):
    prog = _store(f"sqlite:///{tmp_path / 'store.db'}")
    yield prog
    prog.close()


def _local(program, out):
    close_store(program, MARCH, cms_rule_set(2026), out, workers=1)
    return _files(out), _stored(program)


def test_a_process_pool_closes_as_this_process_does(program, tmp_path):
    expected = _local(program, tmp_path / "local")
    with get_executor("process", workers=2) as pool:
        close_store(
            program, MARCH, cms_rule_set(2026), tmp_path / "pool", executor=pool, partition_size=2
        )
    assert (_files(tmp_path / "pool"), _stored(program)) == expected


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # The scheduler's HTTP routes on a free port: another cluster may hold 8787.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    ) as running:
        yield running


def test_dask_closes_as_this_process_does(program, tmp_path, cluster):
    expected = _local(program, tmp_path / "local")
    with get_executor("dask", scheduler=cluster.scheduler_address) as dask:
        assert dask.workers == 2
        summary = close_store(
            program, MARCH, cms_rule_set(2026), tmp_path / "dask", executor=dask, partition_size=2
        )
    assert summary.patients_evaluated == 7
    assert (_files(tmp_path / "dask"), _stored(program)) == expected
    # The parts came back as text: no part folders were written beside the output.
    assert not (tmp_path / "dask" / ".parts").exists()


def test_billing_close_on_a_dask_scheduler_writes_the_local_close_s_files(tmp_path, cluster):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store(url).close()
    app = make_app(get_plugin_manager(entry_points=False))
    base = ["billing", "close", "--month", "2026-03", "--db", url, "--no-progress"]
    local = CliRunner().invoke(app, [*base, "--workers", "1", "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    on_dask = CliRunner().invoke(
        app,
        [
            *base,
            "--executor",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
            "--out",
            str(tmp_path / "dask"),
        ],
    )
    assert on_dask.exit_code == 0, on_dask.output
    assert _files(tmp_path / "dask") == _files(tmp_path / "local")


def test_executor_options_are_for_a_store_close(tmp_path):
    app = make_app(get_plugin_manager(entry_points=False))
    (tmp_path / "p.csv").write_text("patient_id\n", encoding="utf-8")
    (tmp_path / "e.csv").write_text("patient_id\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "billing",
            "close",
            "--month",
            "2026-03",
            "--patients",
            str(tmp_path / "p.csv"),
            "--events",
            str(tmp_path / "e.csv"),
            "--executor",
            "dask",
        ],
    )
    assert result.exit_code == 2
    assert "--executor" in result.output
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store(url).close()
    bad = CliRunner().invoke(
        app, ["billing", "close", "--month", "2026-03", "--db", url, "--executor", "slurm"]
    )
    assert bad.exit_code == 2
    assert "executor='slurm'" in bad.output
