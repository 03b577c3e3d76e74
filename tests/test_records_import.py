"""import_records with mixed kinds (dependency order, one transaction per patient), and `carecore import`."""

from __future__ import annotations

import json
import typing

import pendulum
import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    Coding,
    Condition,
    Credential,
    Patient,
    PatientClass,
    Practitioner,
    TransitionEpisode,
)
from carecore.plugins import get_plugin_manager, hookimpl
from carecore.service import CareProgram, ImportRefusal
from carecore.testing import registered
from carecore.testing.ehr_sources import EhrSourceContract, EhrSourceSamples

TZ = "America/Chicago"


def patient(pid):
    return Patient(
        id=pid,
        given_name="Ada",
        family_name="Okafor",
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone=TZ,
    )


def condition(cid, pid, code="E11.9"):
    return Condition(id=cid, patient_id=pid, coding=Coding.icd10cm(code))


def discharge(eid, pid):
    at = pendulum.now(TZ).subtract(days=3)
    return AdtEvent(
        id=eid,
        source_key=eid,
        patient_id=pid,
        kind=AdtEventKind.DISCHARGE,
        occurred_at=at,
        discharged_at=at,
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
    )


DR = Practitioner(id="dr1", name="Dr One", credential=Credential.MD)


def test_mixed_kinds_are_stored_in_dependency_order():
    program = CareProgram.open("memory://")
    # Conditions before their patient, a practitioner last: the order a source may yield.
    records = [condition("c1", "p1"), condition("c2", "p2"), patient("p2"), patient("p1"), DR]
    result = program.import_records(records, reason="ehr")
    assert (result.kind, result.added, result.skipped) == ("mixed", 5, 0)
    again = program.import_records(records, reason="ehr")
    assert (again.added, again.skipped) == (0, 5)


def test_one_patient_that_cannot_be_stored_leaves_nothing_and_the_others_are_stored():
    program = CareProgram.open("memory://")
    orphan = condition("c9", "nobody")
    records = [patient("p1"), condition("c1", "p1"), orphan, patient("p2"), condition("c2", "p2")]
    refused: list[ImportRefusal] = []
    result = program.import_records(records, reason="ehr", refused=refused)
    assert result.added == 4
    assert [r.where for r in refused] == ["patient nobody"]
    assert "nobody" in refused[0].reason
    with pytest.raises(errors.InvalidValue, match="nobody"):
        CareProgram.open("memory://").import_records(records, reason="ehr")


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_a_failing_record_rolls_back_that_patients_whole_transaction(url, tmp_path):
    program = CareProgram.open(f"sqlite:///{tmp_path / 'x.db'}" if url == "sqlite" else url)
    nul = condition("c2\x00", "p1")  # no store keeps a NUL: refused at the write
    refused: list[ImportRefusal] = []
    records = [patient("p1"), condition("c1", "p1"), nul, patient("p2"), condition("c3", "p2")]
    result = program.import_records(records, reason="ehr", refused=refused)
    assert (result.added, [r.where for r in refused]) == (2, ["patient p1"])
    assert "NUL" in refused[0].reason
    with program.transaction("check") as tx:
        assert [p.id for p in tx.all(Patient)] == ["p2"]  # p1 and its c1 rolled back with it
        assert [c.id for c in tx.all(Condition)] == ["c3"]
    program.close()


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_records_of_one_kind_are_refused_by_patient_and_the_others_stored(url, tmp_path):
    program = CareProgram.open(f"sqlite:///{tmp_path / 'x.db'}" if url == "sqlite" else url)
    program.import_records([patient("p1")], reason="ehr")
    refused: list[ImportRefusal] = []
    records = [condition("c9", "nobody"), condition("c1", "p1")]
    result = program.import_records(records, reason="ehr", refused=refused)
    assert (result.added, [r.where for r in refused]) == (1, ["patient nobody"])
    with program.transaction("check") as tx:
        assert [c.id for c in tx.all(Condition)] == ["c1"]
    program.close()


class ListSource:
    """A source of values held in memory: a location is a key of *data*."""

    def __init__(self, data):
        self.data = data

    @property
    def id(self):
        return "memo"

    def can_read(self, location):
        return location in self.data

    def read(self, location):
        yield from self.data[location]


DATA = {
    "all": [patient("p1"), condition("c1", "p1"), patient("p2"), condition("c2", "p2"), DR],
    "twice": [patient("p1"), patient("p1"), condition("c1", "p1")],
    "bad": [
        patient("p1"),
        ImportRefusal(where="row 2", reason="no code"),
        condition("c1", "p1"),
    ],
    "feed": [patient("p1"), discharge("A03-1", "p1")],
    # What a source yields for a file whose Patient it refused: the refusal and the rest.
    "orphan": [ImportRefusal(where="Patient/px1", reason="bad birth date"), condition("cx", "px1")],
    "later": [patient("p3")],
}


class TestAnInMemorySourcePassesTheContract(EhrSourceContract):
    @pytest.fixture
    def source(self):
        return ListSource(DATA)

    @pytest.fixture
    def samples(self):
        return EhrSourceSamples(
            paged="all", paged_values=5, duplicated="twice", bad="bad", bad_refusals=1
        )


class Plugin:
    @hookimpl
    def carecore_ehr_sources(self):
        return [ListSource(DATA)]


@pytest.fixture
def app_and_db(tmp_path):
    pm = get_plugin_manager(entry_points=False)
    url = f"sqlite:///{tmp_path / 'in.db'}"
    with registered(pm, Plugin(), name="memo-source"):
        app = make_app(pm)
        assert CliRunner().invoke(app, ["db", "init", url]).exit_code == 0
        yield app, url


def test_carecore_import_stores_what_an_installed_source_reads(app_and_db):
    app, url = app_and_db
    done = CliRunner().invoke(app, ["import", "--source", "memo", "--db", url, "all", "feed"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "all: 5 added, 0 already stored, 0 refused",
        "feed: 1 added, 1 already stored, 0 refused",
    ]
    # The ADT event was received: its TCM episode is open.
    with CareProgram.open(url, actor="t") as program, program.transaction("check") as tx:
        (episode,) = tx.all(TransitionEpisode)
    assert episode.patient_id == "p1"
    again = CliRunner().invoke(
        app, ["import", "--source", "memo", "--db", url, "--format", "json", "all", "feed"]
    )
    rows = json.loads(again.output)
    assert [(r["added"], r["skipped"]) for r in rows] == [(0, 5), (0, 2)]


def test_refusals_are_printed_and_exit_1(app_and_db):
    app, url = app_and_db
    done = CliRunner().invoke(app, ["import", "--source", "memo", "--db", url, "bad"])
    assert done.exit_code == 1
    assert "refused row 2: no code" in done.output


def test_a_location_left_with_one_kind_is_refused_by_name_and_later_ones_import(app_and_db):
    app, url = app_and_db
    done = CliRunner().invoke(
        app, ["import", "--source", "memo", "--db", url, "all", "orphan", "later"]
    )
    assert done.exit_code == 1, done.output
    assert done.output.splitlines()[:4] == [
        "all: 5 added, 0 already stored, 0 refused",
        "orphan: 0 added, 0 already stored, 2 refused",
        "  refused Patient/px1: bad birth date",
        "  refused patient px1: InvalidValue: patient_id='px1': no such patient is stored",
    ]
    assert done.output.splitlines()[4] == "later: 1 added, 0 already stored, 0 refused"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--source", "nope", "all"], "--source"),
        (["--source", "memo", "elsewhere"], "location"),
        (["--source", "memo", "nodir/"], "location='nodir/': does not exist"),
        (["--source", "memo", "missing.csv"], "location='missing.csv': does not exist"),
        (["--source", "memo", "-o", "x=1", "all"], "--option"),
        (["--source", "memo", "-o", "novalue", "all"], "--option"),
    ],
)
def test_bad_input_exits_2_naming_it(app_and_db, args, named):
    app, url = app_and_db
    done = CliRunner().invoke(app, ["import", "--db", url, *args])
    assert done.exit_code == 2
    assert named in done.output


class OptionedSource(ListSource):
    """A source with both optional capabilities: options and the importing program's clock."""

    seen: typing.ClassVar[list[tuple[dict[str, str], object]]] = []

    def __init__(self, data, options=None, now=None):
        super().__init__(data)
        self.options, self.now = dict(options or {}), now

    @property
    def id(self):
        return "opted"

    def configured(self, options):
        unknown = sorted(set(options) - {"time_zone", "tag"})
        if unknown:
            raise errors.InvalidValue("takes time_zone and tag", field="--option", value=unknown)
        return OptionedSource(self.data, {**self.options, **options}, self.now)

    def as_of(self, now):
        return OptionedSource(self.data, self.options, now)

    def read(self, location):
        OptionedSource.seen.append((self.options, self.now))
        yield from super().read(location)


def test_the_optional_source_capabilities_are_protocols():
    from carecore.protocols import ClockedSource, ConfigurableSource, EhrSource, ImportingSource

    plain, optioned = ListSource(DATA), OptionedSource(DATA)
    assert isinstance(plain, EhrSource)
    assert not isinstance(plain, ConfigurableSource | ClockedSource | ImportingSource)
    assert isinstance(optioned, ConfigurableSource)
    assert isinstance(optioned, ClockedSource)
    assert not isinstance(optioned, ImportingSource)


def test_import_gives_a_source_its_options_the_practice_zone_and_the_program_clock(tmp_path):
    class Optioned:
        @hookimpl
        def carecore_ehr_sources(self):
            return [OptionedSource(DATA)]

    pm = get_plugin_manager(entry_points=False)
    url = f"sqlite:///{tmp_path / 'opted.db'}"
    OptionedSource.seen.clear()
    with registered(pm, Optioned(), name="opted-source"):
        app = make_app(pm)
        init = ["db", "init", url, "--time-zone", "America/Denver"]
        assert CliRunner().invoke(app, init).exit_code == 0
        done = CliRunner().invoke(
            app, ["import", "--source", "opted", "-o", "tag=x", "--db", url, "all"]
        )
        assert done.exit_code == 0, done.output
        refused = CliRunner().invoke(
            app, ["import", "--source", "opted", "-o", "colour=red", "--db", url, "all"]
        )
        assert refused.exit_code == 2
        assert "colour" in refused.output
    ((options, now),) = OptionedSource.seen
    assert options == {"tag": "x", "time_zone": "America/Denver"}
    assert now is not None
    assert now.tzinfo is not None


class Forwarding:
    """A source that wraps another and forwards every other attribute (a tracing wrapper)."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_forwarding_wrapper_offers_what_it_wraps():
    from carecore.protocols import offers

    wrapped = Forwarding(OptionedSource(DATA))
    assert offers(wrapped, "configured")
    assert offers(wrapped, "as_of")
    assert not offers(wrapped, "import_into")
    assert not offers(ListSource(DATA), "configured")


def test_import_gives_a_forwarding_wrapper_its_options(tmp_path):
    class Wrapped:
        @hookimpl
        def carecore_ehr_sources(self):
            return [Forwarding(OptionedSource(DATA))]

    pm = get_plugin_manager(entry_points=False)
    url = f"sqlite:///{tmp_path / 'wrapped.db'}"
    OptionedSource.seen.clear()
    with registered(pm, Wrapped(), name="wrapped-source"):
        app = make_app(pm)
        assert CliRunner().invoke(app, ["db", "init", url]).exit_code == 0
        done = CliRunner().invoke(
            app, ["import", "--source", "opted", "-o", "tag=y", "--db", url, "all"]
        )
        assert done.exit_code == 0, done.output
    ((options, now),) = OptionedSource.seen
    assert options["tag"] == "y"
    assert now is not None
