"""The bucketed close's faster paths: the split's plain-file check, the merge's kernel copies."""

from __future__ import annotations

import importlib.util
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore.billing import close_files, cms_rule_set
from carecore.model import ServicePeriod

MONTH = ServicePeriod.month(2026, 1)
RULES = cms_rule_set(2026)
HAVE_POLARS = importlib.util.find_spec("polars") is not None
needs_polars = pytest.mark.skipif(not HAVE_POLARS, reason="the polars split needs polars")
PATIENT_HEADER = "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
EVENT_HEADER = "patient_id,date,type,minutes,role,family\n"
OUTPUTS = ("claims.csv", "claims.json", "denials.csv", "audit/packets.jsonl", "summary.json")


@pytest.fixture
def in_process(monkeypatch):
    """Buckets close in this process (where the spies see them), not in forked children."""
    from carecore.billing import _buckets as buckets_module

    monkeypatch.setattr(buckets_module, "_can_fork", lambda: False)


def closed(folder: Path, buckets: int, engine: str = "reference") -> dict[str, bytes]:
    out = folder / f"out-{buckets}"
    close_files(
        folder / "patients.csv",
        folder / "events.csv",
        MONTH,
        RULES,
        out,
        engine=engine,
        workers=1,
        buckets=buckets,
    )
    return {name: (out / name).read_bytes() for name in OUTPUTS}


# -- the polars split's check that a file is plain, made in its own reading ---------------------

#: Bytes that make a file plain or not: quotes, CRs, LFs (blank lines), and cells.
PIECES = st.sampled_from([b"a", b"p1", b",", b" ", b'"', b"\r", b"\n", b"\r\n", b"\n\n"])


@needs_polars
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.lists(PIECES, max_size=4).map(b"".join),
    body=st.lists(PIECES, max_size=40).map(b"".join),
    block=st.sampled_from([3, 7, 64, 1 << 20]),
)
def test_the_split_finds_the_files_the_columnar_reader_finds_plain(head, body, block):
    # The split checks plainness in the blocks it reads anyway; it must rule as _scan rules
    # over the whole file (blocks cut anywhere, CRLF or LF, blank lines across a cut).
    import polars as pl

    from carecore.billing import _buckets as buckets_module
    from carecore.billing._columnar import _scan

    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "f.csv"
        file.write_bytes(b"patient_id,x" + head + b"\n" + body)
        plain = _scan(file) is not None
        saved = buckets_module._BLOCK
        buckets_module._BLOCK = block
        try:
            list(buckets_module._blocks(file, plain=True))
        except buckets_module._NotPlain:
            taken = False
        except (ValueError, pl.exceptions.PolarsError):
            # Polars did not read the lines as counted: the csv module splits such a file.
            assert not plain
            taken = False
        else:
            taken = True
        finally:
            buckets_module._BLOCK = saved
    assert taken == plain


@needs_polars
@pytest.mark.usefixtures("in_process")
@pytest.mark.parametrize(
    "events",
    [
        b"p1,2026-01-06,time_entry,25,clinical_staff,CCM\r\np2,2026-01-06,x,1,a,b\r\n",
        b"p1,2026-01-06,time_entry,25,clinical_staff,CCM\r\np2,2026-01-06,x,1,a,b\n",
        b"p1,2026-01-06,time_entry,25,clinical_staff,CCM\r\np2,2026-01-06,x,1,a,b\r",
        b"p1,2026-01-06,time_entry,25,clinical_staff,CCM\n\np2,2026-01-06,x,1,a,b\n",
        b'p1,2026-01-06,time_entry,25,clinical_staff,"CCM"\np2,2026-01-06,x,1,a,b\n',
    ],
    ids=["crlf", "mixed", "lone-cr-at-end", "blank-line", "quoted"],
)
def test_a_file_polars_does_not_take_is_split_by_the_csv_module(tmp_path, monkeypatch, events):
    from carecore.billing import _buckets as buckets_module
    from carecore.billing._columnar import _scan

    patients = (
        PATIENT_HEADER + "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
        "p2,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
    )
    (tmp_path / "patients.csv").write_text(patients, encoding="utf-8")
    (tmp_path / "events.csv").write_bytes(EVENT_HEADER.encode() + events)
    whole = closed(tmp_path, 1)
    used = []
    real = buckets_module._split_polars
    monkeypatch.setattr(
        buckets_module, "_split_polars", lambda *a: used.append(real(*a)) or used[-1]
    )
    assert closed(tmp_path, 2) == whole
    assert (used[0] is not None) == (_scan(tmp_path / "events.csv") is not None)


# -- the merge: the first bucket's files moved, the others appended by the kernel ---------------

PATIENTS = "".join(
    f"p{n},dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n" for n in range(1, 7)
)
#: p1 and p2 (the first bucket of three) bill nothing; the later ones bill.
EVENTS = "".join(
    f"p{n},2026-01-0{n},time_entry,{5 if n < 3 else 25},clinical_staff,CCM\n" for n in range(1, 7)
)


def fallback(_source: int, _target: int, _count: int, _offset: int) -> int:
    raise OSError("not offered here")


@pytest.mark.parametrize("refused", ["none", "kernel-copy", "sendfile", "read-write"])
def test_merged_files_are_the_whole_close_however_they_are_copied(tmp_path, monkeypatch, refused):
    from carecore.billing import _buckets as buckets_module

    (tmp_path / "patients.csv").write_text(PATIENT_HEADER + PATIENTS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENT_HEADER + EVENTS, encoding="utf-8")
    whole = closed(tmp_path, 1)
    assert whole["claims.json"].count(b'"patient_id"') == 4  # billed: p3 to p6, not p1, p2
    if refused in {"kernel-copy", "sendfile", "read-write"}:
        monkeypatch.setattr(buckets_module, "_kernel_copy_file_range", fallback)
    if refused in {"sendfile", "read-write"}:
        monkeypatch.setattr(buckets_module, "_kernel_sendfile", fallback)
    for buckets in (2, 3, 6):
        assert closed(tmp_path, buckets) == whole, buckets
        for name in OUTPUTS:
            mode = stat.S_IMODE((tmp_path / f"out-{buckets}" / name).stat().st_mode)
            assert mode == 0o600, name


def test_a_copy_cut_short_by_the_kernel_goes_on_where_it_stopped(tmp_path, monkeypatch):
    import os

    from carecore.billing import _buckets as buckets_module

    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(bytes(range(256)) * 40)
    target.write_bytes(b"head")

    def a_little(source_fd: int, target_fd: int, count: int, offset: int) -> int:
        return int(os.copy_file_range(source_fd, target_fd, min(count, 100), offset))

    monkeypatch.setattr(buckets_module, "_kernel_copy_file_range", a_little)
    with source.open("rb") as reading, buckets_module._opened_at_end(target) as writing:
        writing.write(b"+")
        buckets_module._copy_range(reading, writing, 10, 10_000)
        writing.write(b"!")
    assert target.read_bytes() == b"head+" + source.read_bytes()[10:10_000] + b"!"


# -- the split's routing: a block that goes whole to one bucket is written as read --------------


@needs_polars
@pytest.mark.usefixtures("in_process")
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("block", [200, 5000, 1 << 20])
def test_bucket_files_hold_the_lines_as_polars_writes_them(tmp_path, monkeypatch, line_end, block):
    # Grouped rows send whole blocks to one bucket, written from the bytes read; the other
    # blocks go line by line through polars. Either way a bucket file's lines end in LF, the
    # last one too, so each bucket closes as the whole file would (columnar, same files).
    import subprocess
    import sys

    from carecore.billing import _buckets as buckets_module
    from carecore.billing import _close as close_module

    generator = Path(__file__).parents[2] / "bench" / "gen_close.py"
    subprocess.run(
        [sys.executable, str(generator), str(tmp_path), "--patients", "120", "--month", "2026-01"],
        check=True,
        capture_output=True,
    )
    for name in ("patients.csv", "events.csv"):
        text = (tmp_path / name).read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n")
        (tmp_path / name).write_bytes(text.replace(b"\n", line_end.encode()))  # no final line end
    whole = closed(tmp_path, 1, "columnar")
    seen: list[bytes] = []
    real = close_module.close_files

    def spy(patients_csv, events_csv, *args, **kw):
        if kw.get("buckets") == 1:
            seen.extend((Path(patients_csv).read_bytes(), Path(events_csv).read_bytes()))
        return real(patients_csv, events_csv, *args, **kw)

    monkeypatch.setattr(close_module, "close_files", spy)
    monkeypatch.setattr(buckets_module, "_BLOCK", block)
    assert closed(tmp_path, 3, "columnar") == whole
    assert len(seen) == 6
    rows = sorted(
        row for text in seen for row in text.decode().split("\n")[1:-1]
    )  # each bucket file: a header, rows, one LF at the end
    assert all(text.endswith(b"\n") and b"\r" not in text for text in seen)
    originals = sorted(
        row
        for name in ("patients.csv", "events.csv")
        for row in (tmp_path / name).read_text().replace("\r\n", "\n").split("\n")[1:]
    )
    assert rows == originals


# -- review fixes: no silently short merge, a bad byte refused by name, all or nothing ----------


def copies_nothing(_source: int, _target: int, _count: int, _offset: int) -> int:
    return 0  # some file systems answer a kernel copy so before the end


@pytest.mark.parametrize("refused", ["kernel-copy", "both"])
def test_a_kernel_copy_that_copies_nothing_hands_over_to_the_next_way(
    tmp_path, monkeypatch, refused
):
    # Before, a copy answering 0 ended the append there: buckets 2 and 3 were missing
    # from every file while summary.json counted them.
    from carecore.billing import _buckets as buckets_module

    (tmp_path / "patients.csv").write_text(PATIENT_HEADER + PATIENTS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENT_HEADER + EVENTS, encoding="utf-8")
    whole = closed(tmp_path, 1)
    monkeypatch.setattr(buckets_module, "_kernel_copy_file_range", copies_nothing)
    if refused == "both":
        monkeypatch.setattr(buckets_module, "_kernel_sendfile", copies_nothing)
    assert closed(tmp_path, 3) == whole


def test_a_bucket_file_shorter_than_asked_is_an_error_not_a_short_output(tmp_path):
    from carecore.billing import _buckets as buckets_module

    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(b"x" * 100)
    target.write_bytes(b"")
    with (
        source.open("rb") as reading,
        buckets_module._opened_at_end(target) as writing,
        pytest.raises(OSError, match="40 bytes"),
    ):
        buckets_module._copy_range(reading, writing, 0, 140)


def test_a_file_that_is_not_utf8_is_refused_by_name_in_buckets_as_whole(tmp_path):
    from carecore import errors

    (tmp_path / "patients.csv").write_text(PATIENT_HEADER + PATIENTS, encoding="utf-8")
    (tmp_path / "events.csv").write_bytes(EVENT_HEADER.encode() + b"p1,\xff\n")
    refusals = []
    for buckets in (1, 2):
        with pytest.raises(errors.InvalidInput) as raised:
            closed(tmp_path, buckets)
        refusals.append(str(raised.value))
    assert refusals[1] == refusals[0]
    assert "UTF-8" in refusals[0]


def test_close_in_buckets_called_itself_keeps_the_previous_output_when_it_fails(
    tmp_path, monkeypatch
):
    from carecore.billing import _buckets as buckets_module
    from carecore.billing._buckets import close_in_buckets

    (tmp_path / "patients.csv").write_text(PATIENT_HEADER + PATIENTS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENT_HEADER + EVENTS, encoding="utf-8")
    out = tmp_path / "out"
    close_in_buckets(
        tmp_path / "patients.csv", tmp_path / "events.csv", MONTH, RULES, out, buckets=3
    )
    (out / "README.txt").write_text("the practice's own note", encoding="utf-8")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    calls = []

    def fails_later(*args):
        calls.append(args)
        if len(calls) > 2:
            raise OSError(28, "No space left on device")
        return real(*args)

    real = buckets_module._copy_range
    monkeypatch.setattr(buckets_module, "_copy_range", fails_later)
    with pytest.raises(OSError, match="No space"):
        close_in_buckets(
            tmp_path / "patients.csv", tmp_path / "events.csv", MONTH, RULES, out, buckets=3
        )
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv", "out", "patients.csv"]
