"""Every hook a carecore plugin can implement.

A plugin is a module or object with functions named after these hooks and
marked with :data:`carecore.plugins.hookimpl`. Implementations may accept
fewer arguments than the spec lists, never more, and must not give them
defaults. Registry hooks return sequences of items; carecore merges them by
``id``: a plugin may replace a built-in item, but two installed plugins
giving the same id is an error (:class:`carecore.errors.DuplicateRegistration`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import attrs
import pluggy

# Imported at run time, so typing.get_type_hints works on the hooks that name
# only these: they are in the layers below this one.
from carecore.access import (  # noqa: TC001 - read by typing.get_type_hints
    AccessPolicy,
    Actor,
    StaffActor,
)
from carecore.model import CarePlan, DomainEvent  # noqa: TC001 - read by typing.get_type_hints
from carecore.protocols import (  # noqa: TC001 - as above
    Channel,
    EhrSource,
    Instrument,
    RuleSet,
    Store,
)

if TYPE_CHECKING:
    import click

    from carecore.billing.claims import ClaimWriter
    from carecore.executors import ExecutorSpec
    from carecore.gaps import GapRule

__all__ = [
    "ExportTarget",
    "Listener",
    "carecore_access_policy",
    "carecore_channels",
    "carecore_claim_writers",
    "carecore_cli",
    "carecore_ehr_sources",
    "carecore_executors",
    "carecore_export_careplan",
    "carecore_gap_rules",
    "carecore_instruments",
    "carecore_listeners",
    "carecore_on_event",
    "carecore_open_store",
    "carecore_resolve_actor",
    "carecore_rule_sets",
    "hookspec",
]

#: The marker for hook specifications (used only in this module).
hookspec = pluggy.HookspecMarker("carecore")


# -- stores -------------------------------------------------------------------


@hookspec(firstresult=True)
def carecore_open_store(url: str) -> Store | None:
    """Open a store for *url*, or return None when the URL's scheme is not yours.

    Called by the service layer and the ``carecore db`` commands each time a
    store is opened. Built-in stores answer with ``trylast=True``, so an
    installed plugin can take over any scheme.

    :param url: where the data lives, e.g. ``sqlite:///practice.db`` or
        ``postgresql://host/db``.
    :returns: an open :class:`~carecore.protocols.Store`, or None.

    Stops at the first non-None result.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_open_store(url):
            if url.startswith("acme://"):
                return AcmeStore(url)
            return None
    """


# -- access control -----------------------------------------------------------


@hookspec(firstresult=True)
def carecore_access_policy() -> AccessPolicy | None:
    """Give the access policy every program of this plugin manager checks, instead of carecore's.

    Called once when a :class:`~carecore.service.CareProgram` is made without
    an explicit ``policy``. The policy decides each store operation of the
    program's actor (see :doc:`/explanation/access-control`); a vendor may
    answer with casbin, oso or cerbos behind it.
    :class:`carecore.testing.contracts.AccessPolicyContract` checks one.

    :returns: an object with ``allows(request) -> bool`` (an
        :class:`~carecore.access.AccessPolicy`), or None to leave the choice
        to others (carecore's :class:`~carecore.access.DefaultPolicy` when no
        one answers).

    Stops at the first non-None result.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_access_policy():
            return CasbinPolicy("model.conf", "policy.csv")
    """


@hookspec(firstresult=True)
def carecore_resolve_actor(actor_id: str) -> Actor | StaffActor | None:
    """Say who an actor id string stands for, when a program is opened with one.

    Called once each time a :class:`~carecore.service.CareProgram` is made
    with a plain id string as its actor. An application that knows its users
    (a web service's session, the command line's ``--actor``) answers with
    the :class:`~carecore.access.Actor` (roles and care teams), or a
    :class:`~carecore.access.StaffActor` to look up in the store; carecore's
    command line answers for the ids its user named. When no one answers, the
    id is a trusted caller (an actor with the ``system`` role).

    :param actor_id: the id the program was opened with.
    :returns: the actor it stands for, or None when the id is not yours.

    Stops at the first non-None result.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_resolve_actor(actor_id):
            user = sessions.current_user()
            if user is None or user.id != actor_id:
                return None
            return Actor(id=user.id, roles=user.roles, teams=user.care_teams)
    """


# -- billing rules --------------------------------------------------------------


@hookspec
def carecore_rule_sets() -> Sequence[RuleSet]:
    """Give billing rule sets (CMS by calendar year; a payer may add its own).

    Called once when a program loads its rules; results are merged by
    ``RuleSet.id``.

    :returns: the rule sets this plugin provides (an empty sequence is fine).

    All results are collected; order is last-registered first.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_rule_sets():
            return [medicaid_rules_2026()]
    """
    raise NotImplementedError


@hookspec
def carecore_gap_rules() -> Sequence[GapRule | dict[str, object]]:
    """Give care-gap rules (a payer's measures, an organisation's own).

    Called when care gaps are evaluated. A rule replaces every built-in
    version with its id; a new id adds a rule. A rule may be given as a
    :class:`~carecore.gaps.GapRule` or in the JSON form of the shipped rules.

    :returns: the rules this plugin provides (an empty sequence is fine).

    All results are collected; order is last-registered first.

    .. versionadded:: 0.5

    Example::

        @hookimpl
        def carecore_gap_rules():
            return [rule_from_dict(json.loads(Path("statin-measure.json").read_text()))]
    """
    raise NotImplementedError


# -- assessment instruments -------------------------------------------------


@hookspec
def carecore_instruments() -> Sequence[Instrument]:
    """Give assessment instruments (PHQ-9, GAD-7, AHC-HRSN, ...).

    Called once when instruments are first looked up; results are merged by
    ``Instrument.id``.

    :returns: the instruments this plugin provides.

    All results are collected; order is last-registered first.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_instruments():
            return [PROMIS_10]
    """
    raise NotImplementedError


# -- notification channels --------------------------------------------------


@hookspec
def carecore_channels() -> Sequence[Channel]:
    """Give notification channels (email, SMS, webhook, console).

    Called once when the outbox dispatcher starts; results are merged by
    ``Channel.id``.

    :returns: the channels this plugin provides.

    All results are collected; order is last-registered first.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_channels():
            return [PagerChannel(api_key=os.environ["PAGER_KEY"])]
    """
    raise NotImplementedError


# -- EHR sources and exports --------------------------------------------------


@hookspec
def carecore_ehr_sources() -> Sequence[EhrSource]:
    """Give sources of patients, conditions, encounters and ADT events.

    Called when data is imported (``carecore import --source NAME``); results
    are merged by ``EhrSource.id``. A source yields model values, and a
    :class:`carecore.service.ImportRefusal` for each record it cannot read. It
    may also be a :class:`carecore.protocols.ConfigurableSource`
    (``configured(options)``: the ``--option KEY=VALUE`` values), a
    :class:`carecore.protocols.ClockedSource` (``as_of(now)``: the importing
    program's clock) and an :class:`carecore.protocols.ImportingSource`
    (``import_into(program, location, *, refused)``, for a source that
    matches records against the store itself: it returns a
    :class:`carecore.protocols.BulkResult` of what it added and skipped, and
    appends each refusal to *refused*). :class:`carecore.testing.ehr_sources.EhrSourceContract`
    is the contract a source passes.

    :returns: the sources this plugin provides.

    All results are collected; order is last-registered first.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_ehr_sources():
            return [CsvPanelSource()]
    """
    raise NotImplementedError


@attrs.frozen(kw_only=True)
class ExportTarget:
    """Where :func:`carecore_export_careplan` writes, with the authorization it needs there.

    :param url: the receiver's base URL (a FHIR server's ``.../fhir``).
    :param token: gives the bearer token to send, called as ``token(refresh=False)``, and
        ``token(refresh=True)`` after the receiver refused the last one; None sends none.

    >>> ExportTarget(url="https://ehr.example.org/fhir").token is None
    True
    """

    url: str
    token: Callable[..., str] | None = None


@attrs.frozen(kw_only=True)
class Listener:
    """A network listener a plugin gives through :func:`carecore_listeners`.

    :param id: its name, e.g. ``"mllp"`` (HL7 v2 over MLLP).
    :param summary: one line on what it receives.
    :param serve: the coroutine that receives messages into a program until
        *stop* is set, called as ``serve(program, host=..., port=..., ready=...,
        stop=..., time_zone=...)``; ``port=0`` takes a free port and ``ready(port)``
        is called once it listens.
    :param frame: how a sender wraps one message on the wire.

    >>> Listener(id="echo", summary="test", serve=None, frame=str.encode).frame("x")
    b'x'
    """

    id: str
    summary: str
    serve: Callable[..., Awaitable[None]]
    frame: Callable[[str], bytes]


@hookspec
def carecore_listeners() -> Sequence[Listener]:
    """Give network listeners that receive messages into a program (HL7 v2 over MLLP).

    Called by ``carecore demo``, which receives its discharge through the
    ``mllp`` listener, so the core package never imports a plugin. Results
    are merged by ``Listener.id``.

    :returns: :class:`Listener` values.

    All results are collected; order is last-registered first.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_listeners():
            return [Listener(id="mllp", summary="HL7 v2 over MLLP", serve=serve, frame=frame)]
    """
    raise NotImplementedError


@hookspec
def carecore_export_careplan(plan: CarePlan, target: ExportTarget | None) -> str | None:
    """Write a care plan back to an EHR.

    Called by :meth:`~carecore.service.CareProgram.write_back_care_plan`, which
    reads the plan through the access policy and records the disclosure (the
    patient, and *target*'s URL) in the audit log first; call that, not the
    hook, to send a patient's plan out.

    :param plan: the care plan version to export.
    :param target: where to write it and with which authorization, or None for the
        plugin's own configuration (the FHIR plugin's ``CARECORE_FHIR_URL``, no token).
    :returns: the id the receiving system gave the plan, or None when this
        plugin does not export it (or not to this target).

    All results are collected; order is last-registered first.

    .. versionadded:: 0.1
    .. versionchanged:: 0.1 *target*, so the caller gives the receiver's authorization.

    Example::

        @hookimpl
        def carecore_export_careplan(plan, target):
            return fhir_client(target.url, token=target.token).upsert(to_fhir_careplan(plan))
    """
    raise NotImplementedError


# -- claims out ----------------------------------------------------------------


@hookspec
def carecore_claim_writers() -> Sequence[ClaimWriter]:
    """Give claim file formats for ``carecore billing claims --format``.

    Called when claims are written; results are merged by ``ClaimWriter.id``.
    A writer formats a :class:`~carecore.billing.claims.ClaimBatch` that
    :func:`carecore.billing.claims.assemble_claims` made, so every format
    carries the same claims; refusals are reported by the caller.

    :returns: :class:`~carecore.billing.claims.ClaimWriter` values (``id`` and
        ``write(batch, out, *, created)``).

    All results are collected; order is last-registered first.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_claim_writers():
            return [CsvClaimWriter()]  # id "csv"; write(batch, out, *, created)
    """
    raise NotImplementedError


# -- domain events ------------------------------------------------------------


@hookspec
def carecore_on_event(event: DomainEvent) -> None:
    """Observe a domain event (a discharge received, a care plan revised, ...).

    Called after the change that caused the event has been committed; an
    observer cannot undo it. Keep observers quick: slow work belongs in the
    outbox.

    :param event: the event.
    :returns: None.

    All results are collected; order is last-registered first.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_on_event(event):
            metrics.increment(event.type)
    """


# -- command line -------------------------------------------------------------


@hookspec
def carecore_cli(app: click.Group) -> None:
    """Add commands to the ``carecore`` command line.

    Called once when the command line starts, with the top-level group.
    carecore's own commands are added through this hook too.

    :param app: the ``carecore`` click group; call ``app.add_command(...)``.
        Commands reach the plugin manager in use through
        ``click.get_current_context().obj["pm"]``.
    :returns: None.

    All results are collected; order is last-registered first.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_cli(app):
            app.add_command(acme_sync)  # a @click.command defined by the plugin
    """


# -- executors ----------------------------------------------------------------


@hookspec
def carecore_executors() -> Sequence[ExecutorSpec]:
    """Give executors: places where partitioned work (simulation replications, month closes) runs.

    Called when an executor is looked up by name
    (:func:`carecore.executors.get_executor`, ``carecore simulate --executor``).
    carecore's own ``local``, ``process`` and ``dask`` executors need no
    plugin; an executor given here under one of those names replaces it.

    :returns: :class:`~carecore.executors.ExecutorSpec` values; each ``create``
        returns an :class:`~carecore.executors.Executor` whose ``map`` gives
        the results in task order. Subclassing
        :class:`~carecore.executors.BaseExecutor` and writing its ``submit``
        is enough: ``map`` and the worker-state ``pool`` the month closes
        use come from it.

    All results are collected; order is last-registered first.

    .. versionadded:: 0.1

    Example::

        @hookimpl
        def carecore_executors():
            return [ExecutorSpec(name="ray", summary="a Ray cluster", create=RayExecutor)]
    """
    raise NotImplementedError
