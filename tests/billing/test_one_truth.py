"""One billing truth: the month close's fast paths hold no rule of their own.

Two kinds of check. A source scan fails when a billing code, a set of roles
or credentials, or a list of families is written into the close code (the
fast path, the columnar close, the CSV close, the encoder, the worker
runner, the worklist and the registry): such a copy would drift from the
engine. And behaviour: when a rule in :mod:`carecore.billing.primitives`
changes, the engine and the fast paths change together (each test patches
a primitive and holds the fast result to the engine's).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pendulum
import pytest

from carecore.billing import cms_rule_set, evaluate, primitives
from carecore.billing._fast import FAST_SETTING, FastClose
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    ChronicCondition,
    PatientFacts,
    TimeFact,
)
from carecore.model import Credential, RoleClass, ServiceFamily, ServicePeriod

SRC = Path(__file__).resolve().parents[2] / "src" / "carecore"
#: The close code: no code, role or credential set, or list of families may be written here.
CLOSE = [
    SRC / "billing" / "_fast.py",
    SRC / "billing" / "_columnar.py",
    SRC / "billing" / "_close.py",
    SRC / "billing" / "_encode.py",
    SRC / "executors.py",
]
#: The registry reports on a list of programs of its own, but holds no code or role rule.
REGISTRY = sorted((SRC / "registry").glob("*.py"))
#: CPT (five digits, or four and F/T/U) and HCPCS level II (a letter and four digits) codes.
CODE = re.compile(r"^(?:\d{5}|\d{4}[FTU]|[A-Z]\d{4})$")
ENUMS = {"RoleClass", "Credential", "ServiceFamily"}
FAMILY_NAMES = {f.value for f in ServiceFamily}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes (doctest examples may name codes)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                found.add(id(body[0].value))
    return found


def _member(node: ast.AST) -> str | None:
    """``RoleClass``/``Credential``/``ServiceFamily`` for ``Enum.MEMBER`` (or ``F.MEMBER``), else None."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        name = node.value.id
        if name in ENUMS:
            return name
        if name == "F" and node.attr.isupper():
            return "ServiceFamily"
    return None


def _kind(item: ast.expr | None, *, families: bool) -> str | None:
    """What billing enum an element of a collection names (None: none)."""
    if item is None:
        return None
    kind = _member(item)
    if kind is None and isinstance(item, ast.Constant) and item.value in FAMILY_NAMES:
        kind = "family name"
    if kind is None or (not families and kind not in {"RoleClass", "Credential"}):
        return None
    return kind


def _collection(node: ast.AST, *, families: bool) -> list[str]:
    """Collections of billing enum members in *node* (a set of one member counts)."""
    if isinstance(node, ast.Set | ast.List | ast.Tuple):
        items: list[ast.expr | None] = list(node.elts)
    elif isinstance(node, ast.Dict):
        items = list(node.keys)
    else:
        return []
    counts: dict[str, int] = {}
    for item in items:
        kind = _kind(item, families=families)
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
    # A set of one member is a rule too ({RoleClass.X}); a tuple may pair single values.
    least = 1 if isinstance(node, ast.Set) else 2
    return [
        f"line {node.lineno}: a collection of {kind} members"  # type: ignore[attr-defined]
        for kind, count in counts.items()
        if count >= least
    ]


def restated(source: str, *, families: bool = True) -> list[str]:
    """The billing knowledge written into *source*: code literals and enum collections.

    Collections of families count too unless *families* is false.
    """
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and CODE.match(node.value)
        ):
            found.append(f"line {node.lineno}: code literal {node.value!r}")
        found += _collection(node, families=families)
    return found


@pytest.mark.parametrize("path", CLOSE, ids=lambda p: p.relative_to(SRC).as_posix())
def test_no_rule_is_restated_in_the_close_code(path):
    assert restated(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", REGISTRY, ids=lambda p: p.relative_to(SRC).as_posix())
def test_no_code_or_role_rule_is_restated_in_the_registry(path):
    assert restated(path.read_text(encoding="utf-8"), families=False) == []


@pytest.mark.parametrize(
    "snippet",
    [
        # What the fast path and the columnar close held before the rules moved to the engine.
        '_PERSONAL_CODES = frozenset({"99491", "99437", "99424", "99425", "G0323"})',
        "_ROLE_GROUP = {RoleClass.PHYSICIAN: 0, RoleClass.QHP: 0, RoleClass.CLINICAL_STAFF: 1}",
        "FAST_FAMILIES = frozenset({ServiceFamily.CCM, ServiceFamily.PCM, ServiceFamily.BHI})",
        '_FAMILIES = ("BHI", "CCM", "PCM")',
        "ROLES = frozenset({RoleClass.BH_CARE_MANAGER})",
        'if code == "99439": pass',
        "refused = [Credential.LCSW, Credential.CP]",
    ],
)
def test_the_scan_finds_a_restated_rule(snippet):
    assert restated(snippet) != []


def test_the_scan_leaves_docstrings_and_single_values_alone():
    source = '''
def f():
    """>>> f()  # bills ('99490', 1)"""
    role, credential = RoleClass.CLINICAL_STAFF, Credential.RN
    return "2026-03-01", "E11.65", (ServiceFamily.CCM, 3)
'''
    assert restated(source) == []


# -- the fast paths follow the primitives -------------------------------------------------

MONTH = ServicePeriod.month(2026, 3)
DAY = pendulum.Date(2026, 3, 4)


def _patient(pid: str, months: int, *, visit: pendulum.Date | None = None) -> PatientFacts:
    consent = pendulum.Date(2025, 9, 1)
    return PatientFacts(
        id=pid,
        conditions=[
            ChronicCondition(icd10="I10", significant_risk=True, expected_duration_months=months),
            ChronicCondition(icd10="J44.9", significant_risk=True, expected_duration_months=months),
        ],
        consent_on={ServiceFamily.CCM: consent},
        care_plan_on={ServiceFamily.CCM: consent},
        last_visit=visit or consent,
    )


def _engine(patient, practitioner, entries, rules):
    return evaluate(
        BillingFacts(
            period=MONTH,
            setting=FAST_SETTING,
            practitioners=[practitioner],
            patient=patient,
            events=[
                TimeFact(
                    date=day,
                    minutes=minutes,
                    role=role,
                    practitioner=practitioner.id,
                    family=family,
                    credential=credential,
                    interactive=interactive,
                )
                for day, minutes, role, family, credential, interactive in entries
            ],
        ),
        rules,
    )


def _same(fast, patient, practitioner, entries):
    got = fast.evaluate(patient, practitioner, entries)
    want = _engine(patient, practitioner, entries, fast.rules)
    assert got.claim_lines == want.claim_lines
    assert got.denials == want.denials
    assert got.hints == want.hints
    return got


MD = BillingPractitioner(id="dr1", credential=Credential.MD)
STAFF_25 = [(DAY, 25, RoleClass.CLINICAL_STAFF, ServiceFamily.CCM, Credential.RN, False)]


def test_a_changed_condition_duration_reaches_the_fast_path(monkeypatch):
    # CCM asking for conditions of 6 months or more: 8-month conditions qualify, 4-month ones
    # do not. With duration classes written into the fast path (12, 3) both months had one
    # canonical form, and the second answer came from the first one's cache entry.
    monkeypatch.setitem(primitives.CONDITIONS_NEEDED, ServiceFamily.CCM, (2, 6))
    fast = FastClose(cms_rule_set(2026), MONTH)
    assert _same(fast, _patient("p8", 8), MD, STAFF_25).billable == [("99490", 1)]
    assert _same(fast, _patient("p4", 4), MD, STAFF_25).billable == []


def test_a_changed_initiating_visit_window_reaches_the_fast_path(monkeypatch):
    # A last visit 18 months before consent: outside one year, inside two.
    visit = pendulum.Date(2024, 3, 1)
    fast = FastClose(cms_rule_set(2026), MONTH)
    assert _same(fast, _patient("p1", 24, visit=visit), MD, STAFF_25).billable == []
    monkeypatch.setitem(primitives._INITIATING_YEARS, ServiceFamily.CCM, 2)
    fast = FastClose(cms_rule_set(2026), MONTH)
    assert _same(fast, _patient("p1", 24, visit=visit), MD, STAFF_25).billable == [("99490", 1)]


def test_a_changed_personal_credential_reaches_the_fast_path(monkeypatch):
    # 35 minutes logged as the practitioner's own by an LCSW: clinical-staff time (99490)
    # until the rule lets an LCSW's own minutes count toward CCM's personal codes.
    entries = [(DAY, 35, RoleClass.PHYSICIAN, ServiceFamily.CCM, Credential.LCSW, False)]
    fast = FastClose(cms_rule_set(2026), MONTH)
    before = _same(fast, _patient("p1", 24), MD, entries)
    monkeypatch.setitem(
        primitives.PERSONAL_CREDENTIALS,
        ServiceFamily.CCM,
        primitives.BILLING_CREDENTIALS | {Credential.LCSW},
    )
    fast = FastClose(cms_rule_set(2026), MONTH)
    after = _same(fast, _patient("p1", 24), MD, entries)
    assert before.billable == [("99490", 1)]
    assert after.billable != before.billable
    assert {code for code, _ in after.billable} <= primitives.personal_codes() | {"99490"}


def test_a_changed_personal_credential_reaches_the_columnar_close(monkeypatch, tmp_path):
    pytest.importorskip("polars")
    from carecore.billing import _columnar as columnar
    from carecore.billing._close import read_patients, run_close

    (tmp_path / "patients.csv").write_text(
        "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
        "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
    )
    (tmp_path / "events.csv").write_text(
        "patient_id,date,type,minutes,role,credential,family\n"
        "p1,2026-03-04,time_entry,20,physician,LCSW,CCM\n"
        "p1,2026-03-06,time_entry,15,physician,LCSW,CCM\n"
    )
    monkeypatch.setitem(
        primitives.PERSONAL_CREDENTIALS,
        ServiceFamily.CCM,
        primitives.BILLING_CREDENTIALS | {Credential.LCSW},
    )
    rules = cms_rule_set(2026)
    closed = columnar.close_columnar(
        tmp_path / "patients.csv", tmp_path / "events.csv", MONTH, rules, tmp_path / "c"
    )
    assert closed is not None
    patients, _ = read_patients(tmp_path / "patients.csv")
    run_close(patients, tmp_path / "events.csv", MONTH, rules, tmp_path / "r")
    claims = (tmp_path / "c" / "claims.csv").read_text()
    assert claims == (tmp_path / "r" / "claims.csv").read_text()
    # The personal track reached its 30 minutes on the 6th (the engine's date of service).
    assert ",99491," in claims
    assert "2026-03-06" in claims


# -- the registry counts conditions as the engine does ------------------------------------


def test_registry_eligibility_counts_diseases_as_the_engine_does():
    # E11.65 and E11.9 are one disease (diabetes); E11 is a category, not a billable code.
    # The engine refuses CCM for them; the registry said "eligible" (it counted codes).
    from carecore.model import AdministrativeSex, Coding, Condition, Patient
    from carecore.registry import eligibility

    ada = Patient(
        id="p1",
        given_name="Ada",
        family_name="Okafor",
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone="America/Chicago",
    )

    def conditions(*codes: str) -> list[Condition]:
        return [
            Condition(
                id=f"c{i}",
                patient_id="p1",
                coding=Coding.icd10cm(code),
                chronic=True,
                significant_risk=True,
            )
            for i, code in enumerate(codes)
        ]

    day = pendulum.Date(2026, 3, 1)
    for codes, eligible in (
        (("E11.65", "E11.9"), False),
        (("E11", "I10"), False),
        (("E11.65", "I10"), True),
    ):
        found = eligibility(ada, ServiceFamily.CCM, as_of=day, conditions=conditions(*codes))
        engine = _engine(
            PatientFacts(
                id="p1",
                conditions=[ChronicCondition(icd10=c, significant_risk=True) for c in codes],
                consent_on={ServiceFamily.CCM: pendulum.Date(2025, 9, 1)},
                care_plan_on={ServiceFamily.CCM: pendulum.Date(2025, 9, 1)},
                last_visit=pendulum.Date(2025, 9, 1),
            ),
            MD,
            STAFF_25,
            cms_rule_set(2026),
        )
        assert found.criteria[1].met is eligible, codes
        assert bool(engine.billable) is eligible, codes
