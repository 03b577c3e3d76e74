"""Run the published SEKMET FHIR R4 server (PyPI: ``sekmet-fhir``) on 127.0.0.1 for the tests.

Why this server: see docs/explanation/fhir.md ("The FHIR servers in the tests"). It is started
as a subprocess in its own process group with a fresh data directory, a free port and a bearer
token, and the whole group is killed when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Self

import httpx

VERSION = "0.1.1"  # the version the tests were written against (plugins/carecore-fhir[test])
READY_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _command(config: Path) -> list[str]:
    """``sekmet serve`` from the environment running the tests."""
    script = Path(sysconfig.get_path("scripts")) / ("sekmet.exe" if os.name == "nt" else "sekmet")
    if script.is_file():
        return [str(script), "serve", "--config", str(config)]
    found = shutil.which("sekmet", path=str(Path(sys.executable).parent))
    if found:
        return [found, "serve", "--config", str(config)]
    # no console script (unusual installs): the same Typer app through the interpreter
    code = "import sys; from sekmet.cli import app; sys.argv[0] = 'sekmet'; app()"
    return [sys.executable, "-c", code, "serve", "--config", str(config)]


class SekmetServer:
    """One ``sekmet serve`` process: ``base`` is its FHIR base URL, ``token`` its bearer token."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.token = secrets.token_urlsafe(16)
        self.port = 0
        self.base = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "server.log"

    def _write_settings(self) -> Path:
        config = self.directory / "settings.yaml"
        config.write_text(
            "\n".join(
                [
                    f"base_url: {self.base}",
                    "host: 127.0.0.1",
                    f"port: {self.port}",
                    f"data_dir: {self.directory / 'data'}",
                    f"own_private_key_path: {self.directory / 'keys' / 'sekmet_private.pem'}",
                    "server_auth:",
                    "  types: [bearer]",
                    f"  tokens: [{self.token}]",
                    "simulator:",
                    "  enabled: false",  # no simulated lab/pharmacy answers to our writes
                    "log_inbound: false",
                    "",
                ]
            )
        )
        return config

    def _tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def start(self) -> None:
        for _ in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            self.base = f"http://127.0.0.1:{self.port}/fhir"
            config = self._write_settings()
            env = {**os.environ, "SEKMET_CONFIG": str(config)}
            for name in ("SEKMET_BASE_URL", "SEKMET_DB", "SEKMET_PUBLIC_URL", "SEKMET_PORT"):
                env.pop(name, None)  # they would override the settings file
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(
                    _command(config),
                    cwd=self.directory,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, killed as a whole in stop()
                )
            if self._wait_ready():
                return
            self.stop()
            if "address already in use" not in self._tail().lower():
                break
        msg = f"sekmet-fhir did not answer on {self.base}/metadata; its log:\n{self._tail()}"
        raise RuntimeError(msg)

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.base}/metadata", timeout=1.0).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # what is left of the group, a hung server
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
