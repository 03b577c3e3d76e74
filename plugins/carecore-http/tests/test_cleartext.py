"""Webhook and SMS endpoints must be https:// unless cleartext is allowed on purpose (issue 20).

The channels carry patient ids and message text; they accepted ``http://``
URLs without a word.
"""

from __future__ import annotations

import pytest
from carecore_http import SmsChannel, WebhookChannel
from carecore_http.plugin import carecore_channels
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app

VARS = (
    "CARECORE_WEBHOOK_URL",
    "CARECORE_WEBHOOK_SECRET",
    "CARECORE_WEBHOOK_INSECURE",
    "CARECORE_SMS_URL",
    "CARECORE_SMS_INSECURE",
    "CARECORE_CONFIG",
    "CARECORE_DB",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no carecore.toml but the test's own
    for var in VARS:
        monkeypatch.delenv(var, raising=False)


def test_an_http_webhook_is_refused_naming_the_field_and_the_url():
    with pytest.raises(errors.InsecureTransport) as info:
        WebhookChannel(url="http://hooks.example/carecore", secret="s")
    assert info.value.field == "url"
    assert "http://hooks.example/carecore" in str(info.value)
    assert "CARECORE_WEBHOOK_INSECURE=1" in str(info.value)
    assert isinstance(info.value, errors.InvalidValue)


def test_an_http_sms_gateway_is_refused():
    with pytest.raises(errors.InsecureTransport) as info:
        SmsChannel(url="http://sms.example/send", sender="+15550100")
    assert info.value.field == "url"
    assert "CARECORE_SMS_INSECURE=1" in str(info.value)


def test_https_needs_no_permission_and_http_may_be_allowed():
    assert WebhookChannel(url="https://hooks.example/c", secret="s").url.startswith("https")
    assert SmsChannel(url="https://sms.example/send", sender="+1").url.startswith("https")
    assert WebhookChannel(url="http://127.0.0.1:9/c", secret="s", insecure=True).insecure
    assert SmsChannel(url="http://127.0.0.1:9/s", sender="+1", insecure=True).insecure


def test_the_plugin_refuses_an_http_url_from_the_environment(monkeypatch):
    monkeypatch.setenv("CARECORE_WEBHOOK_URL", "http://hooks.example/c")
    monkeypatch.setenv("CARECORE_WEBHOOK_SECRET", "s")
    with pytest.raises(errors.InsecureTransport) as info:
        carecore_channels()
    assert info.value.field == "CARECORE_WEBHOOK_URL"
    monkeypatch.setenv("CARECORE_WEBHOOK_INSECURE", "0")
    with pytest.raises(errors.InsecureTransport):
        carecore_channels()
    monkeypatch.setenv("CARECORE_WEBHOOK_INSECURE", "1")
    (channel,) = carecore_channels()
    assert channel.insecure


def test_the_plugin_refuses_an_http_sms_gateway_unless_allowed(monkeypatch):
    monkeypatch.setenv("CARECORE_SMS_URL", "http://sms.example/send")
    with pytest.raises(errors.InsecureTransport) as info:
        carecore_channels()
    assert info.value.field == "CARECORE_SMS_URL"
    monkeypatch.setenv("CARECORE_SMS_INSECURE", "yes")
    (channel,) = carecore_channels()
    assert channel.insecure


def test_a_bad_insecure_value_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("CARECORE_SMS_URL", "http://sms.example/send")
    monkeypatch.setenv("CARECORE_SMS_INSECURE", "maybe")
    with pytest.raises(errors.InvalidValue) as info:
        carecore_channels()
    assert info.value.field == "CARECORE_SMS_INSECURE"


def _outbox_run(tmp_path, monkeypatch, config=None):
    db = f"sqlite:///{tmp_path / 'o.db'}"
    app = make_app()
    runner = CliRunner()
    assert runner.invoke(app, ["db", "init", db]).exit_code == 0
    if config is not None:
        (tmp_path / "carecore.toml").write_text(config, encoding="utf-8")
    monkeypatch.setenv("CARECORE_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("CARECORE_WEBHOOK_SECRET", "s")
    return runner.invoke(app, ["outbox", "run", "--db", db])


def test_outbox_run_exits_2_for_an_http_webhook(tmp_path, monkeypatch):
    result = _outbox_run(tmp_path, monkeypatch)
    assert result.exit_code == 2, result.output
    assert "CARECORE_WEBHOOK_URL" in result.output
    assert "http://127.0.0.1:9/hook" in result.output


def test_the_config_file_may_allow_cleartext(tmp_path, monkeypatch):
    result = _outbox_run(tmp_path, monkeypatch, "webhook_insecure = true\n")
    assert result.exit_code == 0, result.output


def test_the_config_file_key_must_be_a_boolean(tmp_path, monkeypatch):
    result = _outbox_run(tmp_path, monkeypatch, 'webhook_insecure = "often"\n')
    assert result.exit_code == 2, result.output
    assert "webhook_insecure" in result.output
