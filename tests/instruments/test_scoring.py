"""Instrument scoring against hand-worked examples at every band boundary, and bad answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carecore import errors
from carecore.instruments import BUILTIN_INSTRUMENTS, get_instrument, score
from carecore.model import AdministrativeSex, SocialNeed


def spread(instrument_id, total):
    """Answers (as scores) to an instrument's scored items adding up to *total*, filled in order."""
    items = [i for i in get_instrument(instrument_id).items if i.scored and i.required]
    top = max(o.score for o in items[0].options)
    answers, left = {}, total
    for item in items:
        answers[item.id] = min(top, left)
        left -= answers[item.id]
    assert left == 0
    return answers


# (total, band) pairs worked by hand from the published cut points: the last
# score of each band and the first of the next.
PHQ9 = [
    (0, "none-minimal"),
    (4, "none-minimal"),
    (5, "mild"),
    (9, "mild"),
    (10, "moderate"),
    (14, "moderate"),
    (15, "moderately severe"),
    (19, "moderately severe"),
    (20, "severe"),
    (27, "severe"),
]
GAD7 = [
    (0, "minimal"),
    (4, "minimal"),
    (5, "mild"),
    (9, "mild"),
    (10, "moderate"),
    (14, "moderate"),
    (15, "severe"),
    (21, "severe"),
]


@pytest.mark.parametrize(("total", "band"), PHQ9)
def test_phq9_bands(total, band):
    answers = spread("phq-9", total)
    answers["44260-8"] = 0  # keep item 9 out of the flag for the band check
    if total > 24:
        answers = dict.fromkeys(answers, 3)
        answers["44260-8"] = total - 24
    result = score("phq-9", answers)
    assert (result.total, result.band, result.positive) == (total, band, total >= 10)


def test_phq9_item_nine_flags_whatever_the_total():
    answers = {i.id: 0 for i in get_instrument("phq-9").items if i.scored}
    answers["44260-8"] = "LA6569-3"  # several days
    result = score("phq-9", answers)
    assert (result.total, result.band, result.flags) == (1, "none-minimal", ("suicidal-ideation",))
    answers["44260-8"] = "LA6568-5"
    assert score("phq-9", answers).flags == ()


def test_phq9_difficulty_item_is_asked_not_scored():
    answers = spread("phq-9", 6) | {"44260-8": 0}
    with_difficulty = score("phq-9", answers | {"69722-7": "LA6574-3"})
    assert with_difficulty.total == score("phq-9", answers).total == 6


@pytest.mark.parametrize(("total", "band"), GAD7)
def test_gad7_bands(total, band):
    result = score("gad-7", spread("gad-7", total))
    assert (result.total, result.band, result.positive) == (total, band, total >= 10)


@pytest.mark.parametrize("instrument", ["phq-2", "gad-2"])
@pytest.mark.parametrize(("total", "positive"), [(0, False), (2, False), (3, True), (6, True)])
def test_two_item_screens_are_positive_from_three(instrument, total, positive):
    result = score(instrument, spread(instrument, total))
    assert (result.total, result.positive) == (total, positive)


@pytest.mark.parametrize(
    ("sex", "total", "positive"),
    [
        (AdministrativeSex.MALE, 3, False),
        (AdministrativeSex.MALE, 4, True),
        (AdministrativeSex.FEMALE, 2, False),
        (AdministrativeSex.FEMALE, 3, True),
        (AdministrativeSex.UNKNOWN, 3, True),
        (None, 3, True),
        (None, 2, False),
    ],
)
def test_audit_c_cut_offs_depend_on_sex(sex, total, positive):
    # Spread over questions 2 and 3 first, so no "q1-only" flag.
    answers = {"68518-0": 0, "68519-8": min(4, total), "68520-6": max(0, total - 4)}
    result = score("audit-c", answers, sex=sex)
    assert (result.total, result.positive, result.flags) == (total, positive, ())


def test_audit_c_flags_a_positive_from_question_one_only():
    answers = {"68518-0": "LA18929-2", "68519-8": "LA15694-5", "68520-6": "LA6270-8"}
    result = score("audit-c", answers, sex=AdministrativeSex.MALE)
    assert (result.total, result.positive, result.flags) == (4, True, ("q1-only",))


NEGATIVE_AHC = {
    "71802-3": "LA31993-1",
    "96778-6": ["LA9-3"],
    "88122-7": "LA28398-8",
    "88123-5": "LA28398-8",
    "93030-5": "LA32-8",
    "96779-4": "LA32-8",
    "95618-5": "LA6270-8",
    "95617-7": "LA6270-8",
    "95616-9": "LA6270-8",
    "95615-1": "LA6270-8",
}


def test_ahc_all_negative():
    result = score("ahc-hrsn", NEGATIVE_AHC)
    assert (result.needs, result.positive, result.total) == (frozenset(), False, 4)


@pytest.mark.parametrize(
    ("change", "need"),
    [
        ({"71802-3": "LA31994-9"}, SocialNeed.HOUSING_INSTABILITY),
        ({"71802-3": "LA31995-6"}, SocialNeed.HOUSING_INSTABILITY),
        ({"96778-6": ["LA28580-1", "LA32001-2"]}, SocialNeed.HOUSING_QUALITY),
        ({"88122-7": "LA6729-3"}, SocialNeed.FOOD_INSECURITY),
        ({"88123-5": "LA28397-0"}, SocialNeed.FOOD_INSECURITY),
        ({"93030-5": "LA33-6"}, SocialNeed.TRANSPORTATION),
        ({"96779-4": "LA33-6"}, SocialNeed.UTILITIES),
        ({"96779-4": "LA32002-0"}, SocialNeed.UTILITIES),
    ],
)
def test_ahc_each_positive_answer_identifies_its_need(change, need):
    result = score("ahc-hrsn", NEGATIVE_AHC | change)
    assert result.needs == {need}
    assert result.positive is True


@pytest.mark.parametrize(
    ("scores", "positive"), [((1, 2, 3, 4), False), ((2, 3, 3, 3), True), ((5, 1, 1, 1), False)]
)
def test_ahc_safety_is_positive_from_eleven(scores, positive):
    safety = dict(zip(("95618-5", "95617-7", "95616-9", "95615-1"), scores, strict=True))
    result = score("ahc-hrsn", NEGATIVE_AHC | safety)
    assert result.total == sum(scores)
    assert (SocialNeed.INTERPERSONAL_SAFETY in result.needs) is positive


@pytest.mark.parametrize(
    ("value", "band"),
    [(0, "not ready"), (3, "not ready"), (4, "unsure"), (6, "unsure"), (7, "ready"), (10, "ready")],
)
def test_readiness_ruler_bands(value, band):
    assert score("readiness-ruler", {"readiness": value}).band == band


# -- bad answers ----------------------------------------------------------------------


def test_missing_items_are_all_named():
    with pytest.raises(errors.InvalidInput) as info:
        score("gad-7", {"69725-0": 1})
    paths = [p.path for p in info.value.problems]
    assert paths == [
        f"$.{i}" for i in ("68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7")
    ]


@pytest.mark.parametrize(
    ("instrument", "item", "bad"),
    [
        ("phq-9", "44250-9", 4),
        ("phq-9", "44250-9", "LA9999-9"),
        ("phq-9", "44250-9", ["LA6568-5"]),
        ("readiness-ruler", "readiness", 11),
        ("readiness-ruler", "readiness", -1),
        ("readiness-ruler", "readiness", 5.5),
        ("confidence-scale", "confidence", True),
        ("ahc-hrsn", "96778-6", []),
        ("ahc-hrsn", "96778-6", ["LA28580-1", "nope"]),
    ],
)
def test_out_of_range_answers_name_the_item(instrument, item, bad):
    instrument_ = get_instrument(instrument)
    good = {
        i.id: (i.low or 0) if not i.options else i.options[0].code
        for i in instrument_.items
        if i.required
    }
    if instrument == "ahc-hrsn":
        good = dict(NEGATIVE_AHC)
    with pytest.raises(errors.InvalidInput) as info:
        score(instrument, good | {item: bad})
    assert [p.path for p in info.value.problems] == [f"$.{item}"]
    assert info.value.problems[0].value == bad


def test_unknown_items_and_instruments():
    with pytest.raises(errors.InvalidInput) as info:
        score("phq-2", {"44250-9": 0, "44255-8": 0, "12345-6": 1})
    assert [p.path for p in info.value.problems] == ["$.12345-6"]
    with pytest.raises(errors.NotFound) as missing:
        score("phq-10", {})
    assert (missing.value.field, missing.value.value) == ("instrument_id", "phq-10")
    with pytest.raises(errors.InvalidValue):
        score("phq-2", [("44250-9", 0)])
    with pytest.raises(errors.InvalidValue) as sex:
        score("audit-c", {"68518-0": 0, "68519-8": 0, "68520-6": 0}, sex="male")
    assert sex.value.field == "sex"


@st.composite
def answered(draw):
    instrument = draw(st.sampled_from([i for i in BUILTIN_INSTRUMENTS if i.kind != "social-needs"]))
    answers = {}
    for item in instrument.items:
        if not item.required and draw(st.booleans()):
            continue
        if item.options:
            answers[item.id] = draw(st.sampled_from(item.options)).code
        else:
            answers[item.id] = draw(st.integers(item.low or 0, item.high))
    return instrument, answers


@given(answered())
def test_totals_are_the_sum_of_scored_answers_and_lie_in_their_band(case):
    instrument, answers = case
    result = score(instrument, answers, sex=AdministrativeSex.FEMALE)
    expected = 0
    for item in instrument.items:
        if item.scored and item.id in answers:
            given_ = answers[item.id]
            expected += given_ if isinstance(given_, int) else item.option(given_).score
    assert result.total == expected
    bands = getattr(instrument.rule, "bands", ())
    if bands:
        (band,) = [b for b in bands if b.low <= expected <= b.high]
        assert result.band == band.label


def test_none_of_the_above_cannot_be_chosen_with_a_problem():
    with pytest.raises(errors.InvalidInput) as info:
        score("ahc-hrsn", NEGATIVE_AHC | {"96778-6": ["LA9-3", "LA28580-1"]})
    assert [p.path for p in info.value.problems] == ["$.96778-6"]
