"""Federation: a new node's first pull, write-to-visible latency with push, a ring healing.

1. Pull. Peer B holds N generated TLP:GREEN indicators authored by its own org
   (imported once per N and cached in bench/.work; each run serves a copy). B runs as
   a real `bayanihan serve` (background sync off). A fresh node A (`bayanihan init`,
   an org for A and a sync key on B, `peer add` on A, as in DESIGN §6) runs
   `bayanihan sync --peer B` as a whole process: seconds (start-up included) and the
   process tree's peak RSS. Afterwards A must hold the N indicators, or the run fails.
   Baselines of the same run: a bare httpx client paging the same collection with
   A's key and the same page size, reading each page and discarding it (the transport
   limit), and `bayanihan import` of the same bundle into a fresh node (the store's
   limit).
2. Write to visible. Two `bayanihan serve` processes A and B, peered both ways, with
   background sync at its defaults (BAYANIHAN_SYNC_INTERVAL 60 s between pull rounds,
   BAYANIHAN_PUSH_DELAY 1 s). One GREEN indicator is POSTed to A's TAXII collection
   (A's analyst key), then B is asked for it by id (B's analyst key) every 20 ms until
   it is there; samples are spaced randomly 0-500 ms apart. Baseline: the same
   round trip with the GET on A itself (local visibility).
3. Ring. Five `bayanihan serve` processes, each peered both ways with its two
   neighbours, background sync every 2 s. A counting TCP proxy (in this process)
   stands in front of every node, and the nodes reach each other only through them,
   so the bytes counted are federation traffic alone (TCP payload: HTTP headers and
   bodies, both directions). First every node writes a few objects and the ring
   settles. Then nodes 3 and 4 are stopped (SIGTERM); every node writes K GREEN
   indicators (the running ones over TAXII, the stopped ones with `bayanihan import`
   on their database, as writes on the far side of a partition); the two are started
   again, and the time and bytes until every node holds every object are measured.
   Expected, from the policy (DESIGN §6, federation/pull.py and push.py): push sends
   a node's own objects to its neighbours only, but a pull takes everything the
   neighbour serves, and objects of a third node's org are accepted as relayed at
   CLEAR and GREEN, so GREEN should reach every node of the ring, hop by hop. What
   each node holds, per author, is recorded whether or not that happens.

Holdings are counted straight from each node's SQLite file (read-only), so that
checking adds nothing to the wire. Results go to bench/.work/federation.json
(federation-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import timed_import, timed_process  # noqa: E402
from bench_taxii import page_through  # noqa: E402
from datagen import GREEN, indicators  # noqa: E402
from servers import TAXII, WORK, Process, free_port, wait_until_up  # noqa: E402

GOAL_PULL_SECONDS = 120.0  # a new node pulls 1,000,000 objects (SQLite, loopback)
GOAL_P95_SECONDS = 2.0  # write on A to visible on B, push on
PAGE = 1000  # what the federation client asks for (client.objects_page)
POLL = 0.02  # seconds between two looks for the written object
RING_SIZE = 5
RING_COUNTRIES = ("PH", "VN", "TH", "MY", "ID")
RING_DOWN = (2, 3)  # nodes 3 and 4, counted from 1
RING_INTERVAL = "2"
SEED_PULL = 11
SEED_LATENCY = 12
SEED_RING = 20

# no background sync where the benchmark drives the rounds itself
QUIET = {"BAYANIHAN_SYNC_INTERVAL": "0"}


# ------------------------------------------------------------------------ helpers


def cli(db: str, *args: str, env: dict[str, str] | None = None) -> str:
    """One `bayanihan --db DB ARGS` process; its stdout, or an error with its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "bayanihan.cli", "--db", db, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **QUIET, **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(f"bayanihan {' '.join(args)} failed: {result.stderr or result.stdout}")
    return result.stdout.strip()


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def green(objects: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for obj in objects:
        yield {**obj, "object_marking_refs": [GREEN]}


def write_green_bundle(path: Path, objects: Iterable[dict[str, Any]]) -> int:
    """Stream ``objects`` into a bundle at ``path``; the bytes of the objects' JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    size = 0
    with partial.open("wb") as out:
        out.write(b'{"type": "bundle", "id": "bundle--' + str(uuid.uuid4()).encode())
        out.write(b'", "objects": [\n')
        for n, obj in enumerate(objects):
            body = orjson.dumps(obj)
            size += len(body)
            if n:
                out.write(b",\n")
            out.write(body)
        out.write(b"\n]}\n")
    partial.rename(path)
    return size


def green_bundle(count: int) -> Path:
    """N GREEN indicators (datagen's, every marking GREEN), cached in bench/.work."""
    path = WORK / f"indicators-green-{count}.json"
    if not path.exists():
        write_green_bundle(path, green(indicators(count, seed=SEED_PULL)))
    return path


def local_org(db: str) -> str:
    """The identity id of the node's own organisation (from `org list`)."""
    for line in cli(db, "org", "list").splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "here":
            return parts[0]
    raise RuntimeError(f"no local organisation in {db}")


def indicator_count(path: Path) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return int(
            conn.execute(
                "SELECT count(DISTINCT id) FROM objects WHERE type = 'indicator'"
            ).fetchone()[0]
        )


def holdings(path: Path) -> dict[str, Any]:
    """Indicators a node holds: distinct ids per author, stored rows (versions), and how
    they came: written here by the node's own org, pushed in by a peer (TAXII POST with
    its sync key), pulled from the author's node, or relayed by a neighbour."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as conn:
        by_author = dict(
            conn.execute(
                "SELECT created_by_ref, count(DISTINCT id) FROM objects "
                "WHERE type = 'indicator' GROUP BY created_by_ref"
            ).fetchall()
        )
        distinct, rows = conn.execute(
            "SELECT count(DISTINCT id), count(*) FROM objects WHERE type = 'indicator'"
        ).fetchone()
        origins = dict(
            conn.execute(
                "SELECT CASE WHEN o.origin LIKE 'relay:%' THEN 'relayed' "
                "WHEN o.origin LIKE 'peer:%' THEN 'pulled from the author''s node' "
                "WHEN o.origin = 'local' AND g.local THEN 'own' "
                "WHEN o.origin = 'local' THEN 'pushed in' ELSE o.origin END, count(*) "
                "FROM objects o JOIN orgs g ON g.row_id = o.author_org "
                "WHERE o.type = 'indicator' GROUP BY 1"
            ).fetchall()
        )
    return {"distinct": distinct, "rows": rows, "by_author": by_author, "by_origin": origins}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def latency_stats(samples: list[float], timeouts: int) -> dict[str, Any]:
    return {
        "n": len(samples),
        "timeouts": timeouts,
        "p50_s": percentile(samples, 0.50),
        "p95_s": percentile(samples, 0.95),
        "p99_s": percentile(samples, 0.99),
        "max_s": max(samples),
        "mean_s": statistics.fmean(samples),
    }


@dataclass
class Node:
    """One node of the benchmark: its database, and the keys issued for the benchmark."""

    name: str
    country: str
    path: Path
    port: int = 0
    org: str = ""
    analyst: str = ""
    admin: str = ""
    process: Process | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> str:
        return f"sqlite:///{self.path}"

    @property
    def peer_name(self) -> str:
        """The name other nodes know it by as a peer (no spaces)."""
        return self.name.replace(" ", "-")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self) -> Node:
        remove_db(self.path)
        cli(self.db, "init", "--node-name", self.name, "--country", self.country)
        self.org = local_org(self.db)
        self.analyst = cli(self.db, "key", "add", "--role", "analyst")
        self.admin = cli(self.db, "key", "add", "--role", "admin")
        return self

    def serve(self) -> None:
        self.start()
        self.ready()

    def start(self) -> None:
        """Start `bayanihan serve` (see ``ready``)."""
        if not self.port:
            self.port = free_port()
        self.process = Process(
            [
                sys.executable,
                "-m",
                "bayanihan.cli",
                "--db",
                self.db,
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            log=WORK / f"federation-{self.path.stem}-{self.port}.log",
            env={**QUIET, **self.env},
        )

    def ready(self) -> None:
        wait_until_up(self.base + "/healthz")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def collection(self, key: str) -> str:
        headers = {"Accept": TAXII, "Authorization": f"Bearer {key}"}
        found = httpx.get(self.base + "/taxii2/api/collections/", headers=headers, timeout=30)
        found.raise_for_status()
        return f"{self.base}/taxii2/api/collections/{found.json()['collections'][0]['id']}/"

    def peers(self) -> list[dict[str, Any]]:
        answer = httpx.get(
            self.base + "/api/v1/peers",
            headers={"Authorization": f"Bearer {self.admin}"},
            timeout=30,
        )
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()
        return result


def sync_key(host: Node, guest: Node, registered: set[tuple[str, str]]) -> str:
    """A sync key on ``host`` for ``guest``'s organisation (registered there once)."""
    if (host.name, guest.name) not in registered:
        cli(host.db, "org", "add", guest.name, "--country", guest.country, "--id", guest.org)
        registered.add((host.name, guest.name))
    return cli(host.db, "key", "add", "--org", guest.name, "--role", "sync")


def peer_with(node: Node, other: Node, url: str, registered: set[tuple[str, str]]) -> None:
    """``node`` pulls from and pushes to ``other`` at ``url`` (DESIGN §6)."""
    key = sync_key(other, node, registered)
    cli(node.db, "peer", "add", other.peer_name, "--url", url, "--key", key)


def wait_peers_ready(nodes: list[Node], timeout: float) -> float:
    """Seconds until every node has pulled from each of its peers once (push needs it)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(all(p["last_success"] for p in n.peers()) for n in nodes):
            return time.monotonic() - started
        time.sleep(0.2)
    states = {n.name: [(p["name"], p["last_error"]) for p in n.peers()] for n in nodes}
    raise RuntimeError(f"peers not pulled from within {timeout} s: {states}")


def post(client: httpx.Client, collection: str, objects: list[dict[str, Any]]) -> None:
    answer = client.post(
        collection + "objects/",
        content=orjson.dumps({"objects": objects}),
        headers={"Content-Type": TAXII},
    )
    answer.raise_for_status()
    status = answer.json()
    if status.get("success_count") != len(objects):
        raise RuntimeError(f"POST of {len(objects)} objects: {status}")


# ------------------------------------------------------------------------ 1. pull


def peer_db(count: int) -> Path:
    """Peer B's database with ``count`` GREEN indicators of its org, built once per size."""
    cached = WORK / f"federation-peer-{count}.db"
    if cached.exists():
        return cached
    building = WORK / f"federation-peer-{count}.building.db"
    remove_db(building)
    db = f"sqlite:///{building}"
    cli(db, "init", "--node-name", "Bench peer B", "--country", "VN")
    cli(db, "import", str(green_bundle(count)), "--org", "Bench peer B")
    with closing(sqlite3.connect(building)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    remove_db_side_files(building)
    building.rename(cached)
    return cached


def remove_db_side_files(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def bare_paging(collection: str, key: str) -> dict[str, Any]:
    with httpx.Client(
        headers={"Accept": TAXII, "Authorization": f"Bearer {key}"}, timeout=600
    ) as client:
        received, seconds = page_through(client, collection + "objects/", limit=PAGE, decode=False)
    return {"objects": received, "seconds": seconds, "rate": received / seconds}


def measure_pull(count: int) -> dict[str, Any]:
    print(f"pull: building or reusing peer B with {count:,} indicators", flush=True)
    cached = peer_db(count)
    b = Node("Bench peer B", "VN", WORK / f"federation-pull-b-{count}.db")
    remove_db(b.path)
    shutil.copyfile(cached, b.path)
    cli(b.db, "init")  # a copy cached by an older version is migrated first
    a = Node("Bench node A", "PH", WORK / f"federation-pull-a-{count}.db").init()
    fresh = WORK / f"federation-pull-import-{count}.db"
    try:
        key = sync_key(b, a, set())
        b.serve()
        cli(a.db, "peer", "add", "B", "--url", b.base + "/taxii2/", "--key", key)
        collection = b.collection(key)
        print("pull: bare paging client (first pass, warms the page cache)", flush=True)
        first = bare_paging(collection, key)
        print(f"pull: bayanihan sync --peer B of {count:,}", flush=True)
        sync = timed_process(
            [sys.executable, "-m", "bayanihan.cli", "--db", a.db, "sync", "--peer", "B", "--json"]
        )
        if sync["returncode"] != 0:
            raise RuntimeError(f"sync failed: {sync['stderr'] or sync['stdout']}")
        [outcome] = json.loads(sync["stdout"])
        held = indicator_count(a.path)
        if held != count:
            raise RuntimeError(f"node A holds {held:,} indicators after the sync, not {count:,}")
        print("pull: bare paging client (second pass)", flush=True)
        second = bare_paging(collection, key)
    finally:
        b.stop()
    a_bytes = a.path.stat().st_size
    remove_db(a.path)
    remove_db(b.path)
    print("pull: bayanihan import of the same bundle into a fresh node", flush=True)
    remove_db(fresh)
    cli(f"sqlite:///{fresh}", "init", "--node-name", "Bench import", "--country", "PH")
    imported = timed_import(f"sqlite:///{fresh}", str(green_bundle(count)), "Bench import")
    remove_db(fresh)
    pulled = outcome["pull"]
    result = {
        "count": count,
        "bundle_bytes": green_bundle(count).stat().st_size,
        "sync": {
            "seconds": sync["seconds"],
            "rate": count / sync["seconds"],
            "peak_rss_mib": sync["peak_rss_mib"],
            "stored": pulled["stored"],
            "duplicate": pulled["duplicate"],
            "rejected": pulled["rejected"],
            "skipped": pulled["skipped"],
            "indicators_held": held,
            "database_bytes": a_bytes,
        },
        "bare_paging": {"first": first, "second": second},
        "import": {
            "seconds": imported["seconds"],
            "rate": imported["objects"] / imported["seconds"],
            "peak_rss_mib": imported["peak_rss_mib"],
        },
    }
    print("pull", orjson.dumps(result).decode(), flush=True)
    return result


# ------------------------------------------------------------------------ 2. latency


def sample_latency(
    writer: httpx.Client,
    write_collection: str,
    reader: httpx.Client,
    read_collection: str,
    obj: dict[str, Any],
    timeout: float,
) -> float | None:
    """Seconds from the start of the POST to the first GET that finds the object."""
    started = time.perf_counter()
    post(writer, write_collection, [obj])
    url = f"{read_collection}objects/{obj['id']}/"
    while time.perf_counter() - started < timeout:
        answer = reader.get(url)
        if answer.status_code == 200 and answer.json().get("objects"):
            return time.perf_counter() - started
        if answer.status_code != 404:
            answer.raise_for_status()
        time.sleep(POLL)
    return None


def measure_latency(samples: int, timeout: float = 30.0) -> dict[str, Any]:
    a = Node("Latency node A", "PH", WORK / "federation-latency-a.db").init()
    b = Node("Latency node B", "VN", WORK / "federation-latency-b.db").init()
    a.port, b.port = free_port(), free_port()
    registered: set[tuple[str, str]] = set()
    peer_with(a, b, b.base + "/taxii2/", registered)
    peer_with(b, a, a.base + "/taxii2/", registered)
    # background sync at its defaults: pull every 60 s, push within 1 s of a write
    settings = {"BAYANIHAN_SYNC_INTERVAL": "60", "BAYANIHAN_PUSH_DELAY": "1.0"}
    a.env = b.env = settings
    rng = random.Random(SEED_LATENCY)
    objects = green(indicators(2 * samples, seed=SEED_LATENCY))
    remote: list[float] = []
    local: list[float] = []
    misses = {"remote": 0, "local": 0}
    try:
        b.serve()
        a.serve()
        # the first of the two to start found the other down at its start-up pull; one
        # pull round by hand instead of waiting a sync interval for the next one
        cli(b.db, "sync", "--pull-only")
        ready = wait_peers_ready([a, b], timeout=180)
        print(f"latency: peers pulled from each other in {ready:.1f} s", flush=True)
        a_write = a.collection(a.analyst)
        b_read = b.collection(b.analyst)
        with (
            httpx.Client(headers={"Accept": TAXII, "Authorization": f"Bearer {a.analyst}"}) as on_a,
            httpx.Client(headers={"Accept": TAXII, "Authorization": f"Bearer {b.analyst}"}) as on_b,
        ):
            for label, reader, read_collection, found in (
                ("remote", on_b, b_read, remote),
                ("local", on_a, a_write, local),
            ):
                for _ in range(samples):
                    time.sleep(rng.uniform(0, 0.5))
                    took = sample_latency(
                        on_a, a_write, reader, read_collection, next(objects), timeout
                    )
                    if took is None:
                        misses[label] += 1
                    else:
                        found.append(took)
                print(f"latency {label}: {len(found)} samples, {misses[label]} timed out")
    finally:
        a.stop()
        b.stop()
    remove_db(a.path)
    remove_db(b.path)
    if not remote or not local:
        raise RuntimeError(f"no write became visible within {timeout} s: {misses}")
    result = {
        "samples": samples,
        "settings": settings,
        "poll_ms": POLL * 1000,
        "timeout_s": timeout,
        "remote": latency_stats(remote, misses["remote"]),
        "local": latency_stats(local, misses["local"]),
    }
    print("latency", orjson.dumps(result).decode(), flush=True)
    return result


# ------------------------------------------------------------------------ 3. ring


class CountingProxy:
    """A TCP proxy to one node's port, counting the bytes each way.

    It runs its own event loop in a daemon thread; while the node is down it accepts
    and closes at once (the caller sees the peer gone, as it is)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.to_node = 0  # request bytes the node's peers sent it
        self.from_node = 0  # answer bytes it sent them
        self.connections = 0
        self.refused = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the counting proxy did not start")

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = int(self._server.sockets[0].getsockname()[1])
            ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def reset(self) -> None:
        """Count from zero again."""
        self.to_node = self.from_node = self.connections = self.refused = 0

    @property
    def total(self) -> int:
        return self.to_node + self.from_node

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            node_r, node_w = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            self.refused += 1
            client_w.close()
            return
        await asyncio.gather(
            self._pump(client_r, node_w, to_node=True), self._pump(node_r, client_w, to_node=False)
        )
        for writer in (client_w, node_w):
            writer.close()

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, to_node: bool
    ) -> None:
        try:
            while data := await source.read(65536):
                if to_node:
                    self.to_node += len(data)
                else:
                    self.from_node += len(data)
                sink.write(data)
                await sink.drain()
            if sink.can_write_eof():
                sink.write_eof()
        except (ConnectionError, OSError):
            sink.close()

    def close(self) -> None:
        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shut(), self._loop)
        self._thread.join(timeout=10)
        self._loop.close()


def ring_objects(node: int, count: int, *, start: int) -> list[dict[str, Any]]:
    return list(green(indicators(count, seed=SEED_RING + node, start=start)))


def wait_converged(
    nodes: list[Node],
    expected: list[set[str]],
    proxies: list[CountingProxy],
    timeout: float,
    *,
    each: int,
) -> dict[str, Any]:
    """Poll the nodes' holdings until each holds the ``each`` objects of every one of its
    expected authors; the time each node got there, the bytes counted until the last
    did, and a timeline of what each held."""
    started = time.monotonic()
    reached: list[float | None] = [None] * len(nodes)
    timeline: list[dict[str, Any]] = []
    last_mark = -1.0
    held: list[dict[str, Any]] = []
    while True:
        elapsed = time.monotonic() - started
        held = [holdings(n.path) for n in nodes]
        for i, h in enumerate(held):
            have = sum(min(each, h["by_author"].get(author, 0)) for author in expected[i])
            if reached[i] is None and have >= each * len(expected[i]):
                reached[i] = elapsed
        if elapsed - last_mark >= 1.0:
            timeline.append({"t": round(elapsed, 2), "distinct": [h["distinct"] for h in held]})
            last_mark = elapsed
        if all(r is not None for r in reached) or elapsed > timeout:
            break
        time.sleep(0.25)
    done = all(r is not None for r in reached)
    return {
        "converged": done,
        "seconds": max(r for r in reached if r is not None) if done else None,
        "timeout_s": timeout,
        "reached_s": reached,
        "bytes": sum(p.total for p in proxies),
        "bytes_per_node": [{"to_node": p.to_node, "from_node": p.from_node} for p in proxies],
        "holdings": held,
        "timeline": timeline,
    }


def measure_ring(seed_count: int, per_node: int, timeout: float) -> dict[str, Any]:
    nodes = [
        Node(f"Ring node {i + 1}", RING_COUNTRIES[i], WORK / f"federation-ring-{i + 1}.db").init()
        for i in range(RING_SIZE)
    ]
    for n in nodes:
        n.port = free_port()
        n.env = {"BAYANIHAN_SYNC_INTERVAL": RING_INTERVAL}
    proxies = [CountingProxy(n.port) for n in nodes]
    registered: set[tuple[str, str]] = set()
    for i, n in enumerate(nodes):
        for j in ((i - 1) % RING_SIZE, (i + 1) % RING_SIZE):
            peer_with(n, nodes[j], f"http://127.0.0.1:{proxies[j].port}/taxii2/", registered)
    authors = {n.org for n in nodes}
    by_org = {n.org: n.name for n in nodes}
    written = [0] * RING_SIZE
    payload = 0
    result: dict[str, Any] = {
        "nodes": RING_SIZE,
        "settings": {"BAYANIHAN_SYNC_INTERVAL": RING_INTERVAL, "others": "defaults"},
        "down": [i + 1 for i in RING_DOWN],
        "seed_per_node": seed_count,
        "per_node": per_node,
    }
    try:
        for n in nodes:
            n.start()
        for n in nodes:
            n.ready()
        result["peers_ready_s"] = wait_peers_ready(nodes, timeout=180)
        for p in proxies:
            p.reset()
        print(f"ring: all links pulled once after {result['peers_ready_s']:.1f} s", flush=True)

        # healthy ring: every node writes a few, the ring settles
        for i, n in enumerate(nodes):
            with httpx.Client(
                headers={"Accept": TAXII, "Authorization": f"Bearer {n.analyst}"}, timeout=120
            ) as client:
                post(client, n.collection(n.analyst), ring_objects(i, seed_count, start=0))
            written[i] += seed_count
        result["settle"] = wait_converged(
            nodes, [authors] * RING_SIZE, proxies, timeout, each=seed_count
        )
        print(f"ring settle: {summary(result['settle'])}", flush=True)

        # partition: nodes 3 and 4 stop; every node writes K
        for i in RING_DOWN:
            nodes[i].stop()
        for p in proxies:
            p.reset()
        batches = [ring_objects(i, per_node, start=seed_count) for i in range(RING_SIZE)]
        payload = sum(len(orjson.dumps(o)) for batch in batches for o in batch)
        for i in RING_DOWN:  # written on the far side of the partition, to the database
            bundle = WORK / f"federation-ring-{i + 1}-bundle.json"
            write_green_bundle(bundle, batches[i])
            cli(nodes[i].db, "import", str(bundle), "--org", nodes[i].name)
            bundle.unlink()
            written[i] += per_node
        writes_began = time.monotonic()
        for i, n in enumerate(nodes):
            if i in RING_DOWN:
                continue
            with httpx.Client(
                headers={"Accept": TAXII, "Authorization": f"Bearer {n.analyst}"}, timeout=120
            ) as client:
                collection = n.collection(n.analyst)
                for start in range(0, per_node, 500):
                    post(client, collection, batches[i][start : start + 500])
            written[i] += per_node
        writes_took = time.monotonic() - writes_began
        up = [i for i in range(RING_SIZE) if i not in RING_DOWN]
        live_authors = {nodes[i].org for i in up}
        live = wait_converged(
            [nodes[i] for i in up],
            [live_authors] * len(up),
            [proxies[i] for i in up],
            timeout,
            each=seed_count + per_node,
        )
        live["writes_s"] = writes_took  # the wait above began when the last write was done
        live["bytes"] = sum(p.total for p in proxies)
        result["partition"] = live
        print(f"ring partition (running side): {summary(live)}", flush=True)

        # heal: nodes 3 and 4 start again (same ports, behind the same proxies)
        refused_during_partition = sum(p.refused for p in proxies)
        for p in proxies:
            p.reset()
        healed = time.monotonic()
        for i in RING_DOWN:
            nodes[i].start()
        for i in RING_DOWN:
            nodes[i].ready()
        restart = time.monotonic() - healed
        heal = wait_converged(
            nodes, [authors] * RING_SIZE, proxies, timeout, each=seed_count + per_node
        )
        heal["restart_s"] = restart  # until both answered /healthz; they pull meanwhile
        heal["seconds_after_up"] = heal["seconds"]
        if heal["seconds"] is not None:
            heal["seconds"] = restart + heal["seconds"]  # from the restart of nodes 3 and 4
        heal["payload_bytes"] = payload
        # the least any scheme moves: each new object's JSON once to each other node
        heal["least_bytes"] = payload * (RING_SIZE - 1)
        heal["partition_refused_connections"] = refused_during_partition
        result["heal"] = heal
        print(f"ring heal: {summary(heal)}", flush=True)
        result["authors"] = {org: name for org, name in by_org.items()}
        result["written"] = written
    finally:
        for n in nodes:
            n.stop()
        for p in proxies:
            p.close()
    for n in nodes:
        remove_db(n.path)
    return result


def summary(phase: dict[str, Any]) -> str:
    if phase["converged"]:
        return f"converged in {phase['seconds']:.1f} s, {phase['bytes']:,} bytes on the wire"
    held = [h["distinct"] for h in phase["holdings"]]
    return f"NOT converged within {phase['timeout_s']:.0f} s; distinct indicators held: {held}"


# ------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only", choices=["pull", "latency", "ring"], action="append", help="run only these parts"
    )
    parser.add_argument("--sizes", type=int, nargs="+", help="pull sizes (default 100k and 1M)")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    parts = set(args.only or ["pull", "latency", "ring"])
    sizes = args.sizes or ([20_000] if args.quick else [100_000, 1_000_000])
    results: dict[str, Any] = {
        "quick": args.quick,
        "goals": {"pull_1m_seconds": GOAL_PULL_SECONDS, "p95_seconds": GOAL_P95_SECONDS},
        "page_size": PAGE,
    }
    if "pull" in parts:
        results["pull"] = [measure_pull(size) for size in sizes]
    if "latency" in parts:
        results["latency"] = measure_latency(30 if args.quick else 100)
    if "ring" in parts:
        if args.quick:
            results["ring"] = measure_ring(20, 200, timeout=180)
        else:
            results["ring"] = measure_ring(100, 2000, timeout=600)
    out = WORK / ("federation-quick.json" if args.quick else "federation.json")
    if args.only and out.exists():
        # a partial run replaces its own parts and keeps the others of an earlier run
        earlier = orjson.loads(out.read_bytes())
        results = {**earlier, **results}
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
