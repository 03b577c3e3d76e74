"""carecore demo finds its plugins through hooks, and says how to install a missing one."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from carecore import errors
from carecore._demo import DemoSettings, run_demo
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager
from carecore.service import CareProgram

INSTALL = "pip install ./plugins/carecore-fhir ./plugins/carecore-hl7v2"


@pytest.mark.parametrize(
    ("blocked", "missing"),
    [
        (("fhir", "hl7v2"), "carecore-fhir"),
        (("fhir",), "carecore-fhir"),
        (("hl7v2",), "carecore-hl7v2"),
    ],
)
def test_a_missing_plugin_is_refused_by_name_with_the_install_command(tmp_path, blocked, missing):
    pytest.importorskip("carecore_fhir")
    pytest.importorskip("carecore_hl7v2")
    pm = get_plugin_manager(blocked=blocked)
    with (
        CareProgram.open("memory://", plugin_manager=pm) as program,
        pytest.raises(errors.MissingPlugin) as caught,
    ):
        run_demo(program, DemoSettings(patients=1, months=3), tmp_path / "report")
    assert caught.value.value == missing
    assert INSTALL in str(caught.value)
    assert not (tmp_path / "report").exists()


def test_the_command_line_exits_2_naming_the_pip_command(tmp_path):
    app = make_app(get_plugin_manager(entry_points=False))
    result = CliRunner().invoke(
        app, ["demo", "--db", "memory://", "--out", str(tmp_path / "r"), "--no-progress"]
    )
    assert result.exit_code == 2, result.output
    assert "carecore-fhir" in result.output
    assert INSTALL in result.output.replace("\n", "")


def test_the_plugins_give_the_fhir_source_and_the_mllp_listener():
    pytest.importorskip("carecore_fhir")
    pytest.importorskip("carecore_hl7v2")
    pm = get_plugin_manager()
    listeners = [item for items in pm.hook.carecore_listeners() for item in items]
    assert [item.id for item in listeners] == ["mllp"]
    assert listeners[0].frame("MSH|x") == b"\x0bMSH|x\x1c\r"
