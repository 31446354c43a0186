"""Federation, first slice: peers and pull between two real nodes, each its own database,
the peer served by a real uvicorn server (SQLite, and PostgreSQL with BAYANIHAN_TEST_PG)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import select

from bayanihan.federation import Federation
from bayanihan.federation.client import Credentials, PeerUnreachable, TaxiiClient
from bayanihan.ingest.intake import store_objects
from bayanihan.node import Node, NodeError, PermissionDenied
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.settings import Settings
from bayanihan.stix.extensions import SHARING_EXTENSION_ID
from bayanihan.store import peers as peer_store
from bayanihan.store.schema import objects, orgs
from tests.conftest import ThreadServer, _pg_database, free_port
from tests.stixgen import indicator, ipv4, stamp


@pytest.fixture
def peer_db(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second database on the same backend as ``db_url``: node B's."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'peer.db'}"
    else:
        yield from _pg_database()


def new_node(url: str, name: str, country: str, **settings: Any) -> Node:
    node = Node(Settings(db=url, **settings))
    node.init(node_name=name, country=country)
    return node


def submit(node: Node, org: str | None, *objs: dict[str, Any]) -> list[str]:
    options = node.intake_options(node.operator(org))
    with node.store.write() as conn:
        outcomes = store_objects(
            conn, list(objs), options, clock=node.clock, correlator=node.correlator
        )
    assert all(o.status == "stored" for o in outcomes), outcomes
    return [o.id for o in outcomes]


def to(*identities: str) -> dict[str, Any]:
    return {
        SHARING_EXTENSION_ID: {
            "extension_type": "property-extension",
            "recipient_refs": [*identities],
        }
    }


@dataclass
class Pair:
    a: Node
    b: Node
    a_org: str  # identity of node A's own org
    sync_key: str  # issued by B for A's org

    def held(self) -> dict[str, tuple[str, str]]:
        """On A: object id -> (author org name, origin), latest versions."""
        with self.a.store.read() as conn:
            rows = conn.execute(
                select(objects.c.id, orgs.c.name, objects.c.origin)
                .select_from(objects.join(orgs, orgs.c.row_id == objects.c.author_org))
                .where(objects.c.is_latest)
            ).all()
        return {r[0]: (r[1], r[2]) for r in rows}

    def latest_body_revoked(self, object_id: str) -> bool:
        with self.a.store.read() as conn:
            return bool(
                conn.execute(
                    select(objects.c.revoked).where(objects.c.id == object_id, objects.c.is_latest)
                ).scalar_one()
            )


@pytest.fixture
def pair(db_url: str, peer_db: str) -> Iterator[Pair]:
    a = new_node(db_url, "PH CERT", "PH")
    b = new_node(peer_db, "VN CERT", "VN", max_page_limit=4)  # small pages: paging is exercised
    b.add_org("VN Police", country="VN")
    a_org = a.operator().org_identity
    b.add_org("PH CERT", country="PH", identity_id=a_org)
    key = b.add_key(role=Role.SYNC, org_name="PH CERT").secret
    yield Pair(a, b, a_org, key)
    a.store.dispose()
    b.store.dispose()


def test_pull_brings_what_the_policy_lets_our_org_see(pair: Pair) -> None:
    a, b = pair.a, pair.b
    green = indicator("198.51.100.7", tlp=Tlp.GREEN)
    amber_for_us = indicator("198.51.100.8", tlp=Tlp.AMBER, extensions=to(pair.a_org))
    amber_not = indicator("198.51.100.9", tlp=Tlp.AMBER)
    red_not = indicator("198.51.100.10", tlp=Tlp.RED)
    node_green = indicator("198.51.100.11", tlp=Tlp.GREEN)
    sco_green = ipv4("198.51.100.12", tlp=Tlp.GREEN)
    sco_amber = ipv4("198.51.100.13", tlp=Tlp.AMBER)
    sco_amber["extensions"] = to(pair.a_org)
    submit(b, "VN Police", green, amber_for_us, amber_not, red_not, sco_green, sco_amber)
    submit(b, None, node_green)
    ours = indicator("203.0.113.50", tlp=Tlp.GREEN)
    submit(b, "PH CERT", ours)  # as if pushed by A earlier: must not come back

    federation = Federation(a)
    with ThreadServer(b) as server:
        federation.add_peer("B", url=server.url + "/taxii2/", key=pair.sync_key)
        [result] = federation.pull()
        assert result.ok, result.error
        held = pair.held()
        assert held[green["id"]] == ("VN Police", "peer:B")
        assert held[amber_for_us["id"]] == ("VN Police", "peer:B")
        assert held[node_green["id"]] == ("VN CERT", "peer:B")
        assert held[sco_green["id"]] == ("B (node)", "relay:B")
        for absent in (amber_not, red_not, sco_amber):
            assert absent["id"] not in held
        assert ours["id"] not in held  # no echo
        assert result.rejected == 1  # the AMBER SCO: relayed, so refused
        assert "only CLEAR and GREEN relay" in next(iter(result.reasons))
        assert result.skipped >= 1

        # B's orgs were learned, under their own ids, linked to the peer
        [view] = federation.peers()
        assert set(view.orgs) == {"VN Police", "VN CERT", "B (node)"}
        assert view.last_error is None and view.last_success is not None
        assert view.pulled == result.stored
        vn_police = b.org("VN Police").identity_id
        assert a.org("VN Police").identity_id == vn_police
        assert not a.org("VN Police").local

        # a second round stores nothing new, and the cursor stays where it was
        with a.store.read() as conn:
            peer = peer_store.peer_by_name(conn, "B")
            assert peer is not None
            before = peer_store.cursors(conn, peer.row_id)
        [again] = federation.pull()
        assert again.ok and again.stored == 0
        with a.store.read() as conn:
            assert peer_store.cursors(conn, peer.row_id) == before

        # a new object on B arrives on the next round; so does a revocation
        later = indicator("198.51.100.20", tlp=Tlp.GREEN)
        submit(b, "VN Police", later)
        revoked = {**green, "modified": stamp(2), "revoked": True}
        submit(b, "VN Police", revoked)
        [third] = federation.pull()
        assert third.ok and third.stored == 2, third
        assert pair.held()[later["id"]] == ("VN Police", "peer:B")
        assert pair.latest_body_revoked(green["id"])
        with a.store.read() as conn:
            after = peer_store.cursors(conn, peer.row_id)
        assert all(after[c].cursor_micros > before[c].cursor_micros for c in before)

    # the audit chain still holds after pulls
    assert a.verify_audit().ok


def test_two_pulls_at_once_store_each_version_once(pair: Pair) -> None:
    submit(pair.b, "VN Police", *(indicator(f"198.51.100.{i}") for i in range(30, 60)))
    federation = Federation(pair.a)
    with ThreadServer(pair.b) as server:
        federation.add_peer("B", url=server.url + "/taxii2/", key=pair.sync_key)
        results: list[Any] = []

        def run() -> None:
            results.extend(Federation(pair.a).pull("B"))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert all(r.ok for r in results), [r.error for r in results]
        held = pair.held()
        vn = [i for i, (org, _) in held.items() if org == "VN Police" and i.startswith("indicator")]
        assert len(vn) == 30
        with pair.a.store.read() as conn:
            rows = conn.execute(select(objects.c.id, objects.c.version)).all()
        assert len(rows) == len(set(rows))  # no version twice
        stored = sum(r.stored for r in results)
        [view] = federation.peers()
        assert view.pulled == stored
        [later] = federation.pull()
        assert later.stored == 0


def test_an_unreachable_peer_fails_alone(pair: Pair) -> None:
    submit(pair.b, "VN Police", indicator("198.51.100.70"))
    federation = Federation(pair.a)
    down = f"http://127.0.0.1:{free_port()}/taxii2/"
    federation.add_peer("down", url=down, key="bay_whatever")  # recorded though it is down
    with ThreadServer(pair.b) as server:
        federation.add_peer("B", url=server.url + "/taxii2/", key=pair.sync_key)
        results = {r.peer: r for r in federation.pull()}
    assert results["B"].ok and results["B"].stored > 0
    assert not results["down"].ok
    assert "connection refused" in str(results["down"].error)
    views = {v.name: v for v in federation.peers()}
    assert views["down"].last_error and views["down"].last_success is None
    assert views["B"].last_error is None


def test_bad_credentials_are_reported(pair: Pair) -> None:
    federation = Federation(pair.a)
    with ThreadServer(pair.b) as server:
        federation.add_peer("B", url=server.url + "/taxii2/", key="bay_not-a-key")
        [result] = federation.pull()
    assert not result.ok
    assert "401" in str(result.error)
    assert not any(origin.endswith(":B") for _, origin in pair.held().values())
    [view] = federation.peers()
    assert "401" in str(view.last_error) and view.last_success is None


def test_https_verifies_the_peer_certificate(
    pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "s.pem", tmp_path / "s.key", tmp_path / "ca.pem"
    certificate.private_key_pem.write_to_path(str(key_file))
    with cert_file.open("wb") as out:
        for blob in certificate.cert_chain_pems:
            out.write(blob.bytes())
    authority.cert_pem.write_to_path(str(ca_file))
    submit(pair.b, "VN Police", indicator("198.51.100.80"))
    federation = Federation(pair.a)
    with ThreadServer(pair.b, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as server:
        assert server.url.startswith("https://")
        url = server.url + "/taxii2/"
        federation.add_peer("trusted", url=url, key=pair.sync_key, ca_file=str(ca_file))
        federation.add_peer("untrusted", url=url, key=pair.sync_key)
        results = {r.peer: r for r in federation.pull()}
    assert results["trusted"].ok and results["trusted"].stored > 0
    assert not results["untrusted"].ok
    assert "certificate" in str(results["untrusted"].error)


def test_peer_add_refuses_bad_input_and_changes_nothing(pair: Pair) -> None:
    federation = Federation(pair.a)
    federation.add_peer("B", url="https://b.example.org/taxii2/", key="bay_k")
    bad: list[dict[str, Any]] = [
        {"name": "B", "url": "https://c.example.org/taxii2/", "key": "k"},  # duplicate
        {"name": "C", "url": "https://c.example.org/taxii2/"},  # no credentials
        {
            "name": "C",
            "url": "https://c.example.org/",
            "key": "k",
            "username": "u",
            "password": "p",
        },
        {"name": "C", "url": "https://c.example.org/", "username": "u"},  # no password
        {"name": "C", "url": "ftp://c.example.org/", "key": "k"},
        {"name": "C", "url": "not a url", "key": "k"},
        {"name": "C", "url": "https://c.example.org:99999/", "key": "k"},
        {"name": "bad name!", "url": "https://c.example.org/", "key": "k"},
        {"name": "C", "url": "https://c.example.org/", "key": "k", "ca_file": "/nonexistent.pem"},
    ]
    for case in bad:
        args = dict(case)
        with pytest.raises(NodeError):
            federation.add_peer(args.pop("name"), **args)
    assert [v.name for v in federation.peers()] == ["B"]


def test_plain_http_only_to_loopback(pair: Pair) -> None:
    federation = Federation(pair.a)
    with pytest.raises(NodeError, match="plain http"):
        federation.add_peer("far", url="http://b.example.org/taxii2/", key="bay_k")
    for near in ("http://127.0.0.1:1/taxii2/", "http://localhost:1/", "http://[::1]:1/"):
        federation.add_peer(f"near{len(federation.peers())}", url=near, key="bay_k")
    federation.add_peer("far", url="http://b.example.org/taxii2/", key="k", allow_insecure=True)
    # and again at connect time, for every URL (a discovery document may point anywhere)
    client = TaxiiClient(Credentials("bay_k"))
    with pytest.raises(PeerUnreachable, match="plain http"):
        client.get("http://10.1.2.3/taxii2/api/")


def test_peer_list_never_shows_secrets_and_remove_forgets(pair: Pair) -> None:
    federation = Federation(pair.a)
    federation.add_peer("B", url="https://b.example.org/taxii2/", username="u", password="s3cret!")
    [view] = federation.peers()
    assert "s3cret!" not in repr(view.as_dict())
    assert view.username == "u" and view.lag is None
    federation.remove_peer("B")
    assert federation.peers() == []
    with pytest.raises(NodeError):
        federation.remove_peer("B")


def test_only_node_admins_manage_peers(pair: Pair) -> None:
    analyst = pair.a.operator(role=Role.ANALYST)
    admin = pair.a.operator(role=Role.ADMIN)
    federation = Federation(pair.a)
    with pytest.raises(PermissionDenied):
        federation.add_peer("B", url="https://b.example.org/", key="k", by=analyst)
    with pytest.raises(PermissionDenied):
        federation.peers(analyst)
    federation.add_peer("B", url="https://b.example.org/", key="k", by=admin)
    assert [v.name for v in federation.peers(admin)] == ["B"]


def test_a_long_pull_validates_in_a_worker_and_stores_every_version_once(
    db_url: str, peer_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 2,000 objects the rest of a collection is validated in a worker process
    while the previous page is stored: the result is the peer's objects, each version
    once, in order, with the cursor at the end."""
    from bayanihan.federation import pull as pull_module

    started: list[bool] = []
    real_start = pull_module._Preparer.start

    def start(self: Any) -> None:  # the real worker, counted
        started.append(True)
        real_start(self)

    monkeypatch.setattr(pull_module._Preparer, "start", start)
    a = new_node(db_url, "PH CERT", "PH")
    b = new_node(peer_db, "VN CERT", "VN", max_page_limit=500)
    try:
        b.add_org("VN Police", country="VN")
        b.add_org("PH CERT", country="PH", identity_id=a.operator().org_identity)
        key = b.add_key(role=Role.SYNC, org_name="PH CERT").secret
        items = [indicator(f"198.51.{i // 250}.{i % 250}", tlp=Tlp.GREEN) for i in range(3200)]
        revised = [{**o, "modified": stamp(9), "description": "v2"} for o in items[:300]]
        submit(b, "VN Police", *items)
        submit(b, "VN Police", *revised)
        with ThreadServer(b) as server:
            federation = Federation(a)
            federation.add_peer("B", url=server.url + "/taxii2/", key=key)
            [first] = federation.pull("B")
            assert first.ok, first.error
            assert first.rejected == 0
            assert started  # the pages past 2,000 objects went through the worker
            with a.store.read() as conn:
                rows = conn.execute(
                    select(objects.c.id, objects.c.version).where(objects.c.type == "indicator")
                ).all()
            assert len(rows) == len(set(rows)) == 3500
            with b.store.read() as conn:
                theirs = set(
                    conn.execute(
                        select(objects.c.id, objects.c.version).where(objects.c.type == "indicator")
                    ).all()
                )
            assert set(rows) == theirs
            [again] = federation.pull("B")
            assert again.ok and again.stored == 0
    finally:
        a.store.dispose()
        b.store.dispose()
