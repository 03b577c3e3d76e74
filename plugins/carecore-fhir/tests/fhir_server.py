"""A small but real FHIR R4 server for the REST tests: HTTP on 127.0.0.1, in a thread.

Why it is kept beside the published sekmet-fhir (test_rest_sekmet.py): docs/explanation/fhir.md
("The FHIR servers in the tests"): it injects faults a real server cannot.
It keeps every version of every resource and implements what the client relies on:
read with ETag, search with ``_count`` paging and ``next`` links (by ``_id``,
``identifier=system|value``, ``patient``/``subject``/``beneficiary``), create with
``If-None-Exist``, update with ``If-Match`` (412 on a stale version), the
CapabilityStatement, a required bearer token, and injected 429/503 faults.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlencode, urlsplit


class Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.versions: dict[tuple[str, str], list[dict]] = {}
        self.faults: list[tuple[int, dict[str, str]]] = []
        self.token: str | None = None
        self.fhir_version = "4.0.1"
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def current(self, kind: str) -> list[dict]:
        return [v[-1] for (k, _), v in sorted(self.versions.items()) if k == kind]

    def put(self, resource: dict) -> tuple[dict, bool]:
        key = (resource["resourceType"], resource["id"])
        history = self.versions.setdefault(key, [])
        stored = json.loads(json.dumps(resource))
        stored["meta"] = {**stored.get("meta", {}), "versionId": str(len(history) + 1)}
        history.append(stored)
        return stored, len(history) == 1


def _matches(resource: dict, name: str, value: str) -> bool:
    if name == "_id":
        return resource.get("id") == value
    if name == "identifier":
        system, _, code = value.rpartition("|")
        return any(
            i.get("value") == code and (not system or i.get("system") == system)
            for i in resource.get("identifier", ())
        )
    if name in {"patient", "subject", "beneficiary"}:
        wanted = value if "/" in value else f"Patient/{value}"
        refs = [
            resource.get(k, {}).get("reference")
            for k in ("subject", "patient", "beneficiary", "for")
        ]
        return wanted in refs
    return True


class Handler(BaseHTTPRequestHandler):
    server: FhirHttpServer

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(
        self, status: int, body: dict | None = None, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _outcome(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        body = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
        }
        self._send(status, body, headers)

    def _gate(self) -> bool:
        store = self.server.store
        store.requests.append((self.command, self.path, dict(self.headers)))
        with store.lock:
            fault = store.faults.pop(0) if store.faults else None
        if fault is not None:
            self._outcome(fault[0], "injected fault", fault[1])
            return False
        if store.token is not None and self.headers.get("Authorization") != f"Bearer {store.token}":
            self._outcome(401, "a valid bearer token is required")
            return False
        return True

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length) or b"{}")

    def _stored(self, status: int, resource: dict) -> None:
        version = resource["meta"]["versionId"]
        base = self.server.base
        self._send(
            status,
            resource,
            {
                "ETag": f'W/"{version}"',
                "Location": f"{base}/{resource['resourceType']}/{resource['id']}/_history/{version}",
            },
        )

    def do_GET(self) -> None:
        if not self._gate():
            return
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        store = self.server.store
        if parts == ["metadata"]:
            self._send(
                200,
                {
                    "resourceType": "CapabilityStatement",
                    "status": "active",
                    "kind": "instance",
                    "fhirVersion": store.fhir_version,
                    "format": ["json"],
                    "date": "2026-01-01",
                },
            )
            return
        if len(parts) == 2:
            history = store.versions.get((parts[0], parts[1]))
            if not history:
                self._outcome(404, f"{parts[0]}/{parts[1]} not found")
                return
            self._stored(200, history[-1])
            return
        if len(parts) == 1:
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            count = int(query.pop("_count", "20"))
            offset = int(query.pop("_offset", "0"))
            with store.lock:
                found = [
                    r
                    for r in store.current(parts[0])
                    if all(_matches(r, k, v) for k, v in query.items())
                ]
            page = found[offset : offset + count]
            links = [{"relation": "self", "url": f"{self.server.base}{self.path}"}]
            if offset + count < len(found):
                nxt = urlencode({**query, "_count": count, "_offset": offset + count})
                links.append({"relation": "next", "url": f"{self.server.base}/{parts[0]}?{nxt}"})
            self._send(
                200,
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "total": len(found),
                    "link": links,
                    "entry": [
                        {
                            "fullUrl": f"{self.server.base}/{r['resourceType']}/{r['id']}",
                            "resource": r,
                            "search": {"mode": "match"},
                        }
                        for r in page
                    ],
                },
            )
            return
        self._outcome(400, "unsupported path")

    def do_POST(self) -> None:
        if not self._gate():
            return
        kind = urlsplit(self.path).path.strip("/")
        resource = self._body()
        if resource.get("resourceType") != kind:
            self._outcome(400, "resourceType does not match the URL")
            return
        store = self.server.store
        with store.lock:
            condition = self.headers.get("If-None-Exist")
            if condition:
                query = {k: v[0] for k, v in parse_qs(condition).items()}
                found = [
                    r
                    for r in store.current(kind)
                    if all(_matches(r, k, v) for k, v in query.items())
                ]
                if len(found) > 1:
                    self._outcome(412, "more than one resource matches If-None-Exist")
                    return
                if found:
                    self._stored(200, found[0])
                    return
            resource["id"] = uuid.uuid4().hex
            stored, _ = store.put(resource)
        self._stored(201, stored)

    def do_PUT(self) -> None:
        if not self._gate():
            return
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        resource = self._body()
        if (
            len(parts) != 2
            or resource.get("resourceType") != parts[0]
            or resource.get("id") != parts[1]
        ):
            self._outcome(400, "resourceType and id must match the URL")
            return
        store = self.server.store
        with store.lock:
            history = store.versions.get((parts[0], parts[1]), [])
            wanted = self.headers.get("If-Match")
            if wanted is not None:
                have = history[-1]["meta"]["versionId"] if history else None
                if wanted.removeprefix("W/").strip('"') != have:
                    self._outcome(412, f"version conflict: the current version is {have}")
                    return
            stored, created = store.put(resource)
        self._stored(201 if created else 200, stored)


class FhirHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.store = Store()
        self.base = f"http://127.0.0.1:{self.server_address[1]}/fhir"
        self.thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


# The handler sees paths with the /fhir prefix; strip it once for every method.
for _name in ("do_GET", "do_POST", "do_PUT"):
    _method = getattr(Handler, _name)

    def _strip(self: Handler, _m=_method) -> None:
        self.path = self.path.removeprefix("/fhir")
        _m(self)

    setattr(Handler, _name, _strip)
