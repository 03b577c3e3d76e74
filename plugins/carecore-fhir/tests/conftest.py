from __future__ import annotations

import gzip
import importlib.util
import os
import sys
from importlib import resources
from pathlib import Path

import pendulum
import pytest

from carecore.clock import FixedClock
from carecore.service import CareProgram

pytest_plugins = ["carecore.testing.pytest_plugin"]
# Tests share helpers of other test modules (e.g. test_phi_in_errors.patient).
sys.path.insert(0, str(Path(__file__).parent))


#: The official FHIR R4 examples the tests read (origin and licence: data/SOURCES.md).
DATA = Path(__file__).with_name("data")


def _load_server():
    spec = importlib.util.spec_from_file_location(
        "fhir_server", Path(__file__).with_name("fhir_server.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FhirHttpServer


@pytest.fixture
def fhir_server():
    """The project's own test server (tests/fhir_server.py): fault injection, request log."""
    with _load_server()() as server:
        yield server


NO_SERVER = "CARECORE_FHIR_NO_SERVER"


def _sekmet(directory: Path):
    """A running sekmet-fhir server, or a loud failure when it is not installed.

    The published server is a test dependency (``pip install ./plugins/carecore-fhir[test]``);
    a run without it fails, unless ``CARECORE_FHIR_NO_SERVER=1`` asks to skip these tests
    (for people who cannot install it; CI must not set it, and a CI run that does fails).
    """
    if os.environ.get(NO_SERVER) == "1":
        if os.environ.get("CI"):
            pytest.fail(f"{NO_SERVER}=1 is set in CI: the sekmet-fhir tests must run there")
        pytest.skip(f"{NO_SERVER}=1: the tests against sekmet-fhir are skipped")
    if importlib.util.find_spec("sekmet") is None:
        pytest.fail(
            "sekmet-fhir is not installed: pip install './plugins/carecore-fhir[test]' "
            f"(or set {NO_SERVER}=1 to skip the tests against it)"
        )
    spec = importlib.util.spec_from_file_location(
        "sekmet_server", Path(__file__).with_name("sekmet_server.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SekmetServer(directory)


@pytest.fixture(scope="session")
def sekmet(tmp_path_factory):
    """One sekmet-fhir server for the session: tests keep to their own ids and identifiers."""
    with _sekmet(tmp_path_factory.mktemp("sekmet")) as server:
        yield server


@pytest.fixture
def empty_sekmet(tmp_path_factory):
    """A sekmet-fhir server of its own (about 1 s to start), for tests that read everything."""
    with _sekmet(tmp_path_factory.mktemp("sekmet-empty")) as server:
        yield server


@pytest.fixture(scope="session")
def synthea_paths(tmp_path_factory):
    """The nine Synthea bundles carecore ships, unpacked as plain ``.json`` files, by name."""
    folder = tmp_path_factory.mktemp("synthea")
    shipped = resources.files("carecore") / "_demo_data" / "synthea"
    paths = []
    for item in sorted(shipped.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json.gz"):
            path = folder / item.name.removesuffix(".gz")
            path.write_bytes(gzip.decompress(item.read_bytes()))
            paths.append(path)
    assert len(paths) == 9, paths
    return paths


@pytest.fixture(scope="session")
def example_paths():
    return sorted((DATA / "fhir_r4_examples").glob("*.json"))


@pytest.fixture
def make_program(tmp_path, carecore_pm):
    opened = []

    def make(name: str = "fhir") -> CareProgram:
        program = CareProgram.open(
            f"sqlite:///{tmp_path / f'{name}.db'}",
            actor="fhir-test",
            clock=FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC")),
            plugin_manager=carecore_pm,
        )
        opened.append(program)
        return program

    yield make
    for program in opened:
        program.close()


@pytest.fixture
def program(make_program):
    return make_program()


def demo_plugins():
    """carecore's built-ins with the two plugins the demo needs (not every installed plugin)."""
    import carecore_fhir.plugin
    import carecore_hl7v2.plugin

    from carecore.plugins import get_plugin_manager

    pm = get_plugin_manager(entry_points=False)
    pm.register(carecore_fhir.plugin, name="fhir")
    pm.register(carecore_hl7v2.plugin, name="hl7v2")
    return pm


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    """A SQLite store the default ``carecore demo`` built (about 10 s, once a session)."""
    from carecore._demo import DemoSettings, run_demo

    directory = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{directory / 'carecore-demo.db'}"
    with CareProgram.open(url, actor="carecore-demo", plugin_manager=demo_plugins()) as p:
        run_demo(p, DemoSettings(), directory / "report")
    return url


@pytest.fixture(scope="session")
def demo_program(demo_db):
    with CareProgram.open(demo_db, actor="fhir-test", plugin_manager=demo_plugins()) as p:
        yield p
