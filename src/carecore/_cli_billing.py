"""``carecore billing``: evaluate scenario files and close a billing month."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from carecore import errors
from carecore.plugins import Hooks

if TYPE_CHECKING:
    import pluggy

    from carecore.billing.rules import RuleSet

#: Exit status for input that could not be read (the evaluation did not run).
EXIT_BAD_INPUT = 2


def rule_set_for(
    pm: pluggy.PluginManager, year: int, payer: str, rule_set_id: str | None
) -> RuleSet:
    """The rule set to use: by explicit id, else ``<payer>-<year>`` from the plugins."""
    from carecore.billing.rules import RuleSet  # noqa: PLC0415

    provided = Hooks(pm).rule_sets()
    wanted = rule_set_id or f"{payer}-{year}"
    if wanted not in provided:
        raise errors.NotFound(
            f"no rule set with this id (installed: {', '.join(sorted(provided)) or 'none'})",
            field="rule_set",
            value=wanted,
        )
    rules = provided[wanted]
    if not isinstance(rules, RuleSet):
        raise errors.PluginError(
            "is not a carecore.billing RuleSet", field="rule_set", value=wanted
        )
    return rules


def _fail(message: str) -> None:
    click.echo(f"carecore billing: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group()
def billing() -> None:
    """Medicare care-management billing: evaluate scenarios, close a month."""


@billing.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--payer",
    default="cms",
    show_default=True,
    help="Payer whose rule set applies (<payer>-<year>).",
)
@click.option(
    "--rule-set", "rule_set_id", default=None, help="Use this rule set id for every case."
)
@click.pass_context
def evaluate(
    ctx: click.Context, files: tuple[Path, ...], fmt: str, payer: str, rule_set_id: str | None
) -> None:
    """Evaluate billing scenario FILES (SPEC.md §0 format: one case or {"cases": [...]}).

    Every practitioner in a case is evaluated. Exits 0 when the evaluation
    ran (even if nothing is billable) and 2 when a file cannot be read, naming
    the case and the JSON path; nothing is printed from a file that failed.
    """
    from carecore.billing.engine import evaluate as run  # noqa: PLC0415
    from carecore.billing.scenarios import load_scenarios, result_to_json  # noqa: PLC0415

    pm = ctx.obj["pm"]
    results: list[tuple[Any, Any]] = []
    try:
        scenarios = [s for path in files for s in load_scenarios(path)]
        for scenario in scenarios:
            rules = rule_set_for(pm, scenario.year, payer, rule_set_id)
            results.append((scenario, run(scenario.facts, rules)))
    except errors.InvalidInput as exc:
        _fail(str(exc))
        return
    except errors.NotFound as exc:
        _fail(f"{type(exc).__name__}: {exc}")
        return
    if fmt == "json":
        payload = {"results": [result_to_json(s.id, r) for s, r in results]}
        click.echo(json.dumps(payload, indent=2))
        return
    for scenario, result in results:
        click.echo(f"{scenario.id}  {result.rule_set}  {scenario.description}".rstrip())
        if not result.claim_lines:
            click.echo("  billable: nothing")
        for line in result.claim_lines:
            amount = f"  ~${line.amount}" if line.amount is not None else ""
            mods = f" -{'-'.join(line.modifiers)}" if line.modifiers else ""
            click.echo(
                f"  bill {line.code}{mods} x{line.units}  {line.billing_practitioner_id}  "
                f"DOS {line.date_of_service.isoformat()}{amount}"
            )
        for denial in result.denials:
            click.echo(f"  not  {denial.code}  [{denial.reason.value}] {denial.message}")
        for hint in result.hints:
            click.echo(f"  hint {hint.message}")
