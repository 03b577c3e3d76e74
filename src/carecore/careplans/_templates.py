"""Condition templates: the problem, goals, tasks and symptom zones a plan starts from.

Targets are common starting points from the guidelines cited on each
template, meant to be individualised with the patient; a template is data, so
a practice can pass its own.
"""

from __future__ import annotations

from attrs import field, frozen

from carecore.model import Comparator, InterventionKind, ZoneAction

__all__ = ["CONDITION_TEMPLATES", "ConditionTemplate", "GoalTemplate", "TaskTemplate"]


@frozen(kw_only=True)
class GoalTemplate:
    """A goal to propose: its words and, when measurable, its target (due after ``months``)."""

    description: str
    measure: str | None = None
    loinc: str | None = None
    comparator: Comparator | None = None
    value: str | None = None
    unit: str | None = None
    months: int = 6


@frozen(kw_only=True)
class TaskTemplate:
    """An intervention to plan: what, what kind, who owns it (a care-team role), due after ``days``."""

    description: str
    kind: InterventionKind
    owner_role: str = "care_manager"
    days: int = 14


@frozen(kw_only=True)
class ConditionTemplate:
    """What a plan for one condition starts with, matched by ICD-10-CM code prefix."""

    id: str
    name: str
    prefixes: tuple[str, ...]
    goals: tuple[GoalTemplate, ...]
    tasks: tuple[TaskTemplate, ...]
    green: ZoneAction
    yellow: ZoneAction
    red: ZoneAction
    source: str = field(default="")

    def matches(self, icd10: str) -> bool:
        """Whether an ICD-10-CM code (with or without its dot) falls under this template."""
        code = icd10.replace(".", "").upper()
        return any(code.startswith(p) for p in self.prefixes)


DIABETES = ConditionTemplate(
    id="diabetes",
    name="Diabetes",
    prefixes=("E10", "E11", "E13"),
    goals=(
        GoalTemplate(
            description="Bring my A1c under 8%",
            measure="Hemoglobin A1c",
            loinc="4548-4",
            comparator=Comparator.LT,
            value="8.0",
            unit="%",
        ),
        GoalTemplate(description="Check my blood sugar as my care team and I agreed"),
    ),
    tasks=(
        TaskTemplate(
            description="Diabetes self-management education", kind=InterventionKind.EDUCATION
        ),
        TaskTemplate(
            description="Order A1c every 3 months", kind=InterventionKind.MONITORING, days=90
        ),
        TaskTemplate(
            description="Reconcile diabetes medicines", kind=InterventionKind.MEDICATION, days=7
        ),
    ),
    green=ZoneAction(
        signs=("Blood sugar mostly in my target range", "No signs of low blood sugar"),
        actions=("Take my medicines", "Keep my meal plan and activity"),
    ),
    yellow=ZoneAction(
        signs=(
            "Blood sugar over 300 twice in a row",
            "Shaky, sweaty or confused, better after sugar",
        ),
        actions=(
            "Follow my low-sugar plan: 15 grams of fast sugar, recheck in 15 minutes",
            "Call my care team today",
        ),
        call="care team",
    ),
    red=ZoneAction(
        signs=(
            "Blood sugar under 70 that does not come up",
            "Passing out, or too confused to swallow",
        ),
        actions=("Someone calls 911",),
        call="911",
    ),
    source="American Diabetes Association, Standards of Care in Diabetes (A1c < 8% for many older adults).",
)

HEART_FAILURE = ConditionTemplate(
    id="heart-failure",
    name="Heart failure",
    prefixes=("I50",),
    goals=(
        GoalTemplate(
            description="Stay out of the hospital for my heart",
            measure="Heart failure hospital stays",
            comparator=Comparator.EQ,
            value="0",
            unit="{stays}",
        ),
        GoalTemplate(description="Weigh myself every morning and write it down"),
    ),
    tasks=(
        TaskTemplate(
            description="Teach daily weights and low-salt eating", kind=InterventionKind.EDUCATION
        ),
        TaskTemplate(
            description="Review heart failure medicines", kind=InterventionKind.MEDICATION, days=7
        ),
        TaskTemplate(
            description="Weekly weight and symptom check-in call",
            kind=InterventionKind.MONITORING,
            days=7,
        ),
    ),
    green=ZoneAction(
        signs=("No new shortness of breath", "Weight steady", "No new swelling"),
        actions=("Take my medicines", "Weigh myself every morning", "Follow my low-salt plan"),
    ),
    yellow=ZoneAction(
        signs=(
            "Weight up 2-3 pounds in a day or 5 pounds in a week",
            "More short of breath, or need more pillows to sleep",
            "More swelling in feet or legs",
        ),
        actions=("Call my care team today",),
        call="care team",
    ),
    red=ZoneAction(
        signs=("Struggling to breathe at rest", "Chest pain", "Fainting"),
        actions=("Call 911",),
        call="911",
    ),
    source="AHA/ACC/HFSA 2022 heart failure guideline; common heart-failure zone tools.",
)

COPD = ConditionTemplate(
    id="copd",
    name="COPD",
    prefixes=("J44", "J43"),
    goals=(
        GoalTemplate(description="Know and use my inhalers the right way"),
        GoalTemplate(
            description="Stay out of the hospital for my breathing",
            measure="COPD hospital stays",
            comparator=Comparator.EQ,
            value="0",
            unit="{stays}",
        ),
    ),
    tasks=(
        TaskTemplate(description="Check inhaler technique", kind=InterventionKind.EDUCATION),
        TaskTemplate(
            description="Pulmonary rehabilitation referral",
            kind=InterventionKind.COORDINATION,
            days=30,
        ),
        TaskTemplate(
            description="Review COPD medicines and vaccines",
            kind=InterventionKind.MEDICATION,
            days=7,
        ),
    ),
    green=ZoneAction(
        signs=("Breathing as usual for me", "Usual cough and mucus"),
        actions=("Take my daily inhalers", "Stay active"),
    ),
    yellow=ZoneAction(
        signs=(
            "More short of breath than usual",
            "Mucus changes color or amount",
            "Using my rescue inhaler more",
        ),
        actions=("Start my action-plan medicines if I have them", "Call my care team today"),
        call="care team",
    ),
    red=ZoneAction(
        signs=(
            "Very short of breath at rest",
            "Lips or fingers gray or blue",
            "Confused or very drowsy",
        ),
        actions=("Call 911",),
        call="911",
    ),
    source="GOLD 2025 report; American Lung Association COPD action plan.",
)

HYPERTENSION = ConditionTemplate(
    id="hypertension",
    name="High blood pressure",
    prefixes=("I10", "I11", "I12", "I13", "I15", "I16"),
    goals=(
        GoalTemplate(
            description="Bring my top blood pressure number under 130",
            measure="Systolic blood pressure",
            loinc="8480-6",
            comparator=Comparator.LT,
            value="130",
            unit="mm[Hg]",
        ),
    ),
    tasks=(
        TaskTemplate(
            description="Teach home blood pressure measurement", kind=InterventionKind.EDUCATION
        ),
        TaskTemplate(
            description="Review blood pressure readings", kind=InterventionKind.MONITORING, days=30
        ),
        TaskTemplate(
            description="Review blood pressure medicines", kind=InterventionKind.MEDICATION, days=7
        ),
    ),
    green=ZoneAction(
        signs=("Home readings under my goal", "No headache or chest pain"),
        actions=("Take my medicines", "Keep checking my blood pressure"),
    ),
    yellow=ZoneAction(
        signs=("Top number over 160 on two readings", "Dizzy when standing"),
        actions=("Call my care team today",),
        call="care team",
    ),
    red=ZoneAction(
        signs=(
            "Top number over 180 with chest pain, trouble speaking, weakness or vision changes",
        ),
        actions=("Call 911",),
        call="911",
    ),
    source="2017 ACC/AHA high blood pressure guideline (target < 130/80 for most adults).",
)

DEPRESSION = ConditionTemplate(
    id="depression",
    name="Depression",
    prefixes=("F32", "F33"),
    goals=(
        GoalTemplate(
            description="Feel better: PHQ-9 under 5",
            measure="PHQ-9 total score",
            loinc="44261-6",
            comparator=Comparator.LT,
            value="5",
            unit="{score}",
        ),
    ),
    tasks=(
        TaskTemplate(
            description="Repeat the PHQ-9 every 4 weeks", kind=InterventionKind.MONITORING, days=28
        ),
        TaskTemplate(
            description="Behavioral activation: plan one enjoyable activity a day",
            kind=InterventionKind.BEHAVIORAL,
        ),
        TaskTemplate(
            description="Review antidepressant and side effects",
            kind=InterventionKind.MEDICATION,
            days=14,
        ),
    ),
    green=ZoneAction(
        signs=("Sleeping and eating about as usual", "Doing some things I enjoy"),
        actions=("Keep my plan and my appointments",),
    ),
    yellow=ZoneAction(
        signs=("Feeling down most days for two weeks", "Stopped doing things I enjoy"),
        actions=("Call my care team this week",),
        call="care team",
    ),
    red=ZoneAction(
        signs=("Thoughts of hurting myself or that I would be better off dead",),
        actions=("Call or text 988 (Suicide and Crisis Lifeline), or call 911",),
        call="988",
    ),
    source="Collaborative care measurement-based treatment to target (PHQ-9 remission < 5; AIMS Center).",
)

#: The templates ``draft_plan`` matches conditions against, in this order.
CONDITION_TEMPLATES: tuple[ConditionTemplate, ...] = (
    DIABETES,
    HEART_FAILURE,
    COPD,
    HYPERTENSION,
    DEPRESSION,
)
