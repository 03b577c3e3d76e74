"""The shapes plugins give carecore: stores, channels, EHR sources, rule sets, instruments.

Each is a :class:`typing.Protocol`, so a plugin needs no carecore base class;
any object with these members will do. Every registrable item has an ``id``,
unique within its kind, by which it is looked up and by which a plugin may
replace a built-in (see :doc:`/explanation/plugins`).

These are the first cut: the store, the rule set and the instrument grow with
the storage, billing and clinical-core work. New members are added in a way
that keeps old plugins importable.

>>> from carecore._builtin.console_channel import ConsoleChannel
>>> isinstance(ConsoleChannel(), Channel)
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from carecore.model import DeliveryReceipt, OutboundMessage

__all__ = ["Channel", "EhrSource", "Instrument", "RuleSet", "Store"]


@runtime_checkable
class Store(Protocol):
    """Persistence for a care program (opened by ``carecore_open_store``)."""

    @property
    def url(self) -> str:
        """The URL the store was opened with, with any password removed."""
        ...

    def close(self) -> None:
        """Release the store's connections. Closing twice is harmless."""
        ...


@runtime_checkable
class Channel(Protocol):
    """A way to deliver messages: console, email, SMS, webhook."""

    @property
    def id(self) -> str:
        """The channel's name, e.g. ``"email"``; messages name it in ``channel``."""
        ...

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver *message* and report what happened.

        Raise only for failures worth retrying; a refusal that will never
        succeed is a receipt with ``accepted=False``.
        """
        ...


@runtime_checkable
class EhrSource(Protocol):
    """A source of patients, conditions, encounters and ADT events (FHIR, HL7 v2)."""

    @property
    def id(self) -> str:
        """The source's name, e.g. ``"fhir"``."""
        ...

    def can_read(self, location: str) -> bool:
        """Whether this source understands *location* (a path or URL)."""
        ...

    def read(self, location: str) -> Iterator[object]:
        """Yield carecore model values read from *location*."""
        ...


@runtime_checkable
class RuleSet(Protocol):
    """Billing rules for one payer and one calendar year."""

    @property
    def id(self) -> str:
        """A unique id such as ``"cms-2026"``."""
        ...

    @property
    def year(self) -> int:
        """The calendar year the rules are in effect."""
        ...

    @property
    def payer(self) -> str:
        """Whose rules these are, e.g. ``"cms"``."""
        ...


@runtime_checkable
class Instrument(Protocol):
    """An assessment instrument such as the PHQ-9."""

    @property
    def id(self) -> str:
        """A unique id such as ``"phq-9"``."""
        ...

    @property
    def title(self) -> str:
        """The instrument's published name."""
        ...
