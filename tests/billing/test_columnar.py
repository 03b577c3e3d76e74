"""The columnar close writes the reference close's files, byte for byte, and refuses the same rows.

The reference is the pure-Python close (read_patients + run_close, one
process), which shares no code with the columnar path's column checks, key
building, re-dating or text building.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

pl = pytest.importorskip("polars")

from carecore.billing import _columnar as columnar  # noqa: E402
from carecore.billing import cms_rule_set  # noqa: E402
from carecore.billing._close import read_patients, run_close  # noqa: E402
from carecore.billing.rules import DateOfService, Switches  # noqa: E402
from carecore.model import ServicePeriod  # noqa: E402

FILES = ("claims.csv", "claims.json", "denials.csv", "summary.json", "audit/packets.jsonl")
MONTH = ServicePeriod.month(2026, 1)

PATIENT_HEADER = (
    "patient_id,practitioner,credential,setting,conditions,consent,care_plan,"
    "established,last_visit,qmb,date_of_death,primary_care_focal_point"
)
cells = {
    "practitioner": ["dr1", "dr1", "dr2", " dr1", ""],
    "credential": ["", "MD", "MD", "NP", "md", "XX", "DO"],
    "setting": ["", "", "physician_office", "rhc"],
    "conditions": [
        "E11.65;I10",
        "E11.65;I10",
        "E11.65",
        "F33.1;I10",
        "I10:6;E11.65:2",
        "E11.65;;I10",
        "bad:x",
        "",
        "F41.1;F33.1:24",
        "E11.65;E11.9:24",  # one disease, two codes: the reference code closes it
        "I50;I10",  # a category code, not billable: the reference code closes it
    ],
    "consent": [
        "CCM=2025-11-03",
        "CCM=2025-11-03;RPM=2025-10-01;RTM=2026-01-15",
        "",
        "CCM=2026-01-15;BHI=2025-01-01",
        "PCM=2025-06-01",
        "CCM=2026-13-01",
        "CCM=2027-01-01",
        "BHI=2024-02-29;PCM=2026-01-31",
        "XYZ=2025-01-01",
    ],
    "care_plan": [
        "CCM=2025-11-03",
        "CCM=2025-11-03;PCM=2025-01-01",
        "",
        "CCM=2026-01-20;PCM=2025-01-01",
        "BHI=2025-05-05",
        "CCM=2026-02-01",
    ],
    "established": ["", "true", "false", "maybe"],
    "last_visit": ["2025-11-03", "2025-02-28", "", "2024-01-01", "2026-02-30"],
    "qmb": ["", "false", "true"],
    "date_of_death": ["", "", "", "2026-01-10", "2025-12-01"],
    "primary_care_focal_point": ["", "true", "false"],
}
EVENT_HEADER = (
    "patient_id,date,type,minutes,role,credential,practitioner,family,interactive,activity"
)
event_cells = {
    "date": [
        "2026-01-06",
        "2026-01-06",
        "2026-01-20",
        "2026-01-31",
        "2026-01-01",
        "2025-12-31",
        "2026-02-01",
        "2026-1-6",
    ],
    "type": ["time_entry"] * 12 + ["interactive_contact", "bogus"],
    "minutes": ["25", "5", "5", "12", "20", "31", "61", "0", "ten", "1441", ""],
    "role": ["clinical_staff"] * 3
    + ["physician", "qhp", "bh_care_manager", "auxiliary", "non_clinical", "doctor"],
    "credential": ["", "RN", "MD", "md", "XX", "LPN", "LCSW", "NP", "CHW"],
    "practitioner": ["", "", "", "dr1", "dr2"],
    "family": ["CCM"] * 4 + ["PCM", "BHI", "RPM", ""],
    "interactive": ["", "true", "false", "True", "yes"],
    "activity": ["", "call", "review"],
}


#: Columns a TCM episode's rows fill (blank on the other rows); med_rec_on is in some headers.
TCM_COLUMNS = ("mode", "successful", "kind", "mdm", "from_setting", "to_setting")
MED_REC_CELLS = ["", "", "2026-01-05", "2026-01-08", "2026-01-12", "2026-01-27", "2026-13-01"]


def _day(day: int) -> str:
    return f"2026-01-{day:02d}"


@st.composite
def tcm_rows(draw: st.DrawFn, pid: str, *, med_rec: bool) -> list[dict[str, str]]:
    """A discharge, maybe a contact and a visit: what the TCM rule and its med-rec check read."""
    day = draw(st.integers(2, 16))
    discharge = {
        "patient_id": pid,
        "date": _day(day),
        "type": "discharge",
        "from_setting": draw(st.sampled_from(["inpatient_acute", "inpatient_acute", "ed"])),
        "to_setting": draw(st.sampled_from(["home", "home", "snf"])),
    }
    if med_rec:
        discharge["med_rec_on"] = draw(st.sampled_from(MED_REC_CELLS))
    rows = [discharge]
    if draw(st.integers(0, 3)):  # most episodes have their contact
        rows.append(
            {
                "patient_id": pid,
                "date": _day(day + draw(st.integers(0, 3))),
                "type": "interactive_contact",
                "mode": "phone",
                "successful": draw(st.sampled_from(["true", "true", "false"])),
                "role": "clinical_staff",
                "family": "TCM",
            }
        )
    visit = {
        "patient_id": pid,
        "date": _day(day + draw(st.integers(1, 15))),
        "type": "face_to_face_visit",
        "kind": "tcm_f2f",
        "mdm": draw(st.sampled_from(["high", "moderate", "low"])),
    }
    if med_rec and draw(st.booleans()):
        visit["med_rec_on"] = draw(st.sampled_from(MED_REC_CELLS))  # read by discharges only
    rows.append(visit)
    return rows


#: Columns device readings fill (blank on the other rows).
DEVICE_COLUMNS = ("period_start", "period_end", "days_with_data", "device", "rtm_system")


@st.composite
def device_rows(draw: st.DrawFn, pid: str) -> list[dict[str, str]]:
    """Device readings, with management time: periods on and across the month's edges, 15/16 days."""
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        start, end = draw(
            st.sampled_from(
                [
                    ("2026-01-01", "2026-01-30"),
                    ("2026-01-01", "2026-01-30"),
                    ("2025-12-03", "2026-01-01"),
                    ("2026-01-31", "2026-03-01"),
                    ("2026-01-10", "2026-02-08"),
                    ("2025-11-01", "2025-11-30"),
                ]
            )
        )
        family = draw(st.sampled_from(["RPM", "RPM", "RTM"]))
        rows.append(
            {
                "patient_id": pid,
                "date": end,
                "type": "device_readings",
                "family": family,
                "period_start": start,
                "period_end": end,
                "days_with_data": draw(st.sampled_from(["16", "15", "2", "1", "28", "16"])),
                "device": draw(st.sampled_from(["bp_cuff", "scale"])),
                "rtm_system": draw(st.sampled_from(["", "respiratory", "cbt"]))
                if family == "RTM"
                else "",
                "practitioner": draw(st.sampled_from(["", "", "", "dr1", "dr2"])),
            }
        )
        rows.extend(
            {
                "patient_id": pid,
                "date": draw(st.sampled_from(["2026-01-01", "2026-01-15", "2026-01-31"])),
                "type": "time_entry",
                "minutes": draw(st.sampled_from(["10", "20", "5"])),
                "role": draw(st.sampled_from(["clinical_staff", "physician", "auxiliary"])),
                "family": family,
                "interactive": draw(st.sampled_from(["true", "false", ""])),
            }
            for _ in range(draw(st.integers(0, 3)))
        )
    return rows


CLEAN = {
    "type": {"time_entry"},
    "minutes": {"25", "5", "12", "20", "31", "61"},
    "role": {"clinical_staff", "physician", "qhp", "bh_care_manager", "auxiliary"},
    "family": {"CCM", "PCM", "BHI"},
    "practitioner": {"", "dr1"},
}


@st.composite
def csv_pairs(draw: st.DrawFn) -> tuple[str, str]:
    clean = draw(st.booleans())  # half the pairs bill a lot: good rows, clean time entries
    pids = draw(
        st.lists(
            st.sampled_from([f"p{i}" for i in range(1, 9)] + ["", "q-1", "p\u00e9"]),
            min_size=1,
            max_size=8,
            unique=True,
        )
    )
    rows = [PATIENT_HEADER]
    rows.extend(
        ",".join(
            [
                pid,
                *(
                    draw(st.sampled_from(values[: 2 if clean else None]))
                    for values in cells.values()
                ),
            ]
        )
        for pid in pids
    )
    # Some files carry TCM episodes, and some of those record medication reconciliation.
    tcm = draw(st.booleans())
    med_rec = tcm and draw(st.booleans())
    # Some carry device readings (RPM, RTM), months the engine decides.
    devices = draw(st.booleans())
    header = [
        *EVENT_HEADER.split(","),
        *(TCM_COLUMNS if tcm else ()),
        *(("med_rec_on",) * med_rec),
        *(DEVICE_COLUMNS if devices else ()),
    ]
    events = [",".join(header)]
    names = [*pids, "p9", ""]
    for _ in range(draw(st.integers(0, 30))):
        pid = draw(st.sampled_from(pids if clean else names))
        row = {"patient_id": pid}
        for name, choices in event_cells.items():
            values = choices
            if clean and name in {"type", "minutes", "role", "family", "practitioner"}:
                values = [v for v in values if v in CLEAN[name]]
            row[name] = draw(st.sampled_from(values))
        events.append(",".join(row.get(name, "") for name in header))
    if tcm:
        for pid in draw(st.lists(st.sampled_from(pids), max_size=3, unique=True)):
            rows_of = draw(tcm_rows(pid, med_rec=med_rec))
            events.extend(",".join(row.get(name, "") for name in header) for row in rows_of)
    if devices:
        for pid in draw(st.lists(st.sampled_from(pids), max_size=4, unique=True)):
            rows_of = draw(device_rows(pid))
            events.extend(",".join(row.get(name, "") for name in header) for row in rows_of)
    if draw(st.booleans()):
        events = [events[0], *sorted(events[1:], key=lambda row: row.split(",", 1)[0])]
    return "\n".join(rows) + "\n", "\n".join(events) + "\n"


def reference(folder: Path, out: Path, month: ServicePeriod = MONTH, rules=None):
    """The reference close (every month with device data is the engine's to decide)."""
    rules = rules or cms_rule_set(month.start.year)
    patients, problems = read_patients(folder / "patients.csv")
    summary, refused = run_close(
        patients, folder / "events.csv", month, rules, out, extra_rejected=len(problems)
    )
    return summary, [str(p) for p in [*problems, *refused]]


def same_files(left: Path, right: Path) -> None:
    for name in FILES:
        assert (left / name).read_bytes() == (right / name).read_bytes(), name


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pair=csv_pairs(),
    chunk=st.sampled_from([1, 3, 50_000]),
    switches=st.sampled_from(
        [
            Switches(),
            Switches(date_of_service=DateOfService.PERIOD_END),
            Switches(personal_time_needs_billing_credential=False),
        ]
    ),
)
def test_columnar_close_writes_the_reference_files(
    tmp_path_factory, monkeypatch, pair, chunk, switches
):
    folder = tmp_path_factory.mktemp("pair")
    (folder / "patients.csv").write_text(pair[0], encoding="utf-8")
    (folder / "events.csv").write_text(pair[1], encoding="utf-8")
    monkeypatch.setattr(columnar, "_CHUNK", chunk)
    rules = cms_rule_set(2026, switches=switches)
    closed = columnar.close_columnar(
        folder / "patients.csv", folder / "events.csv", MONTH, rules, folder / "columnar"
    )
    expected_summary, expected_problems = reference(folder, folder / "reference", rules=rules)
    assert closed is not None  # these files are plain: no quotes, no blank lines, no ragged rows
    summary, problems = closed
    event(f"claim lines: {min(summary.claim_lines, 3)}")
    denials = (folder / "reference" / "denials.csv").read_text(encoding="utf-8")
    claims = (folder / "reference" / "claims.csv").read_text(encoding="utf-8")
    event(f"TCM billed: {',99495,' in claims or ',99496,' in claims}")
    event(f"med-rec denials: {'med_rec_not_timely' in denials}")
    event(f"device lines: {',99454,' in claims or ',99445,' in claims or ',9897' in claims}")
    assert summary == expected_summary
    assert [str(p) for p in problems] == expected_problems
    same_files(folder / "columnar", folder / "reference")


def test_generated_month_with_crlf_and_a_month_end_rule_set(tmp_path):
    bench = Path(__file__).resolve().parents[2] / "bench" / "gen_close.py"
    subprocess.run(
        [sys.executable, str(bench), str(tmp_path), "--patients", "400", "--seed", "11"],
        check=True,
        capture_output=True,
    )
    month = ServicePeriod.month(2026, 3)
    closed = columnar.close_columnar(
        tmp_path / "patients.csv",
        tmp_path / "events.csv",
        month,
        cms_rule_set(2026),
        tmp_path / "c",
    )
    assert closed is not None
    summary, _ = reference(tmp_path, tmp_path / "r", month)
    assert closed[0] == summary
    assert summary.claim_lines >= 50  # the generated month bills (a sanity floor)
    same_files(tmp_path / "c", tmp_path / "r")
    forked = columnar.close_columnar(
        tmp_path / "patients.csv",
        tmp_path / "events.csv",
        month,
        cms_rule_set(2026),
        tmp_path / "w",
        workers=2,
    )
    assert forked is not None
    assert forked[0] == summary
    same_files(tmp_path / "w", tmp_path / "r")


@pytest.mark.parametrize(
    "events",
    [
        'patient_id,date,type,minutes,role,family\np1,2026-01-06,time_entry,25,clinical_staff,"CCM"\n',
        "patient_id,date,type,minutes,role,family\np1,2026-01-06,time_entry,25,clinical_staff\n",
        "patient_id,date,type,minutes,role,family\n\np1,2026-01-06,time_entry,25,clinical_staff,CCM\n",
        "patient_id,date,type,minutes,role,family\rp1,2026-01-06,time_entry,25,clinical_staff,CCM\r",
    ],
    ids=["quoted", "ragged", "blank-line", "cr-only"],
)
def test_files_it_cannot_take_whole_go_to_the_reference(tmp_path, events):
    (tmp_path / "patients.csv").write_text(
        "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
        "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
    )
    (tmp_path / "events.csv").write_text(events, newline="")
    assert (
        columnar.close_columnar(
            tmp_path / "patients.csv", tmp_path / "events.csv", MONTH, cms_rule_set(2026), None
        )
        is None
    )


def test_duplicate_patients_go_to_the_reference(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "patient_id,practitioner,conditions\np1,dr1,E11.65;I10\n p1,dr1,E11.65;I10\n"
    )
    (tmp_path / "events.csv").write_text("patient_id,date,type\n")
    assert (
        columnar.close_columnar(
            tmp_path / "patients.csv", tmp_path / "events.csv", MONTH, cms_rule_set(2026), None
        )
        is None
    )


def test_cli_engines_write_the_same_files(tmp_path):
    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.plugins import get_plugin_manager

    (tmp_path / "patients.csv").write_text(
        "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
        "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
        "p2,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
    )
    (tmp_path / "events.csv").write_text(
        "patient_id,date,type,minutes,role,family\n"
        "p1,2026-01-06,time_entry,45,clinical_staff,CCM\n"
        "p2,2026-01-06,time_entry,ten,clinical_staff,CCM\n"
    )
    app = make_app(get_plugin_manager(entry_points=False))
    outputs = []
    for engine in ("reference", "columnar", "auto"):
        result = CliRunner().invoke(
            app,
            [
                "billing",
                "close",
                "--month",
                "2026-01",
                "--engine",
                engine,
                "--patients",
                str(tmp_path / "patients.csv"),
                "--events",
                str(tmp_path / "events.csv"),
                "--out",
                str(tmp_path / engine),
            ],
        )
        assert result.exit_code == 1, result.output
        assert "column minutes: expected a whole number (got 'ten')" in result.output
        outputs.append(result.output.replace(engine, "ENGINE"))
    assert outputs[0] == outputs[1] == outputs[2]
    same_files(tmp_path / "columnar", tmp_path / "reference")
    same_files(tmp_path / "auto", tmp_path / "reference")


@pytest.mark.parametrize("month_end", [False, True], ids=["day-reached", "month-end-switch"])
def test_ties_consent_mid_month_and_the_date_of_service_switch(tmp_path, month_end):
    import attrs

    from carecore.billing.rules import DateOfService

    rules = cms_rule_set(2026)
    if month_end:
        rules = attrs.evolve(
            rules, switches=attrs.evolve(rules.switches, date_of_service=DateOfService.PERIOD_END)
        )
    (tmp_path / "patients.csv").write_text(
        "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
        "p1,dr1,E11.65;I10,CCM=2025-11-03;BHI=2026-01-10,CCM=2025-11-03;BHI=2026-01-10,2025-11-03\n"
        "p2,dr1,E11.65;F33.1,BHI=2026-01-10;PCM=2025-10-01,BHI=2026-01-10;PCM=2025-10-01,2025-11-03\n"
    )
    (tmp_path / "events.csv").write_text(
        "patient_id,date,type,minutes,role,family,interactive,credential\n"
        "p1,2026-01-06,time_entry,10,clinical_staff,CCM,true,RN\n"
        "p1,2026-01-06,time_entry,10,clinical_staff,CCM,false,RN\n"
        "p1,2026-01-06,time_entry,10,clinical_staff,CCM,,\n"
        "p1,2026-01-09,time_entry,30,clinical_staff,BHI,false,RN\n"
        "p1,2026-01-12,time_entry,25,clinical_staff,BHI,false,RN\n"
        "p1,2026-01-20,time_entry,35,physician,CCM,false,MD\n"
        "p1,2026-01-21,time_entry,5,non_clinical,CCM,false,\n"
        "p1,2026-01-22,time_entry,25,clinical_staff,CCM,false,RN\n"
        "p2,2026-01-11,time_entry,31,clinical_staff,PCM,false,RN\n"
        "p2,2026-01-03,time_entry,20,physician,BHI,false,MD\n"
        "p2,2026-01-15,time_entry,20,bh_care_manager,BHI,false,MD\n"
    )
    closed = columnar.close_columnar(
        tmp_path / "patients.csv", tmp_path / "events.csv", MONTH, rules, tmp_path / "c"
    )
    patients, _ = read_patients(tmp_path / "patients.csv")
    summary, _ = run_close(patients, tmp_path / "events.csv", MONTH, rules, tmp_path / "r")
    assert closed is not None
    assert closed[0] == summary
    assert summary.claim_lines >= 3
    same_files(tmp_path / "c", tmp_path / "r")


def test_months_it_cannot_render_go_to_the_reference_code(tmp_path, monkeypatch):
    """The fallback for a template the writer cannot render, forced for every other month."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "gen_close.py"
    subprocess.run(
        [sys.executable, str(bench), str(tmp_path), "--patients", "120", "--seed", "5"],
        check=True,
        capture_output=True,
    )
    month = ServicePeriod.month(2026, 3)
    add = columnar._Templates.add

    def every_other(self, key, result, **options):
        return key % 2 == 1 and add(self, key, result, **options)

    monkeypatch.setattr(columnar._Templates, "add", every_other)
    monkeypatch.setattr(columnar, "_CHUNK", 7)
    monkeypatch.setattr(columnar, "_BATCH", 5)
    closed = columnar.close_columnar(
        tmp_path / "patients.csv",
        tmp_path / "events.csv",
        month,
        cms_rule_set(2026),
        tmp_path / "c",
    )
    summary, _ = reference(tmp_path, tmp_path / "r", month)
    assert closed is not None
    assert closed[0] == summary
    same_files(tmp_path / "c", tmp_path / "r")
    # Without --out only the summary is made, and it is the same.
    bare = columnar.close_columnar(
        tmp_path / "patients.csv", tmp_path / "events.csv", month, cms_rule_set(2026), None
    )
    assert bare is not None
    assert bare[0] == summary


def test_rows_read_by_byte_offset_are_the_reference_readers_rows(tmp_path):
    # CRLF line ends and no line end after the last row: adjacent rows are read together.
    file = tmp_path / "events.csv"
    file.write_bytes(b"a,b\r\nx1,y1\r\nx2,y2\r\nx3,\r\nx4,y4")
    starts = [5, 12, 19, 24]
    lengths = [7, 7, 5, -1]
    with file.open("rb") as handle:
        assert columnar._read_spans(handle, starts, lengths) == [
            ["x1", "y1"],
            ["x2", "y2"],
            ["x3", ""],
            ["x4", "y4"],
        ]
        assert columnar._read_spans(handle, [12, 24], [7, -1]) == [["x2", "y2"], ["x4", "y4"]]
        assert columnar._read_span(handle, 19, 5) == ["x3", ""]


def test_a_failed_write_is_raised_not_lost(tmp_path, monkeypatch):
    """The background writer's failure reaches the caller (and the close does not hang)."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "gen_close.py"
    subprocess.run(
        [sys.executable, str(bench), str(tmp_path), "--patients", "60", "--seed", "3"],
        check=True,
        capture_output=True,
    )
    monkeypatch.setattr(columnar, "_CHUNK", 10)

    def full_disk(writer, merged):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(columnar, "_write_texts", full_disk)
    with pytest.raises(OSError, match="No space left"):
        columnar.close_columnar(
            tmp_path / "patients.csv",
            tmp_path / "events.csv",
            ServicePeriod.month(2026, 3),
            cms_rule_set(2026),
            tmp_path / "c",
        )
    # The files are closed (pytest reports unclosed ones) and no summary says it finished.
    assert not (tmp_path / "c" / "summary.json").exists()


@st.composite
def monitoring_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Clean patients whose months carry RPM readings and RPM (and CCM) time: mostly columnar."""
    header = (
        "patient_id,date,type,minutes,role,credential,practitioner,family,interactive,"
        "period_start,period_end,days_with_data,device"
    )
    patients = [PATIENT_HEADER]
    events = [header]
    for i in range(draw(st.integers(1, 8))):
        pid = f"p{i}"
        consent = draw(
            st.sampled_from(
                [
                    "CCM=2025-11-03;RPM=2025-10-01",
                    "RPM=2025-12-31",
                    "RPM=2026-01-10",  # mid-month: earlier minutes go to the reference code
                    "RPM=2026-02-01",
                    "CCM=2025-11-03",
                    "",
                ]
            )
        )
        patients.append(
            ",".join(
                [
                    pid,
                    draw(st.sampled_from(["dr1", "dr2"])),
                    draw(st.sampled_from(["", "MD", "NP"])),
                    "",
                    draw(st.sampled_from(["E11.65;I10", "E11.65", "I10:6;E11.65:2"])),
                    consent,
                    draw(st.sampled_from(["CCM=2025-11-03;RPM=2025-10-01", "", "RPM=2026-01-20"])),
                    draw(st.sampled_from(["", "true", "false"])),
                    draw(st.sampled_from(["2025-11-03", ""])),
                    draw(st.sampled_from(["", "true"])),
                    draw(st.sampled_from(["", "", "", "2026-01-20", "2026-02-10"])),
                    "",
                ]
            )
        )
        rows = []
        for _ in range(draw(st.integers(0, 2))):  # two readings rows: the reference code
            start, end = draw(
                st.sampled_from(
                    [
                        ("2026-01-01", "2026-01-30"),
                        ("2025-12-20", "2026-01-18"),
                        ("2026-01-25", "2026-02-23"),
                        ("2025-11-01", "2025-11-30"),
                    ]
                )
            )
            days = draw(st.sampled_from(["16", "15", "2", "1", "0", "28", "31", "32"]))
            practitioner = draw(st.sampled_from(["", "", "dr1"]))
            device = draw(st.sampled_from(["bp_cuff", "scale"]))
            # The family cell as senders spell it: the reference parser reads all as RPM.
            family = draw(st.sampled_from(["RPM", "RPM", "rpm", " RPM"]))
            rows.append(
                f"{pid},{end},device_readings,,,,{practitioner},{family},,{start},{end},{days},{device}"
            )
        rows.extend(
            ",".join(
                [
                    pid,
                    draw(st.sampled_from(["2026-01-02", "2026-01-15", "2026-01-31", "2025-12-30"])),
                    "time_entry",
                    draw(st.sampled_from(["3", "10", "20", "25", "700"])),
                    draw(st.sampled_from(["clinical_staff", "physician", "auxiliary", "qhp"])),
                    draw(st.sampled_from(["", "RN", "MD"])),
                    draw(st.sampled_from(["", "", "dr1"])),
                    draw(st.sampled_from(["RPM", "RPM", "CCM", "rpm", " RPM"])),
                    draw(st.sampled_from(["true", "false"])),
                    "",
                    "",
                    "",
                    "",
                ]
            )
            for _ in range(draw(st.integers(0, 5)))
        )
        events.extend(draw(st.permutations(rows)))
    return "\n".join(patients) + "\n", "\n".join(events) + "\n"


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pair=monitoring_pairs(),
    switches=st.sampled_from([Switches(), Switches(date_of_service=DateOfService.PERIOD_END)]),
)
def test_months_with_device_data_join_the_canonical_months(
    tmp_path_factory, monkeypatch, pair, switches
):
    """RPM months evaluated once per canonical month write the reference close's files."""
    folder = tmp_path_factory.mktemp("rpm")
    (folder / "patients.csv").write_text(pair[0], encoding="utf-8")
    (folder / "events.csv").write_text(pair[1], encoding="utf-8")
    asked = []
    evaluate_device = columnar.evaluate_device

    def counted(*args):
        asked.append(args)
        return evaluate_device(*args)

    monkeypatch.setattr(columnar, "evaluate_device", counted)
    monkeypatch.setattr(columnar, "_CHUNK", 3)
    rules = cms_rule_set(2026, switches=switches)
    closed = columnar.close_columnar(
        folder / "patients.csv", folder / "events.csv", MONTH, rules, folder / "columnar"
    )
    expected_summary, expected_problems = reference(folder, folder / "reference", rules=rules)
    assert closed is not None
    summary, problems = closed
    claims = (folder / "reference" / "claims.csv").read_text(encoding="utf-8")
    event(f"canonical months with RPM data: {min(len(asked), 3)}")
    event(f"RPM lines: {',99454,' in claims or ',99445,' in claims or ',99457,' in claims}")
    assert summary == expected_summary
    assert [str(p) for p in problems] == expected_problems
    same_files(folder / "columnar", folder / "reference")


def test_a_clean_rpm_month_is_a_canonical_month(tmp_path, monkeypatch):
    """Two RPM patients with the same readings and minutes: one engine run, the reference's files."""
    (tmp_path / "patients.csv").write_text(
        "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
        "p1,dr1,E11.65;I10,RPM=2025-10-01;CCM=2025-10-01,CCM=2025-10-01,2025-11-03\n"
        "p2,dr2,E11.65;I10,RPM=2025-10-01;CCM=2025-10-01,CCM=2025-10-01,2025-11-03\n"
    )
    (tmp_path / "events.csv").write_text(
        "patient_id,date,type,minutes,role,family,interactive,period_start,period_end,"
        "days_with_data,device\n"
        "p1,2026-01-05,time_entry,12,clinical_staff,RPM,true,,,,\n"
        "p1,2026-01-20,time_entry,15,clinical_staff,RPM,false,,,,\n"
        "p1,2026-01-30,device_readings,,,RPM,,2026-01-01,2026-01-30,18,bp_cuff\n"
        "p2,2026-01-07,time_entry,15,clinical_staff,RPM,false,,,,\n"
        "p2,2026-01-09,time_entry,12,clinical_staff,RPM,true,,,,\n"
        "p2,2026-01-30,device_readings,,,RPM,,2026-01-01,2026-01-30,18,bp_cuff\n"
    )
    asked = []
    evaluate_device = columnar.evaluate_device

    def counted(*args):
        asked.append(args)
        return evaluate_device(*args)

    monkeypatch.setattr(columnar, "evaluate_device", counted)
    closed = columnar.close_columnar(
        tmp_path / "patients.csv",
        tmp_path / "events.csv",
        MONTH,
        cms_rule_set(2026),
        tmp_path / "c",
    )
    reference(tmp_path, tmp_path / "r")
    assert closed is not None
    assert len(asked) == 1  # one canonical month for both patients
    same_files(tmp_path / "c", tmp_path / "r")
    rows = {
        (cells[0], cells[2]): cells[4]
        for cells in (
            line.split(",") for line in (tmp_path / "c" / "claims.csv").read_text().splitlines()[1:]
        )
    }
    # 99454 dated by the readings row; 99457 where each patient's total reached 20 minutes.
    assert rows[("p1", "99454")] == rows[("p2", "99454")] == "2026-01-30"
    assert rows[("p1", "99457")] == "2026-01-20"
    assert rows[("p2", "99457")] == "2026-01-09"


def test_an_rpm_readings_row_spelled_otherwise_still_needs_an_established_patient(tmp_path):
    """A readings row whose family cell says ``rpm`` or `` RPM`` is RPM: not billed unestablished."""
    (tmp_path / "patients.csv").write_text(
        "patient_id,practitioner,credential,conditions,consent,care_plan,established,last_visit\n"
        "r1,dr1,MD,E11.65;I10,RPM=2025-05-01,,false,2025-09-15\n"
        "r2,dr1,MD,E11.65;I10,RPM=2025-05-01,,false,2025-09-15\n"
    )
    (tmp_path / "events.csv").write_text(
        "patient_id,date,type,minutes,role,credential,family,interactive,days_with_data,"
        "period_start,period_end,device\n"
        "r1,2026-01-28,device_readings,,,,rpm,,20,2026-01-01,2026-01-30,bp_cuff\n"
        "r2,2026-01-28,device_readings,,,, RPM,,20,2026-01-01,2026-01-30,bp_cuff\n"
    )
    _closed_alike(tmp_path)
    assert (tmp_path / "c" / "claims.csv").read_text().count("\n") == 1  # the header alone


def test_rpm_and_ccm_months_of_more_than_a_day_of_minutes_close_as_the_reference(tmp_path):
    """2,100 RPM minutes and 1,600 CCM minutes in one role group: billed, capped, as the reference."""
    (tmp_path / "patients.csv").write_text(
        "patient_id,practitioner,credential,conditions,consent,care_plan,established,last_visit\n"
        "f,dr1,MD,E11.65;I10,RPM=2025-10-01;CCM=2025-10-01,CCM=2025-10-01,true,2025-11-03\n"
        "p1,dr1,MD,E11.65;I10,CCM=2025-10-01,CCM=2025-10-01,true,2025-11-03\n"
    )
    (tmp_path / "events.csv").write_text(
        "patient_id,date,type,minutes,role,credential,family,interactive,days_with_data,"
        "period_start,period_end,device\n"
        "f,2026-01-05,time_entry,700,clinical_staff,RN,RPM,true,,,,\n"
        "f,2026-01-06,time_entry,700,clinical_staff,RN,RPM,true,,,,\n"
        "f,2026-01-07,time_entry,700,clinical_staff,RN,RPM,true,,,,\n"
        "f,2026-01-30,device_readings,,,,RPM,,18,2026-01-01,2026-01-30,bp_cuff\n"
        "p1,2026-01-05,time_entry,800,clinical_staff,RN,CCM,,,,,\n"
        "p1,2026-01-06,time_entry,800,clinical_staff,RN,CCM,,,,,\n"
    )
    _closed_alike(tmp_path)
    denials = (tmp_path / "c" / "denials.csv").read_text()
    assert "1600 minutes would give" in denials
    assert "2100 minutes would give" in denials


def _closed_alike(folder):
    """Close *folder*'s patients.csv and events.csv columnar (into c) and by reference (into r): alike."""
    closed = columnar.close_columnar(
        folder / "patients.csv", folder / "events.csv", MONTH, cms_rule_set(2026), folder / "c"
    )
    reference(folder, folder / "r")
    assert closed is not None
    same_files(folder / "c", folder / "r")


def test_a_file_s_parts_keep_their_rows_in_order_however_many_rows_a_part_has(monkeypatch):
    # The writer's order once came from one packed key with room for 2**24 rows a part: a
    # larger part's rows took the next part's or patient's place (invalid packets). The room
    # is made small here (where it still exists) to show it without 2**24 rows.
    monkeypatch.setattr(columnar, "_ROW_BITS", 4, raising=False)
    first = 100
    log = pl.DataFrame({"_order": [107] * 40 + [108], "text": [f"log{i}" for i in range(41)]})
    tail = pl.DataFrame({"_order": [108, 107], "text": ["tail108", "tail107"]})
    head = pl.DataFrame({"_order": [107, 108], "text": ["head107", "head108"]})
    expected = [
        "head107",
        *[f"log{i}" for i in range(40)],
        "tail107",
        "head108",
        "log40",
        "tail108",
    ]
    assert columnar._ordered(first, [(4, tail), (2, log), (0, head)]).to_list() == expected
    # Orders so far apart that one integer key would pass 63 bits: the stable sort instead.
    far = 10**17
    moved = [
        (k, f.with_columns(pl.col("_order") + far)) for k, f in [(4, tail), (2, log), (0, head)]
    ]
    assert columnar._ordered(first, moved).to_list() == expected


def test_patients_csv_s_problem_is_reported_before_a_bad_events_header(tmp_path):
    # patients.csv is read beside events.csv: a problem past its first lines (here a byte
    # that is not UTF-8) must still be the one reported, as the reference close reports it,
    # not the events.csv header's.
    from carecore import errors
    from carecore.billing import close_files
    from carecore.model import ServicePeriod

    rows = ["patient_id,practitioner,conditions"] + [f"p{i},dr1,E11.65" for i in range(20_000)]
    body = ("\n".join(rows) + "\n").encode() + b"px,dr1,E11.\xff65\n"
    (tmp_path / "patients.csv").write_bytes(body)
    (tmp_path / "events.csv").write_text(
        "patient_id,typo_date,type,minutes,role,family\n"
        "p1,2026-01-06,time_entry,25,clinical_staff,CCM\n"
    )
    said = {}
    for engine in ("reference", "columnar"):
        with pytest.raises(errors.CarecoreError) as caught:
            close_files(
                tmp_path / "patients.csv",
                tmp_path / "events.csv",
                ServicePeriod.month(2026, 1),
                cms_rule_set(2026),
                tmp_path / engine,
                engine=engine,
            )
        said[engine] = str(caught.value).splitlines()[0]
    assert "patients.csv" in said["reference"]
    assert said["columnar"] == said["reference"]
