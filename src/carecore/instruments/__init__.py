"""Assessment instruments and their scoring.

carecore ships the PHQ-2, PHQ-9, GAD-2, GAD-7, AUDIT-C, the CMS AHC HRSN core
questions, the Hunger Vital Sign, a readiness-to-change ruler and a 0-10
confidence scale, each with its LOINC codes (where LOINC has them), items,
answers, scoring, bands and citation. Plugins add more through
``carecore_instruments()``.

Answers are given per item id (the item's LOINC code): an answer's code
(``"LA6569-3"``), its score (``1``), a number for a ruler, or a set of codes
for a choose-all-that-apply item.

>>> result = score("phq-9", {"44250-9": 2, "44255-8": 2, "44259-0": 1, "44254-1": 2,
...     "44251-7": 1, "44258-2": 1, "44252-5": 1, "44253-3": 0, "44260-8": "LA6569-3"})
>>> result.total, result.band, result.flags
(11, 'moderate', ('suicidal-ideation',))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from carecore import errors
from carecore.instruments._base import (
    Answer,
    AnswerOption,
    Band,
    Instrument,
    Item,
    RulerRule,
    ScoreResult,
    ScoringRule,
    SumRule,
)
from carecore.instruments._catalog import BUILTIN_INSTRUMENTS, AuditCRule, NeedsRule
from carecore.model.codes import AdministrativeSex

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "BUILTIN_INSTRUMENTS",
    "Answer",
    "AnswerOption",
    "AuditCRule",
    "Band",
    "Instrument",
    "Item",
    "NeedsRule",
    "RulerRule",
    "ScoreResult",
    "ScoringRule",
    "SumRule",
    "get_instrument",
    "score",
]

_BUILTIN = {i.id: i for i in BUILTIN_INSTRUMENTS}


def get_instrument(
    instrument_id: str, registry: Mapping[str, Instrument] | None = None
) -> Instrument:
    """The instrument with this id from *registry* (default: the built-ins).

    >>> get_instrument("gad-7").total_loinc
    '70274-6'
    >>> get_instrument("phq-99")
    Traceback (most recent call last):
    ...
    carecore.errors.NotFound: instrument_id='phq-99': no such instrument (known: ahc-hrsn, audit-c, confidence-scale, gad-2, gad-7, hunger-vital-sign, phq-2, phq-9, readiness-ruler)
    """
    known = _BUILTIN if registry is None else registry
    found = known.get(instrument_id) if isinstance(instrument_id, str) else None
    if found is None:
        shown = ", ".join(sorted(known))
        raise errors.NotFound(
            f"no such instrument (known: {shown})", field="instrument_id", value=instrument_id
        )
    return found


def score(
    instrument: str | Instrument,
    answers: Mapping[str, Answer],
    *,
    sex: AdministrativeSex | None = None,
    registry: Mapping[str, Instrument] | None = None,
) -> ScoreResult:
    """Score *answers* to an instrument: total, band, flags and identified social needs.

    Every problem is reported at once in :class:`~carecore.errors.InvalidInput`,
    each naming its item: a required item left out, an answer that is not one
    of the item's options, a ruler value out of range, an item the instrument
    does not have.

    >>> score("hunger-vital-sign", {"88122-7": "LA6729-3", "88123-5": "LA28398-8"}).needs
    frozenset({<SocialNeed.FOOD_INSECURITY: 'food-insecurity'>})
    >>> score("gad-2", {"69725-0": 1})
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidInput: invalid answers to gad-2: 1 problem
      $.68509-9: required item is not answered (Not being able to stop or control worrying)
    """
    chosen = (
        instrument if isinstance(instrument, Instrument) else get_instrument(instrument, registry)
    )
    if not isinstance(answers, Mapping):
        raise errors.InvalidValue("must map item ids to answers", field="answers", value=answers)
    if sex is not None and not isinstance(sex, AdministrativeSex):
        raise errors.InvalidValue("must be an AdministrativeSex", field="sex", value=sex)
    checked, problems = _check(chosen, answers)
    if problems:
        raise errors.InvalidInput(f"answers to {chosen.id}", problems=problems)
    return chosen.rule.evaluate(chosen, checked, sex)


def _check(
    instrument: Instrument, answers: Mapping[str, Answer]
) -> tuple[dict[str, AnswerOption | frozenset[AnswerOption] | int], list[errors.Problem]]:
    checked: dict[str, AnswerOption | frozenset[AnswerOption] | int] = {}
    problems: list[errors.Problem] = []
    problems += [
        errors.Problem(
            path=f"$.{key}", message=f"is not an item of {instrument.id}", value=answers[key]
        )
        for key in answers
        if key not in instrument._by_id  # noqa: SLF001 - the instrument's own index
    ]
    for item in instrument.items:
        path = f"$.{item.id}"
        if item.id not in answers or answers[item.id] is None:
            if item.required:
                problems.append(
                    errors.Problem(
                        path=path, message=f"required item is not answered ({item.text})"
                    )
                )
            continue
        given = answers[item.id]
        try:
            checked[item.id] = _one(item, given)
        except errors.InvalidValue as exc:
            problems.append(errors.Problem(path=path, message=exc.reason, value=given))
    return checked, problems


def _one(item: Item, given: object) -> AnswerOption | frozenset[AnswerOption] | int:
    if not item.options:
        low, high = item.low or 0, item.high if item.high is not None else 10
        if isinstance(given, bool) or not isinstance(given, int) or not low <= given <= high:
            raise errors.InvalidValue(
                f"must be a whole number from {low} to {high}", field=item.id, value=given
            )
        return given
    if item.multiple:
        codes: Iterable[object] = (given,) if isinstance(given, str) else given  # type: ignore[assignment]
        try:
            options = frozenset(item.option(code) for code in codes)
        except TypeError:
            raise errors.InvalidValue(
                "must be one code or a list of codes", field=item.id, value=given
            ) from None
        if not options:
            raise errors.InvalidValue("choose at least one answer", field=item.id, value=given)
        exclusive = [o for o in options if o.score is None and not o.positive and o.code == "LA9-3"]
        if exclusive and len(options) > 1:
            raise errors.InvalidValue(
                "'None of the above' cannot be chosen with other answers",
                field=item.id,
                value=given,
            )
        return options
    if isinstance(given, (list, tuple, set, frozenset)):
        raise errors.InvalidValue("takes one answer", field=item.id, value=given)
    return item.option(given)
