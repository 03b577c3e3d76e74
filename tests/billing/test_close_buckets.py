"""The month close in buckets (carecore.billing._buckets) gives the unbucketed close's files."""

from __future__ import annotations

import importlib.util
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.billing import close_files, cms_rule_set
from carecore.model import ServicePeriod

MONTH = ServicePeriod.month(2026, 1)
RULES = cms_rule_set(2026)

PATIENT_HEADER = "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
EVENT_HEADER = "patient_id,date,type,minutes,role,family\n"
HAVE_POLARS = importlib.util.find_spec("polars") is not None  # not in tests_without_polars
needs_polars = pytest.mark.skipif(not HAVE_POLARS, reason="the columnar close needs polars")
ENGINES = ["reference", pytest.param("columnar", marks=needs_polars)]


def write(folder: Path, patients: str, events: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "patients.csv").write_text(patients, encoding="utf-8")
    (folder / "events.csv").write_text(events, encoding="utf-8")
    return folder / "patients.csv", folder / "events.csv"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_row_with_the_wrong_number_of_cells_keeps_the_patients_other_rows(tmp_path, engine):
    # The short row on line 3 used to be read as a row of no patient: it split p1's rows and
    # the close dropped line 4 (15 minutes) in silence, refusing 99490 for 10 minutes.
    patients, events = write(
        tmp_path,
        PATIENT_HEADER + "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n",
        EVENT_HEADER
        + "p1,2026-01-06,time_entry,10,clinical_staff,CCM\n"
        + "p1,2026-01-07,time_entry\n"
        + "p1,2026-01-08,time_entry,15,clinical_staff,CCM\n",
    )
    summary, refused = close_files(patients, events, MONTH, RULES, None, engine=engine)
    assert summary.claim_lines == 1
    assert [(p.line, p.message, p.value) for p in refused] == [(3, "wrong number of cells", "3")]


# -- the bucketed close equals the whole close ------------------------------------------------

OUTPUTS = ("claims.csv", "claims.json", "denials.csv", "audit/packets.jsonl", "summary.json")
PIDS = ["p1", "p2", "p3", " p4", "p5", "p6", "p7", "p8"]
PATIENT_CELLS = {
    "practitioner": st.sampled_from(["dr1", "dr2", ""]),
    "conditions": st.sampled_from(["E11.65;I10", "E11.65;I10;J44.9", "I10", "E11.65;bad:x", ""]),
    "consent": st.sampled_from(["CCM=2025-11-03", "CCM=2025-11-03;PCM=2025-10-01", "", "CCM=no"]),
    "care_plan": st.sampled_from(["CCM=2025-11-03", "PCM=2025-10-01", ""]),
    "last_visit": st.sampled_from(["2025-11-03", "", "2025-13-01"]),
}


@st.composite
def patient_row(draw: st.DrawFn) -> list[str]:
    shape = draw(st.sampled_from(["good"] * 6 + ["blank", "short", "long"]))
    if shape == "blank":
        return [""] * 6
    row = [draw(st.sampled_from(PIDS))] + [draw(cell) for cell in PATIENT_CELLS.values()]
    if shape == "short":
        return row[:3]
    if shape == "long":
        return [*row, "extra"]
    return row


@st.composite
def event_row(draw: st.DrawFn) -> list[str]:
    pid = draw(st.sampled_from([*PIDS, "p9", ""]))
    shape = draw(st.sampled_from(["time"] * 6 + ["bad", "blank", "short", "care_plan"]))
    if shape == "blank":
        return [""] * draw(st.sampled_from([1, 6]))
    day = f"2026-01-{draw(st.integers(1, 31)):02d}"
    if shape == "short":
        return [pid, day, "time_entry"]
    if shape == "care_plan":
        return [pid, day, "care_plan", "", "", "CCM"]
    minutes = str(draw(st.integers(5, 40))) if shape == "time" else draw(st.sampled_from(["", "x"]))
    role = draw(st.sampled_from(["clinical_staff", "physician", "chw"]))
    return [pid, day, "time_entry", minutes, role, draw(st.sampled_from(["CCM", "PCM", "BHI"]))]


def csv_text(header: str, rows: list[list[str]], *, quoted: bool, crlf: bool) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL,
        lineterminator="\r\n" if crlf else "\n",
    )
    for row in rows:
        writer.writerow(row)
    return header.replace("\n", "\r\n" if crlf else "\n") + buffer.getvalue()


@st.composite
def csv_pair(draw: st.DrawFn) -> tuple[str, str]:
    patients = draw(st.lists(patient_row(), max_size=12))
    # At least one clean row: the columnar close fails on a patients.csv with none (see the
    # xfail test below), bucketed or not.
    good = [
        draw(st.sampled_from(PIDS)),
        "dr1",
        "E11.65;I10",
        "CCM=2025-11-03",
        "CCM=2025-11-03",
        "",
    ]
    patients.insert(draw(st.integers(0, len(patients))), good)
    events = draw(st.lists(event_row(), max_size=30))
    if draw(st.booleans()):
        events.sort(key=lambda row: row[0] if row else "")  # grouped by patient, as reports are
    crlf = draw(st.booleans())
    return (
        csv_text(PATIENT_HEADER, patients, quoted=draw(st.booleans()), crlf=crlf),
        csv_text(EVENT_HEADER, events, quoted=draw(st.booleans()), crlf=crlf),
    )


def closed(folder: Path, engine: str, buckets: int) -> tuple[Any, list[str], dict[str, bytes]]:
    out = folder / f"out-{buckets}"
    summary, refused = close_files(
        folder / "patients.csv",
        folder / "events.csv",
        MONTH,
        RULES,
        out,
        engine=engine,
        workers=1,
        buckets=buckets,
    )
    files = {name: (out / name).read_bytes() for name in OUTPUTS}
    return summary, [str(p) for p in refused], files


@pytest.mark.parametrize("engine", ENGINES)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pair=csv_pair(), buckets=st.integers(2, 5))
def test_a_close_in_buckets_writes_the_files_of_a_whole_close(tmp_path, engine, pair, buckets):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    write(folder, *pair)
    whole = closed(folder, engine, 1)
    assert closed(folder, engine, buckets) == whole
    assert not list(folder.rglob(".carecore-buckets-*"))


@needs_polars
def test_the_columnar_close_takes_a_patients_csv_of_a_header_only(tmp_path):
    # Found by the property above: the whole columnar close raised polars' SchemaError (a join
    # of a str and an i64 column) when patients.csv had no rows.
    patients, events = write(tmp_path, PATIENT_HEADER, EVENT_HEADER)
    out = tmp_path / "out"
    summary, _ = close_files(patients, events, MONTH, RULES, out, engine="columnar", buckets=1)
    assert summary.patients_evaluated == 0
    reference = tmp_path / "reference"
    close_files(patients, events, MONTH, RULES, reference, engine="reference", buckets=1)
    for name in ("claims.csv", "claims.json", "denials.csv", "summary.json"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.parametrize("engine", ENGINES)
def test_the_generated_month_closes_the_same_in_buckets(tmp_path, engine):
    import subprocess
    import sys

    generator = Path(__file__).parents[2] / "bench" / "gen_close.py"
    subprocess.run(
        [sys.executable, str(generator), str(tmp_path), "--patients", "600", "--month", "2026-01"],
        check=True,
        capture_output=True,
    )
    whole = closed(tmp_path, engine, 1)
    assert whole[0].claim_lines > 100
    assert closed(tmp_path, engine, 4) == whole


@pytest.mark.usefixtures("in_process")
@needs_polars
def test_the_polars_split_reads_in_blocks_of_whole_lines(tmp_path, monkeypatch):
    import subprocess
    import sys

    from carecore.billing import _buckets as buckets_module

    generator = Path(__file__).parents[2] / "bench" / "gen_close.py"
    subprocess.run(
        [sys.executable, str(generator), str(tmp_path), "--patients", "200", "--month", "2026-01"],
        check=True,
        capture_output=True,
    )
    whole = closed(tmp_path, "columnar", 1)
    used = []
    real = buckets_module._split_polars
    monkeypatch.setattr(
        buckets_module, "_split_polars", lambda *a: used.append(real(*a)) or used[-1]
    )
    monkeypatch.setattr(buckets_module, "_BLOCK", 1000)  # many blocks, cut mid-line
    assert closed(tmp_path, "columnar", 3) == whole
    assert len(used) == 1
    assert used[0] is not None  # the polars split took the files


def test_duplicate_patients_keep_their_first_clean_row_and_lines(tmp_path):
    # p2's first row (line 2) cannot be read, so its second row (line 4, after p1's) is the one
    # closed and its third is refused as a duplicate of line 4, as in a whole close: p2 closes
    # after p1 (were p2 placed by its first row, a bucket boundary would put it before p1).
    bad = "p2,dr1,E11.65;I10,CCM=nope,CCM=2025-11-03,2025-11-03\n"
    good = "p2,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
    patients = (
        PATIENT_HEADER + bad + good.replace("p2", "p1") + good + good + good.replace("p2", "p3")
    )
    write(tmp_path, patients, EVENT_HEADER + "p3,2026-01-06,time_entry,25,clinical_staff,CCM\n")
    whole = closed(tmp_path, "reference", 1)
    assert "patients.csv:5 column patient_id: duplicate patient (first on line 4)" in whole[1][-1]
    for buckets in (2, 3):
        assert closed(tmp_path, "reference", buckets) == whole


# -- settings, the private folder ---------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, True, "many", 2.5, 5000])
def test_a_bad_bucket_count_is_refused_by_name(tmp_path, value):
    patients, events = write(tmp_path, PATIENT_HEADER, EVENT_HEADER)
    with pytest.raises(errors.InvalidValue) as raised:
        close_files(patients, events, MONTH, RULES, None, buckets=value)
    assert raised.value.field == "buckets"


def test_auto_closes_a_large_events_file_in_buckets(tmp_path, monkeypatch):
    from carecore.billing import _buckets as buckets_module

    patients, events = write(tmp_path, PATIENT_HEADER + PATIENT_ROWS, EVENT_HEADER + EVENT_ROWS)
    assert buckets_module.bucket_count(events) == 1
    monkeypatch.setattr(buckets_module, "BUCKET_BYTES", events.stat().st_size // 3)
    assert buckets_module.bucket_count(events) == 4
    seen = []
    real = buckets_module.close_in_buckets
    monkeypatch.setattr(
        buckets_module,
        "close_in_buckets",
        lambda *a, **kw: seen.append(kw["buckets"]) or real(*a, **kw),
    )
    summary, _ = close_files(patients, events, MONTH, RULES, tmp_path / "out")
    assert seen == [4]
    assert summary.patients_evaluated == 3


PATIENT_ROWS = "".join(
    f"{pid},dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n" for pid in ("a", "b", "c")
)
EVENT_ROWS = "".join(
    f"{pid},2026-01-0{day},time_entry,{day * 4},clinical_staff,CCM\n"
    for pid in ("c", "a", "b")
    for day in (1, 2, 3)
)


@pytest.fixture
def in_process(monkeypatch):
    """Buckets close in this process (where the spies below see them), not in forked children."""
    from carecore.billing import _buckets as buckets_module

    monkeypatch.setattr(buckets_module, "_can_fork", lambda: False)


def spy_on_buckets(monkeypatch, check):
    """Run *check* (given the bucket's patients.csv) in every bucket's close."""
    from carecore.billing import _close as close_module

    real = close_module.close_files

    def spy(patients_csv, *args, **kw):
        if kw.get("buckets") == 1:
            check(Path(patients_csv))
        return real(patients_csv, *args, **kw)

    monkeypatch.setattr(close_module, "close_files", spy)


@pytest.mark.parametrize("out", ["out", None])
@pytest.mark.usefixtures("in_process")
def test_bucket_files_are_private_and_removed(tmp_path, monkeypatch, out):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    patients, events = write(
        tmp_path / "in", PATIENT_HEADER + PATIENT_ROWS, EVENT_HEADER + EVENT_ROWS
    )
    modes = []

    def check(bucket_patients: Path) -> None:
        folder = bucket_patients.parent
        modes.append(
            (
                stat.S_IMODE(folder.stat().st_mode),
                {stat.S_IMODE(f.stat().st_mode) for f in folder.glob("*.csv")},
            )
        )

    spy_on_buckets(monkeypatch, check)
    target = None if out is None else tmp_path / out
    close_files(patients, events, MONTH, RULES, target, buckets=3)
    assert modes == [(0o700, {0o600})] * 3
    assert not list((tmp_path / "tmp").iterdir())
    if target is not None:
        assert sorted(p.name for p in target.iterdir()) == [
            "audit",
            "claims.csv",
            "claims.json",
            "denials.csv",
            "summary.json",
        ]


@pytest.mark.parametrize("out", ["out", None])
@pytest.mark.usefixtures("in_process")
def test_bucket_files_are_removed_when_the_close_fails(tmp_path, monkeypatch, out):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    patients, events = write(
        tmp_path / "in", PATIENT_HEADER + PATIENT_ROWS, EVENT_HEADER + EVENT_ROWS
    )
    folders = []

    def fail_in_the_second_bucket(bucket_patients: Path) -> None:
        folders.append(bucket_patients.parent)
        if len(folders) == 2:
            assert bucket_patients.parent.is_dir()
            raise OSError("disk full")

    spy_on_buckets(monkeypatch, fail_in_the_second_bucket)
    target = None if out is None else tmp_path / out
    with pytest.raises(OSError, match="disk full"):
        close_files(patients, events, MONTH, RULES, target, buckets=3)
    assert len(folders) == 2
    assert not folders[0].exists()
    assert not list((tmp_path / "tmp").iterdir())
    if target is not None:
        assert not (target / "summary.json").exists()
        assert not list(target.glob(".carecore-buckets-*"))


def test_bad_headers_are_refused_before_any_bucket(tmp_path):
    patients, events = write(tmp_path, PATIENT_HEADER, "patient_id,date,type,minutez\n")
    with pytest.raises(errors.InvalidInput) as raised:
        close_files(patients, events, MONTH, RULES, tmp_path / "out", buckets=2)
    assert "minutez" in str(raised.value)
    assert not list((tmp_path / "out").glob(".carecore-buckets-*"))


def test_the_cli_takes_buckets(tmp_path):
    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.plugins import get_plugin_manager

    patients, events = write(tmp_path, PATIENT_HEADER + PATIENT_ROWS, EVENT_HEADER + EVENT_ROWS)
    app = make_app(get_plugin_manager(entry_points=False))
    base = ["billing", "close", "--month", "2026-01", "--patients", str(patients)]
    base += ["--events", str(events), "--no-progress"]
    bad = CliRunner().invoke(app, [*base, "--buckets", "0"])
    assert bad.exit_code == 2
    assert "--buckets='0'" in bad.output
    for buckets in ("1", "3"):
        done = CliRunner().invoke(
            app, [*base, "--buckets", buckets, "--out", str(tmp_path / buckets)]
        )
        assert done.exit_code == 0, done.output
    for name in OUTPUTS:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "3" / name).read_bytes()


@pytest.mark.usefixtures("in_process")
def test_without_polars_the_csv_module_splits_the_files(tmp_path, monkeypatch):
    from carecore.billing import _buckets as buckets_module
    from carecore.billing import _columnar as columnar

    write(tmp_path, PATIENT_HEADER + PATIENT_ROWS, EVENT_HEADER + EVENT_ROWS)
    whole = closed(tmp_path, "reference", 1)
    monkeypatch.setattr(columnar, "polars_available", lambda: False)
    used = []
    real = buckets_module._split_csv
    monkeypatch.setattr(buckets_module, "_split_csv", lambda *a: used.append(True) or real(*a))
    assert closed(tmp_path, "reference", 2) == whole
    assert used == [True]


# -- forked buckets (a process whose polars has not started, as the CLI's) --------------------

FORKED = """
import json, os, stat, sys
from pathlib import Path
from carecore.billing import _buckets as buckets, _close as close_module
from carecore.billing import close_files, cms_rule_set
from carecore.model import ServicePeriod

folder, fail = Path(sys.argv[1]), sys.argv[2] == "fail"
assert buckets._can_fork()
real = close_module.close_files
seen = folder / "seen.txt"

def spy(patients_csv, *args, **kw):
    if kw.get("buckets") == 1:
        place = Path(patients_csv).parent
        modes = sorted({oct(stat.S_IMODE(f.stat().st_mode)) for f in place.glob("*.csv")})
        with seen.open("a") as handle:
            handle.write(json.dumps([str(place), oct(stat.S_IMODE(place.stat().st_mode)), modes,
                                     os.getpid()]) + "\\n")
        if fail and len(seen.read_text().splitlines()) == 2:
            raise OSError("disk full")
    return real(patients_csv, *args, **kw)

close_module.close_files = spy
try:
    summary, refused = close_files(folder / "patients.csv", folder / "events.csv",
        ServicePeriod.month(2026, 1), cms_rule_set(2026), folder / "out", buckets=3)
    print(json.dumps({"patients": summary.patients_evaluated, "pid": os.getpid(),
                      "refused": [str(p) for p in refused]}))
except OSError as exc:
    print(json.dumps({"error": str(exc), "pid": os.getpid()}))
"""


def run_forked(folder: Path, *, fail: bool) -> tuple[dict[str, Any], list[list[Any]]]:
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", FORKED, str(folder), "fail" if fail else "ok"],
        check=True,
        capture_output=True,
        text=True,
    )
    seen = [json.loads(line) for line in (folder / "seen.txt").read_text().splitlines()]
    return json.loads(done.stdout), seen


def test_forked_buckets_are_private_and_give_the_whole_close(tmp_path):
    bad = "zz,2026-01-02,time_entry,5,clinical_staff,CCM\nb,2026-01-02,time_entry,x,chw,CCM\n"
    write(tmp_path, PATIENT_HEADER + PATIENT_ROWS, EVENT_HEADER + EVENT_ROWS + bad)
    whole = closed(tmp_path, "auto", 1)
    result, seen = run_forked(tmp_path, fail=False)
    assert result["patients"] == 3
    assert result["refused"] == whole[1]
    assert len(whole[1]) >= 2  # the bad rows map back to their lines through a child
    # Each bucket closed in a child of its own, in the private folder, its files 0600.
    assert len({pid for *_, pid in seen} | {result["pid"]}) == 4
    assert [(mode, modes) for _, mode, modes, _ in seen] == [("0o700", ["0o600"])] * 3
    assert not Path(seen[0][0]).exists()
    for name in OUTPUTS:
        assert (tmp_path / "out" / name).read_bytes() == whole[2][name]


def test_a_forked_bucket_that_fails_fails_the_close_and_leaves_nothing(tmp_path):
    write(tmp_path, PATIENT_HEADER + PATIENT_ROWS, EVENT_HEADER + EVENT_ROWS)
    result, seen = run_forked(tmp_path, fail=True)
    assert result["error"] == "disk full"
    assert len(seen) == 2
    assert not Path(seen[0][0]).exists()
    assert not list((tmp_path / "out").glob(".carecore-buckets-*"))
    assert not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.usefixtures("in_process")
@pytest.mark.parametrize("engine", ENGINES)
def test_audit_packets_name_refused_rows_by_their_original_lines(tmp_path, engine):
    # A billed patient's packet lists the patient's refused rows (file and line): the bucket's
    # file and line there would be wrong, and point into a folder that no longer exists.
    bad = "b,2026-01-02,time_entry,x,clinical_staff,CCM\nc,2026-01-05,time_entry,,chw,CCM\n"
    write(tmp_path, PATIENT_HEADER + PATIENT_ROWS, EVENT_HEADER + EVENT_ROWS + bad)
    whole = closed(tmp_path, engine, 1)
    packets = whole[2]["audit/packets.jsonl"].decode()
    assert "events.csv:11 column minutes" in packets
    for buckets in (2, 3):
        assert closed(tmp_path, engine, buckets) == whole
