"""The carecore exception tree.

Every error raised by carecore for bad input, a missing object, a conflicting
write or a misbehaving plugin is a :class:`CarecoreError`. Each subclass also
inherits the matching builtin (``ValueError``, ``LookupError``) so callers who
already catch those keep working. Errors carry structured attributes
(``field``, ``value``, ``reason``) and read well when printed:

>>> from carecore import errors
>>> err = errors.InvalidValue(field="minutes", value=-5, reason="must be positive")
>>> str(err)
'minutes=-5: must be positive'
>>> isinstance(err, ValueError)
True

Their text never carries a secret: tokens and passwords in URLs and
Authorization headers are masked (``value`` keeps what was given):

>>> str(errors.StoreUnavailable("refused", field="url", value="postgresql://u:pw@db/care"))
"url='postgresql://u:***@db/care': refused"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Below every layer: it imports nothing of carecore (see docs/explanation/architecture.md).
from carecore._redact import MASK, is_secret_name, redact

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "AccessDenied",
    "CarecoreError",
    "ConflictError",
    "DuplicateRegistration",
    "InsecureTransport",
    "InvalidCode",
    "InvalidInput",
    "InvalidTransition",
    "InvalidValue",
    "LeaseLost",
    "MissingDependency",
    "MissingPlugin",
    "NaiveDatetime",
    "NoStoreForURL",
    "NoSuchStore",
    "NotFound",
    "PluginError",
    "Problem",
    "SchemaVersionError",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
    "WebhookRejected",
]


class _Missing:
    """The "no value given" marker; it stays itself through pickling (process pools)."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "_MISSING"

    def __repr__(self) -> str:
        return "<no value>"


_MISSING: Any = _Missing()
_SHOWN = 80  # longest value repr shown in a message


def _show(value: object) -> str:
    """*value*'s repr, secrets masked, cut in the middle when long: a path keeps its file name.

    >>> _show("x" * 100)[:5], _show("/a/" + "b" * 100 + "/nope.csv")[-10:]
    ("'xxxx", "/nope.csv'")
    >>> _show("https://hooks.example/c?token=abc123")
    "'https://hooks.example/c?token=***'"
    """
    text = redact(repr(value))
    if len(text) <= _SHOWN:
        return text
    tail = _SHOWN // 2
    return text[: _SHOWN - tail - 3] + "..." + text[-tail:]


class CarecoreError(Exception):
    """Root of every error carecore raises on purpose.

    >>> issubclass(NotFound, CarecoreError)
    True
    """

    field: str | None
    value: object
    reason: str

    def __init__(
        self, reason: str = "", *, field: str | None = None, value: object = _MISSING
    ) -> None:
        self.reason = reason
        self.field = field
        self.value = None if value is _MISSING else value
        self._has_value = value is not _MISSING
        super().__init__(str(self))

    def __str__(self) -> str:
        # Secrets (tokens in URLs, passwords, Authorization headers) never reach the text:
        # the value is masked inside (or whole, for a field such as a password), the reason too.
        reason = redact(self.reason)
        if self.field is None:
            return reason
        if not self._has_value:
            where = self.field
        elif is_secret_name(self.field) and self.value is not None and self.value != "":
            where = f"{self.field}={MASK}"
        else:
            where = f"{self.field}={_show(self.value)}"
        return f"{where}: {reason}" if reason else where

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (they cross process-pool boundaries).
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[CarecoreError], state: dict[str, Any]) -> CarecoreError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, str(err))
    return err


class InvalidValue(CarecoreError, ValueError):
    """A value broke a rule of the field it was given for.

    >>> str(InvalidValue(field="units", value=0, reason="must be at least 1"))
    'units=0: must be at least 1'
    """


class NaiveDatetime(InvalidValue):
    """A datetime without a time zone was given where an instant is needed.

    >>> str(NaiveDatetime(field="occurred_at", value="2026-01-05T10:00:00"))
    "occurred_at='2026-01-05T10:00:00': a time zone offset is required"
    """

    def __init__(self, *, field: str, value: object) -> None:
        super().__init__("a time zone offset is required", field=field, value=value)


class InvalidCode(InvalidValue):
    """A code is not in the code system or value set it claims.

    >>> str(InvalidCode(field="code", value="Z99.99", reason="not an ICD-10-CM code"))
    "code='Z99.99': not an ICD-10-CM code"
    """


class InvalidTransition(InvalidValue):
    """A state change is not allowed from the current state.

    >>> err = InvalidTransition(field="status", value="disenrolled", to="enrolled")
    >>> str(err)
    "status='disenrolled': cannot change to 'enrolled'"
    """

    def __init__(self, *, field: str, value: object, to: object, reason: str = "") -> None:
        self.to = to
        super().__init__(reason or f"cannot change to {_show(to)}", field=field, value=value)


class InsecureTransport(InvalidValue):
    """Data would travel in the clear (an ``http://`` URL, SMTP without TLS); nothing was sent.

    ``field`` names the setting, ``value`` the endpoint; ``allow`` says how to
    permit cleartext on purpose, for a test server on loopback or a relay on
    the same host.

    >>> err = InsecureTransport(
    ...     field="url", value="http://hooks.example/c", allow="CARECORE_WEBHOOK_INSECURE=1"
    ... )
    >>> print(err)
    url='http://hooks.example/c': is not encrypted; use https://, or allow cleartext on purpose with CARECORE_WEBHOOK_INSECURE=1
    >>> isinstance(err, ValueError), err.allow
    (True, 'CARECORE_WEBHOOK_INSECURE=1')
    """

    def __init__(
        self,
        *,
        field: str,
        value: object,
        allow: str,
        reason: str = "is not encrypted; use https://",
    ) -> None:
        self.allow = allow
        super().__init__(
            f"{reason}, or allow cleartext on purpose with {allow}", field=field, value=value
        )


class WebhookRejected(InvalidValue):
    """A webhook request failed its receiver's check: signature, time window or replay.

    ``field`` is the header at fault (``signature`` or ``timestamp``); the
    receiver answers such a request with 401 and does not act on it.

    >>> print(WebhookRejected("outside the 300 s window", field="timestamp", value="1"))
    timestamp='1': outside the 300 s window
    """


class Problem:
    """One problem found while reading structured input.

    ``path`` is a JSON path such as ``$.members[1].role``.

    >>> str(Problem(path="$.minutes", message="expected an integer", value="ten"))
    "$.minutes: expected an integer (got 'ten')"
    """

    __slots__ = ("message", "path", "value")

    def __init__(self, *, path: str, message: str, value: object = _MISSING) -> None:
        self.path = path
        self.message = message
        self.value = value

    def __str__(self) -> str:
        if self.value is _MISSING:
            return f"{self.path}: {self.message}"
        return f"{self.path}: {self.message} (got {_show(self.value)})"

    def __repr__(self) -> str:
        return f"Problem({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return (self.path, self.message) == (other.path, other.message)

    def __hash__(self) -> int:
        return hash((self.path, self.message))


class InvalidInput(CarecoreError, ValueError):
    """Structured input (JSON, CSV, a wire message) failed to convert.

    Every problem is listed, each with its JSON path, so one error shows all
    that needs fixing.

    >>> err = InvalidInput("Patient", problems=[Problem(path="$.id", message="required")])
    >>> print(err)
    invalid Patient: 1 problem
      $.id: required
    """

    def __init__(self, what: str, *, problems: Iterable[Problem]) -> None:
        self.what = what
        self.problems: tuple[Problem, ...] = tuple(problems)
        first = self.problems[0] if self.problems else None
        super().__init__(
            f"invalid {what}",
            field=first.path if first else None,
            value=first.value if first and first.value is not _MISSING else _MISSING,
        )

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"invalid {self.what}: {count} problem{'s' if count != 1 else ''}"
        return redact("\n  ".join([head, *(str(p) for p in self.problems)]))


class NotFound(CarecoreError, LookupError):
    """A requested object does not exist.

    >>> str(NotFound("no such patient", field="patient_id", value="p-404"))
    "patient_id='p-404': no such patient"
    """


#: The plugins shipped with carecore that open a store, by URL scheme (named, never imported).
_STORE_PLUGINS = {"postgresql": "carecore-postgres", "postgres": "carecore-postgres"}


class NoStoreForURL(NotFound):
    """No installed plugin opens a store for this URL.

    >>> str(NoStoreForURL(url="mongodb://x"))
    "url='mongodb://x': no installed plugin opens this kind of store"

    A store carecore ships a plugin for names the plugin to install:

    >>> print(NoStoreForURL(url="postgresql://db.example.org/practice"))
    url='postgresql://db.example.org/practice': the carecore-postgres plugin opens this kind of store and is not installed; install it with: pip install ./plugins/carecore-postgres (in the carecore clone)

    A file path is not a URL; the message says how to write one:

    >>> str(NoStoreForURL(url="carecore-demo.db"))
    "url='carecore-demo.db': is a path, not a store URL (for an SQLite file write sqlite:///carecore-demo.db)"
    """

    def __init__(self, *, url: str) -> None:
        reason = "no installed plugin opens this kind of store"
        plugin = _STORE_PLUGINS.get(url.split("://", 1)[0].lower()) if "://" in url else None
        if plugin is not None:
            reason = (
                f"the {plugin} plugin opens this kind of store and is not installed; install "
                f"it with: pip install ./plugins/{plugin} (in the carecore clone)"
            )
        if "://" not in url:
            reason = f"is a path, not a store URL (for an SQLite file write sqlite:///{url})"
        super().__init__(reason, field="url", value=url)


class NoSuchStore(NotFound):
    """The URL names no carecore store (no such file, or an empty database), and none is created.

    >>> str(NoSuchStore(url="sqlite:///practise.db"))
    "url='sqlite:///practise.db': holds no carecore store (create one with: carecore db init URL)"
    """

    def __init__(self, *, url: str, reason: str | None = None) -> None:
        super().__init__(
            reason or "holds no carecore store (create one with: carecore db init URL)",
            field="url",
            value=url,
        )


class ConflictError(CarecoreError):
    """A write was made against a stale version; nothing was changed.

    >>> str(ConflictError("stale version", field="version", value=3))
    'version=3: stale version'
    """


class LeaseLost(ConflictError):
    """An outbox claim was taken over by another dispatcher after its lease ended.

    The stale dispatcher must neither send nor record: the new holder does.

    >>> str(LeaseLost(message_id="m1", claim=3))
    "claim=3: message 'm1' is held by a newer claim (the lease ran out)"
    """

    def __init__(self, *, message_id: str, claim: int) -> None:
        self.message_id = message_id
        super().__init__(
            f"message {message_id!r} is held by a newer claim (the lease ran out)",
            field="claim",
            value=claim,
        )


class StoreError(CarecoreError):
    """A store cannot be used as asked; no data was changed.

    >>> str(StoreError("read-only file system", field="url", value="sqlite:///x.db"))
    "url='sqlite:///x.db': read-only file system"
    """


class StoreUnavailable(StoreError):
    """The store's server or file cannot be reached (refused, timed out, no permission).

    >>> str(StoreUnavailable("connection refused", field="url", value="postgresql://127.0.0.1:1/x"))
    "url='postgresql://127.0.0.1:1/x': connection refused"
    """


class StoreCorrupt(StoreError):
    """The store's file or tables are not what carecore wrote (not a database, damaged pages).

    >>> str(StoreCorrupt("file is not a database", field="url", value="sqlite:///notes.txt"))
    "url='sqlite:///notes.txt': file is not a database"
    """


class SchemaVersionError(StoreError):
    """The store's schema version is not the one this carecore reads.

    ``value`` is the version found; ``expected`` the version this carecore
    writes. A newer database is never touched; an older one is upgraded by
    ``carecore db migrate``.

    >>> err = SchemaVersionError(found=9, expected=2, url="sqlite:///x.db")
    >>> print(err)
    schema_version=9: sqlite:///x.db was written by a newer carecore (schema 9; this one reads 2); upgrade carecore
    """

    def __init__(self, *, found: int, expected: int, url: str) -> None:
        self.expected = expected
        self.url = url
        if found > expected:
            why = (
                f"{url} was written by a newer carecore (schema {found}; this one reads "
                f"{expected}); upgrade carecore"
            )
        else:
            why = f"{url} has schema {found}, this carecore needs {expected}; run: carecore db migrate {url}"
        super().__init__(why, field="schema_version", value=found)


class AccessDenied(CarecoreError):
    """The access policy refused the acting user this action on this patient's records.

    The message names ids only: the actor, the action, the kind of record
    and the patient, never what the record holds. The command line exits 3
    for it.

    >>> err = AccessDenied(actor="rn-lee", action="read", patient_id="p1", kind="CarePlan")
    >>> print(err)
    actor='rn-lee': may not read CarePlan of patient p1
    >>> err.actor, err.action, err.patient_id
    ('rn-lee', 'read', 'p1')

    Without a patient it is about records of no patient, or a bulk read of
    which the actor may see no patient's records:

    >>> print(AccessDenied(actor="mallory", action="read", patient_id=None, kind="CarePlan"))
    actor='mallory': may not read CarePlan
    """

    def __init__(
        self, *, actor: str, action: str, patient_id: str | None, kind: str | None = None
    ) -> None:
        self.actor = actor
        self.action = action
        self.patient_id = patient_id
        self.kind = kind
        what = f" {kind}" if kind else ""
        whose = f" of patient {patient_id}" if patient_id is not None else ""
        super().__init__(f"may not {action}{what}{whose}", field="actor", value=actor)


class PluginError(CarecoreError):
    """A plugin is broken: a misspelled hook, a bad signature, a wrong return type.

    >>> str(PluginError("unknown hook carecore_open_stor", field="plugin", value="acme"))
    "plugin='acme': unknown hook carecore_open_stor"
    """


class DuplicateRegistration(PluginError):
    """Two plugins registered an item under the same id.

    >>> err = DuplicateRegistration(kind="channel", item_id="sms", plugins=("a", "b"))
    >>> str(err)
    "channel='sms': registered by both 'a' and 'b'"
    """

    def __init__(self, *, kind: str, item_id: str, plugins: tuple[str, str]) -> None:
        self.kind = kind
        self.plugins = plugins
        first, second = plugins
        super().__init__(f"registered by both {first!r} and {second!r}", field=kind, value=item_id)


class MissingPlugin(NotFound):
    """A command needs a carecore plugin that is not installed; the message says how to install it.

    The command line exits 2 for it, like any other :class:`NotFound`.

    >>> print(MissingPlugin(plugin="carecore-hl7v2", needed_for="the demo's MLLP discharge",
    ...                     install="pip install ./plugins/carecore-hl7v2"))
    plugin='carecore-hl7v2': the demo's MLLP discharge needs it; install it with: pip install ./plugins/carecore-hl7v2
    """

    def __init__(self, *, plugin: str, needed_for: str, install: str) -> None:
        self.install = install
        super().__init__(
            f"{needed_for} needs it; install it with: {install}", field="plugin", value=plugin
        )


class MissingDependency(CarecoreError, ImportError):
    """An optional feature needs a package that is not installed; the message names the extra.

    carecore is installed from a clone of its repository until it is
    published, so the command given installs the extra from there:

    >>> err = MissingDependency(extra="hcc", package="hccinfhir", feature="CMS-HCC risk scores")
    >>> print(err)
    hccinfhir: needed for CMS-HCC risk scores but not installed; install it with: pip install ".[hcc]" (in the carecore clone)

    The command line exits 2 for it (a usage problem: the command cannot run
    as installed), with that message.
    """

    def __init__(self, *, extra: str, package: str, feature: str) -> None:
        self.extra = extra
        super().__init__(
            f"needed for {feature} but not installed; install it with: "
            f"{self.install_command(extra)}",
            field=package,
        )

    @staticmethod
    def install_command(extra: str) -> str:
        """How to install the optional *extra*: from the clone, as the README says.

        >>> MissingDependency.install_command("fast")
        'pip install ".[fast]" (in the carecore clone)'
        """
        return f'pip install ".[{extra}]" (in the carecore clone)'
