"""Start the servers under test: `bayanihan serve` and OASIS medallion 3.0.0 (memory backend).

Medallion runs from its own virtual environment (bench/.venv-medallion), created
on first use with `pip install medallion==3.0.0`, so its pinned dependencies
never meet ours.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import orjson

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
MEDALLION_VENV = HERE / ".venv-medallion"
TAXII = "application/taxii+json;version=2.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, *, auth: tuple[str, str] | None = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, headers={"Accept": TAXII}, auth=auth, timeout=5)
            if response.status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


class Process:
    def __init__(self, args: list[str], *, log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log.open("wb")
        self.popen = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


# -- bayanihan -----------------------------------------------------------------------------


def bayanihan(*args: str, db: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bayanihan.cli", "--db", db, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0,):
        raise RuntimeError(f"bayanihan {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def start_bayanihan(db: str) -> tuple[Process, str, str, str]:
    """Serve ``db``; returns (process, base URL, collection URL, an org-admin key)."""
    key = bayanihan("key", "add", "--role", "org-admin", db=db)
    port = free_port()
    process = Process(
        [
            sys.executable,
            "-m",
            "bayanihan.cli",
            "--db",
            db,
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        log=WORK / f"bayanihan-{port}.log",
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base + "/taxii2/")
    headers = {"Accept": TAXII, "Authorization": f"Bearer {key}"}
    collections = httpx.get(base + "/taxii2/api/collections/", headers=headers).json()
    collection = collections["collections"][0]["id"]
    return process, base, f"{base}/taxii2/api/collections/{collection}/", key


# -- medallion -----------------------------------------------------------------------------


def ensure_medallion() -> Path:
    binary = MEDALLION_VENV / "bin" / "medallion"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MEDALLION_VENV)], check=True)
        subprocess.run(
            [str(MEDALLION_VENV / "bin" / "pip"), "install", "-q", "medallion==3.0.0"], check=True
        )
    return binary


MEDALLION_USER = ("bench", "bench-password")


def start_medallion(objects: Iterable[dict[str, Any]]) -> tuple[Process, str]:
    """Medallion with its memory backend holding ``objects``; returns (process, collection URL)."""
    binary = ensure_medallion()
    WORK.mkdir(parents=True, exist_ok=True)
    collection_id = str(uuid.uuid4())
    stored: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    for n, obj in enumerate(objects):
        added = f"2026-11-30T00:{(n // 60_000_000) % 60:02d}:{(n // 1_000_000) % 60:02d}."
        added += f"{n % 1_000_000:06d}Z"
        stored.append({**obj, "_date_added": added})
        manifest.append(
            {
                "id": obj["id"],
                "date_added": added,
                "version": obj["modified"],
                "media_type": "application/stix+json;version=2.1",
            }
        )
    data = {
        "/discovery": {
            "title": "medallion bench",
            "default": "http://127.0.0.1/api1/",
            "api_roots": ["http://127.0.0.1/api1/"],
        },
        "api1": {
            "information": {
                "title": "bench root",
                "versions": [TAXII],
                "max_content_length": 100 * 1024 * 1024,
            },
            "status": [],
            "collections": [
                {
                    "id": collection_id,
                    "title": "bench",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": stored,
                    "manifest": manifest,
                }
            ],
        },
    }
    port = free_port()
    data_file = WORK / f"medallion-data-{port}.json"
    data_file.write_bytes(orjson.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(data_file),
        },
        "users": {MEDALLION_USER[0]: MEDALLION_USER[1]},
        "taxii": {"max_page_size": 1000},
    }
    config_file = WORK / f"medallion-config-{port}.json"
    config_file.write_bytes(orjson.dumps(config))
    process = Process(
        [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "WARN",
            str(config_file),
        ],
        log=WORK / f"medallion-{port}.log",
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base + "/taxii2/", auth=MEDALLION_USER)
    return process, f"{base}/api1/collections/{collection_id}/"
