"""Every source tag a user can see resolves through carecore.billing.sources."""

from __future__ import annotations

import io
import re
import tokenize
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import carecore.billing
from carecore import errors
from carecore.billing import CMS_YEARS, all_sources, cms_rule_set, evaluate, source
from carecore.billing.scenarios import load_scenarios
from carecore.billing.sources import Source, SourceKind, sources_of
from carecore.model import DenialReason, ServiceFamily, ServicePeriod
from carecore.model.money import Denial

from ..inputs import ROOT, SCENARIOS, spec_file
from ..test_no_private_citations import PRIVATE

TAG = re.compile(r"\bS[0-9]{1,3}\b")


def _tags_in_string_literals(text: str) -> set[str]:
    """Tags inside the string literals of Python source (comments such as ``noqa: S311`` skipped)."""
    found: set[str] = set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.STRING or token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            found |= set(TAG.findall(token.string))
    return found


def _billing_module_texts() -> dict[str, str]:
    """The billing modules, and the registry's eligibility (its reasons cite tags too)."""
    texts = {}
    for package in ("carecore.billing", "carecore.registry"):
        for item in resources.files(package).iterdir():
            if item.name.endswith(".py") and item.name != "sources.py":
                texts[f"{package}/{item.name}"] = item.read_text(encoding="utf-8")
    return texts


def test_table_is_well_formed_and_sorted():
    every = all_sources()
    ids = [s.id for s in every]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids, key=lambda tag: int(tag[1:]))
    for s in every:
        assert isinstance(s, Source)
        assert s.url.startswith(("https://", "http://"))
        assert s.supports.endswith(".")
        assert s.year is None or 2010 <= s.year <= 2026


def test_every_cms_rule_tag_resolves():
    for year in CMS_YEARS:
        for rule in cms_rule_set(year).codes:
            assert rule.sources, (year, rule.code)
            for tag in rule.sources:
                assert source(tag).id == tag


def test_every_tag_in_the_billing_code_resolves():
    texts = _billing_module_texts()
    assert "carecore.billing/_engine.py" in texts
    seen: set[str] = set()
    for name, text in texts.items():
        for tag in _tags_in_string_literals(text):
            seen.add(tag)
            try:
                source(tag)
            except errors.NotFound:
                pytest.fail(f"{name} cites {tag}, which carecore.billing.sources does not know")
    # The engine cites tags of its own (not only those of the rule data).
    assert {"S37", "S52", "S62"} <= seen
    # The registry's eligibility reasons cite the CCM, PCM, BHI and APCM sources.
    assert {"S1", "S3", "S50"} <= seen


def test_every_tag_in_the_rule_data_files_resolves():
    data = resources.files("carecore.billing").joinpath("data")
    csvs = [item for item in data.iterdir() if item.name.endswith(".csv")]
    assert csvs
    for item in csvs:
        for tag in TAG.findall(item.read_text(encoding="utf-8")):
            source(tag)


def _scenario_files() -> list[Path]:
    return [
        SCENARIOS,
        ROOT / "tests" / "billing" / "data" / "more_scenarios.json",
        ROOT / "docs" / "how-to" / "my-scenarios.json",
    ]


def test_every_tag_a_scenario_denial_shows_resolves():
    cited: set[str] = set()
    for path in _scenario_files():
        for scenario in load_scenarios(path):
            result = evaluate(scenario.facts, cms_rule_set(scenario.year))
            for denial in result.denials:
                assert denial.sources, (scenario.id, denial.rule)
                cited.update(denial.sources)
    assert len(cited) > 20
    sources_of(sorted(cited))  # raises on the first unknown tag


def test_unknown_tag_is_not_found():
    with pytest.raises(errors.NotFound) as caught:
        source("S9")
    assert caught.value.field == "tag"
    assert caught.value.value == "S9"
    assert "all_sources" in str(caught.value)


@pytest.mark.parametrize("tag", ["S0", "S999", "S9999", "S123456", "S007"])
def test_any_well_formed_unlisted_tag_is_not_found(tag):
    # As the sources page says: S followed by digits, however many, is a tag; one not listed
    # is NotFound (S9999 was InvalidValue, S999 NotFound).
    with pytest.raises(errors.NotFound) as caught:
        source(tag)
    assert caught.value.field == "tag"
    assert caught.value.value == tag


@pytest.mark.parametrize("bad", ["", "s21", "s26", "S", "21", "S21 ", "SPEC", "S-1", 21, None])
def test_malformed_tag_is_invalid(bad):
    with pytest.raises(errors.InvalidValue) as caught:
        source(bad)
    assert caught.value.field == "tag"


def test_source_validates_its_fields():
    good = {
        "id": "S1",
        "title": "t",
        "url": "https://example.org",
        "kind": SourceKind.MAC,
        "publisher": "p",
        "supports": "s.",
    }
    assert Source(**good).urls == ("https://example.org",)
    with pytest.raises(errors.InvalidValue) as caught:
        Source(**{**good, "url": "example.org"})
    assert caught.value.field == "url"
    with pytest.raises(errors.InvalidValue) as caught:
        Source(**{**good, "more_urls": ("https://a.example", "ftp://b")})
    assert caught.value.field == "more_urls[1]"
    with pytest.raises(errors.InvalidValue) as caught:
        Source(**{**good, "id": "X1"})
    assert caught.value.field == "id"


def test_exported_from_the_billing_package():
    for name in ("Source", "source", "all_sources"):
        assert name in carecore.billing.__all__
    assert carecore.billing.source is source


def test_denial_tag_error_points_at_something_users_have():
    """Before: the error pointed at a section of the private specification, a file users do not have."""
    with pytest.raises(errors.InvalidValue) as caught:
        Denial(
            patient_id="p1",
            code="99490",
            family=ServiceFamily.CCM,
            reason=DenialReason.BELOW_THRESHOLD,
            message="m",
            rule="r",
            sources=("SPEC 16",),
            period=ServicePeriod.month(2026, 1),
        )
    text = str(caught.value)
    assert not PRIVATE.search(text), text
    assert "carecore.billing.sources" in text


def _spec_source_list() -> dict[str, str]:
    """The research specification's source list (maintainer-only: see ``tests/inputs.py``)."""
    text = spec_file("billing/SPEC.md").read_text(encoding="utf-8")
    section = text.split("## 16. Sources", 1)[1].split("\n## ", 1)[0]
    return dict(
        re.findall(r"^\* \*\*(S[0-9]+)\*\* .*? \u2013 (https?://\S+)", section, flags=re.MULTILINE)
    )


def test_table_matches_the_research_source_list():
    """Maintainer-only: skips unless ``CARECORE_SPEC_DIR`` names the specification's folder."""
    listed = _spec_source_list()
    assert {s.id for s in all_sources()} == set(listed)
    for s in all_sources():
        assert s.url == listed[s.id], s.id


def test_docs_page_lists_every_source_and_no_other():
    page = (ROOT / "docs" / "billing" / "sources.md").read_text(encoding="utf-8")
    listed = re.findall(r"^### (S[0-9]+)$", page, flags=re.MULTILINE)
    assert listed == [s.id for s in all_sources()]
    for entry in all_sources():
        assert f"]({entry.url})" in page, entry.id
        assert entry.supports in page, entry.id
    index = (ROOT / "docs" / "billing" / "index.md").read_text(encoding="utf-8")
    assert re.search(r"^sources$", index, flags=re.MULTILINE)


@given(st.one_of(st.text(max_size=6), st.from_regex(r"S[0-9]{1,3}", fullmatch=True)))
def test_any_text_resolves_or_raises_a_typed_error(tag):
    try:
        found = source(tag)
    except (errors.NotFound, errors.InvalidValue) as exc:
        assert exc.field == "tag"
        assert exc.value == tag
    else:
        assert found.id == tag


#: Publishers by the kind table of docs/billing/sources.md: payers' policies and vendors'
#: pages are ``industry``; coding educators and journals ``educator`` (a summary of payment
#: amounts is ``payment`` whoever publishes it).
_PAYERS_AND_VENDORS = {
    "Regence": "payer",
    "NC Medicaid": "payer",
    "eVigils": "vendor",
    "PositiveCheck": "vendor",
    "CircleLink Health": "vendor",
    "Phamily": "vendor",
    "HealthTech S3": "vendor",
    "Mirah": "vendor",
    "Signallamp Health": "vendor",
    "Prevounce": "vendor",
    "FairPath": "vendor",
    "CareHarmony": "vendor",
    "ThoroughCare": "vendor",
}
_EDUCATORS = {"AAPC", "rvudoc", "codingintel", "AAFP", "The Rheumatologist"}


def test_kinds_follow_the_kind_table():
    # S26 (Regence's payer policy) was educator; vendors' pages were educator or industry.
    assert source("S26").kind is SourceKind.INDUSTRY
    for entry in all_sources():
        if entry.kind in {SourceKind.PAYMENT, SourceKind.CMS_FAQ}:
            continue
        if entry.publisher in _PAYERS_AND_VENDORS:
            assert entry.kind is SourceKind.INDUSTRY, (entry.id, entry.publisher)
        if entry.publisher in _EDUCATORS:
            assert entry.kind is SourceKind.EDUCATOR, (entry.id, entry.publisher)
