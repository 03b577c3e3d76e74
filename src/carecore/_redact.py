"""Secrets out of every message carecore shows, logs or stores.

One function, :func:`redact`, masks what a message may carry by accident:

- query-string and ``name=value`` secrets (``token=``, ``access_token=``,
  ``key=``, ``sig=``, ``signature=``, ``password=``, ``secret=``, ...),
  quoted or not, as in a URL, a libpq connection string or ``field='value'``;
- the password of ``user:password@`` in a URL;
- the value of ``Authorization`` and ``Proxy-Authorization`` headers, and a
  ``Bearer`` token anywhere.

Every :class:`~carecore.errors.CarecoreError`'s text passes through it, the
outbox stores its delivery errors through it, and the log records of
carecore's loggers (``carecore.*``, ``carecore_*`` plugins) are masked when
they are made.

>>> redact("GET https://ehr.example/fhir/Patient?_count=50&access_token=abc123")
'GET https://ehr.example/fhir/Patient?_count=50&access_token=***'
>>> redact("postgresql://carecore:hunter2@db.example/care")
'postgresql://carecore:***@db.example/care'
>>> redact("{'Authorization': 'Bearer eyJhbGciOi.x.y', 'Accept': 'application/fhir+json'}")
"{'Authorization': 'Bearer ***', 'Accept': 'application/fhir+json'}"
>>> redact("password='s3cret': must be text")
'password=***: must be text'
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = ["MASK", "destination", "install_log_redaction", "is_secret_name", "redact"]

#: What a secret is replaced with.
MASK = "***"

# Names whose value is a secret: exact names, or names ending so (refresh_token, x-amz-signature).
_NAMES = (
    r"(?:(?:[\w.-]*[_.-])?(?:token|secret|password|passwd|signature|credentials?)|"
    r"(?:[\w.-]*[_.-])?(?:api|access|secret|private|client|subscription|account)[_-]?key|"
    r"key|apikey|"
    r"sig|pwd|pass|auth|session[_-]?id|sas)"
)
_VALUE = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&#'"<>]+)"""
_PAIR = re.compile(rf"(?i)(?<![\w.-])({_NAMES})(\s*=\s*){_VALUE}")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/@:'\"]*):[^\s/@'\"]*@")
_HEADER = re.compile(
    r"""(?i)\b((?:proxy-)?authorization)(['"]?\s*[:=]\s*['"]?)"""
    r"""(?:(bearer|basic|digest|token|negotiate|hmac|aws4-hmac-sha256)\s+)?[^'"\r\n]+?(?=['"\r\n]|$)"""
)
_BEARER_WORD = re.compile(r"(?i)bearer")
_BEARER = re.compile(r"(?i)\b(bearer)\s+(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}")


_SECRET_FIELD = re.compile(
    r"(?i)(?:[\w.-]*[_.-])?(?:password|passwd|secret|token|credentials?)|pwd|api[_-]?key|apikey"
)


def is_secret_name(name: object) -> bool:
    """Whether a field named *name* holds a secret as a whole (a password, a token).

    >>> is_secret_name("CARECORE_SMTP_PASSWORD"), is_secret_name("client_secret")
    (True, True)
    >>> is_secret_name("key"), is_secret_name("signature"), is_secret_name("url")
    (False, False, False)
    """
    return isinstance(name, str) and _SECRET_FIELD.fullmatch(name) is not None


def _header(match: re.Match[str]) -> str:
    name, separator, scheme = match.group(1), match.group(2), match.group(3)
    return f"{name}{separator}{scheme} {MASK}" if scheme else f"{name}{separator}{MASK}"


def redact(text: str) -> str:
    """*text* with the secrets it may carry masked (see the module)."""
    if not isinstance(text, str) or not text:
        return text
    # Every pattern needs an "=" or a ":" (a pair, a header, a URL's login) or the word
    # bearer: most texts (an error's reason, a record's key) have none, and go as they are.
    if "=" not in text and ":" not in text and _BEARER_WORD.search(text) is None:
        return text
    text = _HEADER.sub(_header, text)
    text = _BEARER.sub(rf"\1 {MASK}", text)
    text = _USERINFO.sub(rf"\1:{MASK}@", text)
    return _PAIR.sub(rf"\1\2{MASK}", text)


_LOGIN = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@'\"]*@")


def destination(url: str) -> str:
    """*url* as a disclosure's audit row names it: no login, secrets masked.

    >>> destination("https://svc:hunter2@ehr.example/fhir?access_token=abc")
    'https://ehr.example/fhir?access_token=***'
    >>> destination("https://ehr.example/fhir/")
    'https://ehr.example/fhir'
    """
    return redact(_LOGIN.sub(r"\1", url.strip()).rstrip("/"))


_installed = False


def _masked(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string is the handler's to report
        return
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_log_redaction() -> None:
    """Mask secrets in every log record of carecore's loggers when it is made (once per process).

    The records of loggers named ``carecore`` and ``carecore.*`` (and the plugins'
    ``carecore_*``) get their message, formatted exception and stack masked; other
    loggers' records are left as they are.
    """
    global _installed  # noqa: PLW0603 - one factory per process
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.name.startswith("carecore"):
            _masked(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


install_log_redaction()
