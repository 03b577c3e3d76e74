"""The built-in instruments, written from their published forms and LOINC.

Codes, texts, answer scores and cut-offs come from LOINC (loinc.org), the
NLM LHC-Forms PHQ-9 and Hunger Vital Sign questionnaires, the US Core AUDIT-C
questionnaire and the CMS AHC HRSN screening tool (2018); each instrument's
``citation`` names its paper. Where LOINC has no code (the GAD-2 panel and
total, the 0-10 rulers) the field is None: carecore never invents one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import frozen

from carecore.instruments._base import (
    AnswerOption,
    Band,
    Instrument,
    Item,
    RulerRule,
    ScoreResult,
    SumRule,
    _item_scores,
)
from carecore.model.codes import AdministrativeSex, SocialNeed

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["BUILTIN_INSTRUMENTS", "AuditCRule", "NeedsRule"]

# -- PHQ and GAD --------------------------------------------------------------------

_FREQUENCY = (
    AnswerOption(code="LA6568-5", display="Not at all", score=0),
    AnswerOption(code="LA6569-3", display="Several days", score=1),
    AnswerOption(code="LA6570-1", display="More than half the days", score=2),
    AnswerOption(code="LA6571-9", display="Nearly every day", score=3),
)
_DIFFICULTY = (
    AnswerOption(code="LA6572-7", display="Not difficult at all"),
    AnswerOption(code="LA6573-5", display="Somewhat difficult"),
    AnswerOption(code="LA6575-0", display="Very difficult"),
    AnswerOption(code="LA6574-3", display="Extremely difficult"),
)


def _freq(loinc: str, text: str) -> Item:
    return Item(id=loinc, loinc=loinc, text=text, options=_FREQUENCY)


_PHQ_ITEMS = (
    _freq("44250-9", "Little interest or pleasure in doing things"),
    _freq("44255-8", "Feeling down, depressed, or hopeless"),
    _freq("44259-0", "Trouble falling or staying asleep, or sleeping too much"),
    _freq("44254-1", "Feeling tired or having little energy"),
    _freq("44251-7", "Poor appetite or overeating"),
    _freq(
        "44258-2",
        "Feeling bad about yourself - or that you are a failure or have let yourself or your family down",
    ),
    _freq(
        "44252-5",
        "Trouble concentrating on things, such as reading the newspaper or watching television",
    ),
    _freq(
        "44253-3",
        "Moving or speaking so slowly that other people could have noticed. Or the opposite - being so "
        "fidgety or restless that you have been moving around a lot more than usual",
    ),
    _freq(
        "44260-8", "Thoughts that you would be better off dead, or of hurting yourself in some way"
    ),
)

PHQ9 = Instrument(
    id="phq-9",
    title="Patient Health Questionnaire-9 (PHQ-9)",
    loinc="44249-1",
    total_loinc="44261-6",
    items=(
        *_PHQ_ITEMS,
        Item(
            id="69722-7",
            loinc="69722-7",
            text="How difficult have these problems made it for you to do your work, take care of things "
            "at home, or get along with other people?",
            options=_DIFFICULTY,
            required=False,
            scored=False,
        ),
    ),
    rule=SumRule(
        bands=(
            Band(low=0, high=4, label="none-minimal"),
            Band(low=5, high=9, label="mild"),
            Band(low=10, high=14, label="moderate"),
            Band(low=15, high=19, label="moderately severe"),
            Band(low=20, high=27, label="severe"),
        ),
        positive_at=10,
        flag_items=(("44260-8", 1, "suicidal-ideation"),),
    ),
    citation="Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief depression severity "
    "measure. J Gen Intern Med. 2001;16(9):606-613. LOINC 44249-1.",
    notes="Item 9 (44260-8) above 'Not at all' raises 'suicidal-ideation' whatever the total. "
    "The difficulty item (69722-7) is asked but not scored. 'positive' marks a total of 10 or more.",
)

PHQ2 = Instrument(
    id="phq-2",
    title="Patient Health Questionnaire-2 (PHQ-2)",
    loinc="55757-9",
    total_loinc="55758-7",
    items=_PHQ_ITEMS[:2],
    rule=SumRule(positive_at=3),
    citation="Kroenke K, Spitzer RL, Williams JBW. The Patient Health Questionnaire-2: validity of a "
    "two-item depression screener. Med Care. 2003;41(11):1284-1292. LOINC 55757-9.",
    notes="A total of 3 or more is positive; follow with the PHQ-9.",
)

_GAD_ITEMS = (
    _freq("69725-0", "Feeling nervous, anxious, or on edge"),
    _freq("68509-9", "Not being able to stop or control worrying"),
    _freq("69733-4", "Worrying too much about different things"),
    _freq("69734-2", "Trouble relaxing"),
    _freq("69735-9", "Being so restless that it is hard to sit still"),
    _freq("69689-8", "Becoming easily annoyed or irritable"),
    _freq("69736-7", "Feeling afraid as if something awful might happen"),
)

GAD7 = Instrument(
    id="gad-7",
    title="Generalized Anxiety Disorder-7 (GAD-7)",
    loinc="69737-5",
    total_loinc="70274-6",
    items=_GAD_ITEMS,
    rule=SumRule(
        bands=(
            Band(low=0, high=4, label="minimal"),
            Band(low=5, high=9, label="mild"),
            Band(low=10, high=14, label="moderate"),
            Band(low=15, high=21, label="severe"),
        ),
        positive_at=10,
    ),
    citation="Spitzer RL, Kroenke K, Williams JBW, Lowe B. A brief measure for assessing generalized "
    "anxiety disorder: the GAD-7. Arch Intern Med. 2006;166(10):1092-1097. LOINC 69737-5.",
    notes="A total of 10 or more calls for further evaluation ('positive').",
)

GAD2 = Instrument(
    id="gad-2",
    title="Generalized Anxiety Disorder-2 (GAD-2)",
    items=_GAD_ITEMS[:2],
    rule=SumRule(positive_at=3),
    citation="Kroenke K, Spitzer RL, Williams JBW, Monahan PO, Lowe B. Anxiety disorders in primary "
    "care: prevalence, impairment, comorbidity, and detection. Ann Intern Med. 2007;146(5):317-325.",
    notes="LOINC has no GAD-2 panel or total code; the items are GAD-7's first two. 3 or more is positive.",
)

# -- AUDIT-C --------------------------------------------------------------------------


@frozen(kw_only=True)
class AuditCRule:
    """AUDIT-C: 0-12, positive at ``men_at`` for men and ``women_at`` for women.

    ``other_at`` applies to other and unknown administrative sex; it defaults
    to the women's (lower) cut-off, so no one is screened out by a missing
    sex. A positive total that comes only from question 1 is flagged
    ``"q1-only"`` for clinician review (LOINC 75626-2's guidance).
    """

    men_at: int = 4
    women_at: int = 3
    other_at: int = 3

    def evaluate(
        self,
        instrument: Instrument,
        answers: Mapping[str, AnswerOption | frozenset[AnswerOption] | int],
        sex: AdministrativeSex | None,
    ) -> ScoreResult:
        """Score the three questions and apply the sex-specific cut-off."""
        scores = _item_scores(instrument, answers)
        total = sum(s for _, s in scores)
        if sex is AdministrativeSex.MALE:
            cut = self.men_at
        elif sex is AdministrativeSex.FEMALE:
            cut = self.women_at
        else:
            cut = self.other_at
        positive = total >= cut
        _q1, q2, q3 = (s for _, s in scores)
        flags = ("q1-only",) if positive and q2 == 0 and q3 == 0 else ()
        return ScoreResult(
            instrument_id=instrument.id,
            total=total,
            band="positive" if positive else "negative",
            positive=positive,
            flags=flags,
            item_scores=scores,
        )


AUDITC = Instrument(
    id="audit-c",
    title="Alcohol Use Disorders Identification Test - Consumption (AUDIT-C)",
    loinc="72109-2",
    total_loinc="75626-2",
    items=(
        Item(
            id="68518-0",
            loinc="68518-0",
            text="How often do you have a drink containing alcohol?",
            options=(
                AnswerOption(code="LA6270-8", display="Never", score=0),
                AnswerOption(code="LA18926-8", display="Monthly or less", score=1),
                AnswerOption(code="LA18927-6", display="2-4 times a month", score=2),
                AnswerOption(code="LA18928-4", display="2-3 times a week", score=3),
                AnswerOption(code="LA18929-2", display="4 or more times a week", score=4),
            ),
        ),
        Item(
            id="68519-8",
            loinc="68519-8",
            text="How many standard drinks containing alcohol do you have on a typical day?",
            options=(
                AnswerOption(code="LA15694-5", display="1 or 2", score=0),
                AnswerOption(code="LA15695-2", display="3 or 4", score=1),
                AnswerOption(code="LA18930-0", display="5 or 6", score=2),
                AnswerOption(code="LA18931-8", display="7 to 9", score=3),
                AnswerOption(code="LA18932-6", display="10 or more", score=4),
            ),
        ),
        Item(
            id="68520-6",
            loinc="68520-6",
            text="How often do you have six or more drinks on one occasion?",
            options=(
                AnswerOption(code="LA6270-8", display="Never", score=0),
                AnswerOption(code="LA18933-4", display="Less than monthly", score=1),
                AnswerOption(code="LA18876-5", display="Monthly", score=2),
                AnswerOption(code="LA18891-4", display="Weekly", score=3),
                AnswerOption(code="LA18934-2", display="Daily or almost daily", score=4),
            ),
        ),
    ),
    rule=AuditCRule(),
    citation="Bush K, Kivlahan DR, McDonell MB, Fihn SD, Bradley KA. The AUDIT alcohol consumption "
    "questions (AUDIT-C). Arch Intern Med. 1998;158(16):1789-1795; Bradley KA et al. Arch Intern Med. "
    "2003;163(7):821-829. LOINC 72109-2, 75626-2.",
    notes="Positive at 4 or more for men and 3 or more for women (LOINC 75626-2); pass the patient's "
    "administrative sex. The cut-offs are switches on AuditCRule.",
)

# -- social needs ---------------------------------------------------------------------

_OFTEN = AnswerOption(code="LA28397-0", display="Often true", positive=True)
_SOMETIMES = AnswerOption(code="LA6729-3", display="Sometimes true", positive=True)
_NEVER_TRUE = AnswerOption(code="LA28398-8", display="Never true")
_YES = AnswerOption(code="LA33-6", display="Yes", positive=True)
_NO = AnswerOption(code="LA32-8", display="No")
_HOW_OFTEN = (
    AnswerOption(code="LA6270-8", display="Never", score=1),
    AnswerOption(code="LA10066-1", display="Rarely", score=2),
    AnswerOption(code="LA10082-8", display="Sometimes", score=3),
    AnswerOption(code="LA16644-9", display="Fairly often", score=4),
    AnswerOption(code="LA6482-9", display="Frequently", score=5),
)
_SAFETY = ("95618-5", "95617-7", "95616-9", "95615-1")


@frozen(kw_only=True)
class NeedsRule:
    """A social-needs screen: each domain is positive when one of its items has a positive answer.

    ``domains`` maps each need to the item ids that screen for it;
    ``safety_at`` is the interpersonal-safety total (items 7-10 of the AHC
    tool, scored 1-5) from which the safety domain is positive.
    """

    domains: tuple[tuple[SocialNeed, tuple[str, ...]], ...]
    safety_at: int | None = None

    def evaluate(
        self,
        instrument: Instrument,
        answers: Mapping[str, AnswerOption | frozenset[AnswerOption] | int],
        sex: AdministrativeSex | None,  # noqa: ARG002
    ) -> ScoreResult:
        """The needs identified, and the safety total where the tool has one."""
        needs = set()
        for need, item_ids in self.domains:
            for item_id in item_ids:
                answer = answers.get(item_id)
                chosen = answer if isinstance(answer, frozenset) else {answer}
                if any(isinstance(a, AnswerOption) and a.positive for a in chosen):
                    needs.add(need)
        total = None
        scores: tuple[tuple[str, int], ...] = ()
        if self.safety_at is not None:
            scores = tuple(s for s in _item_scores(instrument, answers) if s[0] in _SAFETY)
            total = sum(s for _, s in scores)
            if total >= self.safety_at:
                needs.add(SocialNeed.INTERPERSONAL_SAFETY)
        return ScoreResult(
            instrument_id=instrument.id,
            total=total,
            band="positive" if needs else "negative",
            positive=bool(needs),
            needs=frozenset(needs),
            item_scores=scores,
        )


_FOOD_1 = "88122-7"
_FOOD_2 = "88123-5"

AHC_HRSN = Instrument(
    id="ahc-hrsn",
    title="CMS Accountable Health Communities Health-Related Social Needs Screening Tool (core questions)",
    loinc="96777-8",
    total_loinc="95614-4",
    kind="social-needs",
    items=(
        Item(
            id="71802-3",
            loinc="71802-3",
            text="What is your living situation today?",
            options=(
                AnswerOption(code="LA31993-1", display="I have a steady place to live"),
                AnswerOption(
                    code="LA31994-9",
                    display="I have a place to live today, but I am worried about losing it in the future",
                    positive=True,
                ),
                AnswerOption(
                    code="LA31995-6",
                    display="I do not have a steady place to live (I am temporarily staying with others, in a "
                    "hotel, in a shelter, living outside on the street, on a beach, in a car, abandoned "
                    "building, bus or train station, or in a park)",
                    positive=True,
                ),
            ),
        ),
        Item(
            id="96778-6",
            loinc="96778-6",
            text="Think about the place you live. Do you have problems with any of the following? "
            "(choose all that apply)",
            multiple=True,
            options=(
                AnswerOption(
                    code="LA31996-4", display="Pests such as bugs, ants, or mice", positive=True
                ),
                AnswerOption(code="LA28580-1", display="Mold", positive=True),
                AnswerOption(code="LA31997-2", display="Lead paint or pipes", positive=True),
                AnswerOption(code="LA31998-0", display="Lack of heat", positive=True),
                AnswerOption(code="LA31999-8", display="Oven or stove not working", positive=True),
                AnswerOption(
                    code="LA32000-4",
                    display="Smoke detectors missing or not working",
                    positive=True,
                ),
                AnswerOption(code="LA32001-2", display="Water leaks", positive=True),
                AnswerOption(code="LA9-3", display="None of the above"),
            ),
        ),
        Item(
            id=_FOOD_1,
            loinc=_FOOD_1,
            text="Within the past 12 months, you worried that your food would run out before you got money "
            "to buy more.",
            options=(_OFTEN, _SOMETIMES, _NEVER_TRUE),
        ),
        Item(
            id=_FOOD_2,
            loinc=_FOOD_2,
            text="Within the past 12 months, the food you bought just didn't last and you didn't have money "
            "to get more.",
            options=(_OFTEN, _SOMETIMES, _NEVER_TRUE),
        ),
        Item(
            id="93030-5",
            loinc="93030-5",
            text="In the past 12 months, has lack of reliable transportation kept you from medical "
            "appointments, meetings, work or from getting things needed for daily living?",
            options=(_YES, _NO),
        ),
        Item(
            id="96779-4",
            loinc="96779-4",
            text="In the past 12 months has the electric, gas, oil, or water company threatened to shut off "
            "services in your home?",
            options=(
                _YES,
                _NO,
                AnswerOption(code="LA32002-0", display="Already shut off", positive=True),
            ),
        ),
        *(
            Item(id=code, loinc=code, text=text, options=_HOW_OFTEN)
            for code, text in zip(
                _SAFETY,
                (
                    "How often does anyone, including family and friends, physically hurt you?",
                    "How often does anyone, including family and friends, insult or talk down to you?",
                    "How often does anyone, including family and friends, threaten you with harm?",
                    "How often does anyone, including family and friends, scream or curse at you?",
                ),
                strict=True,
            )
        ),
    ),
    rule=NeedsRule(
        domains=(
            (SocialNeed.HOUSING_INSTABILITY, ("71802-3",)),
            (SocialNeed.HOUSING_QUALITY, ("96778-6",)),
            (SocialNeed.FOOD_INSECURITY, (_FOOD_1, _FOOD_2)),
            (SocialNeed.TRANSPORTATION, ("93030-5",)),
            (SocialNeed.UTILITIES, ("96779-4",)),
        ),
        safety_at=11,
    ),
    citation="Billioux A, Verlander K, Anthony S, Alley D. Standardized Screening for Health-Related "
    "Social Needs in Clinical Settings: The Accountable Health Communities Screening Tool. NAM "
    "Perspectives. 2017; CMS AHC HRSN Screening Tool (2018). LOINC 96777-8.",
    notes="Every core question must be answered: the safety total (95614-4, items 7-10 scored 1-5, "
    "positive at 11) is only meaningful with all four. 'total' is the safety total.",
)

HUNGER_VITAL_SIGN = Instrument(
    id="hunger-vital-sign",
    title="Hunger Vital Sign (HVS)",
    loinc="88121-9",
    kind="social-needs",
    items=(
        Item(
            id=_FOOD_1,
            loinc=_FOOD_1,
            text="Within the past 12 months we worried whether our food would run out before we got money to "
            "buy more.",
            options=(_OFTEN, _SOMETIMES, _NEVER_TRUE),
        ),
        Item(
            id=_FOOD_2,
            loinc=_FOOD_2,
            text="Within the past 12 months the food we bought just didn't last and we didn't have money to "
            "get more.",
            options=(_OFTEN, _SOMETIMES, _NEVER_TRUE),
        ),
    ),
    rule=NeedsRule(domains=((SocialNeed.FOOD_INSECURITY, (_FOOD_1, _FOOD_2)),)),
    citation="Hager ER, Quigg AM, Black MM, et al. Development and validity of a 2-item screen to identify "
    "families at risk for food insecurity. Pediatrics. 2010;126(1):e26-e32. LOINC 88121-9.",
    notes="'Often true' or 'Sometimes true' to either question is a positive screen (88124-3 'At risk'). "
    "carecore asks for both answers before calling a screen negative.",
)

# -- rulers ---------------------------------------------------------------------------

_RULER_BANDS = (
    Band(low=0, high=3, label="not ready"),
    Band(low=4, high=6, label="unsure"),
    Band(low=7, high=10, label="ready"),
)

READINESS_RULER = Instrument(
    id="readiness-ruler",
    title="Readiness to change ruler (0-10)",
    kind="ruler",
    items=(
        Item(
            id="readiness",
            text="On a scale from 0 to 10, how ready are you to make this change? "
            "(0 = not prepared to change, 10 = already changing)",
            low=0,
            high=10,
        ),
    ),
    rule=RulerRule(bands=_RULER_BANDS),
    citation="Heather N, Smailes D, Cassidy P. Development of a Readiness Ruler for use with alcohol brief "
    "interventions. Drug Alcohol Depend. 2008;98(3):235-240.",
    notes="No LOINC code exists. The bands (0-3 not ready, 4-6 unsure, 7-10 ready) are a counselling "
    "convention, not validated cut-offs: build a RulerRule with other bands to change them.",
)

CONFIDENCE_SCALE = Instrument(
    id="confidence-scale",
    title="Confidence scale (0-10)",
    kind="ruler",
    items=(
        Item(
            id="confidence",
            text="On a scale from 0 to 10, how confident are you that you can do this? "
            "(0 = not at all confident, 10 = completely confident)",
            low=0,
            high=10,
        ),
    ),
    rule=RulerRule(
        bands=(
            Band(low=0, high=3, label="low"),
            Band(low=4, high=6, label="moderate"),
            Band(low=7, high=10, label="high"),
        )
    ),
    citation="Miller WR, Rollnick S. Motivational Interviewing: Helping People Change. 3rd ed. Guilford "
    "Press; 2013 (importance and confidence rulers).",
    notes="No LOINC code exists. Goals record the patient's confidence with this scale; a rating below 7 "
    "is a prompt to make the goal smaller.",
)

#: Every instrument carecore ships, registered by the built-in instruments plugin.
BUILTIN_INSTRUMENTS: tuple[Instrument, ...] = (
    PHQ2,
    PHQ9,
    GAD2,
    GAD7,
    AUDITC,
    AHC_HRSN,
    HUNGER_VITAL_SIGN,
    READINESS_RULER,
    CONFIDENCE_SCALE,
)
