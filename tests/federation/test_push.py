"""Federation, second slice: pushing through a durable outbox, between two real nodes
(each its own database; the receiving node served by a real uvicorn server)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from bayanihan.correlate.service import Correlation
from bayanihan.federation import Federation
from bayanihan.node import Node
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.settings import Settings
from bayanihan.stix.timestamps import now_micros
from bayanihan.store import peers as peer_store
from bayanihan.store.schema import objects, orgs
from bayanihan.taxii.service import TaxiiService
from tests.conftest import ThreadServer, free_port
from tests.federation import test_pull
from tests.federation.test_pull import submit, to
from tests.stixgen import indicator, ipv4, stamp

peer_db = test_pull.peer_db


class Clock:
    """The real clock, which a test may move forward (to let back-off delays pass)."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self) -> int:
        return now_micros() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += int(seconds * 1_000_000)


@dataclass
class Nodes:
    a: Node
    b: Node
    clock: Clock
    a_org: str  # node A's own org (hosted on A, registered on B)
    sync_key: str  # issued by B for A's org: A pulls and pushes with it

    def restart_a(self) -> Node:
        """A new Node object on A's database, as after a restart of the process."""
        self.a.store.dispose()
        self.a = Node(Settings(db=self.a.settings.db), clock=self.clock)
        self.a.init()
        return self.a


def held(node: Node) -> dict[str, tuple[str, bool]]:
    """Object id -> (author org name, revoked), latest versions."""
    with node.store.read() as conn:
        rows = conn.execute(
            select(objects.c.id, orgs.c.name, objects.c.revoked)
            .select_from(objects.join(orgs, orgs.c.row_id == objects.c.author_org))
            .where(objects.c.is_latest)
        ).all()
    return {r[0]: (r[1], bool(r[2])) for r in rows}


def entries(node: Node, peer: str) -> list[peer_store.OutboxEntry]:
    with node.store.read() as conn:
        record = peer_store.peer_by_name(conn, peer)
        assert record is not None
        states = ("pending", "sent", "done", "failed", "dropped")
        return peer_store.outbox(conn, peer_row=record.row_id, states=states)


def serve_on(node: Node, port: int) -> ThreadServer:
    """A server for ``node`` on a given port (a peer coming back where it was)."""
    server = ThreadServer(node)
    server.port = server.server.config.port = port
    server.url = f"http://127.0.0.1:{port}"
    return server


@pytest.fixture
def nodes(db_url: str, peer_db: str) -> Iterator[Nodes]:
    clock = Clock()
    a = Node(Settings(db=db_url), clock=clock)
    a.init(node_name="PH CERT", country="PH")
    b = Node(Settings(db=peer_db))
    b.init(node_name="VN CERT", country="VN")
    b.add_org("VN Police", country="VN")
    a_org = a.operator().org_identity
    b.add_org("PH CERT", country="PH", identity_id=a_org)
    key = b.add_key(role=Role.SYNC, org_name="PH CERT").secret
    found = Nodes(a, b, clock, a_org, key)
    yield found
    found.a.store.dispose()
    b.store.dispose()


def peer_b(nodes: Nodes, server: ThreadServer) -> Federation:
    """Add B as a peer of A and pull from it once (A learns the orgs B hosts)."""
    federation = Federation(nodes.a)
    federation.add_peer("B", url=server.url + "/taxii2/", key=nodes.sync_key)
    [pulled] = federation.pull("B")
    assert pulled.ok, pulled.error
    return federation


def test_push_sends_what_the_policy_lets_the_peer_see(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    with ThreadServer(b) as server:
        federation = peer_b(nodes, server)
        vn_police = a.org("VN Police").identity_id
        a.add_org("PH Bank", country="PH")
        ph_bank = a.org("PH Bank").identity_id
        green = indicator("198.51.100.7", tlp=Tlp.GREEN)
        amber_for_b = indicator("198.51.100.8", tlp=Tlp.AMBER, extensions=to(vn_police))
        amber_ours = indicator("198.51.100.9", tlp=Tlp.AMBER)
        red_other = indicator("198.51.100.10", tlp=Tlp.RED, extensions=to(ph_bank))
        submit(a, None, green, amber_for_b, amber_ours, red_other)

        [result] = federation.push("B")
        assert result.ok, result.error
        assert (result.queued, result.sent, result.accepted) == (2, 2, 2)
        on_b = held(b)
        assert on_b[green["id"]] == ("PH CERT", False)
        assert on_b[amber_for_b["id"]] == ("PH CERT", False)
        assert amber_ours["id"] not in on_b and red_other["id"] not in on_b
        # B applies its own policy: VN Police may read the AMBER object sent for it
        police = b.operator("VN Police")
        assert amber_for_b["id"] in _readable(b, police)

        # a second round sends nothing new
        [again] = federation.push("B")
        assert again.ok and (again.queued, again.sent) == (0, 0)

        # a new version is sent again; so is a revocation
        changed = {**green, "modified": stamp(5), "description": "seen again"}
        revoked = {**amber_for_b, "modified": stamp(6), "revoked": True}
        submit(a, None, changed, revoked)
        [third] = federation.push("B")
        assert third.ok and (third.sent, third.accepted) == (2, 2), third
        on_b = held(b)
        assert on_b[amber_for_b["id"]] == ("PH CERT", True)
        with b.store.read() as conn:
            versions = conn.execute(
                select(objects.c.version).where(objects.c.id == green["id"])
            ).all()
        assert len(versions) == 2

        [view] = federation.peers()
        assert view.last_push_success is not None and view.last_push_error is None
        assert view.push_pending == 0 and view.pushed == 4
        assert federation.outbox("B") == []

    # one audit entry per round that sent something, naming the objects sent
    pushes = [e for e in a.audit_entries() if e.action == "federation.push"]
    assert len(pushes) == 2
    assert set(pushes[0].object_ids) == {green["id"], amber_for_b["id"]}
    assert a.verify_audit().ok


def _readable(node: Node, principal: Any) -> set[str]:
    from bayanihan.policy.visibility import read_scope
    from bayanihan.store.objects import ObjectQuery, VersionSpec, list_bodies

    query = ObjectQuery(scope=read_scope(principal), versions=VersionSpec(all=True))
    with node.store.read() as conn:
        return {row.id for row in list_bodies(conn, query)}


def test_nothing_pulled_from_the_peer_goes_back(nodes: Nodes) -> None:
    submit(nodes.b, "VN Police", indicator("198.51.100.20", tlp=Tlp.GREEN))
    submit(nodes.b, "VN Police", indicator("198.51.100.21", tlp=Tlp.CLEAR))
    with ThreadServer(nodes.b) as server:
        federation = peer_b(nodes, server)
        assert any(org == "VN Police" for org, _ in held(nodes.a).values())
        [result] = federation.push("B")
    assert result.ok, result.error
    assert (result.queued, result.sent) == (0, 0)


def test_a_peer_never_pulled_from_is_not_pushed_to(nodes: Nodes) -> None:
    submit(nodes.a, None, indicator("198.51.100.22", tlp=Tlp.GREEN))
    federation = Federation(nodes.a)
    with ThreadServer(nodes.b) as server:
        federation.add_peer("B", url=server.url + "/taxii2/", key=nodes.sync_key)
        [result] = federation.push("B")
        assert not result.ok and "not been pulled" in str(result.error)
        assert entries(nodes.a, "B") == []  # the cursor did not pass anything
        [both] = federation.sync("B")  # pull, then push
        assert both.ok, both.as_dict()
        assert both.push is not None and both.push.accepted == 1


def test_a_first_pull_that_failed_holds_the_push_back_and_passes_nothing_over(
    nodes: Nodes,
) -> None:
    """A push takes one thing from pulling: who the peer hosts (the API root and the
    writable collection it finds itself). A peer down at its first round is not pushed
    to, and nothing is queued or passed over meanwhile: the first round that reaches it
    sends everything written since, AMBER for one of its organisations included (one
    registered here by hand, which only the pull links to the peer)."""
    a, b = nodes.a, nodes.b
    vn_police = b.org("VN Police").identity_id
    a.add_org("VN Police", country="VN", identity_id=vn_police)
    port = free_port()
    federation = Federation(a)
    federation.add_peer("B", url=f"http://127.0.0.1:{port}/taxii2/", key=nodes.sync_key)
    green = indicator("198.51.100.80", tlp=Tlp.GREEN)
    amber = indicator("198.51.100.81", tlp=Tlp.AMBER, extensions=to(vn_police))
    submit(a, None, green, amber)

    [down] = federation.sync("B")
    assert down.pull is not None and "connection refused" in str(down.pull.error)
    assert down.push is not None and "not been pulled from successfully" in str(down.push.error)
    assert "last pull error: " in str(down.push.error)
    later = indicator("198.51.100.82", tlp=Tlp.AMBER, extensions=to(vn_police))
    submit(a, None, later)
    with serve_on(b, port):  # B is up, but A has not pulled from it yet
        [push_only] = federation.push("B")
        assert not push_only.ok and "not been pulled" in str(push_only.error)
    assert entries(a, "B") == []
    with a.store.read() as conn:
        assert [s.cursor for s in peer_store.push_states(conn).values()] == [0]

    with serve_on(b, port):
        [back] = federation.sync("B")
    assert back.ok, back.as_dict()
    assert back.push is not None and (back.push.queued, back.push.accepted) == (3, 3)
    on_b = held(b)
    for sent in (green, amber, later):
        assert on_b[sent["id"]] == ("PH CERT", False)
    police = b.operator("VN Police")
    assert {amber["id"], later["id"]} <= _readable(b, police)


def test_a_peer_that_is_down_gets_its_objects_when_it_is_back(nodes: Nodes) -> None:
    a = nodes.a
    server = ThreadServer(nodes.b)
    with server:
        federation = peer_b(nodes, server)
    port = server.port
    early = indicator("198.51.100.30", tlp=Tlp.GREEN)
    submit(a, None, early)
    [failed] = federation.push("B")
    assert failed.peer == "B" and not failed.ok
    assert "connection refused" in str(failed.error)
    [entry] = entries(a, "B")
    assert (entry.state, entry.attempts, entry.object_id) == ("pending", 1, early["id"])
    [view] = federation.peers()
    assert view.push_pending == 1 and view.last_push_error

    # A restarts; the entry is still there; B comes back where it was
    a = nodes.restart_a()
    federation = Federation(a)
    later = indicator("198.51.100.31", tlp=Tlp.GREEN)
    submit(a, None, later)
    nodes.clock.advance(31)
    with serve_on(nodes.b, port):
        [result] = federation.push("B")
    assert result.ok, result.error
    assert (result.sent, result.accepted, result.waiting) == (2, 2, 0)
    assert {early["id"], later["id"]} <= set(held(nodes.b))
    assert {e.state for e in entries(a, "B")} == {"done"}


def test_a_peer_answering_500_is_retried_with_back_off(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    with ThreadServer(nodes.b) as server:
        federation = peer_b(nodes, server)
        obj = indicator("198.51.100.40", tlp=Tlp.GREEN)
        submit(nodes.a, None, obj)
        with monkeypatch.context() as patch:
            patch.setattr(TaxiiService, "add_objects", broken)
            [first] = federation.push("B")
            assert not first.ok and "500" in str(first.error)
            [entry] = entries(nodes.a, "B")
            assert entry.state == "pending" and entry.attempts == 1
            wait = entry.next_attempt - nodes.clock()
            assert 25e6 < wait <= 30e6

            [not_due] = federation.push("B")  # within the back-off: not sent again
            assert not_due.ok and not_due.sent == 0 and not_due.waiting == 1
            assert entries(nodes.a, "B")[0].attempts == 1

            nodes.clock.advance(31)
            [second] = federation.push("B")
            assert not second.ok
            [entry] = entries(nodes.a, "B")
            assert entry.attempts == 2 and "500" in str(entry.last_error)
            wait = entry.next_attempt - nodes.clock()
            assert 55e6 < wait <= 60e6  # doubled

        nodes.clock.advance(61)
        [third] = federation.push("B")
        assert third.ok and third.accepted == 1
        assert obj["id"] in held(nodes.b)
        assert [e.state for e in entries(nodes.a, "B")] == ["done"]


def test_a_refusal_is_recorded_not_retried(nodes: Nodes) -> None:
    """B's sync key writes only as A's own org: another org of A is refused, per object."""
    with ThreadServer(nodes.b) as server:
        federation = peer_b(nodes, server)
        nodes.a.add_org("PH Police", country="PH")
        theirs = indicator("198.51.100.50", tlp=Tlp.GREEN)
        ours = indicator("198.51.100.51", tlp=Tlp.GREEN)
        submit(nodes.a, "PH Police", theirs)
        submit(nodes.a, None, ours)
        [result] = federation.push("B")
        assert result.ok, result.error
        assert (result.sent, result.accepted, result.refused) == (2, 1, 1)
        assert "may not write as another" in next(iter(result.reasons))
        [refused] = federation.outbox("B")
        assert refused.object_id == theirs["id"] and refused.state == "failed"
        nodes.clock.advance(3600)
        [again] = federation.push("B")
        assert again.sent == 0
        [view] = federation.peers()
        assert view.push_failed == 1 and view.push_pending == 0


def test_a_plain_taxii_peer_gets_only_clear_and_green(nodes: Nodes) -> None:
    with ThreadServer(nodes.b) as server:
        federation = peer_b(nodes, server)
        # a second peer, hosting none of our known orgs, as a plain TAXII server would
        federation.add_peer("plain", url=server.url + "/taxii2/", key=nodes.sync_key)
        with nodes.a.store.write() as conn:
            record = peer_store.peer_by_name(conn, "plain")
            assert record is not None
            peer_store.record_attempt(conn, row_id=record.row_id, when=nodes.clock(), error=None)
        vn_police = nodes.a.org("VN Police").identity_id
        clear = indicator("198.51.100.60", tlp=Tlp.CLEAR)
        green = indicator("198.51.100.61", tlp=Tlp.GREEN)
        amber = indicator("198.51.100.62", tlp=Tlp.AMBER, extensions=to(vn_police))
        strict = indicator("198.51.100.63", tlp=Tlp.AMBER_STRICT, extensions=to(vn_police))
        red = indicator("198.51.100.64", tlp=Tlp.RED, extensions=to(vn_police))
        submit(nodes.a, None, clear, green, amber, strict, red)
        results = {r.peer: r for r in federation.push()}
        assert all(r.ok for r in results.values()), results
    sent = {peer: {e.object_id for e in entries(nodes.a, peer)} for peer in ("B", "plain")}
    assert sent["plain"] == {clear["id"], green["id"]}
    assert sent["B"] == {clear["id"], green["id"], amber["id"], strict["id"], red["id"]}


def copies(node: Node, object_id: str) -> list[str]:
    """The origin of every version of an object held on a node, oldest first."""
    with node.store.read() as conn:
        rows = conn.execute(
            select(objects.c.origin).where(objects.c.id == object_id).order_by(objects.c.date_added)
        )
        return list(rows.scalars())


def matches(node: Node) -> set[tuple[str, str]]:
    """The node operator's hits: (value, organisation of the counterpart)."""
    found = Correlation(node).hits(node.operator()).hits
    return {(h["observable"]["value"], h["counterpart"]["org"]["name"]) for h in found}


def test_our_sco_pushed_to_a_peer_is_not_stored_again_when_pulled_back(nodes: Nodes) -> None:
    """An SCO names no author: the outbox tells that the one coming back is ours."""
    with ThreadServer(nodes.b) as server:
        federation = peer_b(nodes, server)
        sco = ipv4("45.133.1.41")  # not on a warning-list: a copy here would correlate
        submit(nodes.a, None, sco)
        [pushed] = federation.push("B")
        assert pushed.ok and pushed.accepted == 1, pushed
        assert held(nodes.b)[sco["id"]] == ("PH CERT", False)
        [pulled] = federation.pull("B")
        assert pulled.ok, pulled.error
        assert (pulled.stored, pulled.rejected, pulled.skipped) == (0, 0, 1), pulled.as_dict()
        [again] = federation.sync("B")
        assert again.ok and again.pull is not None and again.pull.stored == 0
    assert copies(nodes.a, sco["id"]) == ["local"]
    assert matches(nodes.a) == set()  # no match with ourselves


def test_the_same_sco_reported_by_the_peers_own_org(nodes: Nodes) -> None:
    """SCO ids come from the value: VN Police on B and our org reporting one IP address
    write the same id, and neither names an author. What B held before our SCO reached
    it is B's: pulled first, it is stored as relayed by B (a true match). What comes from
    B only after we sent B the same SCO is not told apart from ours coming back, and is
    not stored again. What VN Police says about the value names its author (here an
    indicator) and still arrives, and correlates, whatever the order."""
    a, b = nodes.a, nodes.b
    with ThreadServer(b) as server:
        federation = peer_b(nodes, server)

        before = ipv4("45.133.1.42")
        submit(b, "VN Police", before)  # B has it before our round
        submit(a, None, before)
        [round_] = federation.sync("B")  # pulls B's copy, then pushes ours
        assert round_.ok, round_.as_dict()
        assert round_.pull is not None and round_.pull.stored == 1
        assert round_.push is not None and round_.push.accepted == 1
        with b.store.read() as conn:  # B holds both: its own, and ours as PH CERT
            authors = conn.execute(
                select(orgs.c.name)
                .select_from(objects.join(orgs, orgs.c.row_id == objects.c.author_org))
                .where(objects.c.id == before["id"])
            )
            assert sorted(authors.scalars()) == ["PH CERT", "VN Police"]
        [back] = federation.pull("B")  # ours, back from B
        assert back.ok and (back.stored, back.skipped) == (0, 1), back.as_dict()
        assert copies(a, before["id"]) == ["local", "relay:B"]
        assert ("45.133.1.42", "B (node)") in matches(a)

        after = ipv4("45.133.1.43")
        said = indicator("45.133.1.43", tlp=Tlp.GREEN)
        submit(b, "VN Police", after, said)  # B has it too, and says so
        submit(a, None, after)
        [pushed] = federation.push("B")  # ours reaches B before we pull B's copy
        assert pushed.ok and pushed.accepted == 1, pushed
        [pulled] = federation.pull("B")  # both copies of the SCO come: neither stored
        assert pulled.ok and (pulled.stored, pulled.skipped) == (1, 2), pulled.as_dict()
    assert copies(a, after["id"]) == ["local"]
    assert held(a)[said["id"]] == ("VN Police", False)
    found = matches(a)
    assert ("45.133.1.43", "VN Police") in found
    assert ("45.133.1.43", "B (node)") not in found
