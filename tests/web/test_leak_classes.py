"""Leak classes known from other threat-intelligence platforms, tried over real HTTP.

Each test takes one way MISP or OpenCTI have leaked or escalated (group membership
told to outsiders, search finding what cannot be opened, edges inferred from
visible endpoints, a public feed carrying restricted data, trusted headers, keys
that regain rights, org admins resetting site admins, peers writing as others)
and checks that the node answers as if the hidden thing did not exist and that
nothing changed afterwards.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from bayanihan.ingest.importer import import_objects
from bayanihan.node import Node, NodeError, NotFound
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.stix.extensions import SHARING_EXTENSION_ID
from bayanihan.stix.timestamps import parse_timestamp
from bayanihan.store import taxii as taxii_store
from tests.conftest import TAXII, ThreadServer, taxii_client
from tests.stixgen import indicator, malware, stamp

GROUP_TYPE = "x-bayanihan-sharing-group"
HOME = "Test CERT"
ORGS = {"Alpha": "VN", "Bravo": "SG", "Charlie": "TH"}
KEYS = {
    "admin": (Role.ADMIN, None),
    "home-admin": (Role.ORG_ADMIN, None),
    "alpha": (Role.ANALYST, "Alpha"),
    "alpha-reader": (Role.READER, "Alpha"),
    "alpha-admin": (Role.ORG_ADMIN, "Alpha"),
    "bravo": (Role.ANALYST, "Bravo"),
    "bravo-admin": (Role.ORG_ADMIN, "Bravo"),
    "charlie": (Role.ANALYST, "Charlie"),
    "charlie-admin": (Role.ORG_ADMIN, "Charlie"),
}


# -- set-up and helpers --------------------------------------------------------------------


def collections(node: Node) -> dict[str, str]:
    """TAXII collection paths by scope ("all" is the default, "public" when published)."""
    with node.store.read() as conn:
        [root] = taxii_store.list_api_roots(conn)
        return {
            c.scope: f"/taxii2/{root.path}/collections/{c.id}/"
            for c in taxii_store.list_collections(conn, api_root_row=root.row_id)
        }


@dataclass
class Site:
    node: Node
    client: httpx.Client
    col: str
    keys: dict[str, str]
    numbers: dict[str, int]
    identity: dict[str, str]

    def write(self, org: str, objects: list[dict[str, Any]]) -> None:
        summary = import_objects(self.node, self.node.operator(org), objects)
        assert summary.rejected == 0, [r.message for r in summary.reasons]

    def get(self, key: str | None, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, headers=bearer(key), **kwargs)


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


@pytest.fixture
def site(node: Node) -> Iterator[Site]:
    identity = {name: node.add_org(name, country=c).identity_id for name, c in ORGS.items()}
    identity[HOME] = node.operator().org_identity
    keys: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for label, (role, org) in KEYS.items():
        made = node.add_key(role=role, org_name=org)
        keys[label], numbers[label] = made.secret, made.row_id
    with ThreadServer(node) as server, taxii_client(server.url) as client:
        yield Site(node, client, collections(node)["all"], keys, numbers, identity)


def shared(
    obj: dict[str, Any], recipients: Sequence[str] = (), groups: Sequence[str] = ()
) -> dict[str, Any]:
    obj["extensions"] = {
        SHARING_EXTENSION_ID: {
            "extension_type": "property-extension",
            "recipient_refs": list(recipients),
            "sharing_group_refs": list(groups),
        }
    }
    return obj


def marked(tlp: Tlp | None) -> dict[str, Any]:
    return {} if tlp is None else {"object_marking_refs": [tlp.marking_id]}


def relationship(source: str, target: str, tlp: Tlp | None, name: str) -> dict[str, Any]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{uuid.uuid4()}",
        "created": stamp(),
        "modified": stamp(),
        "relationship_type": "indicates",
        "source_ref": source,
        "target_ref": target,
        "name": name,
        **marked(tlp),
    }


def sighting(of: str, tlp: Tlp | None, name: str, observed: Sequence[str] = ()) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.uuid4()}",
        "created": stamp(),
        "modified": stamp(),
        "sighting_of_ref": of,
        "name": name,
        **marked(tlp),
    }
    if observed:
        obj["observed_data_refs"] = list(observed)
    return obj


def observed_data(tlp: Tlp | None, name: str) -> dict[str, Any]:
    return {
        "type": "observed-data",
        "spec_version": "2.1",
        "id": f"observed-data--{uuid.uuid4()}",
        "created": stamp(),
        "modified": stamp(),
        "first_observed": stamp(),
        "last_observed": stamp(),
        "number_observed": 3,
        "object_refs": [f"ipv4-addr--{uuid.uuid4()}"],
        "name": name,
        **marked(tlp),
    }


def taxii_post(
    site: Site, key: str | None, objects: list[Any], col: str | None = None
) -> httpx.Response:
    return site.client.post(
        (col or site.col) + "objects/",
        content=orjson.dumps({"objects": objects}),
        headers={"Content-Type": TAXII, **bearer(key)},
    )


def rest_post(site: Site, key: str | None, objects: list[Any]) -> httpx.Response:
    return site.client.post("/api/v1/objects", json={"objects": objects}, headers=bearer(key))


def message(response: httpx.Response) -> str:
    body = response.json()
    if "error" in body:
        return str(body["error"]["message"])
    return str(body.get("description", body.get("title")))


def same_answer(a: httpx.Response, a_id: str, b: httpx.Response, b_id: str) -> bool:
    """Equal status and body once each request's own id is blanked out."""
    return a.status_code == b.status_code and a.text.replace(a_id, "<id>") == b.text.replace(
        b_id, "<id>"
    )


Headers = list[tuple[str, str]]


def views(
    site: Site,
    key: str | None,
    ours: set[str],
    *,
    col: str | None = None,
    headers: Headers | None = None,
    params: dict[str, str] | None = None,
    rest: bool = True,
) -> dict[str, set[str]]:
    """Which of ``ours`` each read path shows to ``key``."""
    col = col or site.col
    sent: Headers = [*bearer(key).items(), *(headers or [])]
    extra = dict(params or {})

    def get(url: str, **more: str) -> httpx.Response:
        return site.client.get(url, headers=sent, params={**extra, **more})

    def listing(url: str) -> set[str]:
        found: list[str] = []
        token: dict[str, str] = {}
        while True:
            response = get(url, limit="2", **token)
            assert response.status_code == 200, response.text
            body = response.json()
            found += [o["id"] for o in body.get("objects", [])]
            if not body["more"]:
                break
            token = {"next": body["next"]}
        assert len(found) == len(set(found))
        return set(found) & ours

    seen: dict[str, set[str]] = {
        "taxii objects": listing(col + "objects/"),
        "taxii manifest": listing(col + "manifest/"),
        "taxii object": set(),
        "taxii versions": set(),
    }
    for object_id in ours:
        one = get(f"{col}objects/{object_id}/")
        assert one.status_code in (200, 404), one.text
        if one.status_code == 200 and one.json().get("objects"):
            assert [o["id"] for o in one.json()["objects"]] == [object_id]
            seen["taxii object"].add(object_id)
        history = get(f"{col}objects/{object_id}/versions/")
        assert history.status_code in (200, 404), history.text
        if history.status_code == 200:
            seen["taxii versions"].add(object_id)
    if not rest:
        return seen
    found: set[str] = set()
    cursor: dict[str, str] = {}
    while True:
        page = get("/api/v1/objects", limit="2", **cursor)
        assert page.status_code == 200, page.text
        found |= {o["id"] for o in page.json()["objects"]}
        if page.json()["next"] is None:
            break
        cursor = {"cursor": page.json()["next"]}
    seen["rest list"] = found & ours
    seen["rest object"] = set()
    for object_id in ours:
        one = get(f"/api/v1/objects/{object_id}")
        assert one.status_code in (200, 404), one.text
        if one.status_code == 200:
            assert one.json()["id"] == object_id
            seen["rest object"].add(object_id)
    exported = get("/api/v1/export")
    assert exported.status_code == 200
    seen["export"] = {o["id"] for o in exported.json()["objects"]} & ours
    return seen


def assert_sees(seen: dict[str, set[str]], expected: set[str], who: str) -> None:
    for path, got in seen.items():
        assert got == expected, f"{who} on {path}: extra {got - expected}, missing {expected - got}"


# -- 1. sharing-group membership and existence --------------------------------------------


def test_sharing_groups_and_their_members_are_told_only_to_members(site: Site) -> None:
    created = site.client.post(
        "/api/v1/sharing-groups",
        json={"name": "Mekong takedown", "members": ["Bravo"]},
        headers=bearer(site.keys["alpha-admin"]),
    )
    assert created.status_code == 201, created.text
    group = created.json()["id"]
    assert {m["name"] for m in created.json()["members"]} == {"Alpha", "Bravo"}
    unknown = f"{GROUP_TYPE}--{uuid.uuid4()}"

    for label in ("charlie", "charlie-admin"):
        key = site.keys[label]
        listed = site.get(key, "/api/v1/sharing-groups")
        assert listed.status_code == 200 and listed.json() == []
        missing = site.get(key, f"/api/v1/sharing-groups/{unknown}")
        assert missing.status_code == 404
        for ref in (group, "Mekong takedown"):
            got = site.get(key, f"/api/v1/sharing-groups/{ref}")
            assert same_answer(got, ref, missing, unknown), got.text
    outsider = site.keys["charlie-admin"]
    for ref in (group, unknown):
        add = site.client.post(
            f"/api/v1/sharing-groups/{ref}/members",
            json={"org": "Charlie"},
            headers=bearer(outsider),
        )
        drop = site.client.delete(
            f"/api/v1/sharing-groups/{ref}/members/Bravo", headers=bearer(outsider)
        )
        assert add.status_code == drop.status_code == 404
        assert message(add).replace(ref, "<id>") == f"no sharing group {'<id>'!r}"
        assert message(drop).replace(ref, "<id>") == f"no sharing group {'<id>'!r}"

    node = site.node
    charlie = node.operator("Charlie", role=Role.ORG_ADMIN)
    assert node.groups(charlie) == []
    errors = []
    for ref in (group, unknown):
        with pytest.raises(NotFound) as found:
            node.group_members(charlie, ref)
        errors.append(str(found.value).replace(ref, "<id>"))
        with pytest.raises(NotFound) as found:
            node.change_group_member(charlie, ref, "Charlie", add=True)
        errors.append(str(found.value).replace(ref, "<id>"))
    assert len(set(errors)) == 1

    bravo = node.operator("Bravo", role=Role.ORG_ADMIN)
    assert [g.id for g in node.groups(bravo)] == [group]
    assert {m.name for m in node.group_members(bravo, group)} == {"Alpha", "Bravo"}
    listed = site.get(site.keys["bravo"], "/api/v1/sharing-groups")
    assert [g["id"] for g in listed.json()] == [group]
    one = site.get(site.keys["bravo"], f"/api/v1/sharing-groups/{group}")
    assert one.status_code == 200
    assert {m["name"] for m in one.json()["members"]} == {"Alpha", "Bravo"}

    after = site.get(site.keys["admin"], f"/api/v1/sharing-groups/{group}")
    assert {m["name"] for m in after.json()["members"]} == {"Alpha", "Bravo"}


def test_naming_a_group_one_is_not_in_reads_like_naming_no_group(site: Site) -> None:
    group = site.node.add_group(
        "Quiet group", owner=site.node.operator("Alpha", role=Role.ORG_ADMIN), members=["Bravo"]
    ).id
    unknown = f"{GROUP_TYPE}--{uuid.uuid4()}"
    answers = []
    for ref in (group, unknown):
        obj = shared(indicator("203.0.113.9", tlp=Tlp.AMBER), groups=[ref])
        response = rest_post(site, site.keys["charlie"], [obj])
        assert response.status_code == 200
        [outcome] = response.json()["outcomes"]
        assert outcome["status"] == "rejected"
        answers.append(outcome["message"].replace(ref, "<id>"))
        assert site.get(site.keys["admin"], f"/api/v1/objects/{obj['id']}").status_code == 404
    assert answers[0] == answers[1]


def test_creating_a_group_does_not_reveal_an_existing_name(site: Site) -> None:
    site.node.add_group("Lazarus watch", owner=site.node.operator("Alpha", role=Role.ORG_ADMIN))
    response = site.client.post(
        "/api/v1/sharing-groups",
        json={"name": "Lazarus watch"},
        headers=bearer(site.keys["charlie-admin"]),
    )
    assert "exists" not in response.text
    assert response.status_code == 201


def test_an_org_removed_from_a_group_stops_seeing_what_the_group_shared(site: Site) -> None:
    owner = site.node.operator("Alpha", role=Role.ORG_ADMIN)
    group = site.node.add_group("Shrinking group", owner=owner, members=["Bravo"]).id
    lead = shared(indicator("198.51.100.40", tlp=Tlp.AMBER, name="group lead"), groups=[group])
    site.write("Alpha", [lead])
    assert site.get(site.keys["bravo"], f"/api/v1/objects/{lead['id']}").status_code == 200
    assert site.node.change_group_member(owner, group, "Bravo", add=False)
    bravo = site.node.operator("Bravo")
    assert site.node.groups(bravo) == []
    assert site.get(site.keys["alpha"], f"/api/v1/objects/{lead['id']}").status_code == 200
    assert_sees(views(site, site.keys["bravo"], {lead["id"]}), set(), "removed Bravo")


# -- 2. search finding objects one could not open -----------------------------------------


def test_search_and_match_id_find_nothing_that_cannot_be_opened(site: Site) -> None:
    word = f"nightjar{uuid.uuid4().hex[:8]}"
    hidden = [
        indicator("198.51.100.20", tlp=level, name=f"Operation {word} {level.label}")
        for level in (Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)
    ]
    hidden.append(indicator("198.51.100.21", tlp=None, name=f"Operation {word} untagged"))
    green = indicator("198.51.100.22", tlp=Tlp.GREEN, name=f"Operation {word} green")
    site.write("Alpha", [*hidden, green])
    ids = {o["id"] for o in hidden}
    unknown = f"indicator--{uuid.uuid4()}"
    bravo, col = site.keys["bravo"], site.col

    for params in (
        {"q": word},
        {"q": "Operation"},
        {"q": word, "org": "Alpha", "tlp": "amber"},
        {"q": word, "org": site.identity["Alpha"], "type": "indicator"},
        {"tlp": "red"},
        {"country": "VN"},
    ):
        found = site.get(bravo, "/api/v1/objects", params=params)
        assert found.status_code == 200
        assert not {o["id"] for o in found.json()["objects"]} & ids, params
    found = site.get(bravo, "/api/v1/objects", params={"q": word})
    assert [o["id"] for o in found.json()["objects"]] == [green["id"]]

    both = site.get(
        bravo, col + "objects/", params={"match[id]": f"{hidden[0]['id']},{green['id']}"}
    )
    assert [o["id"] for o in both.json()["objects"]] == [green["id"]]

    for object_id in sorted(ids):
        for url in (
            "/api/v1/objects/{}",
            col + "objects/{}/",
            col + "objects/{}/versions/",
        ):
            got = site.get(bravo, url.format(object_id))
            missing = site.get(bravo, url.format(unknown))
            assert got.status_code == 404
            assert same_answer(got, object_id, missing, unknown), (url, got.text)
        for url in (col + "objects/", col + "manifest/"):
            for version in ("last", "all", "first"):
                params = {"match[id]": object_id, "match[version]": version}
                got = site.get(bravo, url, params=params)
                missing = site.get(bravo, url, params={**params, "match[id]": unknown})
                assert got.status_code == 200 and got.json() == {"more": False}
                assert same_answer(got, object_id, missing, unknown)
        deleted = site.client.delete(
            f"{col}objects/{object_id}/", headers=bearer(site.keys["bravo-admin"])
        )
        missing = site.client.delete(
            f"{col}objects/{unknown}/", headers=bearer(site.keys["bravo-admin"])
        )
        assert deleted.status_code == 404
        assert same_answer(deleted, object_id, missing, unknown)

    mine = site.get(site.keys["alpha"], "/api/v1/objects", params={"q": word})
    assert {o["id"] for o in mine.json()["objects"]} == ids | {green["id"]}


def test_a_refused_write_does_not_name_the_author_of_a_hidden_object(site: Site) -> None:
    secret = indicator("198.51.100.30", tlp=Tlp.AMBER, name="Alpha's own lead")
    site.write("Alpha", [secret])
    before = site.get(site.keys["alpha"], f"/api/v1/objects/{secret['id']}").json()
    takeover = {**secret, "modified": stamp(day=5), "name": "taken over"}
    takeover.pop("created_by_ref", None)
    response = rest_post(site, site.keys["bravo"], [takeover])
    [outcome] = response.json()["outcomes"]
    assert outcome["status"] == "rejected"
    after = site.get(
        site.keys["alpha"], f"/api/v1/objects/{secret['id']}", params={"versions": "all"}
    )
    assert after.json() == [before]
    assert site.get(site.keys["bravo"], f"/api/v1/objects/{secret['id']}").status_code == 404
    assert "Alpha" not in outcome["message"]
    assert site.identity["Alpha"] not in outcome["message"]


# -- 3. edges inferred from endpoints ------------------------------------------------------


def test_red_relationship_between_green_objects_is_invisible_to_outsiders(site: Site) -> None:
    lead = indicator("192.0.2.50", tlp=Tlp.GREEN, name="Green lead")
    family = malware("Green family", tlp=Tlp.GREEN)
    red = relationship(lead["id"], family["id"], Tlp.RED, "red link")
    red_shared = shared(
        relationship(family["id"], lead["id"], Tlp.RED, "red link for Charlie"),
        recipients=[site.identity["Charlie"]],
    )
    strict = relationship(lead["id"], family["id"], Tlp.AMBER_STRICT, "strict link")
    site.write("Alpha", [lead, family, red, red_shared, strict])
    ends = {lead["id"], family["id"]}
    ours = ends | {red["id"], red_shared["id"], strict["id"]}

    assert_sees(views(site, site.keys["bravo"], ours), ends, "Bravo")
    assert_sees(views(site, site.keys["charlie"], ours), ends | {red_shared["id"]}, "Charlie")
    assert_sees(views(site, site.keys["alpha-reader"], ours), ours, "Alpha")
    found = site.get(site.keys["bravo"], "/api/v1/objects", params={"q": "link"})
    assert not {o["id"] for o in found.json()["objects"]} & ours


def test_edges_to_an_endpoint_one_cannot_see_are_invisible(site: Site) -> None:
    lead = shared(
        indicator("192.0.2.60", tlp=Tlp.AMBER, name="Amber lead"),
        recipients=[site.identity["Charlie"]],
    )
    family = malware("Public family", tlp=Tlp.GREEN)
    evidence = observed_data(Tlp.AMBER, "Amber evidence")
    link = relationship(lead["id"], family["id"], Tlp.GREEN, "green link")
    clear_link = relationship(family["id"], lead["id"], Tlp.CLEAR, "clear link")
    seen_lead = sighting(lead["id"], Tlp.GREEN, "green sighting of the lead")
    seen_family = sighting(family["id"], Tlp.GREEN, "family seen", observed=[evidence["id"]])
    site.write("Alpha", [lead, family, evidence, link, clear_link, seen_lead, seen_family])
    # Bravo links its own object to the lead it heard of but may not see
    own = malware("Bravo family", tlp=Tlp.GREEN)
    guess = relationship(lead["id"], own["id"], Tlp.GREEN, "bravo guess")
    site.write("Bravo", [own, guess])
    # Charlie, a recipient of the lead, links it to a family of its own
    theirs = malware("Charlie family", tlp=Tlp.GREEN)
    onward = relationship(lead["id"], theirs["id"], Tlp.GREEN, "charlie link")
    site.write("Charlie", [theirs, onward])
    alpha_objects = {o["id"] for o in (lead, family, evidence, link, clear_link)}
    others = {seen_lead["id"], seen_family["id"], own["id"], guess["id"]}
    ours = alpha_objects | others | {theirs["id"], onward["id"]}

    bravo = {family["id"], own["id"], theirs["id"]}
    assert_sees(views(site, site.keys["bravo"], ours), bravo, "Bravo")
    charlie = {lead["id"], family["id"], link["id"], clear_link["id"], seen_lead["id"]}
    charlie |= {own["id"], guess["id"], theirs["id"], onward["id"]}
    assert_sees(views(site, site.keys["charlie"], ours), charlie, "Charlie")
    assert_sees(views(site, site.keys["alpha"], ours), ours, "Alpha")
    found = site.get(site.keys["bravo"], "/api/v1/objects", params={"q": "sighting"})
    assert not {o["id"] for o in found.json()["objects"]} & ours


# -- 4. the public collection --------------------------------------------------------------


def test_public_collection_shows_only_clear_and_nothing_is_open_without_a_key(
    node: Node,
) -> None:
    clear = indicator("192.0.2.70", tlp=Tlp.CLEAR, name="clear lead")
    clear_family = malware("Clear family", tlp=Tlp.CLEAR)
    others = [
        indicator("192.0.2.71", tlp=level, name=f"{level.label} lead")
        for level in (Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)
    ]
    untagged = indicator("192.0.2.72", tlp=None, name="untagged lead")
    clear_link = relationship(clear["id"], clear_family["id"], Tlp.CLEAR, "clear link")
    leaky_links = [
        relationship(clear["id"], others[0]["id"], Tlp.CLEAR, "clear link to green"),
        relationship(untagged["id"], clear_family["id"], Tlp.CLEAR, "clear link to untagged"),
        sighting(others[1]["id"], Tlp.CLEAR, "clear sighting of amber"),
    ]
    first = indicator("192.0.2.73", tlp=Tlp.CLEAR, name="clear at first")
    later = {**first, "modified": stamp(day=4), "object_marking_refs": [Tlp.GREEN.marking_id]}
    node.add_org("Alpha", country="VN")
    objects = [clear, clear_family, *others, untagged, clear_link, *leaky_links, first, later]
    summary = import_objects(node, node.operator("Alpha"), objects)
    assert summary.rejected == 0
    ours = {o["id"] for o in objects}
    key = node.add_key(role=Role.ANALYST, org_name="Alpha").secret
    default = collections(node)["all"]
    object_url = f"{default}objects/{clear['id']}/"

    def closed(client: httpx.Client, *, published: bool) -> None:
        for url in ("/taxii2/api/", "/taxii2/api/collections/"):
            assert client.get(url).status_code == (200 if published else 401), url
        for url in (
            default,
            default + "objects/",
            default + "manifest/",
            object_url,
            object_url + "versions/",
            f"/taxii2/api/collections/{uuid.uuid4()}/objects/",
        ):
            assert client.get(url).status_code == 401, url
            assert client.get(url, headers={"X-Org": "Alpha"}).status_code == 401, url
        for url in ("/api/v1/objects", "/api/v1/export", "/api/v1/sharing-groups", "/api/v1/keys"):
            assert client.get(url).status_code == 401, url
        assert client.get(f"/api/v1/objects/{clear['id']}").status_code == 401
        posted = client.post(
            default + "objects/",
            content=orjson.dumps({"objects": [indicator("192.0.2.99")]}),
            headers={"Content-Type": TAXII},
        )
        assert posted.status_code == 401

    with ThreadServer(node) as server, taxii_client(server.url) as client:
        assert client.get("/taxii2/").status_code == 200
        closed(client, published=False)
        assert "public" not in collections(node)

    node.set_public_collection(True)
    public = collections(node)["public"]
    assert public != default
    with ThreadServer(node) as server, taxii_client(server.url) as client:
        site = Site(node, client, public, {}, {}, {})
        listed = client.get("/taxii2/api/collections/").json()["collections"]
        assert [c["id"] for c in listed] == [public.rstrip("/").rsplit("/", 1)[-1]]
        closed(client, published=True)

        expected = {clear["id"], clear_family["id"], clear_link["id"]}
        for who in (None, key):
            seen = views(site, who, ours, rest=False)
            assert_sees({k: seen[k] for k in ("taxii objects", "taxii manifest")}, expected, "p")
            assert seen["taxii object"] == expected
            assert seen["taxii versions"] == expected | {first["id"]}
            body = site.get(who, public + "objects/", params={"limit": "1000"}).json()
            for obj in body["objects"]:
                if obj["id"] in ours:
                    assert obj["object_marking_refs"] == [Tlp.CLEAR.marking_id], obj["id"]
            history = site.get(who, f"{public}objects/{first['id']}/versions/").json()
            assert [parse_timestamp(v) for v in history["versions"]] == [
                parse_timestamp(first["modified"])
            ]
            for obj in (*others, untagged, *leaky_links):
                for version in ("last", "all"):
                    params = {"match[id]": obj["id"], "match[version]": version}
                    got = site.get(who, public + "objects/", params=params)
                    assert got.json() == {"more": False}
        assert site.get("bay_bogus", public + "objects/").status_code == 401
        assert taxii_post(site, None, [indicator("192.0.2.98")], col=public).status_code == 401
        assert taxii_post(site, key, [indicator("192.0.2.98")], col=public).status_code == 403


def test_turning_the_public_collection_off_closes_it_at_once(node: Node) -> None:
    node.add_org("Alpha", country="VN")
    clear = indicator("192.0.2.75", tlp=Tlp.CLEAR, name="clear lead")
    assert import_objects(node, node.operator("Alpha"), [clear]).stored == 1
    admin = node.add_key(role=Role.ADMIN).secret
    node.set_public_collection(True)
    public = collections(node)["public"]
    with ThreadServer(node) as server, taxii_client(server.url) as client:
        assert client.get(public + "objects/").status_code == 200
        off = client.put(
            "/api/v1/public-collection", json={"enabled": False}, headers=bearer(admin)
        )
        assert off.status_code == 200 and off.json() == {"enabled": False}
        assert client.get("/taxii2/api/collections/").status_code == 401
        assert client.get(public + "objects/").status_code == 401


# -- 5. headers and parameters that claim another identity ---------------------------------


def test_headers_and_parameters_claiming_another_identity_change_nothing(site: Site) -> None:
    amber = indicator("192.0.2.80", tlp=Tlp.AMBER, name="amber lead")
    red = indicator("192.0.2.81", tlp=Tlp.RED, name="red lead")
    green = indicator("192.0.2.82", tlp=Tlp.GREEN, name="green lead")
    site.write("Alpha", [amber, red, green])
    ours = {amber["id"], red["id"], green["id"]}
    bravo = site.keys["bravo"]
    baseline = views(site, bravo, ours)
    assert_sees(baseline, {green["id"]}, "Bravo")

    alpha_id = site.identity["Alpha"]
    basic_admin = "Basic " + base64.b64encode(b"admin:admin").decode()
    spoofs: list[Headers] = [
        [("X-Forwarded-For", "127.0.0.1"), ("X-Real-IP", "127.0.0.1")],
        [("Forwarded", "for=127.0.0.1;proto=https;by=127.0.0.1"), ("X-Forwarded-Host", "local")],
        [("X-Org", "Alpha"), ("X-Org-Id", alpha_id)],
        [("X-Bayanihan-Org", alpha_id), ("X-Bayanihan-Role", "admin")],
        [("X-User", "admin"), ("X-Role", "admin")],
        [("X-Remote-User", "admin"), ("X-Forwarded-User", "admin")],
        [("Authorization", basic_admin)],
        [("Authorization", "Admin true"), ("Authorization", "Negotiate c3VkbyBhZG1pbg==")],
    ]
    for headers in spoofs:
        assert views(site, bravo, ours, headers=headers) == baseline, headers
    who = site.client.get(
        "/api/v1/whoami", headers=[*bearer(bravo).items(), ("X-Org", alpha_id), ("X-User", "a")]
    )
    assert who.json()["org_name"] == "Bravo" and who.json()["role"] == "analyst"

    for params in (
        {"as": "admin"},
        {"org": "Alpha", "as": "admin"},
        {"role": "admin", "user": "admin", "sudo": "1"},
        {"scope": "all", "everything": "true", "tlp_override": "clear"},
    ):
        seen = views(site, bravo, ours, params=params)
        for path, got in seen.items():
            assert got <= baseline[path], (params, path)
            assert not got & {amber["id"], red["id"]}, (params, path)

    for combined in (
        f"Bearer {bravo}, Bearer {site.keys['admin']}",
        f"Bearer {bravo} {site.keys['admin']}",
        f"Bogus {site.keys['admin']}",
    ):
        for url in (site.col + "objects/", "/api/v1/objects", f"/api/v1/objects/{amber['id']}"):
            response = site.client.get(url, headers={"Authorization": combined})
            assert response.status_code == 401, (combined, url)
    for headers in spoofs[:6]:
        assert site.client.get(site.col + "objects/", headers=headers).status_code == 401
        assert site.client.get("/api/v1/objects", headers=headers).status_code == 401


# -- 6. read-only keys and analysts regaining rights ---------------------------------------


def test_reader_and_analyst_keys_cannot_gain_rights(site: Site) -> None:
    own = indicator("192.0.2.90", tlp=Tlp.GREEN, name="reader's org lead")
    site.write("Alpha", [own])
    keys_before = {k.row_id: (k.role, k.org_row, k.revoked) for k in site.node.keys()}
    groups_before = site.node.groups(site.node.operator(role=Role.ADMIN))
    reader = site.keys["alpha-reader"]
    own_before = site.get(reader, f"/api/v1/objects/{own['id']}").json()

    attempt = indicator("192.0.2.91", tlp=Tlp.GREEN, name="reader write")
    assert taxii_post(site, reader, [attempt]).status_code == 403
    assert rest_post(site, reader, [attempt]).status_code == 403
    revoke = site.client.post(f"/api/v1/objects/{own['id']}/revoke", headers=bearer(reader))
    assert revoke.status_code == 403
    delete = site.client.delete(f"{site.col}objects/{own['id']}/", headers=bearer(reader))
    assert delete.status_code == 403
    for role in Role:
        for org in (None, "Alpha", "Bravo"):
            body = {"role": role.value, **({"org": org} if org else {})}
            for label in ("alpha-reader", "alpha", "bravo"):
                made = site.client.post("/api/v1/keys", json=body, headers=bearer(site.keys[label]))
                assert made.status_code == 403, (label, body, made.text)
    for label in ("alpha-reader", "alpha"):
        key = site.keys[label]
        group = site.client.post(
            "/api/v1/sharing-groups", json={"name": f"{label} group"}, headers=bearer(key)
        )
        assert group.status_code == 403
        for number in (site.numbers["alpha"], site.numbers["admin"], site.numbers["bravo"]):
            gone = site.client.delete(f"/api/v1/keys/{number}", headers=bearer(key))
            assert gone.status_code == 403
        assert site.get(key, "/api/v1/keys").status_code == 403
        assert site.get(key, "/api/v1/users").status_code == 403
        assert site.get(key, "/api/v1/audit").status_code == 403
        user = {"username": f"{label}-x", "password": "long enough password", "role": "admin"}
        assert site.client.post("/api/v1/users", json=user, headers=bearer(key)).status_code == 403
        public = site.client.put(
            "/api/v1/public-collection", json={"enabled": True}, headers=bearer(key)
        )
        assert public.status_code == 403
        org = {"name": f"{label} org", "country": "PH"}
        assert site.client.post("/api/v1/orgs", json=org, headers=bearer(key)).status_code == 403

    org_admin = site.keys["alpha-admin"]
    for body in (
        {"role": "admin"},
        {"role": "sync"},
        {"role": "admin", "org": "Alpha"},
        {"role": "sync", "org": "Alpha"},
        {"role": "admin", "org": HOME},
    ):
        made = site.client.post("/api/v1/keys", json=body, headers=bearer(org_admin))
        assert made.status_code == 403, body
    other_org = site.client.post(
        "/api/v1/keys", json={"role": "reader", "org": "Bravo"}, headers=bearer(org_admin)
    )
    assert other_org.status_code == 403
    made = site.client.post(
        "/api/v1/keys", json={"role": "org-admin", "org": "Alpha"}, headers=bearer(org_admin)
    )
    assert made.status_code == 201
    second = made.json()["key"]
    for role in ("admin", "sync"):
        for body in ({"role": role}, {"role": role, "org": "Alpha"}):
            again = site.client.post("/api/v1/keys", json=body, headers=bearer(second))
            assert again.status_code == 403, body
    user = {"username": "alpha-boss", "password": "long enough password", "role": "admin"}
    assert (
        site.client.post("/api/v1/users", json=user, headers=bearer(org_admin)).status_code == 403
    )
    with pytest.raises(NodeError):
        site.node.add_key(role=Role.ADMIN, org_name="Alpha")

    keys_after = {k.row_id: (k.role, k.org_row, k.revoked) for k in site.node.keys()}
    assert {row: keys_after[row] for row in keys_before} == keys_before
    assert [role for row, (role, *_) in keys_after.items() if row not in keys_before] == [
        "org-admin"
    ]
    assert site.node.groups(site.node.operator(role=Role.ADMIN)) == groups_before
    admin = site.keys["admin"]
    assert site.get(admin, f"/api/v1/objects/{attempt['id']}").status_code == 404
    assert site.get(admin, f"/api/v1/objects/{own['id']}").json() == own_before
    assert "revoked" not in own_before
    assert site.get(site.keys["alpha"], "/api/v1/whoami").status_code == 200


def test_a_key_request_without_org_is_for_the_callers_org(site: Site) -> None:
    made = site.client.post(
        "/api/v1/keys", json={"role": "reader"}, headers=bearer(site.keys["alpha-admin"])
    )
    assert made.status_code == 201, made.text
    assert made.json()["org"] == "Alpha"
    who = site.get(made.json()["key"], "/api/v1/whoami").json()
    assert (who["org_name"], who["role"]) == ("Alpha", "reader")


# -- 7. org admins against the site admin's keys -------------------------------------------


def test_org_admins_cannot_revoke_or_list_keys_beyond_their_org(site: Site) -> None:
    admin_no, alpha_no = site.numbers["admin"], site.numbers["alpha"]
    for label in ("bravo-admin", "home-admin"):
        key = site.keys[label]
        for number in (admin_no, alpha_no):
            response = site.client.delete(f"/api/v1/keys/{number}", headers=bearer(key))
            assert response.status_code == 403, (label, number, response.text)

    listed = site.get(site.keys["bravo-admin"], "/api/v1/keys")
    assert listed.status_code == 200
    assert {k["org"] for k in listed.json()} == {"Bravo"}
    assert admin_no not in {k["number"] for k in listed.json()}
    home_list = site.get(site.keys["home-admin"], "/api/v1/keys").json()
    assert {k["org"] for k in home_list} == {HOME}
    users = site.get(site.keys["bravo-admin"], "/api/v1/users")
    assert users.status_code == 200 and users.json() == []
    user = {"username": "bravo-into-alpha", "password": "long enough password", "role": "reader"}
    sneaky = site.client.post(
        "/api/v1/users", json={**user, "org": "Alpha"}, headers=bearer(site.keys["bravo-admin"])
    )
    assert sneaky.status_code == 403

    for label in ("admin", "alpha"):
        who = site.get(site.keys[label], "/api/v1/whoami")
        assert who.status_code == 200
    assert site.get(site.keys["admin"], "/api/v1/whoami").json()["role"] == "admin"
    assert site.get(site.keys["admin"], "/api/v1/audit").status_code == 200
    revoked = {k.row_id for k in site.node.keys() if k.revoked is not None}
    assert revoked == set()

    own = site.client.delete(
        f"/api/v1/keys/{site.numbers['bravo']}", headers=bearer(site.keys["bravo-admin"])
    )
    assert own.status_code == 204
    assert site.get(site.keys["bravo"], "/api/v1/whoami").status_code == 401
    assert site.get(site.keys["admin"], "/api/v1/whoami").status_code == 200
    assert site.node.verify_audit().ok


# -- 8. a sync key trusted beyond its own org ----------------------------------------------


def test_sync_key_writes_and_reads_only_as_its_own_org(site: Site) -> None:
    node = site.node
    peer_id = f"identity--{uuid.uuid4()}"
    node.add_org("Peer CERT", country="SG", identity_id=peer_id)
    sync = node.add_key(role=Role.SYNC, org_name="Peer CERT").secret
    alpha = site.identity["Alpha"]

    green = indicator("192.0.2.100", tlp=Tlp.GREEN, name="alpha green")
    amber_shared = shared(indicator("192.0.2.101", tlp=Tlp.AMBER), recipients=[peer_id])
    amber = indicator("192.0.2.102", tlp=Tlp.AMBER, name="alpha amber")
    red_shared = shared(indicator("192.0.2.103", tlp=Tlp.RED), recipients=[peer_id])
    red = indicator("192.0.2.104", tlp=Tlp.RED, name="alpha red")
    site.write("Alpha", [green, amber_shared, amber, red_shared, red])
    targets = [green, amber_shared, amber, red_shared, red]
    ours = {o["id"] for o in targets}
    originals = {
        o["id"]: site.get(
            site.keys["admin"], f"/api/v1/objects/{o['id']}", params={"versions": "all"}
        ).json()
        for o in targets
    }

    forged = [indicator("192.0.2.110", created_by_ref=alpha, name="as alpha")]
    forged.append(indicator("192.0.2.111", created_by_ref=site.identity[HOME], name="as home"))
    takeovers = []
    for obj in targets:
        newer = {**obj, "modified": stamp(day=6), "name": "peer version"}
        takeovers.append({**newer, "created_by_ref": peer_id})
        takeovers.append(newer)
        takeovers.append({**obj, "object_marking_refs": [Tlp.CLEAR.marking_id]})
        takeovers.append(
            {**obj, "modified": stamp(day=7), "object_marking_refs": [Tlp.CLEAR.marking_id]}
        )
    takeovers.append(
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": alpha,
            "created": stamp(),
            "modified": stamp(day=8),
            "name": "Alpha (renamed by peer)",
            "identity_class": "organization",
        }
    )
    attempts = forged + takeovers
    status = taxii_post(site, sync, attempts)
    assert status.status_code == 202, status.text
    report = status.json()
    assert report["success_count"] == 0 and report["failure_count"] == len(attempts)
    assert {f["id"] for f in report["failures"]} == {o["id"] for o in attempts}
    rest = rest_post(site, sync, attempts)
    assert rest.status_code == 200
    assert {o["status"] for o in rest.json()["outcomes"]} == {"rejected"}

    status_url = f"/taxii2/api/status/{report['id']}/"
    assert site.get(sync, status_url).status_code == 200
    assert site.get(site.keys["alpha"], status_url).status_code == 404

    for obj in forged:
        assert site.get(site.keys["admin"], f"/api/v1/objects/{obj['id']}").status_code == 404
    for object_id, versions in originals.items():
        now = site.get(
            site.keys["admin"], f"/api/v1/objects/{object_id}", params={"versions": "all"}
        )
        assert now.json() == versions, object_id
    assert (
        site.get(site.keys["bravo"], f"/api/v1/objects/{green['id']}").json()
        == (originals[green["id"]][0])
    )
    identity = site.get(site.keys["bravo"], f"/api/v1/objects/{alpha}").json()
    assert identity["name"] == "Alpha"

    own = indicator("192.0.2.120", tlp=Tlp.AMBER, created_by_ref=peer_id, name="peer lead")
    accepted = taxii_post(site, sync, [own]).json()
    assert accepted["success_count"] == 1
    ours.add(own["id"])
    expected = {green["id"], amber_shared["id"], red_shared["id"], own["id"]}
    assert_sees(views(site, sync, ours), expected, "sync")
    assert_sees(views(site, site.keys["bravo"], ours), {green["id"]}, "Bravo")

    for role in Role:
        made = site.client.post("/api/v1/keys", json={"role": role.value}, headers=bearer(sync))
        assert made.status_code == 403
    for obj, status in ((green, 403), (amber, 404)):
        revoke = site.client.post(f"/api/v1/objects/{obj['id']}/revoke", headers=bearer(sync))
        assert revoke.status_code == status, revoke.text
    assert "revoked" not in site.get(site.keys["alpha"], f"/api/v1/objects/{green['id']}").json()
    gone = site.client.delete(f"/api/v1/keys/{site.numbers['alpha']}", headers=bearer(sync))
    assert gone.status_code == 403
    assert site.get(site.keys["alpha"], "/api/v1/whoami").status_code == 200
