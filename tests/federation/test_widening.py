"""What a peer may receive can widen after the push cursor has passed a version: the
peer turns out to host the organisation it was addressed to, a sharing group gains a
member the peer hosts, or the operator widens the peer's cap. The next push then
sends what had been passed over (nothing is lost), and nothing already sent goes twice.
"""

from __future__ import annotations

from typing import Any

from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.stix.extensions import SHARING_EXTENSION_ID
from tests.conftest import ThreadServer
from tests.federation import test_pull, test_push
from tests.federation.test_pull import submit, to
from tests.federation.test_push import Nodes, held, peer_b
from tests.stixgen import indicator

peer_db = test_pull.peer_db  # the fixtures, shared
nodes = test_push.nodes


def in_group(group_id: str) -> dict[str, Any]:
    return {
        SHARING_EXTENSION_ID: {
            "extension_type": "property-extension",
            "sharing_group_refs": [group_id],
        }
    }


def test_an_org_the_peer_hosts_later_gets_what_was_addressed_to_it_before(
    nodes: Nodes,
) -> None:
    a, b = nodes.a, nodes.b
    green = indicator("198.51.100.151", tlp=Tlp.GREEN)
    submit(a, None, green)
    with ThreadServer(b) as server:
        federation = peer_b(nodes, server)
        # B takes on a bank; A's operator registers it by hand (its id, told by B) and
        # writes for it before A's next pull has shown that B hosts it
        bank = b.add_org("VN Bank", country="VN").identity_id
        a.add_org("VN Bank", country="VN", identity_id=bank)
        early = indicator("198.51.100.150", tlp=Tlp.AMBER, extensions=to(bank))
        submit(a, None, early)
        [first] = federation.push("B")
        assert first.ok, first.error
        assert green["id"] in held(b) and early["id"] not in held(b)  # not B's org yet
        [pulled] = federation.pull("B")  # A learns that B hosts VN Bank
        assert pulled.ok, pulled.error
        [second] = federation.push("B")
        assert second.ok, second.error
        assert second.sent == 1  # the passed-over version only; green is not sent again
        assert early["id"] in held(b)
        [third] = federation.push("B")
        assert third.ok and third.sent == 0


def test_a_group_gaining_a_member_the_peer_hosts_sends_what_it_shared(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    owner = a.operator(role=Role.ORG_ADMIN)
    group = a.add_group("Mekong fraud", owner=owner)
    # the group has the same id on B, where A's org is a member (groups span nodes)
    b.add_group(
        "Mekong fraud",
        owner=b.operator(role=Role.ORG_ADMIN),
        members=[nodes.a_org],
        group_id=group.id,
    )
    shared = indicator("198.51.100.160", tlp=Tlp.AMBER, extensions=in_group(group.id))
    submit(a, None, shared)
    with ThreadServer(b) as server:
        federation = peer_b(nodes, server)
        [first] = federation.push("B")
        assert first.ok and shared["id"] not in held(b)  # no member on B
        assert a.change_group_member(owner, group.id, "VN Police", add=True)
        [second] = federation.push("B")
        assert second.ok, second.error
        assert second.sent == 1
        assert shared["id"] in held(b)


def test_widening_the_cap_sends_what_it_held_back(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    with ThreadServer(b) as server:
        federation = peer_b(nodes, server)
        vn_police = a.org("VN Police").identity_id
        federation.set_peer("B", tlp="clear,green")
        amber = indicator("198.51.100.170", tlp=Tlp.AMBER, extensions=to(vn_police))
        green = indicator("198.51.100.171", tlp=Tlp.GREEN)
        submit(a, None, amber, green)
        [capped] = federation.push("B")
        assert capped.ok and capped.held == 1
        assert green["id"] in held(b) and amber["id"] not in held(b)
        # narrowing further, or setting the same cap again, holds it back again
        federation.set_peer("B", tlp="clear,green")
        [again] = federation.push("B")
        assert again.ok and again.sent == 0 and amber["id"] not in held(b)
        federation.set_peer("B", tlp="all")
        [wider] = federation.push("B")
        assert wider.ok, wider.error
        assert wider.sent == 1  # the held-back version, not the green one again
        assert amber["id"] in held(b)
