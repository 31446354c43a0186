"""Deletion at the origin reaches the peers holding the object, by push and by pull, as a
deletion notice with the object's own audience; notices delete only their author's
versions, and only writers allowed to delete may send them."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from bayanihan.ingest.intake import store_objects
from bayanihan.node import Node
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.stix.extensions import DELETION_NOTICE_EXTENSION_ID, DELETION_NOTICE_TYPE
from bayanihan.stix.timestamps import parse_timestamp
from bayanihan.store.schema import objects
from tests.conftest import TAXII, ThreadServer
from tests.federation import test_pull, test_push
from tests.federation.test_pull import submit, to
from tests.federation.test_push import Nodes, held, peer_b
from tests.stixgen import indicator, stamp

peer_db = test_pull.peer_db  # the fixtures, shared
nodes = test_push.nodes


def collection_url(server: ThreadServer, key: str) -> str:
    headers = {"Accept": TAXII, "Authorization": f"Bearer {key}"}
    discovery = httpx.get(server.url + "/taxii2/", headers=headers, timeout=10).json()
    root = discovery["api_roots"][0]
    collections = httpx.get(root + "collections/", headers=headers, timeout=10).json()
    return f"{root}collections/{collections['collections'][0]['id']}/"


def delete(server: ThreadServer, key: str, object_id: str, **params: str) -> httpx.Response:
    url = collection_url(server, key) + f"objects/{object_id}/"
    headers = {"Accept": TAXII, "Authorization": f"Bearer {key}"}
    return httpx.delete(url, headers=headers, params=params, timeout=10)


def versions(node: Node, object_id: str) -> list[int]:
    with node.store.read() as conn:
        rows = conn.execute(select(objects.c.version).where(objects.c.id == object_id)).all()
    return sorted(r[0] for r in rows)


def notices(node: Node) -> dict[str, dict[str, Any]]:
    """object_ref -> notice body, of the deletion notices held."""
    with node.store.read() as conn:
        rows = conn.execute(
            select(objects.c.body).where(objects.c.type == DELETION_NOTICE_TYPE)
        ).all()
    bodies = [orjson.loads(r[0]) for r in rows]
    return {b["object_ref"]: b for b in bodies}


def test_a_deletion_on_the_pushing_node_reaches_the_peer(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    admin_a = a.add_key(role=Role.ORG_ADMIN).secret
    with ThreadServer(b) as server_b, ThreadServer(a) as server_a:
        federation = peer_b(nodes, server_b)
        vn_police = a.org("VN Police").identity_id
        green = indicator("198.51.100.60", tlp=Tlp.GREEN)
        amber_for_b = indicator("198.51.100.61", tlp=Tlp.AMBER, extensions=to(vn_police))
        amber_ours = indicator("198.51.100.62", tlp=Tlp.AMBER)
        two = indicator("198.51.100.63", tlp=Tlp.GREEN)
        two_v2 = {**two, "modified": stamp(3), "description": "second version"}
        submit(a, None, green, amber_for_b, amber_ours, two, two_v2)
        [pushed] = federation.push("B")
        # amber_ours has no reader on B and stays home; both versions of `two` go
        assert pushed.ok and pushed.accepted == 4, pushed
        assert {green["id"], amber_for_b["id"], two["id"]} <= set(held(b))
        assert amber_ours["id"] not in held(b)
        assert len(versions(b, two["id"])) == 2

        for gone in (green, amber_for_b, amber_ours):
            assert delete(server_a, admin_a, gone["id"]).status_code == 200
        # only the second version of `two`: the first stays, current again
        only_v2 = delete(server_a, admin_a, two["id"], **{"match[version]": two_v2["modified"]})
        assert only_v2.status_code == 200
        on_a = notices(a)
        assert set(on_a) == {green["id"], amber_for_b["id"], amber_ours["id"], two["id"]}
        notice = on_a[amber_for_b["id"]]
        assert notice["created_by_ref"] == nodes.a_org
        assert notice["object_marking_refs"] == amber_for_b["object_marking_refs"]
        assert notice["extensions"][DELETION_NOTICE_EXTENSION_ID] == {"extension_type": "new-sdo"}
        assert [parse_timestamp(t) for t in on_a[two["id"]]["object_modified"]] == [
            parse_timestamp(two_v2["modified"])
        ]

        [second] = federation.push("B")
        assert second.ok, second.error
        assert second.accepted == 3  # the AMBER notice of an object B never had stays home
        on_b = held(b)
        assert green["id"] not in on_b and amber_for_b["id"] not in on_b
        assert on_b[two["id"]] == ("PH CERT", False)
        assert len(versions(b, two["id"])) == 1
        assert set(notices(b)) == {green["id"], amber_for_b["id"], two["id"]}
        # B still serves its own objects and the chain of audit holds
        assert b.verify_audit().ok and a.verify_audit().ok


def test_a_deletion_at_the_origin_reaches_the_pulling_node(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    police_admin = b.add_key(role=Role.ORG_ADMIN, org_name="VN Police").secret
    item = indicator("198.51.100.70", tlp=Tlp.GREEN)
    kept = indicator("198.51.100.71", tlp=Tlp.GREEN)
    for_us = indicator("198.51.100.72", tlp=Tlp.AMBER, extensions=to(nodes.a_org))
    submit(b, "VN Police", item, kept, for_us)
    with ThreadServer(b) as server_b:
        federation = peer_b(nodes, server_b)
        assert {item["id"], kept["id"], for_us["id"]} <= set(held(a))
        for gone in (item, for_us):
            assert delete(server_b, police_admin, gone["id"]).status_code == 200
        [pulled] = federation.pull("B")
        assert pulled.ok, pulled.error
        on_a = held(a)
        assert item["id"] not in on_a and for_us["id"] not in on_a
        assert kept["id"] in on_a
        assert set(notices(a)) == {item["id"], for_us["id"]}
        # the notices came from the peer, so they are not pushed on (nor back)
        [pushed] = federation.push("B")
        assert pushed.ok and pushed.sent == 0


def test_a_notice_deletes_only_its_authors_versions(nodes: Nodes) -> None:
    """A peer writes only as the orgs it hosts, and a notice names another org's object:
    nothing is deleted, on either node."""
    a, b = nodes.a, nodes.b
    ours = indicator("198.51.100.80", tlp=Tlp.GREEN)
    submit(a, None, ours)
    with ThreadServer(b) as server_b:
        federation = peer_b(nodes, server_b)
        federation.push("B")
        assert ours["id"] in held(b)
        forged = {
            "type": DELETION_NOTICE_TYPE,
            "spec_version": "2.1",
            "id": f"{DELETION_NOTICE_TYPE}--0b6f4a55-9c1e-4f3a-8a41-3c2e5d7f9a10",
            "created": stamp(5),
            "modified": stamp(5),
            "created_by_ref": b.org("VN Police").identity_id,
            "object_ref": ours["id"],
            "object_modified": [ours["modified"]],
            "object_marking_refs": [Tlp.GREEN.marking_id],
        }
        options = b.intake_options(b.operator("VN Police", role=Role.ORG_ADMIN))
        with b.store.write() as conn:
            [outcome] = store_objects(conn, [forged], options, clock=b.clock)
        assert outcome.status == "stored", outcome
        assert ours["id"] in held(b)  # VN Police's notice cannot delete PH CERT's object
        [pulled] = federation.pull("B")
        assert pulled.ok
        assert ours["id"] in held(a)


def test_an_analyst_may_not_send_a_notice_and_nothing_changes(nodes: Nodes) -> None:
    a = nodes.a
    analyst = a.add_key(role=Role.ANALYST).secret
    item = indicator("198.51.100.90", tlp=Tlp.GREEN)
    submit(a, None, item)
    notice = {
        "type": DELETION_NOTICE_TYPE,
        "spec_version": "2.1",
        "id": f"{DELETION_NOTICE_TYPE}--6a2d1c0e-3b4f-4d5a-9e8f-7a6b5c4d3e2f",
        "created": stamp(5),
        "modified": stamp(5),
        "created_by_ref": nodes.a_org,
        "object_ref": item["id"],
        "object_modified": [item["modified"]],
    }
    with ThreadServer(a) as server_a:
        url = collection_url(server_a, analyst) + "objects/"
        headers = {
            "Accept": TAXII,
            "Content-Type": TAXII,
            "Authorization": f"Bearer {analyst}",
        }
        answer = httpx.post(url, headers=headers, json={"objects": [notice]}, timeout=10)
        assert answer.status_code == 202
        status = answer.json()
        assert status["failure_count"] == 1
        assert "may not write deletion notices" in status["failures"][0]["message"]
        # the notice was not stored and the object is still there
        assert item["id"] in held(a)
        assert notices(a) == {}


def test_deleting_a_peers_object_here_tells_no_one(nodes: Nodes) -> None:
    """The node admin removes a pulled object locally: its origin decides for the others,
    so no notice is written and nothing is pushed."""
    a, b = nodes.a, nodes.b
    admin = a.add_key(role=Role.ADMIN).secret
    theirs = indicator("198.51.100.95", tlp=Tlp.GREEN)
    submit(b, "VN Police", theirs)
    with ThreadServer(b) as server_b, ThreadServer(a) as server_a:
        federation = peer_b(nodes, server_b)
        assert theirs["id"] in held(a)
        assert delete(server_a, admin, theirs["id"]).status_code == 200
        assert theirs["id"] not in held(a)
        assert notices(a) == {}
        [pushed] = federation.push("B")
        assert pushed.ok and pushed.sent == 0
        assert theirs["id"] in held(b)


def test_a_relayed_notice_deletes_only_the_relayed_copy(nodes: Nodes) -> None:
    """B holds an object of TH CERT (an org of a third node) and relays it to A. TH CERT
    deletes it at home; its notice reaches B, which deletes its copy and relays the
    notice: on A it is attributed, like the object, to B's node, so it deletes the copy
    B relayed and nothing A holds from anyone else."""
    a, b = nodes.a, nodes.b
    th_cert = "identity--0e9f3c2a-5b7d-4e1f-8a6c-9d2b4f1e3a70"
    b.add_org("TH CERT", country="TH", identity_id=th_cert)
    a.add_org("TH CERT", country="TH", identity_id=th_cert)
    from_th = dataclasses.replace(
        b.intake_options(b.operator("TH CERT", role=Role.SYNC)), origin="peer:TH"
    )
    relayed = {**indicator("198.51.100.97", tlp=Tlp.GREEN), "created_by_ref": th_cert}
    direct = {**indicator("198.51.100.98", tlp=Tlp.GREEN), "created_by_ref": th_cert}
    with b.store.write() as conn:
        [stored] = store_objects(conn, [relayed], from_th, clock=b.clock)
    assert stored.status == "stored"
    # A holds another TH CERT object, received straight from TH's node
    on_a = dataclasses.replace(
        a.intake_options(a.operator("TH CERT", role=Role.SYNC)), origin="peer:TH"
    )
    with a.store.write() as conn:
        [kept] = store_objects(conn, [direct], on_a, clock=a.clock)
    assert kept.status == "stored"
    with ThreadServer(b) as server_b:
        federation = peer_b(nodes, server_b)
        assert relayed["id"] in held(a)
        notice = {
            "type": DELETION_NOTICE_TYPE,
            "spec_version": "2.1",
            "id": f"{DELETION_NOTICE_TYPE}--4d3c2b1a-0f9e-4d8c-b7a6-958473625140",
            "created": stamp(7),
            "modified": stamp(7),
            "created_by_ref": th_cert,
            "object_ref": relayed["id"],
            "object_modified": [relayed["modified"]],
            "object_marking_refs": [Tlp.GREEN.marking_id],
        }
        forged = {
            **notice,
            "id": f"{DELETION_NOTICE_TYPE}--5e4d3c2b-1a0f-4e9d-8c7b-a69584736251",
            "object_ref": direct["id"],
            "object_modified": [direct["modified"]],
        }
        with b.store.write() as conn:
            outcomes = store_objects(conn, [notice, forged], from_th, clock=b.clock)
        assert [o.status for o in outcomes] == ["stored", "stored"]
        assert relayed["id"] not in held(b)
        [pulled] = federation.pull("B")
        assert pulled.ok, pulled.error
        on_a_now = held(a)
        assert relayed["id"] not in on_a_now  # the copy B relayed is gone
        assert direct["id"] in on_a_now  # B never sent it: B's relay cannot take it back
        assert set(notices(a)) == {relayed["id"], direct["id"]}
