"""The bearer token goes to the configured server's origin only (issue 20).

``fhir pull`` sent its token to whatever host a ``next`` link named. Two HTTP
servers on 127.0.0.1, on different ports (so different origins): the EHR and
another one that records what it is sent.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from carecore_fhir.rest import FhirClient

from carecore import errors

TOKEN = "tok-0123456789abcdef"


class Server:
    """An HTTP server on 127.0.0.1 answering GETs from a table of path -> (status, headers, body)."""

    def __init__(self):
        self.routes = {}
        self.seen = []  # (path, Authorization header or None)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = server.routes.get(self.path, (404, {}, {}))
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def ehr():
    server = Server()
    yield server
    server.close()


@pytest.fixture
def other():
    server = Server()
    yield server
    server.close()


def patient(pid):
    return {"resourceType": "Patient", "id": pid}


def page(*resources, next_url=None):
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def client(ehr):
    return FhirClient(ehr.base, token=lambda *, refresh: TOKEN, insecure=True, retries=0)


def test_a_next_link_to_another_origin_gets_no_token(ehr, other):
    ehr.routes["/fhir/Patient?_count=50"] = (
        200,
        {},
        page(patient("p1"), next_url=f"{other.base}/Patient?page=2"),
    )
    other.routes["/fhir/Patient?page=2"] = (200, {}, page(patient("p2")))
    with client(ehr) as c:
        ids = [r["id"] for r in c.search("Patient")]
    assert ids == ["p1", "p2"]
    assert ehr.seen == [("/fhir/Patient?_count=50", f"Bearer {TOKEN}")]
    assert other.seen == [("/fhir/Patient?page=2", None)]


def test_a_next_link_on_the_same_origin_keeps_the_token(ehr):
    ehr.routes["/fhir/Patient?_count=50"] = (
        200,
        {},
        page(patient("p1"), next_url=f"{ehr.base}/Patient?page=2"),
    )
    ehr.routes["/fhir/Patient?page=2"] = (200, {}, page(patient("p2")))
    with client(ehr) as c:
        assert [r["id"] for r in c.search("Patient")] == ["p1", "p2"]
    assert [auth for _, auth in ehr.seen] == [f"Bearer {TOKEN}"] * 2


def test_a_redirect_to_another_origin_is_followed_without_the_token(ehr, other):
    ehr.routes["/fhir/Binary/b1"] = (302, {"Location": f"{other.base}/Binary/b1"}, {})
    other.routes["/fhir/Binary/b1"] = (200, {}, {"resourceType": "Binary", "id": "b1"})
    with client(ehr) as c:
        resource, _ = c.read("Binary", "b1")
    assert resource["id"] == "b1"
    assert ehr.seen == [("/fhir/Binary/b1", f"Bearer {TOKEN}")]
    assert other.seen == [("/fhir/Binary/b1", None)]


def test_a_redirect_on_the_same_origin_keeps_the_token(ehr):
    ehr.routes["/fhir/Patient/old"] = (301, {"Location": "/fhir/Patient/new"}, {})
    ehr.routes["/fhir/Patient/new"] = (200, {}, patient("new"))
    with client(ehr) as c:
        resource, _ = c.read("Patient", "old")
    assert resource["id"] == "new"
    assert [auth for _, auth in ehr.seen] == [f"Bearer {TOKEN}"] * 2


def test_a_binary_url_of_another_origin_gets_no_token(ehr, other):
    other.routes["/fhir/Binary/b2"] = (200, {}, {"resourceType": "Binary", "id": "b2"})
    with client(ehr) as c:
        assert c.request("GET", f"{other.base}/Binary/b2").json()["id"] == "b2"
    assert other.seen == [("/fhir/Binary/b2", None)]


def test_another_origin_asking_for_a_token_gets_none_and_a_typed_error(ehr, other):
    other.routes["/fhir/Patient?page=2"] = (401, {}, {})
    calls = []

    def token(*, refresh):
        calls.append(refresh)
        return TOKEN

    with (
        FhirClient(ehr.base, token=token, insecure=True, retries=0) as c,
        pytest.raises(errors.InvalidValue) as info,
    ):
        c.request("GET", f"{other.base}/Patient?page=2")
    assert other.seen == [("/fhir/Patient?page=2", None)]
    assert calls == []  # the token was not even asked for
    assert info.value.field == "Authorization"
    assert "origin" in str(info.value)


def test_redirect_loops_end_with_a_typed_error(ehr):
    ehr.routes["/fhir/Patient/a"] = (302, {"Location": "/fhir/Patient/a"}, {})
    with client(ehr) as c, pytest.raises(errors.InvalidValue) as info:
        c.read("Patient", "a")
    assert "redirect" in str(info.value)
