"""OASIS medallion 3.0.0, a stock TAXII 2.1 server, as a real process for interop tests.

Medallion pins its own dependencies (Flask and friends), so it lives in a virtual
environment of its own, ``.venv-medallion`` at the top of the repository (git-ignored),
made on first use with ``python -m venv`` and ``pip install medallion==3.0.0``. A file
lock keeps concurrent test processes (pytest-xdist workers) to one install; a marker
file written after a complete install lets later runs reuse it. When the install
fails (no network), ``ensure_medallion`` raises ``MedallionUnavailable`` saying why,
and the tests skip with that reason.

Each ``Medallion`` runs the memory backend from a data file written for it: one API
root (``api1``) with one readable and writable collection, a Basic-auth user and a
small page size, so that paging through ``more`` and ``next`` is exercised.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-medallion"
LOCK = ROOT / ".venv-medallion.lock"
VERSION = "3.0.0"
MARKER = VENV / f".medallion-{VERSION}-installed"
TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
USER = ("interop", "medallion-test-password")
API_ROOT = "api1"


class MedallionUnavailable(Exception):
    """medallion could not be installed or started; the message says why."""


def ensure_medallion() -> Path:
    """The ``medallion`` command of its own venv, installing it once if need be."""
    binary = VENV / "bin" / "medallion"
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if MARKER.exists() and binary.exists():
            return binary
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        steps = {
            "python -m venv": [sys.executable, "-m", "venv", "--clear", str(VENV)],
            f"pip install medallion=={VERSION}": [*pip, "install", "-q", f"medallion=={VERSION}"],
        }
        for label, step in steps.items():
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise MedallionUnavailable(f"cannot install medallion {VERSION}: {exc}") from None
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-2:]
                raise MedallionUnavailable(
                    f"cannot install medallion {VERSION} into {VENV} (`{label}` failed, "
                    f"no network?): {' / '.join(tail)}"
                )
        if not binary.exists():
            raise MedallionUnavailable(f"pip installed medallion but {binary} is missing")
        MARKER.write_text(f"medallion=={VERSION}\n")
    return binary


def _version(obj: dict[str, Any], date_added: str) -> str:
    """medallion's version of an object: modified, else created, else (SCOs) date added."""
    return str(obj.get("modified") or obj.get("created") or date_added)


def _seed_date(n: int) -> str:
    """The date_added of the n-th seeded object: in the past, in medallion's own format
    (microseconds), so that objects POSTed later sort after them."""
    return f"2026-01-01T00:00:00.{n + 1:06d}Z"


class Medallion:
    """One medallion process on a free loopback port, holding ``objects`` at start.

    ``advertise`` is the base URL its discovery document gives for the API root (a
    proxy in front of it), by default its own."""

    def __init__(
        self,
        binary: Path,
        workdir: Path,
        objects: Iterable[dict[str, Any]],
        *,
        page_size: int,
        advertise: str | None = None,
    ) -> None:
        from tests.conftest import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.discovery_url = f"{self.base}/taxii2/"
        self.api_root_url = f"{advertise or self.base}/{API_ROOT}/"
        self.collection_id = str(uuid.uuid4())
        self.collection_url = f"{self.api_root_url}collections/{self.collection_id}/"
        self.user, self.password = USER
        stored: list[dict[str, Any]] = []
        manifest: list[dict[str, Any]] = []
        for n, obj in enumerate(objects):
            added = _seed_date(n)
            version = _version(obj, added)
            entry = dict(obj)
            if "modified" not in obj and "created" not in obj:
                entry["_date_added"] = version  # how the memory backend versions an SCO
            stored.append(entry)
            manifest.append(
                {"id": obj["id"], "date_added": added, "version": version, "media_type": STIX}
            )
        data = {
            "/discovery": {
                "title": "medallion (interop test)",
                "default": self.api_root_url,
                "api_roots": [self.api_root_url],
            },
            API_ROOT: {
                "information": {
                    "title": "interop root",
                    "versions": [TAXII],
                    "max_content_length": 10 * 1024 * 1024,
                },
                "status": [],
                "collections": [
                    {
                        "id": self.collection_id,
                        "title": "shared",
                        "can_read": True,
                        "can_write": True,
                        "media_types": [STIX],
                        "objects": stored,
                        "manifest": manifest,
                    }
                ],
            },
        }
        workdir.mkdir(parents=True, exist_ok=True)
        data_file = workdir / f"medallion-data-{self.port}.json"
        data_file.write_text(json.dumps(data))
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(data_file),
            },
            "users": {self.user: self.password},
            "taxii": {"max_page_size": page_size},
        }
        config_file = workdir / f"medallion-config-{self.port}.json"
        config_file.write_text(json.dumps(config))
        self.log_path = workdir / f"medallion-{self.port}.log"
        self._log = self.log_path.open("wb")
        args = [str(binary), "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*args, "--log-level", "WARN", str(config_file)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(
            base_url=self.base, auth=USER, headers={"Accept": TAXII}, timeout=30
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.http.get("/taxii2/").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise MedallionUnavailable(
            f"medallion did not come up on port {self.port}: {self.log_path.read_text()[-2000:]}"
        )

    def post(self, *objects: dict[str, Any]) -> dict[str, Any]:
        """Add objects as any TAXII client would; medallion's status resource."""
        answer = self.http.post(
            f"/{API_ROOT}/collections/{self.collection_id}/objects/",
            content=json.dumps({"objects": list(objects)}),
            headers={"Content-Type": TAXII},
        )
        assert answer.status_code == 202, answer.text
        status: dict[str, Any] = answer.json()
        assert status["status"] == "complete" and status["failure_count"] == 0, status
        return status

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class FlakyProxy:
    """A pass-through HTTP proxy in front of a server that fails chosen requests on cue:
    ``fail_pages`` GETs carrying a ``next`` token get 503, as from a peer going down in
    the middle of a pull."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.fail_pages = 0
        self.failed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if proxy.fail_pages and "next=" in self.path:
                    proxy.fail_pages -= 1
                    proxy.failed += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                assert proxy.target is not None
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                target = urlsplit(proxy.target)
                upstream = http.client.HTTPConnection(target.netloc, timeout=30)
                try:
                    keep = ("accept", "authorization", "content-type")
                    headers = {k: v for k, v in self.headers.items() if k.lower() in keep}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() in ("content-type",) or name.lower().startswith("x-taxii"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
