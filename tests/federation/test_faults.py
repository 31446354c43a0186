"""Federation under faults, with real processes: peers killed mid-pull and mid-push,
restarted from an empty database, answering 5xx, truncated JSON, the wrong media type
or slowly, and the local node SIGKILLed mid-sync.

Node A (PH CERT, hosting also PH Bank) and node B (VN CERT, hosting also VN Police)
are SQLite databases set up with the ``bayanihan`` CLI as DESIGN §6 says. B is a
``bayanihan serve`` process behind a ``FaultProxy``; A runs ``bayanihan sync`` rounds
as processes of their own. Only A syncs (B is a passive TAXII server; the last
process test has both sync at once), so every object that crosses crosses the proxy:
A's pull brings B's objects, A's push takes A's. Every test ends with recovery rounds
and then reads both databases: each holds exactly the (id, modified) its
organisations may hold under DESIGN §4, computed here from the generated objects and
their markings — nothing lost, nothing duplicated, nothing extra.

The data set-up (init, orgs, keys, imports: a few hundred versions per node) is made
once per module with the CLI and copied for each test.
"""

from __future__ import annotations

import json
import random
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from bayanihan.federation import Federation
from bayanihan.node import Node
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.stix.timestamps import parse_timestamp
from bayanihan.store.schema import objects, orgs, peer_outbox
from tests.conftest import ThreadServer, free_port
from tests.federation.procs import (
    Background,
    Fault,
    FaultProxy,
    ServeProcess,
    cli,
    cli_ok,
    command,
    node_env,
)
from tests.federation.test_pull import new_node, submit, to
from tests.stixgen import indicator, stamp

T = TypeVar("T")
U = TypeVar("U")

NODE_A, NODE_B = "PH CERT", "VN CERT"
# org keys -> names; "a0" and "b0" are the nodes' own organisations
ORG_NAMES = {"a0": NODE_A, "a1": "PH Bank", "b0": NODE_B, "b1": "VN Police"}
HOSTS = {"A": frozenset({"a0", "a1"}), "B": frozenset({"b0", "b1"})}
LEVELS = (None, Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)
CREATED = stamp(1)


# -- the generated objects and the oracle --------------------------------------------------


@dataclass(frozen=True)
class Version:
    modified: str
    tlp: Tlp | None  # None: no marking (treated as AMBER)
    to: tuple[str, ...]  # recipient org keys
    revoked: bool = False

    @property
    def micros(self) -> int:
        return parse_timestamp(self.modified)


@dataclass(frozen=True)
class Item:
    id: str
    author: str  # org key
    value: str
    versions: tuple[Version, ...]


def draw_items(
    rng: random.Random, author: str, count: int, *, pool: tuple[str, ...], max_versions: int
) -> list[Item]:
    """Indicators by one org: random TLP and recipients per version, some revoked."""
    items = []
    for _ in range(count):
        versions = []
        total = rng.randint(1, max_versions)
        for n in range(total):
            revoked = total > 1 and n == total - 1 and rng.random() < 0.4
            recipients = tuple(sorted(rng.sample(pool, rng.randint(0, min(2, len(pool))))))
            versions.append(Version(stamp(2 + n), rng.choice(LEVELS), recipients, revoked))
        object_id = f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        value = f"198.18.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        items.append(Item(object_id, author, value, tuple(versions)))
    return items


def stix(items: Iterable[Item], ids: dict[str, str]) -> list[dict[str, Any]]:
    """Every version of the items as STIX, oldest first per object."""
    found = []
    for item in items:
        for version in item.versions:
            extra: dict[str, Any] = {"created": CREATED}
            if version.to:
                extra["extensions"] = to(*(ids[o] for o in version.to))
            if version.revoked:
                extra["revoked"] = True
            found.append(
                indicator(
                    item.value,
                    tlp=version.tlp,
                    modified=version.modified,
                    object_id=item.id,
                    **extra,
                )
            )
    return found


def visible(version: Version, author: str, hosts: frozenset[str]) -> bool:
    """DESIGN §4 for organisations without constituents or groups: CLEAR and GREEN for
    everyone; AMBER, AMBER+STRICT, RED and unmarked for the author and the recipients."""
    level = Tlp.AMBER if version.tlp is None else version.tlp
    if level in (Tlp.CLEAR, Tlp.GREEN):
        return True
    return bool(({author, *version.to}) & hosts)


def allowed(items: Iterable[Item], hosts: frozenset[str]) -> set[tuple[str, int]]:
    """What a node hosting ``hosts`` holds of these items: every version of its own, and
    of the others' the versions one of its organisations may see."""
    return {
        (item.id, version.micros)
        for item in items
        for version in item.versions
        if item.author in hosts or visible(version, item.author, hosts)
    }


# -- reading a node's database -------------------------------------------------------------


def _rows(db: str, query: Any) -> list[Any]:
    engine = create_engine(db, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).all())
    finally:
        engine.dispose()


def held(db: str) -> Counter[tuple[str, int]]:
    """(id, version) of every indicator version stored, counted (a count of 2 is a
    duplicate, whatever organisation it was attributed to)."""
    rows = _rows(db, select(objects.c.id, objects.c.version).where(objects.c.type == "indicator"))
    return Counter((r[0], int(r[1])) for r in rows)


def org_id(db: str, name: str) -> str:
    [row] = _rows(db, select(orgs.c.identity_id).where(orgs.c.name == name))
    return str(row[0])


def outbox_states(db: str) -> Counter[str]:
    return Counter(str(r[0]) for r in _rows(db, select(peer_outbox.c.state)))


def failed_ids(db: str) -> set[str]:
    rows = _rows(db, select(peer_outbox.c.object_id).where(peer_outbox.c.state == "failed"))
    return {str(r[0]) for r in rows}


def leased_versions(db: str) -> set[tuple[str, int]]:
    """Outbox entries pending with their next attempt at least half a minute away."""
    soon = int((time.time() + 30) * 1_000_000)
    rows = _rows(
        db,
        select(peer_outbox.c.object_id, peer_outbox.c.version).where(
            peer_outbox.c.state == "pending", peer_outbox.c.next_attempt > soon
        ),
    )
    return {(r[0], int(r[1])) for r in rows}


def _sample(found: set[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(found)[:5]


def assert_holds_exactly(db: str, want: set[tuple[str, int]], what: str) -> None:
    counts = held(db)
    twice = [key for key, n in counts.items() if n > 1]
    assert not twice, f"{what}: {len(twice)} version(s) stored twice, e.g. {twice[:5]}"
    got = set(counts)
    missing, extra = want - got, got - want
    assert not missing and not extra, (
        f"{what}: {len(missing)} missing (e.g. {_sample(missing)}), "
        f"{len(extra)} extra (e.g. {_sample(extra)}) of {len(want)} expected"
    )


# -- the set-up, made once with the CLI ----------------------------------------------------


@dataclass
class World:
    ids: dict[str, str]  # org key -> identity id
    key_on_b: str  # issued by B for A's org: A pulls and pushes with it
    key_on_a: str  # issued by A for B's org (for B's own rounds)
    items: list[Item]  # in the databases from the start

    def on(self, node: str) -> list[Item]:
        return [i for i in self.items if i.author in HOSTS[node]]


def both(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """Run two steps at once (each a chain of CLI processes, one per node)."""
    with ThreadPoolExecutor(2) as pool:
        one, two = pool.submit(first), pool.submit(second)
        return one.result(), two.result()


def at_once(*steps: Callable[[], Any]) -> list[Any]:
    """Run independent steps at once; their results, in order."""
    with ThreadPoolExecutor(len(steps)) as pool:
        futures = [pool.submit(step) for step in steps]
        return [f.result() for f in futures]


def write_bundle(path: Path, items: Iterable[Item], ids: dict[str, str]) -> Path:
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": stix(items, ids)}
    path.write_text(json.dumps(bundle))
    return path


def import_items(db: str, path: Path, items: list[Item], ids: dict[str, str], org: str) -> None:
    write_bundle(path, items, ids)
    out = cli_ok(db, "import", str(path), "--org", ORG_NAMES[org], "--single-process")
    versions = sum(len(i.versions) for i in items)
    assert f"{versions} stored, 0 duplicate, 0 rejected" in out, out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """A and B set up and filled, not yet peered; copied by each test."""
    where = tmp_path_factory.mktemp("fault-template")
    a, b = f"sqlite:///{where / 'a.db'}", f"sqlite:///{where / 'b.db'}"

    def init(db: str, node: str, country: str, second: str) -> str:
        cli_ok(db, "init", "--node-name", node, "--country", country)
        return cli_ok(db, "org", "add", ORG_NAMES[second], "--country", country).strip()

    a1, b1 = both(lambda: init(a, NODE_A, "PH", "a1"), lambda: init(b, NODE_B, "VN", "b1"))
    ids = {"a0": org_id(a, NODE_A), "a1": a1, "b0": org_id(b, NODE_B), "b1": b1}
    rng = random.Random(20261101)
    a_items = draw_items(rng, "a0", 120, pool=("a1", "b0", "b1"), max_versions=3)
    # B's objects come to A by A's pull: one version each (a pull of several versions is
    # tested on its own below), and never for PH Bank alone (B never pulls from A here, so
    # it does not learn that A hosts PH Bank and A's key on B reads as PH CERT only; with
    # both nodes syncing it reads as both: the mirror-image tests below)
    b_items = draw_items(rng, "b0", 100, pool=("a0", "b1"), max_versions=1)
    b_items += draw_items(rng, "b1", 100, pool=("a0", "b0"), max_versions=1)

    def register(db: str, here: str, there: tuple[str, str], country: str) -> str:
        for org in there:
            cli_ok(db, "org", "add", ORG_NAMES[org], "--country", country, "--id", ids[org])
        key = cli_ok(db, "key", "add", "--org", ORG_NAMES[there[0]], "--role", "sync").strip()
        if here == "A":
            import_items(db, where / "a0.json", a_items, ids, "a0")
        else:
            import_items(db, where / "b0.json", b_items[:100], ids, "b0")
            import_items(db, where / "b1.json", b_items[100:], ids, "b1")
        return key

    key_on_a, key_on_b = both(
        lambda: register(a, "A", ("b0", "b1"), "VN"), lambda: register(b, "B", ("a0", "a1"), "PH")
    )
    return where, World(ids, key_on_b, key_on_a, a_items + b_items)


@dataclass
class Pair:
    where: Path
    a: str  # database URLs
    b: str
    world: World
    b_serve: ServeProcess
    proxy: FaultProxy
    sync_env: dict[str, str] = field(default_factory=dict)
    started: list[ServeProcess] = field(default_factory=list)

    def start_b(self) -> None:
        self.b_serve.start(free_port())
        self.proxy.retarget(self.b_serve.port)

    def connect(self) -> None:
        """B serving behind the proxy, and A's peer record for it (in parallel)."""
        both(
            lambda: cli_ok(
                self.a, "peer", "add", "B", "--url", self.proxy.url, "--key", self.world.key_on_b
            ),
            self.start_b,
        )

    def sync(self, *args: str, env: dict[str, str] | None = None) -> Round:
        return sync(self.a, *args, env={**self.sync_env, **(env or {})})

    def recover(self, rounds: int = 6) -> list[Round]:
        return recover(self.a, rounds=rounds, env=self.sync_env)

    def check(self) -> None:
        """Both nodes hold exactly their share; A's outbox refused nothing."""
        items = self.world.items
        assert_holds_exactly(self.a, allowed(items, HOSTS["A"]), "node A")
        assert_holds_exactly(self.b, allowed(items, HOSTS["B"]), "node B")
        assert outbox_states(self.a)["failed"] == 0


@pytest.fixture
def pair(template: tuple[Path, World], tmp_path: Path) -> Iterator[Pair]:
    where, world = template
    for name in ("a.db", "b.db"):
        for suffix in ("", "-wal", "-shm"):
            if (where / (name + suffix)).exists():
                shutil.copy(where / (name + suffix), tmp_path / (name + suffix))
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    serve = ServeProcess(b, tmp_path / "b-serve.log")
    proxy = FaultProxy(upstream=free_port())
    found = Pair(tmp_path, a, b, world, serve, proxy)
    try:
        yield found
    finally:
        proxy.close()
        serve.kill()
        for other in found.started:
            other.kill()


# -- sync rounds ---------------------------------------------------------------------------


@dataclass
class Round:
    returncode: int
    results: list[dict[str, Any]]
    stderr: str

    @property
    def clean(self) -> bool:
        """Every peer pulled and pushed, and nothing is left waiting in the outbox."""
        return self.returncode == 0 and all(
            r["push"] is None or r["push"]["waiting"] == 0 for r in self.results
        )

    @property
    def quiet(self) -> bool:
        """Clean, and nothing new came or went."""
        return self.clean and all(
            r["pull"]["stored"] == 0 and r["push"]["sent"] == 0 for r in self.results
        )


def sync(db: str, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> Round:
    done = cli(db, "sync", "--json", *args, env=env, timeout=timeout)
    results = json.loads(done.stdout) if done.stdout.lstrip().startswith("[") else []
    return Round(done.returncode, results, done.stderr)


def recover(db: str, *, rounds: int = 6, env: dict[str, str] | None = None) -> list[Round]:
    """Sync rounds until one is clean (a retry is due within the back-off: 0.05-0.2 s)."""
    done: list[Round] = []
    for _ in range(rounds):
        done.append(sync(db, env=env))
        if done[-1].clean:
            return done
        time.sleep(0.3)
    raise AssertionError(f"no clean round in {rounds}: {done[-1].stderr} {done[-1].results}")


def pulled_from_b(pair: Pair) -> int:
    ours = {i.id for i in pair.world.on("B")}
    return sum(1 for object_id, _ in held(pair.a) if object_id in ours)


# -- the tests -----------------------------------------------------------------------------


def test_peer_killed_mid_pull(pair: Pair) -> None:
    pair.connect()
    pair.proxy.add(Fault.KILL, method="GET", path="/objects/", skip=4, victim=pair.b_serve)
    failed = pair.sync()
    assert failed.returncode != 0 and not pair.b_serve.running
    assert "peer B failed" in failed.stderr
    # the pages before the kill were committed with their cursor; the rest was not
    assert 0 < pulled_from_b(pair) < len(allowed(pair.world.on("B"), HOSTS["A"]))
    pair.start_b()  # B comes back on its own database, on another port
    pair.recover()
    pair.check()


def test_peer_killed_mid_push(pair: Pair) -> None:
    pair.connect()
    # B takes the second envelope, answers, and dies before A hears the answer
    pair.proxy.add(Fault.KILL_AFTER, method="POST", skip=1, victim=pair.b_serve)
    failed = pair.sync()
    assert failed.returncode != 0 and not pair.b_serve.running
    assert "push to peer B failed" in failed.stderr
    [result] = failed.results
    assert result["pull"]["ok"] and result["push"]["accepted"] == 20
    assert held(pair.b).total() > 20 + len(pair.world.on("B"))  # the second batch is on B
    pair.start_b()
    pair.recover()
    pair.check()  # the batch B took but never confirmed was sent again: not stored twice


HTTP_FAULTS: dict[str, tuple[list[dict[str, Any]], list[str]]] = {
    # rules, and what the failed rounds must have said
    "5xx": (
        [
            {"fault": Fault.STATUS, "method": "GET", "path": "/objects/", "skip": 2},
            {"fault": Fault.STATUS, "method": "POST", "skip": 1, "status": 503},
        ],
        ["HTTP 500", "HTTP 503"],
    ),
    "garbled": (
        [
            # JSON labelled text/plain is read as it is (the client does not look at the
            # media type): it must still cost nothing
            {"fault": Fault.RELABEL, "method": "GET", "path": "/objects/", "times": 2},
            {"fault": Fault.TRUNCATE, "method": "GET", "path": "/objects/", "skip": 3},
            {"fault": Fault.TRUNCATE, "method": "POST"},  # B stored the envelope: resent
            {"fault": Fault.HTML, "method": "POST", "skip": 1},  # a proxy's error page
        ],
        ["the answer is not JSON"],
    ),
}


@pytest.mark.parametrize("kind", list(HTTP_FAULTS))
def test_a_lying_peer_costs_time_not_data(pair: Pair, kind: str) -> None:
    rules, said = HTTP_FAULTS[kind]
    pair.connect()
    for rule in rules:
        pair.proxy.add(**rule)
    first = pair.sync()
    assert first.returncode != 0
    rounds = [first, *pair.recover()]
    errors = "".join(r.stderr for r in rounds)
    assert all(text in errors for text in said), errors
    pair.check()
    assert all(rule.applied == rule.times for rule in pair.proxy.state.rules)


def test_a_slow_peer_times_out_and_is_caught_up(pair: Pair) -> None:
    pair.sync_env = {"BAYANIHAN_PEER_READ_TIMEOUT": "1", "BAYANIHAN_PEER_CONNECT_TIMEOUT": "2"}
    pair.connect()
    # a page whose body stalls past the read time-out; a push that gets no answer
    # within the time-outs (and reaches B only afterwards)
    pair.proxy.add(Fault.SLOW_BODY, method="GET", path="/objects/", skip=1, seconds=3)
    pair.proxy.add(Fault.SLOW_HEADERS, method="POST", seconds=4)
    started = time.monotonic()
    first = pair.sync()
    assert first.returncode != 0 and "timed out" in first.stderr, first.stderr
    assert time.monotonic() - started < 15
    pair.recover()
    pair.check()


def kill_sync_when(pair: Pair, reached: Callable[[], bool]) -> None:
    """Run ``bayanihan sync`` on A as a process and SIGKILL it once ``reached()``."""
    running = Background(command(pair.a, "sync"), node_env(), pair.where / "sync.log")
    try:
        deadline = time.monotonic() + 60
        while not reached():
            assert running.running, f"sync ended before the kill: {running.output()}"
            assert time.monotonic() < deadline, "the kill point was never reached"
            time.sleep(0.02)
    finally:
        running.kill()
    assert running.process.returncode == -9  # killed in the middle, not finished


def test_local_node_killed_mid_pull_then_mid_push(pair: Pair) -> None:
    """A's sync process SIGKILLed twice: while it pulls (every page slow, so the kill
    lands between pages or inside one), then while it waits on an envelope that never
    reached B. The pull resumes from the last committed page; the entries the killed
    push claimed wait out their lease (2 x (connect + read time-out) + 60 s: over a
    minute, so this test stops short of it) and everything else goes at once."""
    pair.connect()
    proxy = pair.proxy
    proxy.add(Fault.SLOW_BODY, method="GET", path="/objects/", times=10**6, seconds=0.3)
    kill_sync_when(pair, lambda: proxy.count("GET", "/objects/") >= 4)
    assert 0 < pulled_from_b(pair) < len(allowed(pair.world.on("B"), HOSTS["A"]))

    proxy.clear()
    proxy.add(Fault.STALL, method="POST", skip=2, seconds=60)
    kill_sync_when(pair, lambda: proxy.arrivals("POST", "/objects/") >= 3)
    # the pull finished before the push began: A holds exactly its share already
    assert_holds_exactly(pair.a, allowed(pair.world.items, HOSTS["A"]), "node A")

    proxy.clear()
    rounds = [pair.sync()]
    while rounds[-1].returncode != 0 and len(rounds) < 4:
        rounds.append(pair.sync())
    assert rounds[-1].returncode == 0, rounds[-1].stderr
    [result] = rounds[-1].results
    assert result["push"]["waiting"] > 0  # the leased batch: not due yet
    want = allowed(pair.world.items, HOSTS["B"])
    on_b = held(pair.b)
    assert max(on_b.values()) == 1 and set(on_b) <= want
    lacking = want - set(on_b)
    waiting = leased_versions(pair.a)
    assert lacking and lacking <= waiting, "what B lacks must still be queued on A"
    assert len(waiting) <= 20  # one batch: the one the killed round held
    assert_holds_exactly(pair.a, allowed(pair.world.items, HOSTS["A"]), "node A")


def test_peer_restarted_from_an_empty_database(pair: Pair) -> None:
    """B loses its database and is set up again: a new node identity and new ids for
    its own orgs (init mints them), A's orgs under their old ids, a new sync key. A
    fails on the old key until its peer record is replaced; the new record starts with
    no cursor and an empty outbox, so A pushes B everything its new orgs may see."""
    world = pair.world
    pair.connect()
    pair.recover()
    pair.check()

    pair.b_serve.kill()
    for suffix in ("", "-wal", "-shm"):
        (pair.where / f"b.db{suffix}").unlink(missing_ok=True)
    b = pair.b
    cli_ok(b, "init", "--node-name", NODE_B, "--country", "VN")
    _, _, new_key, _ = at_once(
        lambda: cli_ok(b, "org", "add", "VN Police", "--country", "VN").strip(),
        lambda: cli_ok(b, "org", "add", "PH Bank", "--country", "PH", "--id", world.ids["a1"]),
        lambda: (
            cli_ok(b, "org", "add", NODE_A, "--country", "PH", "--id", world.ids["a0"]),
            cli_ok(b, "key", "add", "--org", NODE_A, "--role", "sync").strip(),
        )[1],
        pair.start_b,
    )
    assert org_id(b, NODE_B) != world.ids["b0"]  # B's own org: a new identity

    refused = pair.sync()
    assert refused.returncode != 0 and "401" in refused.stderr

    # A forgets B and adds it again with the new key; B's new orgs are learned on the
    # first pull, and the new record's push cursor starts from nothing
    at_once(
        lambda: cli_ok(pair.a, "peer", "remove", "B"),
        lambda: cli_ok(pair.a, "peer", "add", "B2", "--url", pair.proxy.url, "--key", new_key),
    )
    [result] = pair.recover()[-1].results
    assert result["peer"] == "B2"
    new_b = frozenset({"b0n", "b1n"})
    # B's objects from before are gone from B (A never sends a peer's objects back),
    # and still on A; objects for B's old orgs are not for its new ones
    assert_holds_exactly(b, allowed(world.on("A"), new_b), "node B, set up again")
    assert_holds_exactly(pair.a, allowed(world.items, HOSTS["A"]), "node A")
    assert outbox_states(pair.a)["failed"] == 0
    for_old_orgs_only = allowed(world.on("A"), HOSTS["B"]) - allowed(world.on("A"), new_b)
    assert for_old_orgs_only and not for_old_orgs_only & set(held(b))


def test_both_nodes_syncing_at_once_converge(pair: Pair) -> None:
    """The mirror image too: A also serves, B also syncs, and their rounds run at the
    same time, so most objects arrive twice (pushed and pulled) and must be stored once.
    A node learns which orgs its peer hosts by pulling from it; until then the peer's
    sync key acts for its own org only, so a push of the second org's objects that comes
    first is refused (recorded, not retried) and they travel by the other's pull. Once
    both have pulled, each node's key on the other acts for both its orgs: pushes of the
    second orgs' objects, AMBER for the other's second org included, are accepted."""
    world = pair.world
    a_serve = ServeProcess(pair.a, pair.where / "a-serve.log")
    pair.started.append(a_serve)
    rng = random.Random(11)
    bank = draw_items(rng, "a1", 30, pool=("a0", "b0"), max_versions=1)
    more = draw_items(rng, "b0", 30, pool=("a0", "a1", "b1"), max_versions=3)

    def on_a() -> None:
        import_items(pair.a, pair.where / "bank.json", bank, world.ids, "a1")
        cli_ok(pair.a, "peer", "add", "B", "--url", pair.proxy.url, "--key", world.key_on_b)
        a_serve.start(free_port())

    def on_b() -> None:
        import_items(pair.b, pair.where / "more.json", more, world.ids, "b0")
        pair.start_b()

    both(on_a, on_b)
    a_url = f"http://127.0.0.1:{a_serve.port}/taxii2/"
    cli_ok(pair.b, "peer", "add", "A", "--url", a_url, "--key", world.key_on_a)
    for _ in range(4):  # until a round moves nothing: the second, if all went well
        a_round, b_round = both(lambda: sync(pair.a), lambda: sync(pair.b))
        if a_round.quiet and b_round.quiet:
            break
    assert a_round.quiet and b_round.quiet, (a_round.stderr, b_round.stderr)
    items = world.items + bank + more
    assert_holds_exactly(pair.a, allowed(items, HOSTS["A"]), "node A")
    assert_holds_exactly(pair.b, allowed(items, HOSTS["B"]), "node B")
    # the refused pushes, if any (they depend on which pull came first): each node's
    # second org's objects, and only those
    refused_by_b = failed_ids(pair.a)
    refused_by_a = failed_ids(pair.b)
    assert refused_by_b <= {i.id for i in bank}
    assert refused_by_a <= {i.id for i in world.items if i.author == "b1"}

    # now both know: the second orgs' new objects go by push, and are all accepted
    later_bank = draw_items(rng, "a1", 20, pool=("a0", "b0", "b1"), max_versions=2)
    police = draw_items(rng, "b1", 20, pool=("a0", "a1", "b0"), max_versions=2)
    both(
        lambda: import_items(pair.a, pair.where / "bank2.json", later_bank, world.ids, "a1"),
        lambda: import_items(pair.b, pair.where / "police.json", police, world.ids, "b1"),
    )
    a_push, b_push = both(lambda: sync(pair.a, "--push-only"), lambda: sync(pair.b, "--push-only"))
    for pushed, new, to_node in ((a_push, later_bank, "B"), (b_push, police, "A")):
        assert pushed.clean, pushed.stderr
        [result] = pushed.results
        assert result["push"]["refused"] == 0, result["push"]["refusals"]
        assert result["push"]["accepted"] == len(allowed(new, HOSTS[to_node])) > 0
    items += later_bank + police
    assert_holds_exactly(pair.a, allowed(items, HOSTS["A"]), "node A, after the push")
    assert_holds_exactly(pair.b, allowed(items, HOSTS["B"]), "node B, after the push")
    assert failed_ids(pair.a) == refused_by_b and failed_ids(pair.b) == refused_by_a


# -- in-process reproductions of what these tests found ------------------------------------


@dataclass
class Linked:
    a: Node
    b: Node
    key_on_b: str


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[Linked]:
    """Two in-process nodes set up as the processes above (A's key on B is PH CERT's)."""
    a = new_node(
        f"sqlite:///{tmp_path / 'a.db'}",
        NODE_A,
        "PH",
        peer_connect_timeout=1,
        peer_read_timeout=5,
        correlation=False,
    )
    b = new_node(f"sqlite:///{tmp_path / 'b.db'}", NODE_B, "VN", correlation=False)
    a.add_org("PH Bank", country="PH")
    b.add_org("VN Police", country="VN")
    for name in (NODE_A, "PH Bank"):
        b.add_org(name, country="PH", identity_id=a.org(name).identity_id)
    for name in (NODE_B, "VN Police"):
        a.add_org(name, country="VN", identity_id=b.org(name).identity_id)
    key = b.add_key(role=Role.SYNC, org_name=NODE_A).secret
    yield Linked(a, b, key)
    a.store.dispose()
    b.store.dispose()


def versions_on(node: Node, *object_ids: str) -> set[tuple[str, int]]:
    with node.store.read() as conn:
        rows = conn.execute(
            select(objects.c.id, objects.c.version).where(objects.c.id.in_(object_ids))
        ).all()
    return {(r[0], int(r[1])) for r in rows}


def test_a_pull_brings_every_version_the_policy_allows(linked: Linked) -> None:
    """Versions stored on the peer between two pulls all arrive, and an older version A
    may see arrives though the latest is not for A (TAXII's default is the latest
    version only, so the pull must ask for ``match[version]=all``)."""
    a, b = linked.a, linked.b
    kept = indicator("198.51.100.1", tlp=Tlp.GREEN, created=CREATED, modified=stamp(2))
    narrowed = indicator("198.51.100.2", tlp=Tlp.GREEN, created=CREATED, modified=stamp(2))
    submit(b, None, kept)
    submit(b, None, {**kept, "modified": stamp(3), "description": "seen again"})
    submit(b, None, {**kept, "modified": stamp(4), "revoked": True})
    submit(b, None, narrowed)
    # the next version is for VN Police only: A may keep seeing the GREEN one
    submit(b, None, {**narrowed, "modified": stamp(3), "object_marking_refs": [Tlp.RED.marking_id]})
    with ThreadServer(b) as server:
        Federation(a).add_peer("B", url=server.url + "/taxii2/", key=linked.key_on_b)
        [result] = Federation(a).pull()
    assert result.ok, result.error
    micros = [parse_timestamp(stamp(day)) for day in (2, 3, 4)]
    assert versions_on(a, kept["id"]) == {(kept["id"], m) for m in micros}
    assert versions_on(a, narrowed["id"]) == {(narrowed["id"], micros[0])}


def test_a_second_orgs_objects_for_a_peers_second_org_reach_it(linked: Linked) -> None:
    a, b = linked.a, linked.b
    bank = a.org("PH Bank").identity_id
    for_bank = indicator("198.51.100.3", tlp=Tlp.AMBER, extensions=to(bank))
    submit(b, "VN Police", for_bank)
    key_on_a = a.add_key(role=Role.SYNC, org_name=NODE_B).secret
    with ThreadServer(a) as a_server, ThreadServer(b) as b_server:
        Federation(a).add_peer("B", url=b_server.url + "/taxii2/", key=linked.key_on_b)
        Federation(b).add_peer("A", url=a_server.url + "/taxii2/", key=key_on_a)
        for _ in range(2):
            for node in (a, b):
                assert all(r.ok for r in Federation(node).sync())
    assert versions_on(a, for_bank["id"]), "AMBER for PH Bank, hosted on A, never reached A"


def test_the_read_time_out_covers_the_wait_for_the_answer(linked: Linked) -> None:
    submit(linked.b, "VN Police", indicator("198.51.100.4", tlp=Tlp.GREEN))
    with ThreadServer(linked.b) as server:
        proxy = FaultProxy(server.port)
        try:
            # 2 s to answer: longer than the 1 s connect time-out, well within the 5 s read one
            proxy.add(Fault.SLOW_HEADERS, path="/objects/", seconds=2)
            Federation(linked.a).add_peer("B", url=proxy.url, key=linked.key_on_b)
            [result] = Federation(linked.a).pull()
        finally:
            proxy.close()
    assert result.ok, result.error
