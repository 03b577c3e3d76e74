"""The HL7 v2 files source passes the EHR-source contract: folders of files, duplicates, bad messages."""

from __future__ import annotations

import json

import pytest
from carecore_hl7v2.source import Hl7v2FilesSource

from carecore.model import AdtEvent, Patient, PatientLink
from carecore.service import CareProgram, ImportRefusal
from carecore.testing.ehr_sources import EhrSourceContract, EhrSourceSamples, split_refusals


def _pv1(visit):
    pv1 = ["PV1", "1", "I", "W3^301^A^GEN"] + [""] * 42
    pv1[19], pv1[36], pv1[44], pv1[45] = visit, "01", "202603011000-0600", "202603041500-0600"
    return "|".join(pv1)


def a03(control, mrn, *, visit="V1", name="Doe^Jane"):
    return (
        f"MSH|^~\\&|ADT|GEN|CC|PRAC|202603041530-0600||ADT^A03|{control}|P|2.5\r"
        f"PID|1||{mrn}^^^GEN^MR||{name}||19500101|F\r" + _pv1(visit)
    )


def write(path, *messages):
    path.write_text("\r".join(messages) + "\r", encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path):
    """Three files (three pages): four patients, five discharges; M5 is a second stay of 1001."""
    pages = tmp_path / "feed"
    pages.mkdir()
    write(pages / "01.hl7", a03("M1", "1001"), a03("M2", "1002", name="Roe^Rita"))
    write(pages / "02.hl7", a03("M3", "1003", name="Poe^Paul"))
    write(pages / "03.hl7", a03("M4", "1004", name="Loe^Lara"), a03("M5", "1001", visit="V9"))
    (pages / "notes.md").write_text("not a message file")
    return pages


class TestHl7v2FilesSourceContract(EhrSourceContract):
    @pytest.fixture
    def source(self):
        return Hl7v2FilesSource(time_zone="America/Chicago")

    @pytest.fixture
    def samples(self, tmp_path, folder):
        twice = write(tmp_path / "twice.hl7", a03("M1", "1001"), a03("M1", "1001"))
        bad = write(
            tmp_path / "bad.hl7",
            a03("B1", "2001"),
            a03("", "2002"),  # no MSH-10: refused
            a03("B3", "2003", name="Zoe^Zara"),
        )
        return EhrSourceSamples(
            paged=str(folder),
            paged_values=13,  # 5 events, 4 patients, 4 links
            duplicated=str(twice),
            bad=str(bad),
            bad_refusals=1,
        )


def test_values_name_the_patient_as_intake_would(folder):
    records, refused = split_refusals(
        Hl7v2FilesSource(time_zone="America/Chicago").read(str(folder))
    )
    assert refused == []
    events = [r for r in records if isinstance(r, AdtEvent)]
    patients = {r.id: r for r in records if isinstance(r, Patient)}
    links = [r for r in records if isinstance(r, PatientLink)]
    assert {e.patient_id for e in events} == set(patients)
    assert {(link.system, link.value) for link in links} == {
        ("GEN", f"100{n}") for n in range(1, 5)
    }
    program = CareProgram.open("memory://")
    source = Hl7v2FilesSource(time_zone="America/Chicago")
    refused: list[ImportRefusal] = []
    assert source.import_into(program, str(folder), refused=refused).added == 5
    assert refused == []
    with program.transaction("check") as tx:
        # intake registered the same patients under the same ids, one per identifier
        assert {p.id for p in tx.all(Patient)} == set(patients)


def test_a_bad_message_is_refused_with_its_file_and_place(tmp_path):
    bad = write(tmp_path / "bad.hl7", a03("B1", "2001"), a03("", "2002"))
    _, (refusal,) = split_refusals(Hl7v2FilesSource().read(str(bad)))
    assert refusal.where == "bad.hl7 message 2"
    assert "MSH-10" in refusal.reason


def test_carecore_import_takes_the_files_in_through_intake(tmp_path, folder):
    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.model import TransitionEpisode

    url = f"sqlite:///{tmp_path / 'feed.db'}"
    app = make_app()
    assert CliRunner().invoke(app, ["db", "init", url]).exit_code == 0
    args = [
        "import",
        "--source",
        "hl7v2",
        "--db",
        url,
        "-o",
        "time_zone=America/Chicago",
        str(folder),
    ]
    done = CliRunner().invoke(app, args)
    assert (done.exit_code, done.output) == (0, f"{folder}: 5 added, 0 already stored, 0 refused\n")
    with CareProgram.open(url, actor="t") as program, program.transaction("check") as tx:
        assert len(tx.all(TransitionEpisode)) == 5
        assert len(tx.all(Patient)) == 4
    assert CliRunner().invoke(app, args).exit_code == 0
    with CareProgram.open(url, actor="t") as program, program.transaction("check") as tx:
        assert (len(tx.all(TransitionEpisode)), len(tx.all(Patient))) == (5, 4)


def test_carecore_import_reports_what_was_added_and_skipped(folder, tmp_path):
    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.plugins import get_plugin_manager

    app = make_app(get_plugin_manager())
    db = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "init", db, "--time-zone", "America/Chicago"]).exit_code == 0
    args = ["import", "--source", "hl7v2", "--db", db, str(folder)]
    first = runner.invoke(app, [*args, "--format", "json"])
    assert first.exit_code == 0, first.output
    (row,) = json.loads(first.output)
    assert (row["added"], row["skipped"], row["refused"]) == (5, 0, [])
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert again.output.strip() == f"{folder}: 0 added, 5 already stored, 0 refused"
