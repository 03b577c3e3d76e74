"""A care plan a patient and caregiver can read and print: plain words, big type, no jargon."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from carecore.model import CarePlan, Patient, ZoneAction

__all__ = ["render_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 18px; line-height: 1.5; max-width: 48em; margin: 1em auto; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 1.5em; }
.zone { border-left: 0.6em solid; padding: 0.3em 0.8em; margin: 0.6em 0; }
.green { border-color: #2e7d32; } .yellow { border-color: #f9a825; } .red { border-color: #c62828; }
@media print { body { font-size: 14pt; } .zone { break-inside: avoid; } }
"""


def _zone(css: str, heading: str, zone: ZoneAction) -> str:
    signs = "".join(f"<li>{escape(s)}</li>" for s in zone.signs)
    actions = "".join(f"<li>{escape(a)}</li>" for a in zone.actions)
    call = f"<p><strong>Call:</strong> {escape(zone.call)}</p>" if zone.call else ""
    return (
        f'<div class="zone {css}"><h3>{heading}</h3><p>If you notice:</p><ul>{signs}</ul>'
        f"<p>What to do:</p><ul>{actions}</ul>{call}</div>"
    )


def render_html(
    plan: CarePlan, *, patient: Patient | None = None, contacts: Mapping[str, str] | None = None
) -> str:
    """The plan as a printable HTML page in plain language.

    It shows the patient's goals (with targets in words), what to do in each
    symptom zone, the next steps with who does them, referrals, and whom to
    call (*contacts* maps a role or person, e.g. ``"care team"``, to a phone
    number). Everything is HTML-escaped.

    >>> import pendulum
    >>> from carecore.careplans import draft_plan
    >>> from carecore.model import Coding, Condition
    >>> hf = Condition(id="c2", patient_id="p1", coding=Coding.icd10cm("I50.22"), chronic=True)
    >>> page = render_html(draft_plan("cp1", "p1", conditions=[hf], on=pendulum.Date(2026, 1, 5)),
    ...                    contacts={"care team": "555-0100"})
    >>> "Weight up 2-3 pounds in a day" in page, "555-0100" in page
    (True, True)
    """
    name = f"{patient.given_name} {patient.family_name}" if patient else "you"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Care plan for {escape(name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>My care plan{': ' + escape(name) if patient else ''}</h1>",
        f"<p>Version {plan.version}, started {plan.created_on.to_date_string()}"
        + (
            f", last reviewed {plan.last_reviewed_on.to_date_string()}"
            if plan.last_reviewed_on
            else ""
        )
        + ".</p>",
    ]
    if plan.problems:
        items = "".join(f"<li>{escape(p.description)}</li>" for p in plan.problems)
        parts.append(f"<h2>What we are working on</h2><ul>{items}</ul>")
    goals = [g for g in plan.goals if g.open]
    if goals:
        lines: list[str] = []
        for g in goals:
            target = ""
            if g.target is not None:
                t = g.target
                target = f" (goal: {escape(t.measure)} {escape(_words(t.comparator.value))} {t.value} {escape(_unit(t.unit))} by {t.due.to_date_string()})"
            lines.append(f"<li>{escape(g.description)}{target}</li>")
        parts.append(f"<h2>My goals</h2><ul>{''.join(lines)}</ul>")
    for zones in plan.symptom_plans:
        parts.append(f"<h2>{escape(zones.title)}</h2>")
        parts.append(_zone("green", "Green: I am doing well", zones.green))
        parts.append(_zone("yellow", "Yellow: warning signs, act today", zones.yellow))
        parts.append(_zone("red", "Red: emergency, act now", zones.red))
    steps = [t for t in plan.tasks if t.open]
    if steps:
        items = "".join(
            f"<li>{escape(t.description)}"
            + (f", by {t.due.to_date_string()}" if t.due else "")
            + f" ({escape(t.owner)})</li>"
            for t in steps
        )
        parts.append(f"<h2>Next steps</h2><ul>{items}</ul>")
    open_referrals = [r for r in plan.referrals if not r.loop_closed]
    if open_referrals:
        items = "".join(f"<li>{escape(r.to)}: {escape(r.reason)}</li>" for r in open_referrals)
        parts.append(f"<h2>Help we are connecting you with</h2><ul>{items}</ul>")
    if contacts:
        items = "".join(
            f"<li>{escape(who.capitalize())}: {escape(number)}</li>"
            for who, number in contacts.items()
        )
        parts.append(f"<h2>Who to call</h2><ul>{items}<li>Emergency: 911</li></ul>")
    if plan.review is not None:
        parts.append(
            f"<p>We will look at this plan together again by {plan.review.next_review.to_date_string()}.</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _words(comparator: str) -> str:
    return {"<": "under", "<=": "at most", ">": "over", ">=": "at least", "=": "of"}[comparator]


def _unit(unit: str) -> str:
    return {"mm[Hg]": "mmHg", "{score}": "points", "{stays}": "hospital stays"}.get(unit, unit)
