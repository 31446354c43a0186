"""Background sync while serving: a pull at start-up and on a timer, a push soon after a
local write (from any process on the database), both between two real served nodes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bayanihan.federation import Federation
from bayanihan.node import Node
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.settings import Settings
from tests.conftest import ThreadServer, free_port, run_cli
from tests.federation.test_pull import new_node, submit
from tests.federation.test_push import held, serve_on
from tests.stixgen import indicator


def wait_for(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``check()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"not within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - start


def test_serve_pulls_at_start_and_pushes_soon_after_a_write(db_url: str, tmp_path: Path) -> None:
    b = new_node(f"sqlite:///{tmp_path}/b.db", "VN CERT", "VN")
    b.add_org("VN Police", country="VN")
    # a long interval: whatever arrives within seconds came from the start-up pull or
    # from the push that follows a write, not from the timer
    a = Node(Settings(db=db_url, sync_interval=300, push_delay=0.2))
    a.init(node_name="PH CERT", country="PH")
    a_org = a.operator().org_identity
    b.add_org("PH CERT", country="PH", identity_id=a_org)
    key = b.add_key(role=Role.SYNC, org_name="PH CERT").secret
    from_b = indicator("198.51.100.30", tlp=Tlp.GREEN)
    submit(b, "VN Police", from_b)
    try:
        with ThreadServer(b) as server_b:
            Federation(a).add_peer("B", url=server_b.url + "/taxii2/", key=key)
            with ThreadServer(a):
                wait_for(lambda: from_b["id"] in held(a), timeout=20)
                assert wait_for(lambda: bool(Federation(a).peers()[0].orgs), timeout=5) < 5

                ours = indicator("198.51.100.31", tlp=Tlp.GREEN)
                submit(a, None, ours)  # a write on A: pushed within about push_delay
                took = wait_for(lambda: ours["id"] in held(b), timeout=20)
                assert took < 10
                amber = indicator("198.51.100.32", tlp=Tlp.AMBER)
                submit(a, None, amber)  # AMBER for A's own org alone: never sent
                later = indicator("198.51.100.33", tlp=Tlp.GREEN)
                submit(a, None, later)
                wait_for(lambda: later["id"] in held(b), timeout=20)
                assert amber["id"] not in held(b)
                [view] = Federation(a).peers()
                assert view.last_push_success is not None and view.push_pending == 0
    finally:
        a.store.dispose()
        b.store.dispose()


def test_the_pull_that_first_reaches_a_peer_is_followed_by_a_push(
    db_url: str, tmp_path: Path
) -> None:
    """B is down when A starts serving: the start-up pull fails, and nothing can be pushed
    until a pull succeeds. The pull that reaches B makes it pushable and wakes the push
    loop at once. Here the push loop would otherwise not look before ``push_delay``
    (five minutes), so the object arriving within seconds can only come from that."""
    b = new_node(f"sqlite:///{tmp_path}/b.db", "VN CERT", "VN")
    a = Node(Settings(db=db_url, sync_interval=1, push_delay=300))
    a.init(node_name="PH CERT", country="PH")
    b.add_org("PH CERT", country="PH", identity_id=a.operator().org_identity)
    key = b.add_key(role=Role.SYNC, org_name="PH CERT").secret
    port = free_port()
    Federation(a).add_peer("B", url=f"http://127.0.0.1:{port}/taxii2/", key=key)
    ours = indicator("198.51.100.35", tlp=Tlp.GREEN)
    submit(a, None, ours)
    try:
        with ThreadServer(a):
            wait_for(lambda: Federation(a).peers()[0].last_error is not None, timeout=20)
            assert Federation(a).peers()[0].last_success is None  # B is down
            with serve_on(b, port):
                wait_for(lambda: ours["id"] in held(b), timeout=30)
            [view] = Federation(a).peers()
            assert view.last_success is not None and view.last_push_success is not None
    finally:
        a.store.dispose()
        b.store.dispose()


def test_background_sync_is_off_with_interval_zero(tmp_path: Path) -> None:
    b = new_node(f"sqlite:///{tmp_path}/b.db", "VN CERT", "VN")
    a = Node(Settings(db=f"sqlite:///{tmp_path}/a.db", sync_interval=0, push_delay=0.1))
    a.init(node_name="PH CERT", country="PH")
    b.add_org("PH CERT", country="PH", identity_id=a.operator().org_identity)
    key = b.add_key(role=Role.SYNC, org_name="PH CERT").secret
    submit(b, None, indicator("198.51.100.40", tlp=Tlp.GREEN))
    try:
        with ThreadServer(b) as server_b:
            Federation(a).add_peer("B", url=server_b.url + "/taxii2/", key=key)
            with ThreadServer(a):
                time.sleep(1.5)
                assert Federation(a).peers()[0].last_attempt is None
    finally:
        a.store.dispose()
        b.store.dispose()


def test_serve_process_syncs_in_the_background(tmp_path: Path) -> None:
    """The real command: `bayanihan serve` with BAYANIHAN_SYNC_INTERVAL set pulls by itself."""
    b = new_node(f"sqlite:///{tmp_path}/b.db", "VN CERT", "VN")
    a_db = f"sqlite:///{tmp_path}/a.db"
    made = run_cli("--db", a_db, "init", "--node-name", "PH CERT", "--country", "PH")
    assert made.returncode == 0, made.stderr
    a = Node(Settings(db=a_db))
    b.add_org("PH CERT", country="PH", identity_id=a.operator().org_identity)
    key = b.add_key(role=Role.SYNC, org_name="PH CERT").secret
    item = indicator("198.51.100.50", tlp=Tlp.GREEN)
    submit(b, None, item)
    try:
        with ThreadServer(b) as server_b:
            Federation(a).add_peer("B", url=server_b.url + "/taxii2/", key=key)
            port = free_port()
            env = {"BAYANIHAN_SYNC_INTERVAL": "2", "BAYANIHAN_PUSH_DELAY": "0.5"}
            process = subprocess.Popen(
                [sys.executable, "-m", "bayanihan.cli", "--db", a_db, "serve", "--port", str(port)],
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_for(lambda: item["id"] in held(a), timeout=30)
                second = indicator("198.51.100.51", tlp=Tlp.GREEN)
                submit(b, None, second)  # arrives with the next timed pull
                wait_for(lambda: second["id"] in held(a), timeout=20)
            finally:
                process.terminate()  # a clean shutdown: uvicorn re-raises the SIGTERM
                assert process.wait(timeout=20) in (0, -15)
    finally:
        a.store.dispose()
        b.store.dispose()
