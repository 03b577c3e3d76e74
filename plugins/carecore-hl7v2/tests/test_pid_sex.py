"""A PID-8 sex code outside HL7 table 0001 does not stop the message, and is not passed over in silence.

The discharge matters more than the sex code: a new patient is stored
with sex unknown, a stored patient keeps the sex on file, and the outcome
(and ``hl7 import``) warns of PID-8, never showing the code sent.
"""

from __future__ import annotations

import json

from carecore_hl7v2.ingest import handle

from carecore.model import AdministrativeSex, Patient

ODD_SEX = (
    "MSH|^~\\&|ADT|GEN|CC|PRAC|20260304120000+0000||ADT^A08|S1|P|2.5\r"
    "PID|1||P3^^^GEN^MR||Poe^Kim||19600101|Waylon"
)


def test_a_sex_code_outside_table_0001_is_stored_unknown_with_a_warning(program):
    outcome = handle(program, ODD_SEX)
    assert (outcome.code, outcome.stored) == ("AA", True)
    assert [w.split(":")[0] for w in outcome.warnings] == ["PID-8"]
    assert not any("Waylon" in w for w in outcome.warnings)
    with program.transaction("check") as tx:
        (patient,) = tx.all(Patient)
    assert patient.sex is AdministrativeSex.UNKNOWN


def test_a_sex_code_outside_table_0001_leaves_a_stored_patient_sex_as_it_was(program):
    assert handle(program, ODD_SEX.replace("Waylon", "F")).code == "AA"
    outcome = handle(program, ODD_SEX.replace("Waylon", "X").replace("S1", "S2"))
    assert (outcome.code, outcome.stored) == ("AA", True)
    assert [w.split(":")[0] for w in outcome.warnings] == ["PID-8"]
    assert "left as stored" in outcome.warnings[0]
    with program.transaction("check") as tx:
        (patient,) = tx.all(Patient)
    assert patient.sex is AdministrativeSex.FEMALE


def test_a_sex_code_of_table_0001_or_none_warns_of_nothing(program):
    assert handle(program, ODD_SEX.replace("Waylon", "U")).warnings == ()
    assert handle(program, ODD_SEX.replace("|Waylon", "").replace("S1", "S2")).warnings == ()


def test_hl7_import_stores_the_message_and_warns_of_pid_8(hl7_import):
    table, listed = hl7_import(ODD_SEX)
    assert table.exit_code == 0, table.output
    assert "1 stored" in table.stdout
    assert "PID-8" in table.stderr
    warnings = json.loads(listed.stdout)["warnings"]
    assert [w["warning"].split(":")[0] for w in warnings] == ["PID-8"]
    for shown in (table.output, table.stderr, listed.output, listed.stderr):
        assert "Waylon" not in shown
