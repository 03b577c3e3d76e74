"""The e-mail channel's settings from the environment are checked by name."""

from __future__ import annotations

import pytest
from carecore_email.plugin import carecore_channels
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app


@pytest.mark.parametrize("port", ["abc", "0", "70000", "-1", ""])
def test_a_bad_smtp_port_is_refused_by_name(monkeypatch, port):
    """CARECORE_SMTP_PORT=abc gave a ValueError traceback."""
    monkeypatch.setenv("CARECORE_SMTP_PORT", port)
    with pytest.raises(errors.InvalidValue) as info:
        carecore_channels()
    assert info.value.field == "CARECORE_SMTP_PORT"


def test_a_good_port_is_used(monkeypatch):
    monkeypatch.setenv("CARECORE_SMTP_PORT", " 2525 ")
    (channel,) = carecore_channels()
    assert channel.port == 2525


def test_outbox_run_exits_2_for_a_bad_port(monkeypatch, tmp_path):
    db = f"sqlite:///{tmp_path / 'o.db'}"
    app = make_app()
    runner = CliRunner()
    assert runner.invoke(app, ["db", "init", db]).exit_code == 0
    monkeypatch.setenv("CARECORE_SMTP_PORT", "abc")
    result = runner.invoke(app, ["outbox", "run", "--db", db])
    assert result.exit_code == 2, result.output
    assert "CARECORE_SMTP_PORT" in result.output
