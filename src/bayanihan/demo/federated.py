"""``bayanihan demo``: three federated nodes on this machine, and a campaign for them to share.

The demo sets up Viet Nam, Singapore and Japan nodes (``campaign.NODES``), each
with its own SQLite file in the demo directory and two organisations, exactly as
an administrator would (DESIGN §6): every node registers the other nodes'
organisations under their own identity ids, issues a ``sync`` key for each other
node's CERT, and adds the other two as peers (a full mesh). It then starts a
``bayanihan serve`` child process per node and loads the scenario
(``campaign.items``) wave by wave, each item through its own node's REST API with
its author organisation's key, so every object is written by the organisation it
belongs to.

Sync rounds are driven from this process: it asks each node in turn for one
round (``POST /api/v1/sync`` with the node's admin key; the node pulls from and
pushes to its peers) rather than leaving it to the servers' background sync,
which the children run switched off. The rounds then happen in a known order,
each wave is everywhere it may go before the hits are read, and the output is the
same from run to run. After each round the new cross-border hits of every
organisation are read back over REST with that organisation's own key.

The set-up (databases, organisations, keys, peers) is done here through ``Node``
and ``Federation``, as ``bayanihan init``, ``org add``, ``key add`` and ``peer
add`` would; the servers are started right after ``init``, so that they read
their warning-lists (seconds of CPU) while the rest is set up.

Finally the demo checks, with each node's administrator key (which sees
everything the node holds), that GREEN items reached every node, AMBER items only
the node hosting the organisation they are addressed to, and RED items none but
their author's; then it keeps serving (with a sync round every few seconds) until
Ctrl-C, or with ``rounds`` set it stops after that many rounds.

The scenario uses documentation ranges and ``example.*`` domains, which the MISP
warning-lists flag as known-benign; the demo switches the lists naming them off on
its nodes (and says so), as ``load-demo`` does for the single-node demo.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from bayanihan.correlate.service import Correlation
from bayanihan.correlate.warninglists import documentation_lists
from bayanihan.demo import campaign
from bayanihan.demo.campaign import Item, NodeSpec
from bayanihan.federation import Federation
from bayanihan.node import Node, NodeError
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.settings import Settings

DEFAULT_DIR = "bayanihan-demo"
DEFAULT_BASE_PORT = 8641
MARKER = "demo.json"  # marks a directory as the demo's own, with the running demo's pid
KEYS_FILE = "keys.txt"
HOST = "127.0.0.1"
START_TIMEOUT = 60.0  # seconds a node may take to answer /healthz
STOP_TIMEOUT = 8.0  # seconds a node has to stop after SIGTERM before it is killed
# Settings the children must not take from the environment: the demo gives its own.
_CHILD_UNSET = (
    "BAYANIHAN_CONFIG",
    "BAYANIHAN_DB",
    "BAYANIHAN_HOST",
    "BAYANIHAN_PORT",
    "BAYANIHAN_TLS_CERT",
    "BAYANIHAN_TLS_KEY",
)


class DemoError(NodeError):
    """Bad options or a demo that cannot run: one line for the user, non-zero exit."""


class _Stop(Exception):
    """SIGTERM or SIGHUP: stop as on Ctrl-C."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    directory: Path
    base_port: int = DEFAULT_BASE_PORT
    rounds: int | None = None  # None: serve until Ctrl-C
    fresh: bool = False
    interval: float = 5.0  # seconds between sync rounds while serving


@dataclass
class DemoNode:
    """One node of the demo: its database, its server and the keys of its organisations."""

    spec: NodeSpec
    port: int
    db_path: Path
    node: Node
    identities: dict[str, str] = field(default_factory=dict)  # org key -> identity id
    logins: dict[str, str] = field(default_factory=dict)  # org key -> analyst key
    admin_key: str = ""
    process: subprocess.Popen[bytes] | None = None
    last_hit: dict[str, int] = field(default_factory=dict)  # org key -> newest hit id seen

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def taxii_url(self) -> str:
        return f"{self.url}taxii2/"

    @property
    def log_path(self) -> Path:
        return self.db_path.with_suffix(".log")

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=30
        )


def _symbols(stream: TextIO) -> tuple[str, str, str]:
    """Arrow, two-way arrow and dash, or ASCII stand-ins where the terminal cannot show them."""
    try:
        "→↔—".encode(stream.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return "->", "<->", "-"
    return "→", "↔", "—"


# ---------------------------------------------------------------------- checks


def check_options(options: DemoOptions) -> None:
    """Refuse bad options before anything is created."""
    if not 1024 <= options.base_port <= 65535 - 2:
        raise DemoError(
            f"--base-port {options.base_port}: give a port from 1024 to 65533 "
            "(the three nodes listen on it and the next two)"
        )
    if options.rounds is not None and not 1 <= options.rounds <= 1000:
        raise DemoError(f"--rounds {options.rounds}: give a number of rounds from 1 to 1000")
    if not 0.5 <= options.interval <= 3600:
        raise DemoError(f"--interval {options.interval:g}: give 0.5 to 3600 seconds")
    check_directory(options.directory, fresh=options.fresh)
    for port in range(options.base_port, options.base_port + len(campaign.NODES)):
        with socket.socket() as sock:
            # as uvicorn binds: connections of a previous run in TIME_WAIT do not count
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError:
                raise DemoError(
                    f"port {port} on {HOST} is in use; the demo needs ports "
                    f"{options.base_port}-{options.base_port + 2} (choose others with "
                    "--base-port)"
                ) from None


def _running_pid(directory: Path) -> int | None:
    """The pid of a demo still running in ``directory``, if any."""
    try:
        pid = int(json.loads((directory / MARKER).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def check_directory(directory: Path, *, fresh: bool) -> None:
    """The demo writes only into a new or empty directory, or one of its own with --fresh."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise DemoError(f"--dir {directory}: exists and is not a directory")
    if not any(directory.iterdir()):
        return
    if not (directory / MARKER).is_file():
        raise DemoError(
            f"--dir {directory}: not empty and not a demo directory; the demo does not "
            "write over other files (give a new or empty directory)"
        )
    pid = _running_pid(directory)
    if pid is not None:
        raise DemoError(
            f"--dir {directory}: a demo is running there (pid {pid}); stop it first "
            f"(if it is not running, remove {directory / MARKER})"
        )
    if not fresh:
        raise DemoError(
            f"--dir {directory}: holds a previous demo; add --fresh to wipe it and start over"
        )


def _wipe(directory: Path) -> None:
    """Remove what a previous demo wrote (only that: its databases, logs, keys, marker)."""
    for path in directory.iterdir():
        ours = path.name in (MARKER, KEYS_FILE) or any(
            path.name.startswith(spec.code.lower() + ".") for spec in campaign.NODES
        )
        if ours and path.is_file():
            path.unlink()


# ---------------------------------------------------------------------- the demo


class Demo:
    def __init__(self, options: DemoOptions, *, out: TextIO | None = None) -> None:
        self.options = options
        self.out = out or sys.stdout
        self.arrow, self.both, self.dash = _symbols(self.out)
        self.nodes: list[DemoNode] = []
        self.items: list[Item] = []
        self.loaded_waves = 0
        self.switched_off: list[str] = []
        self.explained_refusals = False

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    # -- running -----------------------------------------------------------------------

    def run(self) -> int:
        """The whole demo. Returns the exit status (0 also after Ctrl-C)."""
        check_options(self.options)
        with _stop_signals():
            try:
                self._create()
                self._start()  # the servers read their warning-lists meanwhile
                self._configure()
                self._wait_until_serving()
                self._introduce()
                rounds = self.options.rounds
                total = len(campaign.WAVES) if rounds is None else rounds
                for number in range(1, total + 1):
                    self._round(number)
                self._check_sharing()
                if rounds is None:
                    self._serve()
            except (KeyboardInterrupt, _Stop):
                self.say()
                self.say("Interrupted.")
            except httpx.HTTPError as exc:
                raise DemoError(f"a demo node did not answer as expected: {exc}") from None
            finally:
                with _signals_ignored():
                    self._stop()
        return 0

    def _create(self) -> None:
        """The directory and the three databases, each with its node and its CERT."""
        directory = self.options.directory
        if directory.exists() and self.options.fresh:
            _wipe(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MARKER).write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "base_port": self.options.base_port,
                    "nodes": [s.code for s in campaign.NODES],
                }
            )
            + "\n"
        )
        self.say(f"Setting up three nodes in {directory} ...")
        for offset, spec in enumerate(campaign.NODES):
            path = (directory / f"{spec.code.lower()}.db").resolve()
            settings = Settings(db=f"sqlite:///{path}", correlation=True, sync_interval=0)
            node = Node(settings)
            node.init(node_name=spec.cert.name, country=spec.cert.country)
            demo_node = DemoNode(spec, self.options.base_port + offset, path, node)
            demo_node.identities[spec.cert.key] = node.operator().org_identity
            self.nodes.append(demo_node)

    def _configure(self) -> None:
        """Organisations, keys and peers, as the administrators of the three nodes would."""
        for demo_node in self.nodes:
            spec, node = demo_node.spec, demo_node.node
            bank = node.add_org(
                spec.bank.name,
                country=spec.bank.country,
                sector=spec.bank.sector,
                parent=spec.cert.name,
            )
            demo_node.identities[spec.bank.key] = bank.identity_id
            # the demo's values are documentation ranges and example.* domains
            self.switched_off = documentation_lists()
            Correlation(node).set_warninglists(None, self.switched_off, enabled=False)
        identities = {k: v for n in self.nodes for k, v in n.identities.items()}
        self.items = campaign.items(identities)
        for here in self.nodes:
            for there in self.nodes:
                if there is here:
                    continue
                for org in there.spec.orgs:
                    here.node.add_org(
                        org.name,
                        country=org.country,
                        sector=org.sector,
                        identity_id=there.identities[org.key],
                        parent=campaign.ORGS[org.parent].name if org.parent else None,
                    )
        for here in self.nodes:
            for there in self.nodes:
                if there is here:
                    continue
                # `there` issues a sync key for our CERT; we pull from and push to it with it
                key = there.node.add_key(
                    role=Role.SYNC, org_name=here.spec.cert.name, label=f"demo peer {here.code}"
                )
                Federation(here.node).add_peer(there.code, url=there.taxii_url, key=key.secret)
        for demo_node in self.nodes:
            demo_node.admin_key = demo_node.node.add_key(role=Role.ADMIN, label="demo").secret
            for org in demo_node.spec.orgs:
                demo_node.logins[org.key] = demo_node.node.add_key(
                    role=Role.ANALYST, org_name=org.name, label="demo login"
                ).secret
        self._write_keys()

    def _write_keys(self) -> None:
        path = self.options.directory / KEYS_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as keys:
            keys.write("# Bayanihan demo: login keys (Authorization: Bearer KEY)\n")
            for n in self.nodes:
                keys.write(f"\n[{n.code}] {n.url}  TAXII {n.taxii_url}\n")
                keys.write(f"admin    node administrator                {n.admin_key}\n")
                for org in n.spec.orgs:
                    keys.write(f"analyst  {org.name:33} {n.logins[org.key]}\n")

    def _start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _CHILD_UNSET}
        env.update(BAYANIHAN_SYNC_INTERVAL="0", BAYANIHAN_CORRELATION="true")
        for n in self.nodes:
            with n.log_path.open("ab") as log:
                n.process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bayanihan.cli",
                        "--db",
                        f"sqlite:///{n.db_path}",
                        "serve",
                        "--host",
                        HOST,
                        "--port",
                        str(n.port),
                        "--log-level",
                        "warning",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=env,
                    # its own session: Ctrl-C reaches the demo, which stops the nodes in order
                    start_new_session=True,
                )

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        for n in self.nodes:
            while not self._healthy(n):
                assert n.process is not None
                if n.process.poll() is not None or time.monotonic() > deadline:
                    raise DemoError(
                        f"node {n.code} did not start on port {n.port}: "
                        f"{_tail(n.log_path) or 'no output'} (log: {n.log_path})"
                    )
                time.sleep(0.1)

    @staticmethod
    def _healthy(n: DemoNode) -> bool:
        try:
            return httpx.get(f"{n.url}healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _introduce(self) -> None:
        self.say()
        self.say("Three Bayanihan nodes, federated in a full mesh:")
        for n in self.nodes:
            self.say(f"  [{n.code}] {n.spec.cert.name:20} {n.url}   TAXII discovery {n.taxii_url}")
        self.say()
        self.say(
            "Login keys (shown once; also in "
            f"{self.options.directory / KEYS_FILE}, readable only by you):"
        )
        for n in self.nodes:
            self.say(f"  [{n.code}] admin    {'node administrator':27} {n.admin_key}")
            for org in n.spec.orgs:
                self.say(f"  [{n.code}] analyst  {org.name:27} {n.logins[org.key]}")
        self.say()
        self.say(
            f"For the demo, the {len(self.switched_off)} warning-lists naming documentation "
            "ranges and example.* domains are"
        )
        self.say(
            "switched OFF on these nodes, so that the scenario's values correlate "
            "(`bayanihan warninglist list`"
        )
        self.say("shows them; `bayanihan warninglist on --documentation` switches them back on).")

    # -- rounds ------------------------------------------------------------------------

    def _round(self, number: int) -> None:
        self.say()
        if number <= len(campaign.WAVES):
            self.say(f"Round {number} {self.dash} {campaign.WAVES[number - 1]}")
            self._load_wave(number)
        else:
            self.say(f"Round {number} {self.dash} sync only")
        self._sync()
        self._show_hits()

    def _load_wave(self, wave: int) -> None:
        """Each item through its own node's REST API, with its author organisation's key."""
        for n in self.nodes:
            mine = [
                i for i in self.items if i.wave == wave and campaign.node_of(i.author) == n.code
            ]
            counts: dict[str, int] = {}
            for org in n.spec.orgs:
                objects = [i.object for i in mine if i.author == org.key]
                if not objects:
                    continue
                with n.client(n.logins[org.key]) as client:
                    response = client.post("/api/v1/objects", json={"objects": objects})
                if response.status_code != 200:
                    raise DemoError(f"node {n.code} refused the scenario: {response.text[:300]}")
                result = response.json()
                if result["rejected"]:
                    why = next(
                        o["message"] for o in result["outcomes"] if o["status"] == "rejected"
                    )
                    raise DemoError(f"node {n.code} rejected a scenario object: {why}")
            for i in mine:
                counts[i.tlp.label] = counts.get(i.tlp.label, 0) + 1
            shown = ", ".join(f"{count} {tlp}" for tlp, count in counts.items())
            plural = "item" if len(mine) == 1 else "items"
            self.say(f"  [{n.code}] its organisations write {len(mine)} {plural} ({shown})")
        self.loaded_waves = max(self.loaded_waves, wave)

    def _sync_round(self, n: DemoNode) -> list[dict[str, Any]]:
        """One sync round of a node (pull, then push, with each peer), run by the node."""
        with n.client(n.admin_key) as client:
            response = client.post("/api/v1/sync", timeout=300)
        response.raise_for_status()
        results: list[dict[str, Any]] = response.json()
        for r in results:
            for part, what in (("pull", "pull from"), ("push", "push to")):
                if r[part] is not None and r[part]["error"]:
                    self.say(f"  [{n.code}] {what} {r['peer']} failed: {r[part]['error']}")
        return results

    def _sync(self) -> None:
        refused_any = False
        for n in self.nodes:
            results = self._sync_round(n)
            self.say(f"  [{n.code}] sync: {_summary(results, self.arrow)}")
            refused_any = refused_any or any(r["push"] and r["push"]["refused"] for r in results)
        if refused_any and not self.explained_refusals:
            self.explained_refusals = True
            self.say(
                "       (a peer that has not pulled from us yet does not know our bank is hosted"
            )
            self.say("        here: our sync key there acts for our CERT alone, so it refuses what")
            self.say("        our bank wrote, and the peer pulls those objects from us instead)")

    def _show_hits(self, *, quiet: bool = False) -> int:
        """Print the new cross-border hits of each node's organisations; how many."""
        shown = 0
        for n in self.nodes:
            found: dict[int, dict[str, Any]] = {}
            for org in n.spec.orgs:
                for hit in self._new_hits(n, org.key):
                    found.setdefault(hit["hit_id"], hit)
            for hit_id in sorted(found):
                self.say(self._hit_line(n, found[hit_id]))
                shown += 1
        if not shown and not quiet:
            self.say("  no new cross-border hits")
        return shown

    def _new_hits(self, n: DemoNode, org_key: str) -> list[dict[str, Any]]:
        """Cross-border hits on the org's objects newer than the last seen, with its key."""
        after = n.last_hit.get(org_key, 0)
        found: list[dict[str, Any]] = []
        with n.client(n.logins[org_key]) as client:
            params: dict[str, str | int] = {"cross_border": "true", "after": after, "limit": 1000}
            while True:
                response = client.get("/api/v1/hits", params=params)
                response.raise_for_status()
                page = response.json()
                found.extend(page["hits"])
                if not page["next"]:
                    break
                params["cursor"] = page["next"]
        if found:
            n.last_hit[org_key] = max(after, *(h["hit_id"] for h in found))
        return found

    def _hit_line(self, n: DemoNode, hit: dict[str, Any]) -> str:
        own, other = hit["object"], hit["counterpart"]
        value, theirs = hit["observable"], hit["counterpart_observable"]
        if own["org"]["id"] not in n.identities.values():
            own, other, value, theirs = other, own, theirs, value
        shown = _short(value["value"])
        if theirs["value"] != value["value"]:
            shown += f" ~ {_short(theirs['value'])}"
        tlp = (other.get("tlp") or "").upper()
        return (
            f"  [{n.code}] hit: {shown} ({value['kind']}) {self.dash} "
            f"{own['org']['name']} {own['type']} {self.both} "
            f"{other['org']['name']} {other['type']}{f' [TLP:{tlp}]' if tlp else ''} "
            f"({other['org']['country']}{self.arrow}{own['org']['country']}, cross-border)"
        )

    # -- where the items went ------------------------------------------------------------

    def _check_sharing(self) -> None:
        """What each node holds of the scenario, read with its administrator's key."""
        loaded = [i for i in self.items if i.wave <= self.loaded_waves]
        if not loaded:
            return
        self.say()
        self.say("Where the campaign items are (what each node holds, read with its admin key):")
        wrong = 0
        for n in self.nodes:
            held = self._held(n)
            counts = {"own": 0, "green": 0, "amber": 0}
            for item in loaded:
                home = campaign.node_of(item.author)
                expected = (
                    home == n.code
                    or item.tlp <= Tlp.GREEN
                    or (
                        item.tlp is Tlp.AMBER
                        and any(campaign.node_of(r) == n.code for r in item.recipients)
                    )
                )
                if (item.id in held) != expected:
                    wrong += 1
                    where = "held here" if item.id in held else "missing here"
                    self.say(f"  [{n.code}] ! {item.tlp.label} item {item.name!r} {where}")
                elif item.id in held:
                    kind = "own" if home == n.code else item.tlp.label
                    counts[kind] = counts.get(kind, 0) + 1
            kept_out = [i for i in loaded if i.id not in held]
            red_out = sum(i.tlp is Tlp.RED for i in kept_out)
            amber_out = sum(i.tlp is Tlp.AMBER for i in kept_out)
            self.say(
                f"  [{n.code}] {counts['own']} own items; from the other nodes "
                f"{counts['green']} GREEN and {counts['amber']} AMBER (addressed to "
                f"{n.spec.cert.name});"
            )
            self.say(
                f"       not here: {amber_out} AMBER items addressed to others, "
                f"{red_out} RED items of others"
            )
        if wrong:
            self.say(f"  {wrong} item(s) are not where the policy says they should be!")
        else:
            self.say(
                "  As the policy says: GREEN everywhere, AMBER only where it is addressed, "
                "RED only at home."
            )

    def _held(self, n: DemoNode) -> set[str]:
        ids: set[str] = set()
        with n.client(n.admin_key) as client:
            params: dict[str, str | int] = {"limit": 1000}
            while True:
                response = client.get("/api/v1/objects", params=params)
                response.raise_for_status()
                page = response.json()
                ids.update(str(o["id"]) for o in page["objects"])
                if not page["next"]:
                    return ids
                params["cursor"] = page["next"]

    # -- serving ---------------------------------------------------------------------

    def _serve(self) -> None:
        self.say()
        first = self.nodes[0]
        self.say(
            f"Serving; press Ctrl-C to stop. Open {first.url} or try:\n"
            f"  curl -H 'Authorization: Bearer {first.logins[first.spec.cert.key]}' "
            f"'{first.url}api/v1/hits?cross_border=true'"
        )
        self.say(
            f"Every {self.options.interval:g} s the nodes sync; new cross-border hits "
            "show here (write objects to any node to see them travel)."
        )
        while True:
            time.sleep(self.options.interval)
            for n in self.nodes:
                assert n.process is not None
                if n.process.poll() is not None:
                    raise DemoError(
                        f"node {n.code} stopped (exit {n.process.returncode}): "
                        f"{_tail(n.log_path) or 'no output'}"
                    )
            for n in self.nodes:
                self._sync_round(n)
            self._show_hits(quiet=True)

    def _stop(self) -> None:
        running = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        if running:
            self.say(f"Stopping the {len(running)} node(s) ...")
        for n in running:
            assert n.process is not None
            n.process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for n in running:
            assert n.process is not None
            try:
                n.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                n.process.kill()
                n.process.wait()
        for n in self.nodes:
            n.node.store.dispose()
        marker = self.options.directory / MARKER
        if self.nodes and marker.is_file():
            try:  # no longer running: keep the marker (the directory is a demo's), drop the pid
                data = json.loads(marker.read_text())
                data.pop("pid", None)
                marker.write_text(json.dumps(data) + "\n")
            except (OSError, ValueError):
                pass
        if running:
            self.say(
                f"Stopped. The databases stay in {self.options.directory} "
                "(`bayanihan demo --fresh` starts over)."
            )


def _summary(results: list[dict[str, Any]], arrow: str) -> str:
    parts = []
    for r in results:
        peer = r["peer"]
        pulled = r["pull"]["stored"] if r["pull"] else 0
        pushed = r["push"]["accepted"] if r["push"] else 0
        refused = r["push"]["refused"] if r["push"] else 0
        text = f"{peer}{arrow}here {pulled} new, here{arrow}{peer} {pushed} accepted"
        if refused:
            text += f" ({refused} refused)"
        parts.append(text)
    return "; ".join(parts) if parts else "no peers"


def _short(value: str, width: int = 40) -> str:
    return value if len(value) <= width else value[: width - 3] + "..."


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


@contextmanager
def _stop_signals() -> Iterator[None]:
    """Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the demo; the handlers are restored after.

    SIGINT is taken even when the demo was started with it ignored (a background job
    of a script), so that ``kill -INT`` always stops it cleanly.
    """

    def stop(_signum: int, _frame: object) -> None:
        raise _Stop()

    names = [name for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    saved: dict[int, Callable[..., Any] | int | None] = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)
    }
    for name in names:
        number = getattr(signal, name)
        saved[number] = signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """While the nodes stop, a second Ctrl-C does not cut the stopping short."""
    names = [name for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]
    saved: dict[int, Callable[..., Any] | int | None] = {}
    for name in names:
        number = getattr(signal, name)
        saved[number] = signal.signal(number, signal.SIG_IGN)
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def run_demo(options: DemoOptions, *, out: TextIO | None = None) -> int:
    return Demo(options, out=out).run()
