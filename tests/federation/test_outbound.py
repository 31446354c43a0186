"""Per-peer outbound policy: the operator's cap on the TLP levels and sharing groups that
leave towards a peer, pushed or pulled by it, on top of what its organisations may see;
between two real nodes (fixtures of test_push: each its own database, the peer served by
a real uvicorn server)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bayanihan.federation import Federation
from bayanihan.node import Node, NodeError
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.stix.extensions import SHARING_EXTENSION_ID, SHARING_GROUP_TYPE
from bayanihan.store import peers as peer_store
from tests.conftest import ThreadServer, run_cli
from tests.federation import test_pull, test_push
from tests.federation.test_deletion import delete, notices
from tests.federation.test_pull import submit, to
from tests.federation.test_push import Nodes, entries, held, peer_b, serve_on
from tests.stixgen import indicator, stamp

peer_db = test_pull.peer_db  # the fixtures, shared
nodes = test_push.nodes

MEKONG = f"{SHARING_GROUP_TYPE}--6d1f0c3a-1b2c-4d5e-8f90-0a1b2c3d4e01"
LOTUS = f"{SHARING_GROUP_TYPE}--6d1f0c3a-1b2c-4d5e-8f90-0a1b2c3d4e02"


def shared(*groups: str, recipients: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        SHARING_EXTENSION_ID: {
            "extension_type": "property-extension",
            "sharing_group_refs": list(groups),
            "recipient_refs": list(recipients),
        }
    }


def sent(node: Node, peer: str) -> set[str]:
    """Object ids the peer took from this node."""
    return {e.object_id for e in entries(node, peer) if e.state == "done"}


def held_back(node: Node, peer: str) -> set[str]:
    return {
        e.object_id
        for e in entries(node, peer)
        if e.state == "dropped" and e.last_error == peer_store.HELD
    }


def by_tlp(vn_police: str) -> dict[str, dict[str, Any]]:
    """One object per TLP level, each one the peer's organisations may see."""
    return {
        "clear": indicator("198.51.100.140", tlp=Tlp.CLEAR),
        "green": indicator("198.51.100.141", tlp=Tlp.GREEN),
        "amber": indicator("198.51.100.142", tlp=Tlp.AMBER, extensions=to(vn_police)),
        "amber+strict": indicator("198.51.100.143", tlp=Tlp.AMBER_STRICT, extensions=to(vn_police)),
        "red": indicator("198.51.100.144", tlp=Tlp.RED, extensions=to(vn_police)),
    }


@pytest.mark.parametrize(
    ("levels", "leaving"),
    [
        ("all", {"clear", "green", "amber", "amber+strict", "red"}),
        ("clear,green", {"clear", "green"}),
        ("TLP:AMBER", {"amber"}),
        ("amber+strict,red", {"amber+strict", "red"}),
        ("white", {"clear"}),
    ],
)
def test_the_tlp_cap_holds_back_the_levels_it_does_not_list(
    nodes: Nodes, levels: str, leaving: set[str]
) -> None:
    a, b = nodes.a, nodes.b
    with ThreadServer(b) as server:
        federation = peer_b(nodes, server)
        view = federation.set_peer("B", tlp=levels)
        assert view.outbound.tlp == (None if levels == "all" else leaving)
        made = by_tlp(a.org("VN Police").identity_id)
        ours = indicator("198.51.100.145", tlp=Tlp.AMBER)  # for our org alone: never sent
        submit(a, None, *made.values(), ours)
        [result] = federation.push("B")
    assert result.ok, result.error
    wanted = {made[level]["id"] for level in leaving}
    kept = {made[level]["id"] for level in set(made) - leaving}
    assert (result.queued, result.accepted, result.held) == (len(wanted), len(wanted), len(kept))
    assert sent(a, "B") == wanted and held_back(a, "B") == kept
    on_b = set(held(b))
    assert wanted <= on_b and not (kept | {ours["id"]}) & on_b
    [peer] = federation.peers()
    assert peer.push_held == len(kept) and peer.push_pending == 0
    assert federation.outbox("B") == []  # nothing waits, nothing refused
    listed = {e.object_id: e for e in federation.outbox("B", dropped=True)}
    assert {i for i, e in listed.items() if e.last_error == "peer policy"} == kept


def groups_on_both(nodes: Nodes) -> None:
    """Two sharing groups, the same ids on both nodes, each with our org and VN Police."""
    for node in (nodes.a, nodes.b):
        owner = node.operator(role=Role.ORG_ADMIN)
        for name, group_id in (("Mekong", MEKONG), ("Lotus", LOTUS)):
            node.add_group(name, owner=owner, members=["PH CERT", "VN Police"], group_id=group_id)


@pytest.mark.parametrize(
    ("groups", "leaving"),
    [
        ("all", {"mekong", "lotus", "both", "green mekong", "no group"}),
        ("Mekong", {"mekong", "green mekong", "no group"}),
        (f"{LOTUS},Mekong", {"mekong", "lotus", "both", "green mekong", "no group"}),
        (LOTUS, {"lotus", "no group"}),
        ("none", {"no group"}),
    ],
)
def test_the_groups_cap_holds_back_objects_of_the_groups_it_does_not_list(
    nodes: Nodes, groups: str, leaving: set[str]
) -> None:
    """An object naming sharing groups leaves only when every one of them may; one naming
    none is capped by TLP alone."""
    a, b = nodes.a, nodes.b
    with ThreadServer(b) as server:
        federation = peer_b(nodes, server)
        groups_on_both(nodes)
        vn_police = a.org("VN Police").identity_id
        made = {
            "mekong": indicator("198.51.100.150", tlp=Tlp.AMBER, extensions=shared(MEKONG)),
            "lotus": indicator("198.51.100.151", tlp=Tlp.AMBER, extensions=shared(LOTUS)),
            "both": indicator("198.51.100.152", tlp=Tlp.AMBER, extensions=shared(MEKONG, LOTUS)),
            "green mekong": indicator("198.51.100.153", tlp=Tlp.GREEN, extensions=shared(MEKONG)),
            "no group": indicator(
                "198.51.100.154", tlp=Tlp.AMBER, extensions=shared(recipients=(vn_police,))
            ),
        }
        federation.set_peer("B", groups=groups)
        submit(a, None, *made.values())
        [result] = federation.push("B")
    assert result.ok, result.error
    wanted = {made[name]["id"] for name in leaving}
    kept = {made[name]["id"] for name in set(made) - leaving}
    assert (result.accepted, result.held) == (len(wanted), len(kept)), result.as_dict()
    assert sent(a, "B") == wanted and held_back(a, "B") == kept
    assert wanted <= set(held(b)) and not kept & set(held(b))


def test_narrowing_between_rounds_stops_what_is_queued_and_widening_sends_it(
    nodes: Nodes,
) -> None:
    a, b = nodes.a, nodes.b
    server = ThreadServer(b)
    with server:
        federation = peer_b(nodes, server)
    port = server.port  # B is down from here on
    vn_police = a.org("VN Police").identity_id
    green = indicator("198.51.100.160", tlp=Tlp.GREEN)
    amber = indicator("198.51.100.161", tlp=Tlp.AMBER, extensions=to(vn_police))
    submit(a, None, green, amber)
    [down] = federation.push("B")
    assert not down.ok and down.queued == 2  # both queued under the open policy
    assert {e.state for e in entries(a, "B")} == {"pending"}

    federation.set_peer("B", tlp="clear,green")  # narrowed while they wait
    nodes.clock.advance(31)
    with serve_on(b, port):
        [back] = federation.push("B")
        assert back.ok, back.error
        assert (back.accepted, back.held) == (1, 1)
        assert sent(a, "B") == {green["id"]} and held_back(a, "B") == {amber["id"]}
        assert green["id"] in held(b) and amber["id"] not in held(b)

        federation.set_peer("B", tlp="all")  # widened: what it held back goes now
        [again] = federation.push("B")
        assert again.ok and (again.sent, again.held) == (1, 0)
        assert amber["id"] in held(b)
        assert sent(a, "B") == {green["id"], amber["id"]} and held_back(a, "B") == set()
        newer = {**amber, "modified": stamp(7), "description": "seen again"}
        submit(a, None, newer)  # and its next version, as always
        [third] = federation.push("B")
        assert third.ok and third.accepted == 1


def test_deletion_notices_are_capped_like_their_objects(nodes: Nodes) -> None:
    """A notice carries its object's markings and sharing groups, so the cap decides for
    it as for the object: the notice of an object held back is held back too."""
    a, b = nodes.a, nodes.b
    admin_a = a.add_key(role=Role.ORG_ADMIN).secret
    with ThreadServer(b) as server_b, ThreadServer(a) as server_a:
        federation = peer_b(nodes, server_b)
        groups_on_both(nodes)
        federation.set_peer("B", tlp="clear,green,amber", groups="Mekong")
        vn_police = a.org("VN Police").identity_id
        green = indicator("198.51.100.170", tlp=Tlp.GREEN)
        red = indicator("198.51.100.171", tlp=Tlp.RED, extensions=to(vn_police))
        lotus = indicator("198.51.100.172", tlp=Tlp.AMBER, extensions=shared(LOTUS))
        mekong = indicator("198.51.100.173", tlp=Tlp.AMBER, extensions=shared(MEKONG))
        submit(a, None, green, red, lotus, mekong)
        [first] = federation.push("B")
        assert first.ok and (first.accepted, first.held) == (2, 2), first.as_dict()
        for gone in (green, red, lotus, mekong):
            assert delete(server_a, admin_a, gone["id"]).status_code == 200
        assert set(notices(a)) == {green["id"], red["id"], lotus["id"], mekong["id"]}
        [second] = federation.push("B")
        assert second.ok and (second.accepted, second.held) == (2, 2), second.as_dict()
    assert set(notices(b)) == {green["id"], mekong["id"]}
    assert not {green["id"], mekong["id"], red["id"], lotus["id"]} & set(held(b))


def test_pulls_are_not_capped(nodes: Nodes) -> None:
    """The cap is on what this node sends; what a pull brings is the peer's policy."""
    a, b = nodes.a, nodes.b
    amber = indicator("198.51.100.180", tlp=Tlp.AMBER, extensions=to(nodes.a_org))
    submit(b, "VN Police", amber)
    federation = Federation(a)
    with ThreadServer(b) as server:
        federation.add_peer(
            "B", url=server.url + "/taxii2/", key=nodes.sync_key, tlp="clear", groups="none"
        )
        [pulled] = federation.pull("B")
    assert pulled.ok and amber["id"] in held(a)


def b_records_a(nodes: Nodes, server_a: ThreadServer) -> Federation:
    """B records A as its peer (with a sync key A issued for B's org) and pulls from it
    once: B learns that A hosts PH CERT, so the key B issued for PH CERT is A's, read
    within B's cap for A."""
    a, b = nodes.a, nodes.b
    a.add_org("VN CERT", country="VN", identity_id=b.operator().org_identity)
    key = a.add_key(role=Role.SYNC, org_name="VN CERT").secret
    federation = Federation(b)
    federation.add_peer("A", url=server_a.url + "/taxii2/", key=key)
    [pulled] = federation.pull("A")
    assert pulled.ok, pulled.error
    return federation


def test_the_cap_holds_for_what_the_peer_pulls_from_us(nodes: Nodes) -> None:
    """B's cap for A holds for A's own pulls from B (with the sync key B issued): a pull
    brings A what B would push it, and a cap narrowed between two pulls holds for the
    next, TLP and sharing groups alike. Widened, it does not bring what it held back
    before the pull's cursor."""
    a, b = nodes.a, nodes.b
    with ThreadServer(a) as server_a, ThreadServer(b) as server_b:
        on_b = b_records_a(nodes, server_a)
        federation = Federation(a)
        federation.add_peer("B", url=server_b.url + "/taxii2/", key=nodes.sync_key)

        def pull() -> set[str]:
            before = set(held(a))
            [pulled] = federation.pull("B")
            assert pulled.ok, pulled.error
            return set(held(a)) - before

        first = by_tlp(nodes.a_org)  # every level, each addressed to A's org
        submit(b, "VN Police", *first.values())
        assert {o["id"] for o in first.values()} <= pull()  # no cap yet: all of them

        on_b.set_peer("A", tlp="clear,green")
        second = by_tlp(nodes.a_org)
        submit(b, "VN Police", *second.values())
        later = indicator("198.51.100.185", tlp=Tlp.GREEN)
        submit(b, "VN Police", later)  # A's cursor passes the held-back ones
        arrived = pull()
        assert arrived == {second["clear"]["id"], second["green"]["id"], later["id"]}

        groups_on_both(nodes)  # A knows VN Police since its first pull
        # widened, the cap brings nothing it held back before A's cursor
        on_b.set_peer("A", tlp="all", groups="Mekong")
        third = {
            "mekong": indicator("198.51.100.190", tlp=Tlp.AMBER, extensions=shared(MEKONG)),
            "lotus": indicator("198.51.100.191", tlp=Tlp.AMBER, extensions=shared(LOTUS)),
            "green lotus": indicator("198.51.100.192", tlp=Tlp.GREEN, extensions=shared(LOTUS)),
            "red, no group": indicator("198.51.100.193", tlp=Tlp.RED, extensions=to(nodes.a_org)),
        }
        submit(b, "VN Police", *third.values())
        assert pull() == {third["mekong"]["id"], third["red, no group"]["id"]}
    # nothing held back reached A by any path
    kept = {second[level]["id"] for level in ("amber", "amber+strict", "red")}
    kept |= {third["lotus"]["id"], third["green lotus"]["id"]}
    assert not kept & set(held(a))


def _domain(value: str, tlp: Tlp, **extra: Any) -> dict[str, Any]:
    return indicator("x", tlp=tlp, pattern=f"[domain-name:value = '{value}']", **extra)


def test_hits_and_search_of_the_peers_sync_key_stay_within_the_cap(nodes: Nodes) -> None:
    """Correlation answers A's sync key on B through the objects it may read, within B's
    cap for A: a hit whose other side the cap holds back is not shown, nor is that object
    in a search, nor are its observables."""
    a, b = nodes.a, nodes.b
    with ThreadServer(a) as server_a, ThreadServer(b) as server_b:
        on_b = b_records_a(nodes, server_a)
        theirs = _domain("qzx-capped-refund.com", Tlp.GREEN)
        theirs_too = _domain("qzx-open-refund.com", Tlp.GREEN)
        submit(b, "PH CERT", theirs, theirs_too)  # as if pulled from A
        amber = _domain("qzx-capped-refund.com", Tlp.AMBER, extensions=to(nodes.a_org))
        green = _domain("qzx-open-refund.com", Tlp.GREEN)
        submit(b, "VN Police", amber, green)
        api = httpx.Client(
            base_url=server_b.url + "/api/v1",
            headers={"Authorization": f"Bearer {nodes.sync_key}"},
            timeout=30,
        )
        with api:

            def hits() -> set[str]:
                answer = api.get("/hits")
                assert answer.status_code == 200, answer.text
                return {h["counterpart"]["id"] for h in answer.json()["hits"]}

            def found(value: str) -> set[str]:
                answer = api.get("/search", params={"q": value})
                assert answer.status_code == 200, answer.text
                return {o["id"] for o in answer.json()["objects"]}

            assert hits() == {amber["id"], green["id"]}
            assert found("qzx-capped-refund.com") == {theirs["id"], amber["id"]}
            assert api.get(f"/objects/{amber['id']}/observables").status_code == 200

            on_b.set_peer("A", tlp="clear,green")
            assert hits() == {green["id"]}
            assert found("qzx-capped-refund.com") == {theirs["id"]}
            assert found("qzx-open-refund.com") == {theirs_too["id"], green["id"]}
            assert api.get(f"/objects/{amber['id']}/observables").status_code == 404
            everything = api.get("/hits", params={"scope": "all"}).json()["hits"]
            assert amber["id"] not in {h["counterpart"]["id"] for h in everything}
            assert amber["id"] not in {h["object"]["id"] for h in everything}


def test_bad_policy_values_are_refused_and_change_nothing(nodes: Nodes) -> None:
    a = nodes.a
    federation = Federation(a)
    owner = a.operator(role=Role.ORG_ADMIN)
    a.add_org("PH Bank", country="PH")
    bank = a.operator("PH Bank", role=Role.ORG_ADMIN)
    a.add_group("Mekong", owner=owner, group_id=MEKONG)
    twin = a.add_group("Mekong", owner=bank).id  # the same name, another owner
    url = "https://b.example.org/taxii2/"
    for bad, says in (
        ({"tlp": "purple"}, "unknown TLP level 'purple'"),
        ({"tlp": ""}, "--tlp is `all` or a comma list"),
        ({"tlp": "none"}, "stands alone"),
        ({"groups": "Nowhere"}, "no sharing group 'Nowhere' here"),
        ({"groups": "Mekong"}, "2 sharing groups are named 'Mekong': give the id ("),
        ({"groups": "Mekong"}, MEKONG),
        ({"groups": "none,Mekong"}, "stand alone"),
    ):
        with pytest.raises(NodeError) as refused:
            federation.add_peer("B", url=url, key="bay_k", **bad)
        assert says in str(refused.value), bad
    assert federation.peers() == []

    view = federation.add_peer("B", url=url, key="bay_k", tlp="green,clear", groups=twin)
    assert view.outbound.tlp == {"clear", "green"} and view.outbound.groups == {twin}
    for bad, says in (
        ({"tlp": "green,purple"}, "unknown TLP level"),
        ({"groups": ["Nowhere"]}, "no sharing group"),
        ({"tlp": "all", "groups": "Mekong"}, "give the id"),  # one bad value: neither changes
        ({}, "nothing to change"),
    ):
        with pytest.raises(NodeError) as refused:
            federation.set_peer("B", **bad)
        assert says in str(refused.value), bad
    [unchanged] = federation.peers()
    assert unchanged.outbound == view.outbound

    changed = federation.set_peer("B", groups=[MEKONG, twin])  # TLP stays as it was
    assert changed.outbound.tlp == {"clear", "green"}
    assert changed.outbound.groups == {MEKONG, twin}
    assert changed.outbound_dict() == {
        "tlp": ["clear", "green"],
        "groups": [{"id": g, "name": "Mekong"} for g in sorted((MEKONG, twin))],
    }
    assert federation.set_peer("B", tlp="all", groups="all").outbound.open
    entries = [e for e in a.audit_entries() if e.action == "peer.set"]
    assert len(entries) == 2 and "outbound: all the audience allows" in str(entries[-1].detail)


def test_the_policy_through_the_cli_and_rest(nodes: Nodes) -> None:
    a = nodes.a
    admin = a.add_key(role=Role.ADMIN).secret
    a.add_group("Mekong", owner=a.operator(role=Role.ORG_ADMIN), group_id=MEKONG)
    db = ["--db", a.settings.db]
    added = run_cli(
        *db,
        "peer",
        "add",
        "B",
        "--url",
        "https://b.example.org/taxii2/",
        "--key",
        "bay_k",
        "--tlp",
        "clear,green,amber",
        "--groups",
        "none",
    )
    assert added.returncode == 0, added.stderr
    assert "may leave towards it: TLP clear, green, amber; no sharing group" in added.stdout
    bad = run_cli(*db, "peer", "set", "B", "--tlp", "purple")
    assert bad.returncode != 0 and "unknown TLP level 'purple'" in bad.stderr
    changed = run_cli(*db, "peer", "set", "B", "--groups", "Mekong")
    assert changed.returncode == 0, changed.stderr
    assert "may leave towards it: TLP clear, green, amber; sharing groups Mekong" in changed.stdout
    listed = run_cli(*db, "peer", "list")
    assert "may leave towards it: TLP clear, green, amber; sharing groups Mekong" in listed.stdout
    assert "0 held back by peer policy" in listed.stdout
    shown = json.loads(run_cli(*db, "peer", "list", "--json").stdout)[0]
    assert shown["outbound"] == {
        "tlp": ["clear", "green", "amber"],
        "groups": [{"id": MEKONG, "name": "Mekong"}],
    }
    with ThreadServer(a) as server:
        api, auth = server.url + "/api/v1", {"Authorization": f"Bearer {admin}"}
        refused = httpx.patch(f"{api}/peers/B", json={"tlp": ["green", "purple"]}, headers=auth)
        assert refused.status_code == 400 and "purple" in refused.text
        done = httpx.patch(f"{api}/peers/B", json={"tlp": ["red"], "groups": "all"}, headers=auth)
        assert done.status_code == 200, done.text
        assert done.json()["outbound"] == {"tlp": ["red"], "groups": "all"}
        made = httpx.post(
            f"{api}/peers",
            json={"name": "C", "url": "https://c.example.org/", "key": "k", "groups": "none"},
            headers=auth,
        )
        assert made.status_code == 201 and made.json()["outbound"]["groups"] == "none"
        box = httpx.get(f"{api}/peers/B/outbox?dropped=true", headers=auth)
        assert box.status_code == 200 and box.json() == []
