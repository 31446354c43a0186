"""Real node processes for federation fault tests, and a proxy that misbehaves on cue.

``cli`` runs one ``bayanihan`` command as a separate process; ``ServeProcess`` is a
``bayanihan serve`` that a test can SIGKILL and start again on the same database;
``FaultProxy`` sits between a node and its peer (stdlib ``http.server`` in front,
``http.client`` behind) and, by rules the test sets, passes requests through or
answers 5xx, truncated JSON, the wrong media type or slowly, drops the connection,
or SIGKILLs the peer behind it at a chosen request.

Every wait has a time-out, and every process started here is killed by ``stop``
(fixtures call it in their teardown).
"""

from __future__ import annotations

import enum
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Settings every node process of these tests runs with: no background sync (the tests
# drive the rounds), small TAXII pages (a pull is many requests, so a fault lands
# mid-pull), short push batches and back-off (so a retry is due within a second).
BASE_ENV = {
    "BAYANIHAN_SYNC_INTERVAL": "0",
    "BAYANIHAN_MAX_PAGE_LIMIT": "10",
    "BAYANIHAN_PUSH_BATCH_SIZE": "20",
    "BAYANIHAN_PUSH_RETRY_BASE": "0.05",
    "BAYANIHAN_PUSH_RETRY_MAX": "0.2",
    "BAYANIHAN_PUSH_STATUS_POLLS": "0",
    "BAYANIHAN_PEER_CONNECT_TIMEOUT": "10",
    "BAYANIHAN_PEER_READ_TIMEOUT": "10",
    "BAYANIHAN_CORRELATION": "false",
}


def node_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAYANIHAN_")}
    env.update(BASE_ENV)
    env.update(extra or {})
    return env


def command(db: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "bayanihan.cli", "--db", db, *args]


def cli(
    db: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """One ``bayanihan --db DB ARGS`` as its own process."""
    return subprocess.run(
        command(db, *args),
        env=node_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_ok(db: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    """Its stdout; fails the test, with stderr, when the command fails."""
    done = cli(db, *args, env=env, timeout=timeout)
    assert done.returncode == 0, f"bayanihan {' '.join(args)}: {done.stderr or done.stdout}"
    return done.stdout


class Background:
    """A ``bayanihan`` command running in its own process group, to be killed at will."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would: no clean-up runs."""
        if self.running:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class ServeProcess:
    """``bayanihan serve`` on a database, started (again) on a port of its own."""

    def __init__(self, db: str, log: Path, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.log = log
        self.env = env or {}
        self.port = 0
        self._process: Background | None = None

    def start(self, port: int, *, timeout: float = 30) -> ServeProcess:
        assert self._process is None or not self._process.running, "already serving"
        self.port = port
        argv = command(self.db, "serve", "--port", str(port), "--log-level", "warning")
        self._process = Background(argv, node_env(self.env), self.log)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if not self._process.running:
                raise RuntimeError(f"serve exited: {self._process.output()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"serve did not become ready in {timeout} s")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within a few seconds."""
        if self._process is None or not self._process.running:
            return
        os.killpg(self._process.process.pid, signal.SIGTERM)
        try:
            self._process.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()


class Fault(enum.Enum):
    STATUS = "status"  # answer an HTTP error (``status``) without asking the peer
    TRUNCATE = "truncate"  # forward, then send only the first half of the body
    HTML = "html"  # answer 200 with an HTML page (a portal or a proxy's error page)
    RELABEL = "relabel"  # forward, send the body as it is under another media type
    SLOW_HEADERS = "slow-headers"  # wait ``seconds``, then forward
    SLOW_BODY = "slow-body"  # forward, send the headers, wait ``seconds``, then the body
    STALL = "stall"  # wait ``seconds``, then drop the connection; the peer never sees it
    KILL = "kill"  # SIGKILL the peer, then drop the connection unanswered
    KILL_AFTER = "kill-after"  # forward, let the peer answer, SIGKILL it, drop the answer


@dataclass
class Rule:
    """Apply ``fault`` to matching requests: let ``skip`` of them pass, then ``times``.
    Each rule counts every request it matches, whether or not another rule applied."""

    fault: Fault
    method: str | None = None  # GET, POST; None: any
    path: str | None = None  # a substring of the request path; None: any
    skip: int = 0
    times: int = 1
    status: int = 500
    seconds: float = 0.0
    victim: ServeProcess | None = None
    seen: int = 0
    applied: int = 0

    def due(self, method: str, path: str) -> bool:
        """Count a matching request; whether the fault is due for it."""
        if self.method is not None and method != self.method:
            return False
        if self.path is not None and self.path not in path:
            return False
        self.seen += 1
        return self.seen > self.skip and self.applied < self.times


@dataclass(frozen=True)
class Served:
    method: str
    path: str
    outcome: str  # the status sent, or what was done instead


@dataclass
class _State:
    upstream: int
    rules: list[Rule] = field(default_factory=list)
    arrived: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    log: list[Served] = field(default_factory=list)  # when answered
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)  # ends every wait

    def pause(self, seconds: float) -> None:
        self.closing.wait(seconds)


_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
HTML_PAGE = b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with state.lock:
            state.arrived.append((self.command, self.path))
            # every rule counts the requests it matches; the first one due applies
            due = [r for r in state.rules if r.due(self.command, self.path)]
            rule = due[0] if due else None
            if rule is not None:
                rule.applied += 1
        fault = rule.fault if rule else None
        outcome = self._serve(rule, body)
        with state.lock:
            state.log.append(
                Served(self.command, self.path, f"{fault.value}:{outcome}" if fault else outcome)
            )

    def _serve(self, rule: Rule | None, body: bytes | None) -> str:
        fault = rule.fault if rule else None
        if rule is not None and fault is Fault.STATUS:
            error = b'{"title": "injected fault", "http_status": "%d"}' % rule.status
            self._answer(rule.status, "application/taxii+json;version=2.1", error)
            return str(rule.status)
        if fault is Fault.HTML:
            self._answer(200, "text/html; charset=utf-8", HTML_PAGE)
            return "200"
        if rule is not None and fault is Fault.STALL:
            self.server.state.pause(rule.seconds)
            return self._drop()
        if rule is not None and fault is Fault.KILL:
            assert rule.victim is not None
            rule.victim.kill()
            return self._drop()
        if rule is not None and fault is Fault.SLOW_HEADERS:
            self.server.state.pause(rule.seconds)
        try:
            status, headers, data = self._forward(body)
        except OSError:
            return self._drop()  # the peer is down: the caller sees it gone, as it is
        if rule is not None and fault is Fault.KILL_AFTER:
            assert rule.victim is not None
            rule.victim.kill()
            return self._drop()
        media_type = headers.get("content-type", "")
        pause = rule.seconds if rule is not None and fault is Fault.SLOW_BODY else 0.0
        if fault is Fault.TRUNCATE:
            data = data[: len(data) // 2]
        elif fault is Fault.RELABEL:
            media_type = "text/plain; charset=utf-8"
        try:
            self._answer(status, media_type, data, pause=pause, extra=headers)
        except OSError:
            return "client gone"
        return str(status)

    def _forward(self, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.state.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data
        except http.client.HTTPException as exc:
            raise OSError(str(exc)) from None
        finally:
            upstream.close()

    def _answer(
        self,
        status: int,
        media_type: str,
        data: bytes,
        *,
        pause: float = 0.0,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        for name, value in (extra or {}).items():
            if name not in _HOP and name not in ("content-type", "date", "server"):
                self.send_header(name, value)
        if media_type:
            self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if pause:
            self.wfile.flush()
            self.server.state.pause(pause)
        self.wfile.write(data)

    def _drop(self) -> str:
        """Close the connection without an answer, as a host that died would."""
        self.close_connection = True
        return "dropped"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on a slow answer is part of the test


class FaultProxy:
    """An HTTP proxy in front of one peer; the node under test talks to ``url``."""

    def __init__(self, upstream: int) -> None:
        self.state = _State(upstream=upstream)
        self._server = _Server(self.state)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/taxii2/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def retarget(self, upstream: int) -> None:
        """The peer came back on another port: send requests there from now on."""
        with self.state.lock:
            self.state.upstream = upstream

    def add(self, fault: Fault, **options: object) -> Rule:
        rule = Rule(fault, **options)  # type: ignore[arg-type]
        with self.state.lock:
            self.state.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Pass everything through from now on."""
        with self.state.lock:
            self.state.rules.clear()

    def served(self) -> list[Served]:
        with self.state.lock:
            return list(self.state.log)

    def count(self, method: str, path: str) -> int:
        """Requests answered (or dropped) so far."""
        return sum(1 for s in self.served() if s.method == method and path in s.path)

    def arrivals(self, method: str, path: str) -> int:
        """Requests received so far, answered or not."""
        with self.state.lock:
            return sum(1 for m, p in self.state.arrived if m == method and path in p)

    def close(self) -> None:
        """Stop serving; requests still waiting on a fault are let go at once."""
        self.state.closing.set()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def proxy_to(upstream: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()
