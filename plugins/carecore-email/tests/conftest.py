from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller

pytest_plugins = ["carecore.testing.pytest_plugin"]


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope)
        return "250 OK"


def free_port():
    # aiosmtpd's Controller(port=0) does not report the bound port: pick one first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self):
        self.port = free_port()
        self.inbox = Inbox()
        self.controller = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def urgent_mail_program(tmp_path, carecore_pm):
    """A factory: a SQLite program that mails urgent findings to the care manager of patient p1.

    ``urgent_mail_program(body)`` stores p1 with rn-park as care manager and
    opens the program as rn-park, with one rule mailing ``{owner}@care.example``.
    """
    from carecore.clock import FixedClock
    from carecore.model import CareTeam, CareTeamMember, CareTeamRole
    from carecore.notify import NotificationRule
    from carecore.service import CareProgram
    from carecore.testing._store_contract import make_patient

    programs = []

    def make(body, *, now):
        rule = NotificationRule(
            id="urgent-mail",
            event="UrgentFinding",
            channel="email",
            recipient="{owner}@care.example",
            subject="Urgent: {finding} for {patient_id}",
            body=body,
        )
        program = CareProgram.open(
            f"sqlite:///{tmp_path / f'urgent-{len(programs)}.db'}",
            clock=FixedClock(now),
            actor="rn-park",
            plugin_manager=carecore_pm,
            rules=[rule],
        )
        programs.append(program)
        with program.transaction("setup") as tx:
            tx.add(make_patient("p1"))
            manager = CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER)
            tx.add(CareTeam(id="t1", patient_id="p1", members=[manager]))
        return program

    return make
