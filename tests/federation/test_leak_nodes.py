"""No node ever receives an object that none of its organisations may see: three nodes,
mutually registered and peered both ways, each served by a real HTTP server on its own
database (one of them on the ``db_url`` backend, so PostgreSQL too).

Hypothesis draws small worlds on top of the three nodes' own organisations: a second
organisation on some nodes (some of them constituents of one on another node),
sharing groups (known on their owner's node and on some others, with the same id and
members), and objects of one or two versions with random TLP (or none), recipients
and groups. Sync rounds run until nothing moves; after every round each node is
checked against an oracle written here from DESIGN §4 and docs/security.md, without
the library's policy code: every version it holds that was written on another node
is one that an organisation it hosts may see. Objects the whole community may see
are checked to arrive everywhere, so the test cannot pass by moving nothing.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bayanihan.federation import Federation
from bayanihan.node import Node
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.settings import Settings
from bayanihan.stix.extensions import SHARING_EXTENSION_ID, SHARING_GROUP_TYPE
from bayanihan.stix.timestamps import parse_timestamp
from bayanihan.store.schema import objects
from tests.conftest import ThreadServer
from tests.federation.test_pull import submit
from tests.stixgen import indicator, stamp

NODES = 3
COUNTRIES = ("PH", "VN", "SG")
NODE_ORGS = tuple(f"Node {n} CERT" for n in range(NODES))
LEVELS = st.sampled_from([None, Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED])
SERIAL = itertools.count(1)
MAX_ROUNDS = 5


# -- the drawn world -----------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    tlp: Tlp | None
    orgs: frozenset[int]  # recipient orgs (indices into World.homes)
    groups: frozenset[int]


@dataclass(frozen=True)
class Obj:
    author: int  # an org index
    versions: tuple[Share, ...]


@dataclass(frozen=True)
class Group:
    owner: int
    members: frozenset[int]  # including the owner
    nodes: frozenset[int]  # where it is registered (always the owner's home)


@dataclass(frozen=True)
class World:
    homes: tuple[int, ...]  # org index -> the node hosting it; 0..2 are the nodes' own
    parents: tuple[int | None, ...]  # org index -> its parent org (constituency)
    groups: tuple[Group, ...]
    objs: tuple[Obj, ...]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    homes = list(range(NODES))
    parents: list[int | None] = [None] * NODES
    for node in range(NODES):
        if draw(st.booleans()):  # a second org here, maybe a constituent of another one
            # (of this world only: the nodes' own orgs live on from example to example,
            # and a constituent of one of them would widen its AMBER in later examples)
            earlier = list(range(NODES, len(homes)))
            parent = draw(st.none() | st.sampled_from(earlier)) if earlier else None
            homes.append(node)
            parents.append(parent)
    org = st.integers(0, len(homes) - 1)
    groups = []
    for _ in range(draw(st.integers(0, 2))):
        owner = draw(org)
        members = draw(st.frozensets(org, max_size=3)) | {owner}
        nodes = draw(st.frozensets(st.integers(0, NODES - 1), max_size=NODES)) | {homes[owner]}
        groups.append(Group(owner, members, nodes))
    objs = []
    for _ in range(draw(st.integers(2, 6))):
        author = draw(org)
        usable = [
            g
            for g, group in enumerate(groups)
            if author in group.members and homes[author] in group.nodes
        ]

        def share(author: int = author, usable: list[int] = usable) -> Share:
            named = (
                draw(st.frozensets(st.sampled_from(usable), max_size=2)) if usable else frozenset()
            )
            return Share(draw(LEVELS), draw(st.frozensets(org, max_size=2)), named)

        versions = [share()]
        if draw(st.booleans()):
            versions.append(share())
        objs.append(Obj(author, tuple(versions)))
    return World(tuple(homes), tuple(parents), tuple(groups), tuple(objs))


# -- the oracle ----------------------------------------------------------------------------


def audience(world: World, author: int, share: Share) -> frozenset[int] | None:
    """Who may see a version (None: the whole community), per docs/security.md: the
    author, the recipients and the members of the named groups the author belongs to;
    for AMBER (and no marking) also their constituents at any depth."""
    level = Tlp.AMBER if share.tlp is None else share.tlp
    if level in (Tlp.CLEAR, Tlp.GREEN):
        return None
    orgs = {author, *share.orgs}
    for g in share.groups:
        if author in world.groups[g].members:
            orgs |= world.groups[g].members
    if level is Tlp.AMBER:
        grown = True
        while grown:
            children = {c for c, p in enumerate(world.parents) if p in orgs}
            grown = not children <= orgs
            orgs |= children
    return frozenset(orgs)


def hosted(world: World, node: int) -> frozenset[int]:
    return frozenset(o for o, home in enumerate(world.homes) if home == node)


# -- the three nodes -----------------------------------------------------------------------


@dataclass
class Ring:
    nodes: list[Node]
    servers: list[ThreadServer]
    federations: list[Federation]


def new_node(url: str, n: int) -> Node:
    node = Node(
        Settings(
            db=url,
            max_page_limit=8,  # pulls are several pages
            push_status_polls=0,
            push_retry_base=0.05,
            push_retry_max=0.2,
            correlation=False,
        )
    )
    node.init(node_name=NODE_ORGS[n], country=COUNTRIES[n])
    return node


@pytest.fixture
def ring(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ring]:
    # every sync builds its clients' TLS contexts, loading the CA store named here
    # (0.1 s each, most of this test's time otherwise); the nodes talk plain http on
    # loopback, so one small CA will do
    authority = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(authority))
    monkeypatch.setenv("SSL_CERT_FILE", str(authority))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    urls = [db_url, *(f"sqlite:///{tmp_path / f'n{n}.db'}" for n in range(1, NODES))]
    nodes = [new_node(url, n) for n, url in enumerate(urls)]
    keys: dict[tuple[int, int], str] = {}  # (holder, issuer) -> key issued on issuer
    for here, there in itertools.permutations(range(NODES), 2):
        identity = nodes[there].org(NODE_ORGS[there]).identity_id
        nodes[here].add_org(NODE_ORGS[there], country=COUNTRIES[there], identity_id=identity)
    for here, there in itertools.permutations(range(NODES), 2):
        keys[(there, here)] = nodes[here].add_key(role=Role.SYNC, org_name=NODE_ORGS[there]).secret
    servers = [ThreadServer(node) for node in nodes]
    for server in servers:
        server.__enter__()
    try:
        federations = [Federation(node) for node in nodes]
        for here, there in itertools.permutations(range(NODES), 2):
            federations[here].add_peer(
                f"n{there}", url=servers[there].url + "/taxii2/", key=keys[(here, there)]
            )
        yield Ring(nodes, servers, federations)
    finally:
        for server in servers:
            server.__exit__()
        for node in nodes:
            node.store.dispose()


# -- building a world on the ring ----------------------------------------------------------


@dataclass
class Built:
    names: list[str]  # org index -> name (the same on every node)
    ids: list[str]  # object index -> STIX id
    truth: dict[tuple[str, int], tuple[int, Share]]  # (id, version) -> (author, share)


def build(ring: Ring, world: World) -> Built:
    serial = next(SERIAL)
    names = list(NODE_ORGS) + [f"Leak {serial}.{o}" for o in range(NODES, len(world.homes))]
    identities = [ring.nodes[n].org(NODE_ORGS[n]).identity_id for n in range(NODES)]
    for o in range(NODES, len(world.homes)):
        home, parent = world.homes[o], world.parents[o]
        parent_name = None if parent is None else names[parent]
        country = COUNTRIES[home]
        record = ring.nodes[home].add_org(names[o], country=country, parent=parent_name)
        identities.append(record.identity_id)
        for n in range(NODES):
            if n != home:  # registered by hand everywhere (DESIGN §6), with its parent
                ring.nodes[n].add_org(
                    names[o], country=country, identity_id=record.identity_id, parent=parent_name
                )
    group_ids = [f"{SHARING_GROUP_TYPE}--{uuid.uuid4()}" for _ in world.groups]
    for g, group in enumerate(world.groups):
        for n in sorted(group.nodes):
            node = ring.nodes[n]
            node.add_group(
                f"Leak group {serial}.{g}",
                owner=node.operator(names[group.owner], role=Role.ORG_ADMIN),
                members=[names[m] for m in sorted(group.members - {group.owner})],
                group_id=group_ids[g],
            )
    ids = [f"indicator--{uuid.uuid4()}" for _ in world.objs]
    truth: dict[tuple[str, int], tuple[int, Share]] = {}
    for index, obj in enumerate(world.objs):
        home = world.homes[obj.author]
        author_name = None if obj.author == home else names[obj.author]
        for v, share in enumerate(obj.versions):
            modified = stamp(2 + v)
            extension = {
                "extension_type": "property-extension",
                "recipient_refs": [identities[o] for o in sorted(share.orgs)],
                "sharing_group_refs": [group_ids[g] for g in sorted(share.groups)],
            }
            body = indicator(
                f"198.18.{serial % 250}.{index + 1}",
                tlp=share.tlp,
                object_id=ids[index],
                created=stamp(1),
                modified=modified,
                extensions={SHARING_EXTENSION_ID: extension},
            )
            submit(ring.nodes[home], author_name, body)
            truth[(ids[index], parse_timestamp(modified))] = (obj.author, share)
    return Built(names, ids, truth)


def held(node: Node, ids: list[str]) -> set[tuple[str, int]]:
    with node.store.read() as conn:
        rows = conn.execute(
            select(objects.c.id, objects.c.version).where(objects.c.id.in_(ids))
        ).all()
    return {(r[0], int(r[1])) for r in rows}


def check_no_leak(ring: Ring, world: World, built: Built, after: str) -> None:
    for n, node in enumerate(ring.nodes):
        ours = hosted(world, n)
        for object_id, version in held(node, built.ids):
            author, share = built.truth[(object_id, version)]
            if world.homes[author] == n:
                continue
            seen_by = audience(world, author, share)
            assert seen_by is None or seen_by & ours, (
                f"after {after}: node {n} (hosting {sorted(ours)}) holds {object_id} "
                f"version {version} by org {author}, TLP {share.tlp}, for {sorted(seen_by)}"
            )


def sync_until_quiet(ring: Ring, world: World, built: Built) -> None:
    for round_number in range(1, MAX_ROUNDS + 1):
        moved = 0
        for n, federation in enumerate(ring.federations):
            for result in federation.sync():
                assert result.ok, (n, result.as_dict())
                assert result.pull is not None and result.push is not None
                moved += result.pull.stored + result.push.sent
            check_no_leak(ring, world, built, f"round {round_number}, node {n}'s sync")
        if not moved:
            return
    raise AssertionError(f"still moving objects after {MAX_ROUNDS} rounds")


def check_community_share_arrives(ring: Ring, world: World, built: Built) -> None:
    """An object whose latest version is CLEAR or GREEN reaches every node (by pull from
    its home, and by push too when its author is the home node's own org)."""
    for index, obj in enumerate(world.objs):
        if obj.versions[-1].tlp not in (Tlp.CLEAR, Tlp.GREEN):
            continue
        latest = (built.ids[index], parse_timestamp(stamp(1 + len(obj.versions))))
        for n, node in enumerate(ring.nodes):
            assert latest in held(node, [built.ids[index]]), f"node {n} lacks {latest}"


def test_no_node_receives_what_none_of_its_orgs_may_see(ring: Ring, db_url: str) -> None:
    # fewer examples when node 0 is on PostgreSQL: the same code paths, slower writes
    examples = 10 if db_url.startswith("sqlite") else 4

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(world=worlds())
    def run(world: World) -> None:
        built = build(ring, world)
        sync_until_quiet(ring, world, built)
        check_community_share_arrives(ring, world, built)

    run()
