"""The worklist, the registry and the report decide under the close's rule set: ``--payer`` / ``--rule-set``.

A payer plugin adds ``acme-2026``: the CMS 2026 rules, but 99490 is reached
at the midpoint (11 of its 20 minutes) and significant risk counts only when
a clinician attested it. p1 and p3's conditions only the condition table
places at significant risk; p2's are attested. p1 and p2 are enrolled in
CCM with 12 staff minutes in March; p3 is not enrolled (the records of
:func:`carecore.testing.records.attestation_month`).

Under CMS the worklist asks 8 more minutes of p1 and p2 for 99490. A
practice that closes with ``--payer acme`` bills p2's 99490 already and
never p1's, so the worklist must ask 28 minutes of p2 for 99439 and none of
p1, ask for p3's attestation rather than offer enrollment, and the registry
and the report must give the same answers.
"""

from __future__ import annotations

import csv
import json

import attrs
import pendulum
import pytest
from click.testing import CliRunner

from carecore.billing import cms_rule_set
from carecore.billing.rules import SignificantRisk, TimeRule
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager, hookimpl
from carecore.service import CareProgram
from carecore.testing import registered
from carecore.testing.records import attestation_month
from tests.registry.month_records import advice, time_entry

TODAY = "2026-03-10"
VARS = ("CARECORE_DB", "CARECORE_SIGNIFICANT_RISK_FROM", "CARECORE_CONFIG")
ACME = (("--payer", "acme"), ("--rule-set", "acme-2026"))


class AcmePlugin:
    """A payer whose 99490 counts from 11 minutes and whose significant risk must be attested."""

    @hookimpl
    def carecore_rule_sets(self):
        cms = cms_rule_set(2026)
        rules = cms.with_rule(attrs.evolve(cms.rule("99490"), time_rule=TimeRule.MIDPOINT))
        return [
            attrs.evolve(
                rules,
                id="acme-2026",
                payer="acme",
                title="Example payer's care-management rules, 2026",
                switches=attrs.evolve(cms.switches, significant_risk_from=SignificantRisk.ATTESTED),
            )
        ]


@pytest.fixture
def app():
    pm = get_plugin_manager(entry_points=False)
    with registered(pm, AcmePlugin(), name="acme"):
        yield make_app(pm)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    url = f"sqlite:///{tmp_path / 'practice.db'}"
    with CareProgram.open(url, actor="test") as program, program.transaction("setup") as tx:
        for record in attestation_month():
            tx.add(record)
    return url


def _run(app, *args):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _items(app, store, *choice):
    data = json.loads(
        _run(app, "worklist", "--db", store, "--on", TODAY, "--format", "json", *choice)
    )
    return [item for lists in data.values() for item in lists["items"]]


def _advice(items):
    """What the worklist says will bill: patient -> (minutes to log, code), refused months left out."""
    return {
        i["patient_id"]: advice(i["detail"])
        for i in items
        if i["kind"] == "minutes-to-threshold" and "would still be refused" not in i["detail"]
    }


def _close(app, store, tmp_path, *choice):
    out = tmp_path / f"close{len(list(tmp_path.iterdir()))}"
    args = ["billing", "close", "--month", "2026-03", "--db", store, "--out", str(out)]
    _run(app, *args, "--no-progress", *choice)
    with (out / "claims.csv").open(newline="", encoding="utf-8") as handle:
        return {(r["patient_id"], r["code"]) for r in csv.DictReader(handle)}


def _statuses(app, store, *choice):
    args = ["registry", "--db", store, "--program", "ccm", "--as-of", TODAY, "--format", "json"]
    return {r["patient_id"]: r["status"] for r in json.loads(_run(app, *args, *choice))}


def test_without_a_choice_the_worklist_advises_under_cms(app, store):
    assert _advice(_items(app, store)) == {"p1": (8, "99490"), "p2": (8, "99490")}
    assert _advice(_items(app, store, "--payer", "cms")) == {
        "p1": (8, "99490"),
        "p2": (8, "99490"),
    }


@pytest.mark.parametrize("choice", ACME)
def test_the_worklist_advises_what_the_close_under_the_same_rule_set_bills(
    app, store, tmp_path, choice
):
    items = _items(app, store, *choice)
    assert _advice(items) == {"p2": (28, "99439")}
    kinds = {(i["patient_id"], i["kind"]) for i in items}
    assert ("p3", "needs-attestation") in kinds
    assert ("p3", "eligible-not-enrolled") not in kinds
    # What the close under that rule set bills now, and once the advice is followed.
    assert _close(app, store, tmp_path, *choice) == {("p2", "99490")}
    with CareProgram.open(store, actor="test") as program, program.transaction("log") as tx:
        tx.add(time_entry("p2-t2", "p2", 28, pendulum.Date(2026, 3, 10)))
    assert _close(app, store, tmp_path, *choice) == {("p2", "99490"), ("p2", "99439")}


@pytest.mark.parametrize("choice", ACME)
def test_the_registry_decides_under_the_chosen_rule_set(app, store, choice):
    assert _statuses(app, store) == {"p1": "eligible", "p2": "eligible", "p3": "eligible"}
    assert _statuses(app, store, *choice) == {
        "p1": "needs attestation",
        "p2": "eligible",
        "p3": "needs attestation",
    }
    # --significant-risk-from still sets the chosen rule set's switch, as on the close.
    assert set(_statuses(app, store, *choice, "--significant-risk-from", "table").values()) == {
        "eligible"
    }


def _csv(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("choice", [(), ("--rule-set", "acme-2026")])
def test_the_report_shows_the_worklist_and_registry_under_the_chosen_rule_set(
    app, store, tmp_path, choice
):
    out = tmp_path / "report"
    args = ["report", "--db", store, "--out", str(out), "--from", "2026-03", "--to", "2026-03"]
    _run(app, *args, "--as-of", TODAY, "--format", "json", *choice)
    advised = {
        r["patient_id"]: advice(r["detail"])
        for r in _csv(out / "worklist.csv")
        if r["kind"] == "minutes-to-threshold" and "would still be refused" not in r["detail"]
    }
    assert advised == _advice(_items(app, store, *choice))
    eligible = {
        r["patient_id"]
        for r in _csv(out / "eligibility.csv")
        if r["program"] == "CCM" and r["eligible"] == "true"
    }
    answers = _statuses(app, store, *choice)
    assert eligible == {pid for pid, status in answers.items() if status == "eligible"}
    assert eligible == ({"p2"} if choice else {"p1", "p2", "p3"})


@pytest.mark.parametrize("command", [["worklist"], ["registry"], ["report", "--out", "r"]])
@pytest.mark.parametrize(
    ("choice", "named"), [(("--rule-set", "nope"), "nope"), (("--payer", "nope"), "nope-2026")]
)
def test_a_rule_set_not_installed_is_refused_by_name(app, store, command, choice, named):
    args = [*command, "--db", store, "--as-of" if command[0] != "worklist" else "--on", TODAY]
    result = CliRunner().invoke(app, [*args, *choice])
    assert result.exit_code == 2
    assert named in result.output
    assert "acme-2026" in result.output  # the installed ones are listed
