"""``tcm list`` shows a discharge's local date in the practice's zone, on every store.

PostgreSQL keeps an instant as UTC: a discharge at 23:30 in Chicago on
3 December is 05:30 UTC on the 4th, and the list must still say the 3rd.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

APP = make_app(get_plugin_manager())


def _a03(discharged: str) -> str:
    pv1 = ["PV1", "1", "I", "W3^301^A^GEN"] + [""] * 42
    pv1[19], pv1[36], pv1[44], pv1[45] = "V1", "01", "202611301000", discharged
    return (
        "MSH|^~\\&|ADT|GEN|CC|PRAC|202612032340||ADT^A03|M1|P|2.5\r"
        "PID|1||1001^^^GEN^MR||Doe^Jane||19500101|F\r" + "|".join(pv1) + "\r"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize(("discharged", "local_day"), [("202612032330", "2026-12-03")])
def test_the_discharge_date_is_the_practice_s_local_date(store, tmp_path, discharged, local_day):
    run = CliRunner().invoke
    made = run(APP, ["db", "init", store, "--time-zone", "America/Chicago"])
    assert made.exit_code == 0, made.output
    feed = tmp_path / "a03.hl7"
    feed.write_text(_a03(discharged))
    taken = run(APP, ["hl7", "import", "--db", store, str(feed)])
    assert taken.exit_code == 0, taken.output
    listed = run(
        APP, ["tcm", "list", "--db", store, "--all", "--as-of", "2026-12-04", "--format", "json"]
    )
    assert listed.exit_code == 0, listed.output
    (episode,) = json.loads(listed.output)
    assert episode["discharge_date"] == local_day
    # The deadlines count from the same local day: contact by the second business day.
    assert episode["contact_due"] == "2026-12-07"
    table = run(APP, ["tcm", "list", "--db", store, "--all", "--as-of", "2026-12-04"])
    assert local_day in table.output
