"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, nodes, real servers.

PostgreSQL tests use the server named by BAYANIHAN_TEST_PG. Without it they skip
with that reason; with BAYANIHAN_REQUIRE_PG=1 (set by .ci/run) they fail instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bayanihan.node import Node
from bayanihan.policy.roles import Role
from bayanihan.settings import Settings

# Background sync in `serve` is off unless a test turns it on: a test drives its own
# rounds, and a served node must not pull or push behind its back.
os.environ.setdefault("BAYANIHAN_SYNC_INTERVAL", "0")

PG_URL = os.environ.get("BAYANIHAN_TEST_PG")
REQUIRE_PG = os.environ.get("BAYANIHAN_REQUIRE_PG") == "1"
SKIP_PG = "PostgreSQL tests need BAYANIHAN_TEST_PG (a PostgreSQL URL); .ci/run sets it"


def _admin_engine():  # type: ignore[no-untyped-def]
    assert PG_URL is not None
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _pg_database() -> Iterator[str]:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("BAYANIHAN_REQUIRE_PG=1 but BAYANIHAN_TEST_PG is not set")
        pytest.skip(SKIP_PG)
    name = f"bt_{uuid.uuid4().hex[:16]}"
    try:
        admin = _admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if REQUIRE_PG:
            raise
        pytest.skip(f"PostgreSQL at BAYANIHAN_TEST_PG is not usable: {exc}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: the test owns it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'node.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _pg_database()


def make_node(url: str, **settings: object) -> Node:
    node = Node(Settings(db=url, **settings))  # type: ignore[arg-type]
    node.init(node_name="Test CERT", country="PH")
    return node


@pytest.fixture
def node(db_url: str) -> Iterator[Node]:
    node = make_node(db_url)
    yield node
    node.store.dispose()


@pytest.fixture
def sqlite_node(sqlite_url: str) -> Iterator[Node]:
    node = make_node(sqlite_url)
    yield node
    node.store.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadServer:
    """A real uvicorn HTTP server for a node, in a thread of the test process."""

    def __init__(self, node: Node, **kwargs: object) -> None:
        from bayanihan.web.app import create_app

        self.port = free_port()
        config = uvicorn.Config(
            create_app(node),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            **kwargs,  # type: ignore[arg-type]
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        scheme = "https" if "ssl_certfile" in kwargs else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def server(node: Node) -> Iterator[ThreadServer]:
    with ThreadServer(node) as running:
        yield running


@pytest.fixture
def keys(node: Node) -> dict[str, str]:
    """One key per role for the node's own org, plus an analyst of a second org."""
    found = {role.value: node.add_key(role=role).secret for role in Role if role is not Role.SYNC}
    node.add_org("Second Org", country="VN")
    found["other"] = node.add_key(role=Role.ANALYST, org_name="Second Org").secret
    found["other-admin"] = node.add_key(role=Role.ORG_ADMIN, org_name="Second Org").secret
    return found


TAXII = "application/taxii+json;version=2.1"


def taxii_client(base: str, key: str | None = None, **kwargs: object) -> httpx.Client:
    headers = {"Accept": TAXII}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.Client(base_url=base, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input_text: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `bayanihan` command as a separate process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bayanihan.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        input=input_text,
        timeout=timeout,
    )
