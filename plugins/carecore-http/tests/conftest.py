from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest_plugins = ["carecore.testing.pytest_plugin"]


class Peer:
    """A real HTTP server on 127.0.0.1 that records requests and answers as told."""

    def __init__(self):
        self.requests = []
        self.statuses = []  # answers to give, in order; 200 when empty
        self.delay = 0.0
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                peer.requests.append((dict(self.headers), body))
                if peer.delay:
                    time.sleep(peer.delay)
                status = peer.statuses.pop(0) if peer.statuses else 200
                answer = json.dumps({"sid": f"SM{len(peer.requests)}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/messages"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def form(self, index):
        return dict(urllib.parse.parse_qsl(self.requests[index][1].decode()))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def peer():
    server = Peer()
    yield server
    server.close()
