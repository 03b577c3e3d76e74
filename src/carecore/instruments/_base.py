"""The shape of an instrument: items, answer options, bands, scoring rules, results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from attrs import field, frozen

from carecore import errors
from carecore.model.codes import AdministrativeSex, SocialNeed

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "Answer",
    "AnswerOption",
    "Band",
    "Instrument",
    "Item",
    "RulerRule",
    "ScoreResult",
    "ScoringRule",
    "SumRule",
]

#: An answer as given to :func:`carecore.instruments.score`: an option's code
#: (a LOINC ``LA`` code), an option's score, a number for a ruler, or a
#: collection of codes for a choose-all-that-apply item.
Answer = str | int | frozenset[str] | tuple[str, ...] | list[str]


@frozen(kw_only=True)
class AnswerOption:
    """One answer to a choice item.

    ``score`` is its value in the total (None when the item is not scored);
    ``positive`` marks the answers a screening rule counts as positive (the
    underlined answers of the CMS AHC tool).
    """

    code: str
    display: str
    score: int | None = None
    positive: bool = False


@frozen(kw_only=True)
class Item:
    """One question: its id (the LOINC code where there is one), text and answers.

    A ruler item has no options and takes an integer from ``low`` to ``high``.
    """

    id: str
    text: str
    options: tuple[AnswerOption, ...] = ()
    loinc: str | None = None
    required: bool = True
    scored: bool = True
    multiple: bool = False
    low: int | None = None
    high: int | None = None

    def option(self, answer: object) -> AnswerOption:
        """The option an answer names (by code, or by score for scored items)."""
        for option in self.options:
            if option.code == answer:
                return option
        if isinstance(answer, int) and not isinstance(answer, bool):
            matches = [o for o in self.options if o.score == answer]
            if len(matches) == 1:
                return matches[0]
        choices = ", ".join(f"{o.code} ({o.display})" for o in self.options)
        raise errors.InvalidValue(
            f"is not an answer to this item; answers: {choices}", field=self.id, value=answer
        )


@frozen(kw_only=True)
class Band:
    """A severity band: totals from ``low`` to ``high`` inclusive get ``label``."""

    low: int
    high: int
    label: str

    def holds(self, total: int) -> bool:
        """Whether *total* falls in the band."""
        return self.low <= total <= self.high


@frozen(kw_only=True)
class ScoreResult:
    """What scoring a set of answers gives.

    ``total`` is None for instruments without a numeric total (the Hunger
    Vital Sign); ``positive`` is None where the instrument has no screening
    cut-off. ``flags`` are reasons to act now (``"suicidal-ideation"``);
    ``needs`` are the social needs a screen identified.
    """

    instrument_id: str
    total: int | None
    band: str | None = None
    positive: bool | None = None
    flags: tuple[str, ...] = ()
    needs: frozenset[SocialNeed] = frozenset()
    item_scores: tuple[tuple[str, int], ...] = ()


class ScoringRule(Protocol):
    """How an instrument turns checked answers into a result."""

    def evaluate(
        self,
        instrument: Instrument,
        answers: Mapping[str, AnswerOption | frozenset[AnswerOption] | int],
        sex: AdministrativeSex | None,
    ) -> ScoreResult:
        """Score answers already checked against the instrument's items."""
        ...


@frozen(kw_only=True)
class SumRule:
    """Sum the scored items; band the total; positive at ``positive_at``; flag items.

    ``flag_items`` maps an item id to ``(minimum score, flag)``: the flag is
    raised when that item scores at least the minimum, whatever the total.
    """

    bands: tuple[Band, ...] = ()
    positive_at: int | None = None
    flag_items: tuple[tuple[str, int, str], ...] = ()

    def evaluate(
        self,
        instrument: Instrument,
        answers: Mapping[str, AnswerOption | frozenset[AnswerOption] | int],
        sex: AdministrativeSex | None,  # noqa: ARG002 - the same for everyone
    ) -> ScoreResult:
        """Score by summing (see the class)."""
        scores = _item_scores(instrument, answers)
        total = sum(s for _, s in scores)
        flags = tuple(
            flag for item_id, low, flag in self.flag_items if dict(scores).get(item_id, 0) >= low
        )
        return ScoreResult(
            instrument_id=instrument.id,
            total=total,
            band=_band(self.bands, total),
            positive=None if self.positive_at is None else total >= self.positive_at,
            flags=flags,
            item_scores=scores,
        )


@frozen(kw_only=True)
class RulerRule:
    """A single 0-10 ruler: the answer is the total, banded."""

    bands: tuple[Band, ...]

    def evaluate(
        self,
        instrument: Instrument,
        answers: Mapping[str, AnswerOption | frozenset[AnswerOption] | int],
        sex: AdministrativeSex | None,  # noqa: ARG002
    ) -> ScoreResult:
        """The ruler's value and its band."""
        (item,) = instrument.items
        value = answers[item.id]
        assert isinstance(value, int)  # noqa: S101 - checked by score()
        return ScoreResult(
            instrument_id=instrument.id,
            total=value,
            band=_band(self.bands, value),
            item_scores=((item.id, value),),
        )


def _item_scores(
    instrument: Instrument, answers: Mapping[str, AnswerOption | frozenset[AnswerOption] | int]
) -> tuple[tuple[str, int], ...]:
    out = []
    for item in instrument.items:
        answer = answers.get(item.id)
        if not item.scored or answer is None:
            continue
        if isinstance(answer, AnswerOption) and answer.score is not None:
            out.append((item.id, answer.score))
        elif isinstance(answer, int):
            out.append((item.id, answer))
    return tuple(out)


def _band(bands: Iterable[Band], total: int) -> str | None:
    return next((b.label for b in bands if b.holds(total)), None)


@frozen(kw_only=True)
class Instrument:
    """An assessment instrument: its items, how it is scored, and where it comes from.

    ``loinc`` is the panel code and ``total_loinc`` the total score's code
    (None where LOINC has none: carecore never invents a code).
    """

    id: str
    title: str
    items: tuple[Item, ...]
    rule: ScoringRule
    citation: str
    loinc: str | None = None
    total_loinc: str | None = None
    kind: str = "screening"
    notes: str = ""
    _by_id: dict[str, Item] = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {item.id: item for item in self.items})

    def item(self, item_id: str) -> Item:
        """The item with this id, or a typed error naming it."""
        try:
            return self._by_id[item_id]
        except KeyError:
            raise errors.NotFound(
                f"is not an item of {self.id}", field="item", value=item_id
            ) from None
