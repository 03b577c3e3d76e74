"""db init on a store already initialised never changes the stored practice time zone."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.service import CareProgram
from carecore.storage import open_store


def _init(url, *args):
    return CliRunner().invoke(make_app(), ["db", "init", url, *args])


def _zone_and_audit(url):
    """The stored zone and the store's audited changes (reads are audited too, and left out)."""
    with CareProgram.open(url, actor="t", create=False) as program:
        zone = program.practice_time_zone()
    store = open_store(url)
    try:
        with store.transaction(actor="t", reason="test", at=dt.datetime.now(dt.UTC)) as tx:
            changes = [(e.action, e.kind, e.key) for e in tx.audit_entries() if e.action != "read"]
    finally:
        store.close()
    return zone, changes


def test_a_different_zone_on_an_initialised_store_is_refused_and_changes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert _init(url, "--time-zone", "America/Chicago").exit_code == 0
    before = _zone_and_audit(url)
    result = _init(url, "--time-zone", "Europe/Paris")
    assert result.exit_code == 2, result.output
    assert "nothing to do" not in result.output
    # The field and both values, and the command that does change it.
    assert "--time-zone" in result.output
    assert "America/Chicago" in result.output
    assert "Europe/Paris" in result.output
    assert "carecore db set time-zone" in result.output
    assert _zone_and_audit(url) == before == ("America/Chicago", before[1])


@pytest.mark.parametrize("args", [(), ("--time-zone", "America/Chicago")])
def test_the_same_zone_or_none_is_still_nothing_to_do(tmp_path, args):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert _init(url, "--time-zone", "America/Chicago").exit_code == 0
    before = _zone_and_audit(url)
    result = _init(url, *args)
    assert result.exit_code == 0, result.output
    assert "already initialised at schema version" in result.output
    assert "nothing to do" in result.output
    assert _zone_and_audit(url) == before


def test_a_zone_on_an_initialised_store_without_one_is_stored_and_said(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert _init(url).exit_code == 0
    result = _init(url, "--time-zone", "Europe/Paris")
    assert result.exit_code == 0, result.output
    assert "nothing to do" not in result.output
    assert "Europe/Paris" in result.output
    assert _zone_and_audit(url)[0] == "Europe/Paris"


def test_the_typed_error_names_the_field_and_both_zones(tmp_path):
    from carecore import errors
    from carecore._cli_db import refuse_other_time_zone

    with pytest.raises(errors.InvalidValue) as caught:
        refuse_other_time_zone(stored="America/Chicago", given="Europe/Paris", url="sqlite:///x")
    assert caught.value.field == "--time-zone"
    assert caught.value.value == "Europe/Paris"
    assert "America/Chicago" in caught.value.reason
