"""A FHIR R4 REST client on httpx: search with paging, reads, conditional writes, retries.

- **Search** follows the Bundle's ``next`` links until the server has no more pages.
- **Conditional create** sends ``If-None-Exist`` (the server creates the resource only when
  nothing matches) and **update** sends ``If-Match: W/"version"`` (a stale version gets
  ``412 Precondition Failed``, raised as :class:`~carecore.errors.ConflictError`).
- **Retries**: ``429`` and ``5xx`` answers and connection errors are retried with exponential
  backoff and jitter (a ``Retry-After`` header is obeyed); the last failure raises
  :class:`~carecore.errors.StoreUnavailable`.
- **Bearer tokens**: *token* is called before each request (SMART backend services: the hook
  signs a client assertion, fetches an access token and caches it); after a ``401`` it is
  called once more with ``refresh=True`` and the request is repeated. A final ``401`` or
  ``403`` raises :class:`~carecore.errors.InvalidValue` with ``field="Authorization"``.
  The token goes to the base URL's origin (scheme, host, port) only: a ``next`` link, a
  Binary URL or a redirect to another origin is requested without it.
- **Redirects**: a read follows up to five; a redirected write is refused.

An ``http://`` server is refused unless the client is *insecure* (a test server on loopback):

>>> FhirClient("https://ehr.example.org/fhir/").base_url
'https://ehr.example.org/fhir'
>>> FhirClient("http://127.0.0.1:8080/fhir", insecure=True).insecure
True
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Protocol, Self

import attrs
import httpx

from carecore import errors

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["FhirClient", "FhirSink", "TokenProvider", "Written"]

FHIR_JSON = "application/fhir+json"
_RETRY = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of *url*, the default port filled in."""
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host.lower(), parsed.port or _PORTS.get(parsed.scheme)


class TokenProvider(Protocol):
    """Gives a bearer token; ``refresh=True`` after the server refused the last one."""

    def __call__(self, *, refresh: bool) -> str:
        """The access token to send."""
        ...


@attrs.frozen(kw_only=True)
class Written:
    """What the server did with a write: the resource's id and version, and whether it is new."""

    id: str
    version: str | None
    created: bool
    resource: dict[str, Any] | None = None


def _version(etag: str | None) -> str | None:
    if not etag:
        return None
    return etag.removeprefix("W/").strip('"')


class FhirClient:
    """A client for one FHIR R4 server.

    :param base_url: the server's base URL (``.../fhir``); ``https://`` unless *insecure*.
    :param token: a :class:`TokenProvider` for ``Authorization: Bearer`` (None: no auth).
    :param retries: how many times a request is retried after a 429, a 5xx or a connection error.
    :param backoff: the first retry's delay in seconds; it doubles each time, up to *max_backoff*,
        and each delay is drawn between half and all of that ("equal jitter").
    :param insecure: allow ``http://`` (a test server on loopback); otherwise an ``http://``
        base URL, or a link to one, raises :class:`~carecore.errors.InsecureTransport`.
    :param transport: an httpx transport (tests, proxies); None for the default.
    :param sleep: how to wait between retries (tests pass a recorder).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: TokenProvider | None = None,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        timeout: float = 10.0,
        insecure: bool = False,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise errors.InvalidValue("must be an http(s) URL", field="base_url", value=base_url)
        self.insecure = bool(insecure)
        self._encrypted(base_url, "base_url")
        if retries < 0 or backoff < 0 or max_backoff < backoff:
            raise errors.InvalidValue(
                "retries and backoff must be >= 0 and max_backoff >= backoff",
                field="retries",
                value=(retries, backoff, max_backoff),
            )
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.jitter = jitter
        self.http = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={"Accept": FHIR_JSON},
        )

    def _encrypted(self, url: str, field: str) -> None:
        if url.startswith("http://") and not self.insecure:
            raise errors.InsecureTransport(
                field=field,
                value=url,
                allow="--insecure (CARECORE_FHIR_INSECURE=1, fhir_insecure = true in "
                "carecore.toml, FhirClient(insecure=True))",
            )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------

    def delay(self, attempt: int) -> float:
        """The wait before retry number *attempt* (0-based): capped exponential, equal jitter.

        >>> FhirClient("https://127.0.0.1", backoff=1.0, jitter=lambda: 1.0).delay(3)
        8.0
        """
        ceiling: float = min(self.max_backoff, self.backoff * 2.0**attempt)
        return ceiling / 2 + ceiling / 2 * float(self.jitter())

    def same_origin(self, url: str) -> bool:
        """Whether *url* is on the configured server's origin (scheme, host and port).

        >>> c = FhirClient("https://ehr.example.org/fhir")
        >>> c.same_origin("https://EHR.example.org:443/fhir/Patient?page=2")
        True
        >>> c.same_origin("https://cdn.example.org/fhir/Binary/1")
        False
        """
        return _origin(url) == _origin(self.base_url)

    def request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send one request with retries and auth; raise typed errors for final failures.

        The bearer token goes only to the configured server's origin: a URL of another
        origin (a ``next`` link, a Binary's URL, a redirect) is requested without it. A read
        (GET) follows up to five redirects; a write that is redirected is refused.
        """
        target = url if url.startswith(("http://", "https://")) else f"{self.base_url}/{url}"
        self._encrypted(target, "url")
        for _hop in range(_MAX_REDIRECTS + 1):
            response = self._send(method, target, headers, kwargs)
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or not location:
                self._raise_for(response, method, target, token=self._sends_token(target))
                return response
            if method.upper() != "GET":
                raise errors.InvalidValue(
                    f"the FHIR server redirected a {method} ({response.status_code}); "
                    "carecore follows redirects of reads only",
                    field="url",
                    value=f"{method} {target}",
                )
            target = str(response.url.join(location))
            self._encrypted(target, "url")
            kwargs = {k: v for k, v in kwargs.items() if k != "params"}  # in the Location
        raise errors.InvalidValue(
            f"the FHIR server sent more than {_MAX_REDIRECTS} redirects",
            field="url",
            value=f"{method} {url}",
        )

    def _sends_token(self, url: str) -> bool:
        return self.token is not None and self.same_origin(url)

    def _send(
        self, method: str, target: str, headers: dict[str, str] | None, kwargs: dict[str, Any]
    ) -> httpx.Response:
        """One request to *target*, retried after 429, 5xx and connection errors."""
        own = self._sends_token(target)
        refreshed = False
        attempt = 0
        while True:
            sent = dict(headers or {})
            if own and self.token is not None:
                sent["Authorization"] = f"Bearer {self.token(refresh=refreshed)}"
            try:
                response = self.http.request(method, target, headers=sent, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise errors.StoreUnavailable(
                        f"FHIR server unreachable after {attempt + 1} tries: {exc}",
                        field="url",
                        value=target,
                    ) from None
                self.sleep(self.delay(attempt))
                attempt += 1
                continue
            if response.status_code == 401 and own and not refreshed:  # noqa: PLR2004
                refreshed = True
                continue
            if response.status_code in _RETRY and attempt < self.retries:
                wait = self._retry_after(response)
                self.sleep(wait if wait is not None else self.delay(attempt))
                attempt += 1
                continue
            response.extensions["carecore_attempts"] = attempt + 1
            return response

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return None

    def _raise_for(self, response: httpx.Response, method: str, url: str, *, token: bool) -> None:
        status = response.status_code
        if status < 400:  # noqa: PLR2004
            return
        attempt = int(response.extensions.get("carecore_attempts", 1)) - 1
        detail = _diagnostics(response)
        where = f"{method} {url}"
        if status in {401, 403}:
            if token:
                reason = f"the FHIR server refused the bearer token ({status})"
            elif self.token is not None:
                reason = (
                    f"answered {status}; it is of another origin than {self.base_url}, "
                    "and the bearer token is sent to that origin only"
                )
            else:
                reason = (
                    f"the FHIR server answered {status}: no bearer token was sent (no token hook)"
                )
            raise errors.InvalidValue(reason + detail, field="Authorization", value=where)
        if status == 404:  # noqa: PLR2004
            raise errors.NotFound(f"not on the FHIR server{detail}", field="url", value=where)
        if status in {409, 412}:
            raise errors.ConflictError(
                f"the server refused a stale version ({status}){detail}",
                field="If-Match",
                value=where,
            )
        if status in _RETRY:
            raise errors.StoreUnavailable(
                f"FHIR server answered {status} after {attempt + 1} tries{detail}",
                field="url",
                value=where,
            )
        raise errors.InvalidValue(
            f"FHIR server answered {status}{detail}", field="url", value=where
        )

    # -- FHIR interactions -----------------------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        """The server's CapabilityStatement; refuses a server that does not speak FHIR R4."""
        doc: dict[str, Any] = self.request("GET", "metadata").json()
        version = str(doc.get("fhirVersion", ""))
        if not version.startswith("4.0"):
            raise errors.InvalidValue(
                "wrong FHIR version: carecore reads R4 (4.0.x)",
                field="CapabilityStatement.fhirVersion",
                value=version,
            )
        return doc

    def read(self, kind: str, rid: str) -> tuple[dict[str, Any], str | None]:
        """One resource and its version (from the ``ETag``)."""
        response = self.request("GET", f"{kind}/{rid}")
        return response.json(), _version(response.headers.get("ETag"))

    def search(
        self, kind: str, params: dict[str, str] | None = None, *, page_size: int = 50
    ) -> Iterator[dict[str, Any]]:
        """Every resource matching the search, page by page (``_count``; ``next`` links)."""
        query = {"_count": str(page_size), **(params or {})}
        response = self.request("GET", kind, params=query)
        seen: set[str] = set()
        while True:
            bundle = response.json()
            for entry in bundle.get("entry", ()):
                resource = entry.get("resource")
                if (
                    isinstance(resource, dict)
                    and (entry.get("search") or {}).get("mode", "match") == "match"
                ):
                    yield resource
            link = next(
                (lk.get("url") for lk in bundle.get("link", ()) if lk.get("relation") == "next"),
                None,
            )
            if not link or link in seen:
                return
            seen.add(link)
            response = self.request("GET", link)

    def create(self, resource: dict[str, Any], *, if_none_exist: str | None = None) -> Written:
        """POST a resource; with *if_none_exist* (``identifier=system|value``) only when none matches."""
        headers = {"Content-Type": FHIR_JSON, "Prefer": "return=representation"}
        if if_none_exist:
            headers["If-None-Exist"] = if_none_exist
        response = self.request("POST", resource["resourceType"], headers=headers, json=resource)
        return self._written(response, created=response.status_code == 201)  # noqa: PLR2004

    def update(self, resource: dict[str, Any], *, if_match: str | None = None) -> Written:
        """PUT a resource by id; with *if_match*, only when the server's version is that one."""
        headers = {"Content-Type": FHIR_JSON, "Prefer": "return=representation"}
        if if_match is not None:
            headers["If-Match"] = f'W/"{if_match}"'
        response = self.request(
            "PUT", f"{resource['resourceType']}/{resource['id']}", headers=headers, json=resource
        )
        return self._written(response, created=response.status_code == 201)  # noqa: PLR2004

    @staticmethod
    def _written(response: httpx.Response, *, created: bool) -> Written:
        body = response.json() if response.content else None
        location = response.headers.get("Location", "")
        parts = location.rstrip("/").split("/")
        rid = (body or {}).get("id") or (
            parts[parts.index("_history") - 1] if "_history" in parts else parts[-1]
        )
        version = _version(response.headers.get("ETag")) or ((body or {}).get("meta") or {}).get(
            "versionId"
        )
        return Written(id=str(rid), version=version, created=created, resource=body)


def _diagnostics(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return ""
    if not isinstance(doc, dict) or doc.get("resourceType") != "OperationOutcome":
        return ""
    texts = [i.get("diagnostics") for i in doc.get("issue", ()) if isinstance(i, dict)]
    return ": " + "; ".join(t for t in texts if t) if any(texts) else ""


class FhirSink:
    """Writes carecore's exported resources to a FHIR server, version-safely.

    A resource the server has is updated with ``If-Match`` on the version just read, so a
    change made on the server in between raises :class:`~carecore.errors.ConflictError`
    instead of being overwritten; one it does not have is created under its own id.
    """

    def __init__(self, client: FhirClient) -> None:
        self.client = client

    def write(self, resource: dict[str, Any]) -> Written:
        """Create or update one resource."""
        try:
            _, version = self.client.read(resource["resourceType"], resource["id"])
        except errors.NotFound:
            return self.client.update(resource)
        return self.client.update(resource, if_match=version)

    def write_bundle(self, bundle: dict[str, Any]) -> list[Written]:
        """Write every resource of a Bundle (as :func:`~carecore_fhir.export.export_patient` makes)."""
        return [self.write(entry["resource"]) for entry in bundle.get("entry", ())]
