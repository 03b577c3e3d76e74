"""carecore's scores against the published FHIR Questionnaires' own scoring (FHIRPath).

The NLM LHC-Forms PHQ-9 and Hunger Vital Sign carry their scoring as FHIRPath
``variable`` and SDC ``calculatedExpression`` extensions; the Stanford GAD-7
and the SDC PHQ-9 example carry ``ordinalValue`` weights. fhirpathpy (a test
dependency) evaluates them on a QuestionnaireResponse built from the same
answers carecore scores.
"""

from __future__ import annotations

import json
from functools import cache

import pytest
from fhirpathpy import evaluate as _evaluate
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore.instruments import get_instrument, score
from tests.inputs import DATA

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


def evaluate(resource, expression, env=None):
    # The R4 model resolves choice elements such as answer.value[x].
    return _evaluate(resource, expression, env or {}, models["r4"])


@cache
def questionnaire(name):
    return json.loads((DATA / "questionnaires" / name).read_text())


def response(answers):
    """A QuestionnaireResponse with one coded answer per linkId."""
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [
            {"linkId": link, "answer": [{"valueCoding": {"code": code}}]}
            for link, code in answers.items()
        ],
    }


def calculated(q, link_id, qr):
    """Evaluate an item's variables, then its calculatedExpression, as an SDC form filler does."""
    item = next(i for i in q["item"] if i["linkId"] == link_id)
    env = {"questionnaire": q, "resource": qr}
    result = None
    for ext in [*q.get("extension", []), *item["extension"]]:
        if ext["url"] == VARIABLE:
            expr = ext["valueExpression"]
            env[expr["name"]] = evaluate(qr, expr["expression"], env)
        elif ext["url"] == SDC:
            result = evaluate(qr, ext["valueExpression"]["expression"], env)
    return result


PHQ9_ITEMS = [i.id for i in get_instrument("phq-9").items if i.scored]
PHQ_CODES = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(PHQ_CODES), min_size=9, max_size=9))
def test_phq9_total_matches_the_nlm_questionnaire(codes):
    answers = dict(zip(PHQ9_ITEMS, codes, strict=True))
    q = questionnaire("phq9-loinc-44249-1.lforms.json")
    published = calculated(q, "/44261-6", response({f"/{k}": v for k, v in answers.items()}))
    ours = score("phq-9", answers)
    assert published == [ours.total]
    assert ours.band is not None


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (a, b)
        for a in ("LA28397-0", "LA6729-3", "LA28398-8")
        for b in ("LA28397-0", "LA6729-3", "LA28398-8")
    ],
)
def test_hunger_vital_sign_matches_the_nlm_questionnaire(first, second):
    q = questionnaire("hunger-vital-sign-88121-9.lforms.json")
    published = calculated(q, "/88124-3", response({"/88122-7": first, "/88123-5": second}))
    at_risk = [c["code"] for c in published] == ["LA19952-3"]
    assert [c["code"] for c in published] in (["LA19952-3"], ["LA19983-8"])
    ours = score("hunger-vital-sign", {"88122-7": first, "88123-5": second})
    assert ours.positive is at_risk


def ordinal_total(q, answers_by_link, value_set_path):
    """Sum the questionnaire's own ordinalValue weights for the chosen codes, in FHIRPath."""
    total = 0
    for code in answers_by_link.values():
        weights = evaluate(
            q,
            f"{value_set_path}.where(code = %code).extension.where(url = '{ORDINAL}').valueDecimal",
            {"code": code},
        )
        assert len(weights) == 1, (code, weights)
        total += weights[0]
    return total


GAD7_ITEMS = [i.id for i in get_instrument("gad-7").items]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=7, max_size=7))
def test_gad7_total_matches_the_stanford_questionnaire_weights(choices):
    q = questionnaire("gad7-stanford.json")
    links = [i["linkId"] for i in q["item"][0]["item"]]
    texts = [i["text"] for i in q["item"][0]["item"]]
    # The published form's items are in the same order as carecore's (checked by their text).
    ours_items = get_instrument("gad-7").items
    for text, item in zip(texts, ours_items, strict=True):
        assert text.split()[-1].rstrip(".").lower() in item.text.lower()
    # Answer each item with carecore's option, found in the published answer list by its display text.
    ours_options = [item.options[c] for item, c in zip(ours_items, choices, strict=True)]
    codes = [
        evaluate(q, "contained.compose.include.concept.where(display = %d).code", {"d": o.display})[
            0
        ]
        for o in ours_options
    ]
    published = ordinal_total(
        q, dict(zip(links, codes, strict=True)), "contained.compose.include.concept"
    )
    ours = score("gad-7", {item: o.code for item, o in zip(GAD7_ITEMS, ours_options, strict=True)})
    assert published == ours.total
