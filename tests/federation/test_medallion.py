"""Interoperability with a stock TAXII 2.1 server: a real OASIS medallion 3.0.0 process as a
peer, in both directions (DESIGN §6: "any standard TAXII 2.1 server works as a peer").

medallion hosts none of the organisations this node knows and publishes no node
identity, so everything pulled from it is relayed (CLEAR and GREEN only, attributed to
the organisation made up for it), and it receives only what the whole community may
see. Its pages are three objects long, so paging through ``more``/``next`` and the
``X-TAXII-Date-Added-Last`` cursor are exercised. What reached medallion is read back
with the stock ``taxii2-client`` library, not with our own client.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from taxii2client.v21 import Collection, as_pages

from bayanihan.correlate.service import Correlation
from bayanihan.federation import Federation
from bayanihan.node import Node
from bayanihan.policy.tlp import TLP1_IDS, Tlp, marking_definition
from bayanihan.stix.timestamps import parse_timestamp
from bayanihan.store import peers as peer_store
from bayanihan.store.schema import objects, orgs
from tests.federation.medallion import (
    FlakyProxy,
    Medallion,
    MedallionUnavailable,
    ensure_medallion,
)
from tests.federation.test_pull import submit
from tests.stixgen import indicator, ipv4, stamp

PAGE = 3  # medallion's max_page_size here: every pull and read spans several pages

Start = Callable[..., Medallion]


@pytest.fixture(scope="session")
def medallion_binary() -> Path:
    try:
        return ensure_medallion()
    except MedallionUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def medallion(medallion_binary: Path, tmp_path: Path) -> Iterator[Start]:
    """Start a medallion holding the given objects; stopped at the end of the test."""
    started: list[Medallion] = []

    def start(*seed: dict[str, Any], advertise: str | None = None) -> Medallion:
        server = Medallion(
            medallion_binary, tmp_path / "medallion", seed, page_size=PAGE, advertise=advertise
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def add_peer(node: Node, server: Medallion) -> Federation:
    federation = Federation(node)
    federation.add_peer(
        "M", url=server.discovery_url, username=server.user, password=server.password
    )
    return federation


def held(node: Node) -> dict[str, tuple[str, str, bool]]:
    """On the node: object id -> (author org name, origin, revoked), latest versions."""
    with node.store.read() as conn:
        rows = conn.execute(
            select(objects.c.id, orgs.c.name, objects.c.origin, objects.c.revoked)
            .select_from(objects.join(orgs, orgs.c.row_id == objects.c.author_org))
            .where(objects.c.is_latest)
        ).all()
    return {r[0]: (r[1], r[2], bool(r[3])) for r in rows}


def cursor_of(node: Node, server: Medallion) -> str | None:
    with node.store.read() as conn:
        peer = peer_store.peer_by_name(conn, "M")
        assert peer is not None
        found = peer_store.cursors(conn, peer.row_id).get(server.collection_id)
    return None if found is None else found.cursor


def stock_client(server: Medallion) -> Collection:
    """medallion's collection through the stock taxii2-client library."""
    return Collection(server.collection_url, user=server.user, password=server.password)


def on_medallion(server: Medallion) -> dict[str, list[dict[str, Any]]]:
    """Every version medallion holds, by object id, read page by page with taxii2-client."""
    found: dict[str, list[dict[str, Any]]] = {}
    collection = stock_client(server)
    for page in as_pages(collection.get_objects, per_request=PAGE, version="all"):
        for obj in page.get("objects", []):
            found.setdefault(obj["id"], []).append(obj)
    return found


def outsider() -> dict[str, Any]:
    """An organisation this node has never heard of, as a plain TAXII feed names it."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": f"identity--{uuid.uuid4()}",
        "created": stamp(),
        "modified": stamp(),
        "name": "Outside Threat Intel",
        "identity_class": "organization",
        "object_marking_refs": [Tlp.CLEAR.marking_id],
    }


def relationship(source: str, target: str, author: str, tlp: Tlp) -> dict[str, Any]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{uuid.uuid4()}",
        "created": stamp(),
        "modified": stamp(),
        "relationship_type": "related-to",
        "source_ref": source,
        "target_ref": target,
        "created_by_ref": author,
        "object_marking_refs": [tlp.marking_id],
    }


def test_pull_from_medallion_relays_clear_and_green_only(node: Node, medallion: Start) -> None:
    author = outsider()
    by = author["id"]
    clear = indicator("198.51.100.1", tlp=Tlp.CLEAR, created_by_ref=by)
    white = indicator("198.51.100.2", tlp=None, created_by_ref=by)
    white["object_marking_refs"] = [TLP1_IDS[Tlp.CLEAR]]  # TLP 1.0 WHITE, as feeds still send
    green = indicator("198.51.100.3", tlp=Tlp.GREEN, created_by_ref=by)
    amber = indicator("198.51.100.4", tlp=Tlp.AMBER, created_by_ref=by)
    red = indicator("198.51.100.5", tlp=Tlp.RED, created_by_ref=by)
    unmarked = indicator("198.51.100.6", tlp=None, created_by_ref=by)
    sco = ipv4("198.51.100.7", tlp=Tlp.GREEN)
    edge = relationship(green["id"], clear["id"], by, Tlp.GREEN)
    definition = marking_definition(Tlp.GREEN)  # every node ships it: skipped
    seed = [author, clear, white, green, amber, red, unmarked, sco, edge, definition]
    server = medallion(*seed)
    federation = add_peer(node, server)

    [first] = federation.pull()
    assert first.ok, first.error
    relayed = {author["id"], clear["id"], white["id"], green["id"], sco["id"], edge["id"]}
    assert (first.stored, first.rejected, first.skipped) == (6, 3, 1), first.as_dict()
    on_node = held(node)
    for object_id in relayed:
        assert on_node[object_id] == ("M (node)", "relay:M", False), object_id
    for refused in (amber, red, unmarked):
        assert refused["id"] not in on_node
    refusal = (
        "relayed by M at TLP:{}, not from an organisation it hosts: only CLEAR and GREEN relay"
    )
    assert dict(first.reasons) == {refusal.format("AMBER"): 2, refusal.format("RED"): 1}
    # the body is kept as medallion sent it, the author's id with it
    with node.store.read() as conn:
        authors = conn.execute(
            select(objects.c.created_by_ref).where(objects.c.id == green["id"])
        ).scalar_one()
    assert authors == by
    # the cursor is medallion's own date_added of the newest object seen
    assert cursor_of(node, server) == "2026-01-01T00:00:00.000010Z"

    # a second round asks from the cursor: medallion has nothing newer, nothing comes again
    [second] = federation.pull()
    assert second.ok, second.error
    assert (second.stored, second.duplicate, second.rejected, second.skipped) == (0, 0, 0, 0)
    assert cursor_of(node, server) == "2026-01-01T00:00:00.000010Z"

    # objects added to medallion later arrive on the next round; so do a new version and a
    # revocation added between two rounds (each version, not only the latest)
    later = indicator("198.51.100.8", tlp=Tlp.GREEN, created_by_ref=by)
    later_red = indicator("198.51.100.9", tlp=Tlp.RED, created_by_ref=by)
    changed = {**green, "modified": stamp(2), "description": "seen again"}
    revoked = {**green, "modified": stamp(3), "revoked": True}
    server.post(later, later_red, changed, revoked)
    [third] = federation.pull()
    assert third.ok, third.error
    assert (third.stored, third.duplicate, third.rejected) == (3, 0, 1), third.as_dict()
    on_node = held(node)
    assert on_node[later["id"]] == ("M (node)", "relay:M", False)
    assert on_node[green["id"]] == ("M (node)", "relay:M", True)
    assert later_red["id"] not in on_node
    with node.store.read() as conn:
        versions = conn.execute(select(objects.c.version).where(objects.c.id == green["id"]))
        assert sorted(versions.scalars()) == [parse_timestamp(stamp(d)) for d in (1, 2, 3)]
    cursor = cursor_of(node, server)
    assert cursor is not None and cursor > "2026-01-01T00:00:00.000010Z"

    [fourth] = federation.pull()
    assert fourth.ok and (fourth.stored, fourth.duplicate) == (0, 0), fourth.as_dict()

    [view] = federation.peers()
    assert view.orgs == ["M (node)"] and view.pulled == 9
    assert view.last_error is None
    assert node.verify_audit().ok


def test_a_pull_cut_between_pages_resumes_without_a_gap(node: Node, medallion: Start) -> None:
    """medallion gives every object of one POST the same date_added, so a page can end in
    the middle of a run of equal dates. When the pull is cut there, the next round must
    still get the rest of that run, though ``added_after`` is strictly after."""
    proxy = FlakyProxy()
    try:
        server = medallion(advertise=proxy.url)
        proxy.target = server.base
        author = outsider()
        batch = [indicator(f"198.51.100.{n}", tlp=Tlp.GREEN) for n in range(30, 35)]
        server.post(author, *batch)  # six objects, one date_added, pages of three
        federation = Federation(node)
        federation.add_peer(
            "M", url=f"{proxy.url}/taxii2/", username=server.user, password=server.password
        )
        proxy.fail_pages = 1  # the second page: the peer is gone for a moment
        [cut] = federation.pull()
        assert not cut.ok and "503" in str(cut.error)
        assert proxy.failed == 1 and cut.stored == PAGE  # the first page was kept
        [resumed] = federation.pull()
        assert resumed.ok, resumed.error
        assert (resumed.stored, resumed.duplicate) == (6 - PAGE, PAGE), resumed.as_dict()
        on_node = held(node)
        assert {author["id"], *(b["id"] for b in batch)} <= set(on_node)
        [done] = federation.pull()
        assert done.ok and (done.stored, done.duplicate) == (0, 0), done.as_dict()
    finally:
        proxy.stop()


def test_push_to_medallion_sends_clear_and_green_only(node: Node, medallion: Start) -> None:
    author = outsider()
    theirs = indicator("198.51.100.20", tlp=Tlp.GREEN, created_by_ref=author["id"])
    server = medallion(author, theirs)
    clear = indicator("198.51.100.21", tlp=Tlp.CLEAR)
    green = indicator("198.51.100.22", tlp=Tlp.GREEN)
    amber = indicator("198.51.100.23", tlp=Tlp.AMBER)
    red = indicator("198.51.100.24", tlp=Tlp.RED)
    sco = ipv4("198.51.100.25", tlp=Tlp.GREEN)  # no author, no version: medallion dates it
    submit(node, None, clear, green, amber, red, sco)  # by the node's own organisation
    federation = add_peer(node, server)

    [first] = federation.sync()
    assert first.ok, first.as_dict()
    assert first.pull is not None and first.pull.stored == 2
    push = first.push
    assert push is not None
    assert (push.queued, push.sent, push.accepted, push.refused, push.pending) == (3, 3, 3, 0, 0)
    assert set(push.sent_ids) == {clear["id"], green["id"], sco["id"]}  # none pulled from M
    assert federation.outbox("M") == []  # every status followed to completion
    held_there = on_medallion(server)
    assert set(held_there) == {author["id"], theirs["id"], clear["id"], green["id"], sco["id"]}
    assert all(len(versions) == 1 for versions in held_there.values())  # no echo
    [there] = held_there[green["id"]]
    assert there == green  # the very object, as written here

    # a second round sends nothing; a revocation then reaches medallion as a new version
    [again] = federation.sync()
    assert again.ok and again.push is not None and again.push.sent == 0, again.as_dict()
    assert again.pull is not None and again.pull.stored == 0, again.as_dict()
    assert again.pull.skipped == 3  # our indicators and SCO, back: skipped
    revoked = {**green, "modified": stamp(3), "revoked": True}
    submit(node, None, revoked)
    [third] = federation.sync()
    assert third.ok, third.as_dict()
    assert third.pull is not None and third.pull.stored == 0  # our own objects: not echoed
    assert third.pull.rejected == 0, third.pull.as_dict()
    assert third.push is not None and (third.push.sent, third.push.accepted) == (1, 1)
    collection = stock_client(server)
    [latest] = collection.get_object(green["id"])["objects"]
    assert latest["revoked"] is True and latest["modified"] == stamp(3)
    assert collection.object_versions(green["id"])["versions"] == [stamp(3), stamp()]
    held_there = on_medallion(server)
    assert amber["id"] not in held_there and red["id"] not in held_there

    [view] = federation.peers()
    assert view.pushed == 4 and view.push_pending == 0 and view.push_failed == 0
    assert view.last_push_error is None and view.last_push_success is not None


def test_our_sco_pushed_to_medallion_does_not_come_back(node: Node, medallion: Start) -> None:
    server = medallion()
    sco = ipv4("45.133.1.40", tlp=Tlp.GREEN)  # not on a warning-list: it would correlate
    submit(node, None, sco)
    federation = add_peer(node, server)
    [first] = federation.sync()
    assert first.ok and first.push is not None and first.push.accepted == 1, first.as_dict()
    assert sco["id"] in on_medallion(server)
    [second] = federation.sync()
    assert second.ok, second.as_dict()
    assert second.pull is not None and (second.pull.stored, second.pull.skipped) == (0, 1)
    with node.store.read() as conn:
        copies = conn.execute(select(objects.c.origin).where(objects.c.id == sco["id"]))
        assert list(copies.scalars()) == ["local"]
    assert Correlation(node).hits(node.operator()).hits == []  # no match with ourselves
