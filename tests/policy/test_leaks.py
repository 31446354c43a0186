"""Every read path, as every organisation, against an oracle written from the sharing rules.

Hypothesis draws small worlds (organisations with constituents, sharing groups,
people, objects with random TLP levels and recipients, and relationships and
sightings with markings of their own). The expected visible set is computed here,
from docs/security.md and the audience rules, without the library's policy code,
and compared with what each key gets from TAXII, the REST API and the export.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bayanihan.ingest.importer import import_objects
from bayanihan.node import Node
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.stix.extensions import SHARING_EXTENSION_ID
from bayanihan.stix.timestamps import format_timestamp, parse_timestamp
from bayanihan.store import taxii as taxii_store
from bayanihan.store.schema import objects as object_rows
from tests.conftest import ThreadServer, taxii_client

COUNTRIES = ("PH", "VN", "SG", "TH", "MY", "ID")
PASSWORD = "a long enough passphrase"
CREATED = "2026-11-01T00:00:00.000Z"
MODIFIED = "2026-11-03T00:00:00.000Z"
PAGE = 3
SERIAL = itertools.count(1)


# -- the drawn world -----------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """One object version's marking and recipients (indices into the world's lists)."""

    tlp: Tlp | None
    orgs: frozenset[int]
    people: frozenset[int]
    groups: frozenset[int]


@dataclass(frozen=True)
class Base:
    kind: str  # indicator, malware or observed-data
    author: int
    versions: tuple[Share, ...]


@dataclass(frozen=True)
class Edge:
    kind: str  # relationship or sighting
    author: int
    share: Share
    refs: tuple[int, ...]  # indices into bases: source/target, or sighting_of + observed data


@dataclass(frozen=True)
class World:
    parents: tuple[int | None, ...]
    groups: tuple[tuple[int, frozenset[int]], ...]  # (owner, members including the owner)
    users: tuple[int, ...]  # the org of each person
    bases: tuple[Base, ...]
    edges: tuple[Edge, ...]


LEVELS = st.sampled_from([None, *Tlp])


@st.composite
def worlds(draw: st.DrawFn) -> World:
    count = draw(st.integers(3, 4))
    org = st.integers(0, count - 1)
    parents = (None, *(draw(st.none() | st.integers(0, i - 1)) for i in range(1, count)))
    groups = []
    for _ in range(draw(st.integers(0, 2))):
        owner = draw(org)
        groups.append((owner, draw(st.frozensets(org, max_size=3)) | {owner}))
    users = tuple(draw(st.lists(org, min_size=1, max_size=2)))

    def share(author: int) -> Share:
        named_groups = draw(st.frozensets(st.integers(0, 1), max_size=2))
        return Share(
            tlp=draw(LEVELS),
            orgs=draw(st.frozensets(org, max_size=2)),
            people=draw(st.frozensets(st.integers(0, len(users) - 1), max_size=1)),
            groups=frozenset(g for g in named_groups if g < len(groups) and author in groups[g][1]),
        )

    bases = []
    for _ in range(draw(st.integers(2, 4))):
        author = draw(org)
        kind = draw(st.sampled_from(["indicator", "malware", "observed-data"]))
        versions = [share(author)]
        if draw(st.booleans()):
            versions.append(share(author))
        bases.append(Base(kind, author, tuple(versions)))
    # a TLP:RED object naming one person of another organisation than its author's
    pinned_author = (users[0] + 1) % count
    red = Share(Tlp.RED, frozenset(), frozenset({0}), frozenset())
    bases.append(Base("indicator", pinned_author, (red,)))
    base = st.integers(0, len(bases) - 1)
    observed = [i for i, b in enumerate(bases) if b.kind == "observed-data"]
    edges = []
    for _ in range(draw(st.integers(1, 4))):
        author = draw(org)
        if not observed or draw(st.booleans()):
            edges.append(Edge("relationship", author, share(author), (draw(base), draw(base))))
        else:
            extra = sorted(draw(st.frozensets(st.sampled_from(observed), min_size=1, max_size=2)))
            edges.append(Edge("sighting", author, share(author), (draw(base), *extra)))
    return World(parents, tuple(groups), users, tuple(bases), tuple(edges))


# -- the oracle ----------------------------------------------------------------------------

Audience = tuple[frozenset[int], frozenset[int]] | None  # (orgs, people); None: community


def audience(world: World, author: int, share: Share) -> Audience:
    level = Tlp.AMBER if share.tlp is None else share.tlp
    if level in (Tlp.CLEAR, Tlp.GREEN):
        return None
    orgs = {author, *share.orgs}
    for g in share.groups:
        orgs |= world.groups[g][1]
    if level is Tlp.RED and share.people:
        return frozenset({author}), frozenset(share.people)
    orgs |= {world.users[p] for p in share.people}
    if level is Tlp.AMBER:
        pending = list(orgs)
        while pending:
            current = pending.pop()
            for child, parent in enumerate(world.parents):
                if parent == current and child not in orgs:
                    orgs.add(child)
                    pending.append(child)
    return frozenset(orgs), frozenset()


@dataclass(frozen=True)
class Viewer:
    org: int
    person: int | None = None

    def admits(self, seen_by: Audience) -> bool:
        if seen_by is None:
            return True
        orgs, people = seen_by
        return self.org in orgs or (self.person is not None and self.person in people)


@dataclass
class Expected:
    latest: dict[str, str]  # id -> version (modified) of the latest version, when visible
    versions: dict[str, list[str]]  # id -> every visible version, oldest first


def expected(world: World, ids: Ids, viewer: Viewer) -> Expected:
    latest: dict[str, str] = {}
    versions: dict[str, list[str]] = {}
    for index, item in enumerate(world.bases):
        stamps = [CREATED, MODIFIED][: len(item.versions)]
        seen = [
            stamp
            for stamp, share in zip(stamps, item.versions, strict=True)
            if viewer.admits(audience(world, item.author, share))
        ]
        versions[ids.bases[index]] = seen
        if seen and seen[-1] == stamps[-1]:
            latest[ids.bases[index]] = stamps[-1]
    for index, edge in enumerate(world.edges):
        object_id = ids.edges[index]
        ends_seen = all(versions[ids.bases[ref]] for ref in edge.refs)
        if ends_seen and viewer.admits(audience(world, edge.author, edge.share)):
            latest[object_id] = CREATED
            versions[object_id] = [CREATED]
        else:
            versions[object_id] = []
    return Expected(latest=latest, versions=versions)


# -- building the world on the node --------------------------------------------------------


@dataclass
class Ids:
    word: str
    orgs: list[str]  # names
    bases: list[str]
    edges: list[str]
    org_keys: list[str]
    user_keys: list[str]
    marker: str  # added_after: before every object of this example
    versioned: set[str]  # ids written with more than one version

    @property
    def all(self) -> set[str]:
        return {*self.bases, *self.edges}


def sharing(
    share: Share, identities: list[str], people: list[str], groups: list[str]
) -> dict[str, Any]:
    extension = {
        "extension_type": "property-extension",
        "recipient_refs": [identities[o] for o in sorted(share.orgs)]
        + [people[p] for p in sorted(share.people)],
        "sharing_group_refs": [groups[g] for g in sorted(share.groups)],
    }
    fields: dict[str, Any] = {"extensions": {SHARING_EXTENSION_ID: extension}}
    if share.tlp is not None:
        fields["object_marking_refs"] = [share.tlp.marking_id]
    return fields


def base_object(kind: str, object_id: str, name: str, word: str) -> dict[str, Any]:
    common = {"type": kind, "spec_version": "2.1", "id": object_id, "created": CREATED}
    if kind == "indicator":
        # every indicator of an example carries one value of its own: they all correlate
        return {
            **common,
            "name": name,
            "pattern": f"[domain-name:value = '{word}.qzx-leak-test.com']",
            "pattern_type": "stix",
            "valid_from": CREATED,
        }
    if kind == "malware":
        return {**common, "name": name, "is_family": False}
    return {
        **common,
        "name": name,
        "first_observed": CREATED,
        "last_observed": CREATED,
        "number_observed": 1,
        "object_refs": [f"ipv4-addr--{uuid.uuid4()}"],
    }


def build(node: Node, world: World) -> Ids:
    serial = next(SERIAL)
    names = [f"Leak {serial}.{i}" for i in range(len(world.parents))]
    identities = []
    for i, parent in enumerate(world.parents):
        record = node.add_org(
            names[i],
            country=COUNTRIES[i % len(COUNTRIES)],
            parent=None if parent is None else names[parent],
        )
        identities.append(record.identity_id)
    groups = [
        node.add_group(
            f"Leak group {serial}.{g}",
            owner=node.operator(names[owner], role=Role.ORG_ADMIN),
            members=[names[m] for m in sorted(members - {owner})],
        ).id
        for g, (owner, members) in enumerate(world.groups)
    ]
    usernames = [f"leak{serial}.p{p}" for p in range(len(world.users))]
    people = [
        node.add_user(usernames[p], org_name=names[o], password=PASSWORD, role=Role.ANALYST)
        for p, o in enumerate(world.users)
    ]
    org_keys = [node.add_key(role=Role.ANALYST, org_name=name).secret for name in names]
    user_keys = [node.add_key(role=Role.ANALYST, username=u).secret for u in usernames]
    with node.store.read() as conn:
        last = conn.execute(select(func.max(object_rows.c.date_added))).scalar_one()
    word = f"w{uuid.uuid4().hex[:12]}"
    person_ids = [p.identity_id for p in people]
    ids = Ids(
        word=word,
        orgs=names,
        bases=[f"{b.kind}--{uuid.uuid4()}" for b in world.bases],
        edges=[f"{e.kind}--{uuid.uuid4()}" for e in world.edges],
        org_keys=org_keys,
        user_keys=user_keys,
        marker=format_timestamp(int(last)),
        versioned=set(),
    )
    by_author: dict[int, list[dict[str, Any]]] = {}
    for index, item in enumerate(world.bases):
        body = base_object(item.kind, ids.bases[index], f"{word} {item.kind} {index}", word)
        if len(item.versions) > 1:
            ids.versioned.add(ids.bases[index])
        for stamp, share in zip([CREATED, MODIFIED], item.versions, strict=False):
            version = {**body, "modified": stamp}
            version.update(sharing(share, identities, person_ids, groups))
            by_author.setdefault(item.author, []).append(version)
    for index, edge in enumerate(world.edges):
        refs = [ids.bases[r] for r in edge.refs]
        common = {
            "type": edge.kind,
            "spec_version": "2.1",
            "id": ids.edges[index],
            "created": CREATED,
            "modified": CREATED,
            "name": f"{word} {edge.kind} {index}",
        }
        if edge.kind == "relationship":
            common.update(relationship_type="related-to", source_ref=refs[0], target_ref=refs[1])
        else:
            common.update(sighting_of_ref=refs[0], observed_data_refs=refs[1:])
        common.update(sharing(edge.share, identities, person_ids, groups))
        by_author.setdefault(edge.author, []).append(common)
    for author, batch in sorted(by_author.items()):
        summary = import_objects(node, node.operator(names[author]), batch)
        assert summary.rejected == 0, [r.message for r in summary.reasons]
    return ids


# -- reading it back -----------------------------------------------------------------------


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def pages(
    client: httpx.Client, url: str, key: str, params: dict[str, Any], field: str
) -> list[dict[str, Any]]:
    """Every entry of a TAXII list, following ``next`` page by page."""
    found: list[dict[str, Any]] = []
    params = dict(params)
    for _ in range(1000):
        response = client.get(url, params=params, headers=bearer(key))
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body.get(field, []))
        if not body["more"]:
            return found
        assert len(body.get(field, [])) == params["limit"]
        params["next"] = body["next"]
    raise AssertionError("paging did not end")


def rest_pages(client: httpx.Client, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params = dict(params)
    for _ in range(1000):
        response = client.get("/api/v1/objects", params=params, headers=bearer(key))
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["objects"])
        if body["next"] is None:
            return found
        params["cursor"] = body["next"]
    raise AssertionError("paging did not end")


def latest_of(objects: list[dict[str, Any]], ours: set[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for obj in objects:
        if obj["id"] in ours:
            assert obj["id"] not in result, f"{obj['id']} listed twice"
            result[obj["id"]] = obj["modified"]
    return result


def same_versions(got: dict[str, str], want: dict[str, str]) -> bool:
    return {k: parse_timestamp(v) for k, v in got.items()} == {
        k: parse_timestamp(v) for k, v in want.items()
    }


def expected_hits(world: World, ids: Ids, want: Expected) -> set[frozenset[str]]:
    """Pairs of indicators of different authors whose current versions the viewer sees."""
    shown = [
        (ids.bases[i], b.author)
        for i, b in enumerate(world.bases)
        if b.kind == "indicator" and ids.bases[i] in want.latest
    ]
    return {frozenset({a, b}) for (a, x), (b, y) in itertools.combinations(shown, 2) if x != y}


def check_hits(client: httpx.Client, key: str, world: World, ids: Ids, want: Expected) -> None:
    """Hits and search tell a viewer of no object it may not see, and of every pair it may."""
    who = f"key {key[:10]}"
    ours = ids.all
    response = client.get(
        "/api/v1/hits", params={"scope": "all", "limit": 1000}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    pairs = {
        frozenset({h["object"]["id"], h["counterpart"]["id"]})
        for h in response.json()["hits"]
        if h["object"]["id"] in ours or h["counterpart"]["id"] in ours
    }
    assert pairs == expected_hits(world, ids, want), f"hits as {who}"
    value = f"{ids.word}.qzx-leak-test.com"
    found = client.get("/api/v1/search", params={"q": value}, headers=bearer(key)).json()
    carried = {o["id"] for o in found["objects"]}
    shown = {ids.bases[i] for i, b in enumerate(world.bases) if b.kind == "indicator"}
    assert carried == shown & set(want.latest), f"search as {who}"
    if not carried:
        assert found["observables"] == [], f"search told {who} of a value it cannot see"


def check_viewer(client: httpx.Client, col: str, key: str, ids: Ids, want: Expected) -> None:
    ours = ids.all
    who = f"key {key[:10]}"
    after = {"added_after": ids.marker, "limit": PAGE}

    listed = latest_of(pages(client, col + "objects/", key, after, "objects"), ours)
    assert same_versions(listed, want.latest), f"TAXII objects as {who}"

    manifest = pages(client, col + "manifest/", key, after, "objects")
    entries = {m["id"]: m["version"] for m in manifest if m["id"] in ours}
    assert len(entries) == len([m for m in manifest if m["id"] in ours])
    assert same_versions(entries, want.latest), f"TAXII manifest as {who}"

    rest = latest_of(rest_pages(client, key, {"added_after": ids.marker, "limit": PAGE}), ours)
    assert same_versions(rest, want.latest), f"REST list as {who}"

    found = latest_of(rest_pages(client, key, {"q": ids.word, "limit": 1000}), ours)
    assert same_versions(found, want.latest), f"REST search as {who}"

    response = client.get("/api/v1/export", headers=bearer(key))
    assert response.status_code == 200
    exported = latest_of(response.json()["objects"], ours)
    assert same_versions(exported, want.latest), f"export as {who}"

    for object_id in sorted(ours):
        visible = want.versions[object_id]
        one = client.get(f"{col}objects/{object_id}/", headers=bearer(key))
        assert one.status_code == (200 if visible else 404), (who, object_id, one.text)
        got = latest_of(one.json().get("objects", []), ours) if visible else {}
        expect = {object_id: want.latest[object_id]} if object_id in want.latest else {}
        assert same_versions(got, expect), (who, object_id)

        history = client.get(f"{col}objects/{object_id}/versions/", headers=bearer(key))
        assert history.status_code == (200 if visible else 404), (who, object_id)
        if visible:
            stamps = [parse_timestamp(v) for v in history.json()["versions"]]
            assert stamps == [parse_timestamp(v) for v in visible], (who, object_id)

        rest_one = client.get(f"/api/v1/objects/{object_id}", headers=bearer(key))
        assert rest_one.status_code == (200 if object_id in want.latest else 404), (who, object_id)
        if object_id not in ids.versioned:
            continue
        rest_all = client.get(
            f"/api/v1/objects/{object_id}", params={"versions": "all"}, headers=bearer(key)
        )
        assert rest_all.status_code == (200 if visible else 404), (who, object_id)
        if visible:
            stamps = [parse_timestamp(o["modified"]) for o in rest_all.json()]
            assert stamps == [parse_timestamp(v) for v in visible], (who, object_id)


def default_collection(node: Node) -> str:
    with node.store.read() as conn:
        [root] = taxii_store.list_api_roots(conn)
        [col] = [
            c for c in taxii_store.list_collections(conn, api_root_row=root.row_id) if c.is_default
        ]
    return f"/taxii2/{root.path}/collections/{col.id}/"


@pytest.fixture
def served(node: Node) -> Iterator[tuple[Node, ThreadServer, str]]:
    admin = node.add_key(role=Role.ADMIN).secret
    with ThreadServer(node) as server:
        yield node, server, admin


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds())
def test_every_read_path_shows_each_org_exactly_its_share(
    served: tuple[Node, ThreadServer, str], world: World
) -> None:
    node, server, admin = served
    ids = build(node, world)
    col = default_collection(node)
    viewers = [Viewer(org) for org in range(len(world.parents))]
    viewers += [Viewer(org, person) for person, org in enumerate(world.users)]
    keys = ids.org_keys + ids.user_keys
    with taxii_client(server.url) as client:
        for viewer, key in zip(viewers, keys, strict=True):
            want = expected(world, ids, viewer)
            check_viewer(client, col, key, ids, want)
            check_hits(client, key, world, ids, want)

        everything = latest_of(rest_pages(client, admin, {"q": ids.word, "limit": 1000}), ids.all)
        assert set(everything) == ids.all

        red = ids.bases[-1]
        person_key, colleague_key = ids.user_keys[0], ids.org_keys[world.users[0]]
        for url in (f"{col}objects/{red}/", f"/api/v1/objects/{red}"):
            assert client.get(url, headers=bearer(person_key)).status_code == 200
            assert client.get(url, headers=bearer(colleague_key)).status_code == 404
