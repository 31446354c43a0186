"""`bayanihan demo`: three real nodes (servers in child processes) sharing the campaign."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import select

from bayanihan.cli import main
from bayanihan.demo import campaign
from bayanihan.node import Node
from bayanihan.policy.tlp import Tlp
from bayanihan.settings import Settings
from bayanihan.store.schema import objects
from tests.conftest import TAXII, run_cli

CODES = [spec.code for spec in campaign.NODES]


def free_ports(count: int = 3) -> int:
    """A base port with ``count`` free ports from it."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no three consecutive free ports")


def held(path: Path) -> set[str]:
    """Every object id the node's database holds (any TLP, any version)."""
    node = Node(Settings(db=f"sqlite:///{path}"))
    try:
        with node.store.read() as conn:
            return set(conn.execute(select(objects.c.id).distinct()).scalars())
    finally:
        node.store.dispose()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_three_rounds_share_the_campaign_as_the_policy_says(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    base = free_ports()
    done = run_cli("demo", "--dir", str(directory), "--base-port", str(base), "--rounds", "3")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout
    for code in CODES:
        assert re.search(rf"\[{code}\] hit: .*cross-border\)", out), f"no hit shown for {code}"
        assert f"http://127.0.0.1:{base + CODES.index(code)}/taxii2/" in out
    assert "switched OFF" in out  # the demo says which warning-lists it turned off
    assert "RED only at home" in out and "!" not in out.split("Where the campaign")[1]
    keys = directory / "keys.txt"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert len(re.findall(r"bay_\S+", keys.read_text())) == 9  # an admin and two analysts each

    everything = campaign.items(campaign.placeholder_identities())
    assert {i.tlp for i in everything} == {Tlp.GREEN, Tlp.AMBER, Tlp.RED}
    for code in CODES:
        here = held(directory / f"{code.lower()}.db")
        for item in everything:
            home = campaign.node_of(item.author)
            if home == code:
                assert item.id in here, (code, item.name)
            elif item.tlp is Tlp.GREEN:
                assert item.id in here, f"GREEN {item.name!r} of {home} missing on {code}"
            elif item.tlp is Tlp.AMBER:
                addressed = any(campaign.node_of(r) == code for r in item.recipients)
                assert (item.id in here) == addressed, f"AMBER {item.name!r} on {code}"
            else:
                assert item.id not in here, f"RED {item.name!r} of {home} leaked to {code}"
    # nothing is left running
    assert not any(port_open(base + i) for i in range(3))


@pytest.mark.slow
def test_serving_until_ctrl_c_then_stopping_cleanly(tmp_path: Path) -> None:
    base = free_ports()
    demo = subprocess.Popen(
        [sys.executable, "-m", "bayanihan.cli", "demo", "--dir", str(tmp_path / "d")]
        + ["--base-port", str(base), "--interval", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    lines: list[str] = []
    serving = threading.Event()

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Serving"):
                serving.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert serving.wait(90), "".join(lines)
        children = psutil.Process(demo.pid).children(recursive=True)
        assert len(children) == 3
        out = "".join(lines)
        key = re.search(r"\[SG\] analyst\s+SingCERT \(demo\)\s+(bay_\S+)", out)
        assert key, out
        sg = f"http://127.0.0.1:{base + 1}"
        assert httpx.get(f"{sg}/healthz", timeout=10).status_code == 200
        headers = {"Accept": TAXII, "Authorization": f"Bearer {key.group(1)}"}
        discovery = httpx.get(f"{sg}/taxii2/", headers=headers, timeout=10)
        assert discovery.status_code == 200
        [root] = discovery.json()["api_roots"]
        collections = httpx.get(f"{root}collections/", headers=headers, timeout=10)
        assert collections.status_code == 200 and collections.json()["collections"]
        time.sleep(1.5)  # a sync round while serving, then Ctrl-C in the middle of anything
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=15) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    reader.join(timeout=5)
    assert demo.stdout is not None and demo.stderr is not None
    errors = demo.stderr.read()
    demo.stdout.close()
    demo.stderr.close()
    assert "Traceback" not in errors, errors
    assert "Stopped." in "".join(lines)
    assert not any(child.is_running() and child.status() != "zombie" for child in children)
    assert not any(port_open(base + i) for i in range(3))
    assert "pid" not in json.loads((tmp_path / "d" / "demo.json").read_text())


def demo_refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run ``bayanihan demo`` in this process; it must refuse, with status 2: its message."""
    assert main(["demo", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


@pytest.mark.parametrize("port", ["80", "65534", "70000"])
def test_a_bad_base_port_is_refused_and_nothing_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    directory = tmp_path / "demo"
    error = demo_refused(capsys, "--dir", str(directory), "--base-port", port, "--rounds", "1")
    assert "--base-port" in error and "1024 to 65533" in error
    assert not directory.exists()


def test_other_files_are_never_written_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "notes.txt").write_text("keep me")
    for extra in ([], ["--fresh"]):
        error = demo_refused(capsys, "--dir", str(directory), "--rounds", "1", *extra)
        assert "not a demo directory" in error
        assert [p.name for p in directory.iterdir()] == ["notes.txt"]


def test_a_previous_demo_needs_fresh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "old"
    directory.mkdir()
    (directory / "demo.json").write_text("{}\n")
    (directory / "vn.db").write_text("")
    assert "--fresh" in demo_refused(capsys, "--dir", str(directory), "--rounds", "1")
    assert sorted(p.name for p in directory.iterdir()) == ["demo.json", "vn.db"]


def test_a_port_in_use_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = free_ports()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + 2))
        busy.listen()
        error = demo_refused(capsys, "--dir", str(tmp_path / "d"), "--base-port", str(base))
    assert f"port {base + 2}" in error and "in use" in error
    assert not (tmp_path / "d").exists()
