from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.model import (
    Consent,
    ConsentMethod,
    DisenrollmentReason,
    Enrollment,
    EnrollmentStatus,
    ServiceFamily,
    StatusChange,
)

JAN5 = pendulum.Date(2026, 1, 5)


def enrollment() -> Enrollment:
    return Enrollment.start(
        id="e1",
        patient_id="p1",
        program_id="ccm",
        family=ServiceFamily.CCM,
        billing_practitioner_id="dr1",
        on=JAN5,
    )


def test_history_is_kept_and_status_is_dated():
    e = enrollment().pause(pendulum.Date(2026, 2, 1)).resume(pendulum.Date(2026, 3, 1))
    e = e.disenroll(pendulum.Date(2026, 6, 30), DisenrollmentReason.MOVED)
    assert [c.status for c in e.history] == [
        EnrollmentStatus.ENROLLED,
        EnrollmentStatus.PAUSED,
        EnrollmentStatus.ENROLLED,
        EnrollmentStatus.DISENROLLED,
    ]
    assert e.status_on(pendulum.Date(2026, 1, 4)) is None
    assert e.status_on(pendulum.Date(2026, 2, 15)) is EnrollmentStatus.PAUSED
    assert e.status_on(pendulum.Date(2026, 7, 1)) is EnrollmentStatus.DISENROLLED
    assert e.enrolled_on == JAN5


def test_disenrolled_is_final():
    e = enrollment().disenroll(pendulum.Date(2026, 2, 1), DisenrollmentReason.DECEASED)
    with pytest.raises(errors.InvalidTransition) as caught:
        e.resume(pendulum.Date(2026, 3, 1))
    assert caught.value.value is EnrollmentStatus.DISENROLLED
    assert caught.value.to is EnrollmentStatus.ENROLLED


def test_history_must_be_in_date_order():
    with pytest.raises(errors.InvalidValue, match="earlier") as caught:
        enrollment().pause(pendulum.Date(2025, 12, 1))
    assert caught.value.field == "history[1].on"


def test_history_must_start_enrolled_and_reason_only_on_leaving():
    with pytest.raises(errors.InvalidValue, match="must start"):
        Enrollment(
            id="e",
            patient_id="p",
            program_id="ccm",
            family=ServiceFamily.CCM,
            billing_practitioner_id="dr1",
            history=[StatusChange(status=EnrollmentStatus.PAUSED, on=JAN5)],
        )
    with pytest.raises(errors.InvalidValue, match="reason"):
        StatusChange(status=EnrollmentStatus.DISENROLLED, on=JAN5)
    with pytest.raises(errors.InvalidValue, match="reason"):
        StatusChange(status=EnrollmentStatus.PAUSED, on=JAN5, reason=DisenrollmentReason.MOVED)


def test_consent_window_and_revocation():
    consent = Consent(
        id="k",
        patient_id="p1",
        family=ServiceFamily.CCM,
        method=ConsentMethod.VERBAL,
        obtained_on=JAN5,
        obtained_by="rn1",
        billing_practitioner_id="dr1",
        cost_sharing_explained=True,
    )
    assert not consent.active_on(pendulum.Date(2026, 1, 4))
    revoked = consent.revoke(pendulum.Date(2026, 3, 31))
    assert revoked.active_on(pendulum.Date(2026, 3, 31))
    assert not revoked.active_on(pendulum.Date(2026, 4, 1))
    with pytest.raises(errors.InvalidTransition):
        revoked.revoke(pendulum.Date(2026, 4, 2))
    with pytest.raises(errors.InvalidValue, match="before the consent"):
        consent.revoke(pendulum.Date(2025, 1, 1))
