"""A sync key acts for every organisation its peer node hosts (DESIGN §4: "sees what its
orgs may see, writes only as them"), and for no other.

Node B (VN CERT, with the local orgs VN Police and Fraud Desk) is the node under test,
on SQLite and PostgreSQL. It has pulled from node A (PH CERT, hosting also PH Bank) and
from node C (SG CERT), so it knows which of the organisations registered here with
``org add --id`` each of them hosts. A's key on B is issued for PH CERT; PH Bank is
registered on B as a constituent of B's Fraud Desk (a regional desk serving banks).
Every read path is tried over real HTTP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bayanihan.federation import Federation
from bayanihan.node import Node
from bayanihan.policy.outbound import cap_of
from bayanihan.policy.principal import PeerOrg, Principal
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.policy.visibility import read_scope
from bayanihan.store.schema import objects, orgs
from tests.conftest import ThreadServer, taxii_client
from tests.federation.test_pull import new_node, submit
from tests.stixgen import indicator
from tests.web.test_leak_classes import (
    Site,
    assert_sees,
    bearer,
    collections,
    relationship,
    rest_post,
    shared,
    taxii_post,
    views,
)

KEYS = {
    # label: (role, org on B)
    "a-sync": (Role.SYNC, "PH CERT"),
    "a-analyst": (Role.ANALYST, "PH CERT"),
    "a-reader": (Role.READER, "PH CERT"),
    "a-org-admin": (Role.ORG_ADMIN, "PH CERT"),
    "c-sync": (Role.SYNC, "SG CERT"),
    "police": (Role.ANALYST, "VN Police"),
}
WRITE_AS_ANOTHER = "an org may not write as another"


@dataclass
class World:
    site: Site  # node B, served
    a: Node
    ids: dict[str, str]  # org name -> identity id

    @property
    def b(self) -> Node:
        return self.site.node

    def pull(self, peer: str) -> None:
        [result] = Federation(self.b).pull(peer)
        assert result.ok, result.error

    def authors(self, *object_ids: str) -> dict[str, tuple[str, str | None]]:
        """On B: object id -> (author org name, created_by_ref), latest versions."""
        with self.b.store.read() as conn:
            rows = conn.execute(
                select(objects.c.id, orgs.c.name, objects.c.created_by_ref)
                .select_from(objects.join(orgs, orgs.c.row_id == objects.c.author_org))
                .where(objects.c.is_latest, objects.c.id.in_(object_ids))
            ).all()
        return {r[0]: (r[1], r[2]) for r in rows}


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    b = new_node(db_url, "VN CERT", "VN", correlation=False)
    a = new_node(f"sqlite:///{tmp_path / 'a.db'}", "PH CERT", "PH", correlation=False)
    c = new_node(f"sqlite:///{tmp_path / 'c.db'}", "SG CERT", "SG", correlation=False)
    a.add_org("PH Bank", country="PH")
    ids = {"VN CERT": b.operator().org_identity}
    for name in ("VN Police", "Fraud Desk"):
        ids[name] = b.add_org(name, country="VN").identity_id
    for there, name, country, parent in (
        (a, "PH CERT", "PH", None),
        (a, "PH Bank", "PH", "Fraud Desk"),
        (c, "SG CERT", "SG", None),
    ):
        ids[name] = there.org(name).identity_id
        b.add_org(name, country=country, identity_id=ids[name], parent=parent)
    keys: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for label, (role, org) in KEYS.items():
        made = b.add_key(role=role, org_name=org)
        keys[label], numbers[label] = made.secret, made.row_id
    with contextlib.ExitStack() as stack:
        for peer, there in (("A", a), ("C", c)):
            there.add_org("VN CERT", country="VN", identity_id=ids["VN CERT"])
            key = there.add_key(role=Role.SYNC, org_name="VN CERT").secret
            server = stack.enter_context(ThreadServer(there))
            Federation(b).add_peer(peer, url=server.url + "/taxii2/", key=key)
        b_server = stack.enter_context(ThreadServer(b))
        client = stack.enter_context(taxii_client(b_server.url))
        found = World(Site(b, client, collections(b)["all"], keys, numbers, ids), a, ids)
        for peer in ("A", "C"):  # B learns which orgs A and C host
            found.pull(peer)
        yield found
    for node in (a, b, c):
        node.store.dispose()


def police_objects(ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """VN Police's objects for every kind of audience, by what they are."""
    made = {
        "green": indicator("198.51.100.1", tlp=Tlp.GREEN),
        "amber for PH CERT": shared(indicator("198.51.100.2", tlp=Tlp.AMBER), [ids["PH CERT"]]),
        "amber for PH Bank": shared(indicator("198.51.100.3", tlp=Tlp.AMBER), [ids["PH Bank"]]),
        "strict for PH Bank": shared(
            indicator("198.51.100.4", tlp=Tlp.AMBER_STRICT), [ids["PH Bank"]]
        ),
        "red for PH Bank": shared(indicator("198.51.100.5", tlp=Tlp.RED), [ids["PH Bank"]]),
        # PH Bank is a constituent of Fraud Desk: AMBER reaches it, AMBER+STRICT does not
        "amber for Fraud Desk": shared(
            indicator("198.51.100.6", tlp=Tlp.AMBER), [ids["Fraud Desk"]]
        ),
        "strict for Fraud Desk": shared(
            indicator("198.51.100.7", tlp=Tlp.AMBER_STRICT), [ids["Fraud Desk"]]
        ),
        "amber for SG CERT": shared(indicator("198.51.100.8", tlp=Tlp.AMBER), [ids["SG CERT"]]),
        "amber, police only": indicator("198.51.100.9", tlp=Tlp.AMBER),
        "unmarked": indicator("198.51.100.10", tlp=None),
        "red for VN CERT": shared(indicator("198.51.100.11", tlp=Tlp.RED), [ids["VN CERT"]]),
    }
    made["edge to PH Bank's"] = relationship(
        made["green"]["id"], made["amber for PH Bank"]["id"], Tlp.GREEN, "edge to PH Bank's"
    )
    return made


A_SEES = {
    "green",
    "amber for PH CERT",
    "amber for PH Bank",
    "strict for PH Bank",
    "red for PH Bank",
    "amber for Fraud Desk",
    "edge to PH Bank's",
}
PH_CERT_SEES = {"green", "amber for PH CERT"}


def test_a_sync_key_reads_the_union_of_what_its_orgs_may_see(world: World) -> None:
    site = world.site
    made = police_objects(world.ids)
    site.write("VN Police", list(made.values()))
    by_sg = indicator("198.51.100.12", tlp=Tlp.AMBER)
    submit(world.b, "SG CERT", by_sg)  # as if pulled from C
    made["SG CERT's amber"] = by_sg
    ours = {o["id"] for o in made.values()}

    def ids(*names: str) -> set[str]:
        return {made[n]["id"] for n in names}

    assert_sees(views(site, site.keys["a-sync"], ours), ids(*A_SEES), "A's sync key")
    # narrower keys of PH CERT act for PH CERT alone, whatever node hosts it
    for label in ("a-analyst", "a-reader", "a-org-admin"):
        assert_sees(views(site, site.keys[label], ours), ids(*PH_CERT_SEES), label)
    # C's key: its one org; nothing of A's orgs, nor of B's local orgs
    c_sees = ids("green", "amber for SG CERT", "SG CERT's amber")
    assert_sees(views(site, site.keys["c-sync"], ours), c_sees, "C's sync key")


def test_a_sync_key_writes_as_its_orgs_and_is_refused_any_other(world: World) -> None:
    site, ids = world.site, world.ids
    sync = site.keys["a-sync"]
    police = ids["VN Police"]
    as_cert = shared(indicator("203.0.113.1", tlp=Tlp.AMBER, created_by_ref=ids["PH CERT"]))
    as_bank = shared(
        indicator("203.0.113.2", tlp=Tlp.AMBER, created_by_ref=ids["PH Bank"]), [police]
    )
    unsigned = indicator("203.0.113.3", tlp=Tlp.GREEN)
    as_third_node = indicator("203.0.113.4", tlp=Tlp.GREEN, created_by_ref=ids["SG CERT"])
    as_local = indicator("203.0.113.5", tlp=Tlp.GREEN, created_by_ref=police)
    as_home = indicator("203.0.113.6", tlp=Tlp.GREEN, created_by_ref=ids["VN CERT"])
    refused = [as_third_node, as_local, as_home]
    status = taxii_post(site, sync, [as_cert, as_bank, unsigned, *refused])
    assert status.status_code == 202, status.text
    report = status.json()
    assert {s["id"] for s in report["successes"]} == {as_cert["id"], as_bank["id"], unsigned["id"]}
    assert {f["id"] for f in report["failures"]} == {o["id"] for o in refused}
    assert all(WRITE_AS_ANOTHER in f["message"] for f in report["failures"])
    assert world.authors(*(o["id"] for o in [as_cert, as_bank, unsigned, *refused])) == {
        as_cert["id"]: ("PH CERT", ids["PH CERT"]),
        as_bank["id"]: ("PH Bank", ids["PH Bank"]),
        unsigned["id"]: ("PH CERT", ids["PH CERT"]),  # no author: the key's own org, as before
    }
    # written as PH Bank, so its audience is PH Bank's and VN Police's, not PH CERT's
    ours = {as_cert["id"], as_bank["id"]}
    assert_sees(views(site, site.keys["police"], ours, rest=False), {as_bank["id"]}, "police")
    assert_sees(views(site, site.keys["a-analyst"], ours, rest=False), {as_cert["id"]}, "PH CERT")

    # the REST API: the same attribution, and a revocation of PH Bank's object
    over_rest = indicator("203.0.113.7", tlp=Tlp.GREEN, created_by_ref=ids["PH Bank"])
    outcomes = rest_post(site, sync, [over_rest, as_third_node]).json()["outcomes"]
    assert [o["status"] for o in outcomes] == ["stored", "rejected"]
    revoked = site.client.post(f"/api/v1/objects/{as_bank['id']}/revoke", headers=bearer(sync))
    assert revoked.status_code == 200, revoked.text
    assert world.authors(over_rest["id"], as_bank["id"]) == {
        over_rest["id"]: ("PH Bank", ids["PH Bank"]),
        as_bank["id"]: ("PH Bank", ids["PH Bank"]),  # the revocation: PH Bank's version too
    }

    # narrower keys of PH CERT, and the sync key of another node, never write as PH Bank
    for label in ("a-analyst", "a-org-admin", "c-sync"):
        attempt = indicator("203.0.113.8", tlp=Tlp.GREEN, created_by_ref=ids["PH Bank"])
        [failure] = taxii_post(site, site.keys[label], [attempt]).json()["failures"]
        assert WRITE_AS_ANOTHER in failure["message"], label
        refused_rest = site.client.post(
            f"/api/v1/objects/{over_rest['id']}/revoke", headers=bearer(site.keys[label])
        )
        assert refused_rest.status_code == 403, label


def test_an_org_is_the_keys_only_once_a_pull_shows_the_peer_hosts_it(world: World) -> None:
    """Registered here by hand, PH Telco is not known to be A's until B pulls from A again
    and finds it among A's published identities."""
    site = world.site
    sync = site.keys["a-sync"]
    telco = world.a.add_org("PH Telco", country="PH").identity_id
    world.b.add_org("PH Telco", country="PH", identity_id=telco)
    for_telco = shared(indicator("203.0.113.20", tlp=Tlp.AMBER), [telco])
    site.write("VN Police", [for_telco])
    by_telco = indicator("203.0.113.21", tlp=Tlp.GREEN, created_by_ref=telco)

    def whoami() -> list[str]:
        answer = site.get(sync, "/api/v1/whoami").json()
        assert answer["org_identity_id"] == world.ids["PH CERT"]
        return list(answer["peer_org_identity_ids"])

    assert telco not in whoami() and world.ids["PH Bank"] in whoami()
    assert views(site, sync, {for_telco["id"]}, rest=False)["taxii objects"] == set()
    [failure] = taxii_post(site, sync, [by_telco]).json()["failures"]
    assert WRITE_AS_ANOTHER in failure["message"]

    world.pull("A")
    assert telco in whoami()
    seen = views(site, sync, {for_telco["id"]})
    assert_sees(seen, {for_telco["id"]}, "A's sync key after the pull")
    assert taxii_post(site, sync, [by_telco]).json()["success_count"] == 1
    assert site.get(site.keys["a-analyst"], "/api/v1/whoami").json()["peer_org_identity_ids"] == []


def test_the_peers_outbound_cap_narrows_every_read_of_its_sync_key(world: World) -> None:
    """B's cap for peer A (``peer set A --tlp``) holds for A's sync key on every read path,
    from the next request on: what may not be pushed to A, A does not pull either. C's
    sync key, and keys of other roles, are not A's: the cap is not theirs."""
    site = world.site
    made = police_objects(world.ids)
    site.write("VN Police", list(made.values()))
    ours = {o["id"] for o in made.values()}
    sync, federation = site.keys["a-sync"], Federation(world.b)

    def ids(*names: str) -> set[str]:
        return {made[n]["id"] for n in names}

    assert_sees(views(site, sync, ours), ids(*A_SEES), "A's sync key, no cap")
    federation.set_peer("A", tlp="clear,green")
    # the GREEN edge points at an AMBER object the cap holds back: hidden with it
    assert_sees(views(site, sync, ours), ids("green"), "A's sync key, capped")
    c_sees = ids("green", "amber for SG CERT")
    assert_sees(views(site, site.keys["c-sync"], ours), c_sees, "C's sync key")
    analyst = views(site, site.keys["a-analyst"], ours)
    assert_sees(analyst, ids(*PH_CERT_SEES), "PH CERT's analyst key")

    federation.set_peer("A", tlp="green,amber+strict,red")
    capped = ids("green", "strict for PH Bank", "red for PH Bank")
    assert_sees(views(site, sync, ours), capped, "A's sync key, capped otherwise")
    federation.set_peer("A", tlp="all")
    assert_sees(views(site, sync, ours), ids(*A_SEES), "A's sync key, cap lifted")


def test_a_groups_cap_hides_what_names_a_held_back_group(world: World) -> None:
    """``peer set A --groups``: an object naming a sharing group the cap does not list is
    not read by A's sync key, whatever its TLP; one naming no group is capped by TLP
    alone; an edge to a held-back object is hidden with it."""
    site, b = world.site, world.b
    owner = b.operator("VN Police", role=Role.ORG_ADMIN)
    mekong = b.add_group("Mekong", owner=owner, members=["PH CERT", "PH Bank"]).id
    lotus = b.add_group("Lotus", owner=owner, members=["PH CERT"]).id
    made = {
        "mekong": shared(indicator("198.51.100.30", tlp=Tlp.AMBER), groups=[mekong]),
        "lotus": shared(indicator("198.51.100.31", tlp=Tlp.AMBER), groups=[lotus]),
        "both": shared(indicator("198.51.100.32", tlp=Tlp.AMBER), groups=[mekong, lotus]),
        "green lotus": shared(indicator("198.51.100.33", tlp=Tlp.GREEN), groups=[lotus]),
        "no group": shared(indicator("198.51.100.34", tlp=Tlp.AMBER), [world.ids["PH Bank"]]),
    }
    made["edge to lotus"] = relationship(
        made["no group"]["id"], made["lotus"]["id"], Tlp.GREEN, "edge to lotus"
    )
    site.write("VN Police", list(made.values()))
    ours = {o["id"] for o in made.values()}
    sync, federation = site.keys["a-sync"], Federation(b)

    def ids(*names: str) -> set[str]:
        return {made[n]["id"] for n in names}

    assert_sees(views(site, sync, ours), ours, "A's sync key, no cap")
    federation.set_peer("A", groups="Mekong")
    assert_sees(views(site, sync, ours), ids("mekong", "no group"), "A, Mekong only")
    federation.set_peer("A", groups=[mekong, lotus])
    assert_sees(views(site, sync, ours), ours, "A, both groups")
    federation.set_peer("A", tlp="clear,green", groups="none")
    assert_sees(views(site, sync, ours), set(), "A, no group and GREEN at most")
    federation.set_peer("A", tlp="all")
    assert_sees(views(site, sync, ours), ids("no group"), "A, no group")


def test_the_cap_holds_in_the_public_collection_too(world: World) -> None:
    """Anyone reads the public collection without a key; A's sync key, presented there,
    still reads within A's cap, so that no pull of A's goes beyond it."""
    site, b = world.site, world.b
    b.set_public_collection(True)
    public = collections(b)["public"]
    owner = b.operator("VN Police", role=Role.ORG_ADMIN)
    mekong = b.add_group("Mekong", owner=owner, members=["PH CERT"]).id
    plain = indicator("198.51.100.40", tlp=Tlp.CLEAR)
    grouped = shared(indicator("198.51.100.41", tlp=Tlp.CLEAR), groups=[mekong])
    site.write("VN Police", [plain, grouped])
    ours = {plain["id"], grouped["id"]}
    sync = site.keys["a-sync"]
    Federation(b).set_peer("A", groups="none")
    assert_sees(views(site, None, ours, col=public, rest=False), ours, "anyone")
    seen = views(site, sync, ours, col=public, rest=False)
    assert_sees(seen, {plain["id"]}, "A's sync key, groups none")


@pytest.mark.parametrize(
    ("cap", "seen"),
    [
        (None, A_SEES - {"edge to PH Bank's"}),
        # the peer's outbound cap in the same SQL: pages stay full and exact
        ("green,amber+strict,red", {"green", "strict for PH Bank", "red for PH Bank"}),
    ],
)
def test_paging_with_a_sync_keys_wider_scope_counts_right(
    world: World, cap: str | None, seen: set[str]
) -> None:
    """Visible and hidden objects interleaved in date_added: every page but the last is
    full, ``more`` (or REST's ``next``) says so exactly until the last, and the pages add
    up to the share, each object once; with the peer capped, up to the capped share."""
    site = world.site
    if cap is not None:
        Federation(world.b).set_peer("A", tlp=cap)
    kinds = sorted(k for k in police_objects(world.ids) if k != "edge to PH Bank's")
    expected: set[str] = set()
    for n in range(5):  # each round in another order
        made = police_objects(world.ids)
        order = kinds[n:] + kinds[:n]
        site.write("VN Police", [made[k] for k in order])
        expected |= {made[k]["id"] for k in order if k in seen}
    assert len(expected) == 5 * len(seen)
    limit = 4

    def page_through(url: str, **query: str) -> list[list[str]]:
        pages: list[list[str]] = []
        token: dict[str, str] = {}
        while True:
            answer = site.get(site.keys["a-sync"], url, params={**query, **token})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            pages.append([o["id"] for o in body.get("objects", [])])
            if url.startswith("/api/"):
                if body["next"] is None:
                    return pages
                token = {"cursor": body["next"]}
            else:
                if not body["more"]:
                    return pages
                token = {"next": body["next"]}

    taxii = {"limit": str(limit), "match[type]": "indicator"}
    for url, query in (
        (site.col + "objects/", taxii),
        (site.col + "manifest/", taxii),
        ("/api/v1/objects", {"limit": str(limit), "type": "indicator"}),
    ):
        pages = page_through(url, **query)
        got = [object_id for page in pages for object_id in page]
        assert len(got) == len(set(got)) and set(got) == expected, url
        assert [len(p) for p in pages[:-1]] == [limit] * (len(pages) - 1), url
        assert 1 <= len(pages[-1]) <= limit, url


def test_only_a_sync_principal_acts_for_several_orgs() -> None:
    fellow = PeerOrg(row=7, identity="identity--0b6f4a55-9c1e-4f3a-8a41-3c2e5d7f9a10", country="PH")
    sync = Principal(1, "identity--own", "PH CERT", Role.SYNC, peer_orgs=(fellow,))
    assert sync.org_rows == {1, 7} and sync.peer_org(fellow.identity) == fellow
    assert sync.peer_org("identity--own") is None
    for role in Role:
        if role is not Role.SYNC:
            with pytest.raises(ValueError, match="its own organisation only"):
                Principal(1, "identity--own", "PH CERT", role, peer_orgs=(fellow,))
    # only a peer's key reads within a peer's outbound cap
    cap = cap_of(tlp={Tlp.CLEAR, Tlp.GREEN}, groups=None)
    capped = Principal(1, "identity--own", "PH CERT", Role.SYNC, outbound=cap)
    assert read_scope(capped).outbound == cap
    assert read_scope(sync).outbound.open
    for role in Role:
        if role is not Role.SYNC:
            with pytest.raises(ValueError, match="no outbound cap applies"):
                Principal(1, "identity--own", "PH CERT", role, outbound=cap)
