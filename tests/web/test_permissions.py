"""What each role may do on every endpoint, cell by cell, over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest

from bayanihan.node import Node
from bayanihan.policy.roles import Role
from tests.conftest import TAXII, ThreadServer, make_node
from tests.stixgen import indicator
from tests.web.test_taxii_http import collection_url

PEER_ORG = "identity--6a1c9e47-3b2d-4f8e-a5c1-0d9e8f7a6b51"


@dataclass
class World:
    node: Node
    server: ThreadServer
    keys: dict[Role, str]
    collection: str
    own_object: str  # written by the node's own org
    admin_key_number: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    node = make_node(f"sqlite:///{tmp_path_factory.mktemp('roles') / 'node.db'}")
    node.add_org("Peer police", country="VN", identity_id=PEER_ORG)
    keys = {role: node.add_key(role=role).secret for role in Role if role is not Role.SYNC}
    keys[Role.SYNC] = node.add_key(role=Role.SYNC, org_name="Peer police").secret
    admin_number = next(k.row_id for k in node.keys() if k.role == "admin")
    from bayanihan.ingest.importer import import_objects

    own = indicator("192.0.2.200")
    import_objects(node, node.operator(), [own])
    with ThreadServer(node) as server:
        yield World(node, server, keys, collection_url(node), own["id"], admin_number)


Call = Callable[[httpx.Client, World], httpx.Response]


def taxii_post(c: httpx.Client, w: World) -> httpx.Response:
    body = orjson.dumps({"objects": [indicator(f"198.51.100.{uuid.uuid4().int % 250}")]})
    return c.post(w.collection + "objects/", content=body, headers={"Content-Type": TAXII})


def taxii_delete(c: httpx.Client, w: World) -> httpx.Response:
    # a fresh object of the caller's own org each time (or the node's, for readers)
    obj = indicator(f"203.0.113.{uuid.uuid4().int % 250}")
    from bayanihan.ingest.importer import import_objects

    principal = w.node.authenticate(c.headers["Authorization"].split()[1])
    assert principal is not None
    if principal.role in (Role.READER, Role.SYNC):
        import_objects(w.node, w.node.operator(), [obj])
    else:
        import_objects(w.node, w.node.operator(principal.org_name), [obj])
    return c.delete(w.collection + f"objects/{obj['id']}/")


def rest_submit(c: httpx.Client, w: World) -> httpx.Response:
    return c.post("/api/v1/objects", json=[indicator(f"192.0.2.{uuid.uuid4().int % 250}")])


CALLS: dict[str, Call] = {
    "taxii read objects": lambda c, w: c.get(w.collection + "objects/"),
    "taxii read manifest": lambda c, w: c.get(w.collection + "manifest/"),
    "taxii post objects": taxii_post,
    "taxii delete own-org object": taxii_delete,
    "rest list objects": lambda c, w: c.get("/api/v1/objects"),
    "rest submit": rest_submit,
    "rest register org": lambda c, w: c.post(
        "/api/v1/orgs", json={"name": f"Org {uuid.uuid4().hex[:6]}", "country": "LA"}
    ),
    "rest list keys": lambda c, w: c.get("/api/v1/keys"),
    "rest create reader key": lambda c, w: c.post("/api/v1/keys", json={"role": "reader"}),
    "rest create admin key": lambda c, w: c.post("/api/v1/keys", json={"role": "admin"}),
    "rest add user": lambda c, w: c.post(
        "/api/v1/users",
        json={
            "username": f"u{uuid.uuid4().hex[:8]}",
            "password": "long enough secret",
            "role": "reader",
        },
    ),
    "rest create group": lambda c, w: c.post(
        "/api/v1/sharing-groups", json={"name": f"G {uuid.uuid4().hex[:6]}"}
    ),
    "rest read audit": lambda c, w: c.get("/api/v1/audit"),
    "rest public switch": lambda c, w: c.put("/api/v1/public-collection", json={"enabled": False}),
    "rest revoke admin key": lambda c, w: c.delete(f"/api/v1/keys/{w.admin_key_number}"),
}

A, OA, N, R, S = Role.ADMIN, Role.ORG_ADMIN, Role.ANALYST, Role.READER, Role.SYNC
ALLOWED: dict[str, set[Role]] = {
    "taxii read objects": {A, OA, N, R, S},
    "taxii read manifest": {A, OA, N, R, S},
    "taxii post objects": {A, OA, N, S},
    "taxii delete own-org object": {A, OA},
    "rest list objects": {A, OA, N, R, S},
    "rest submit": {A, OA, N, S},
    "rest register org": {A},
    "rest list keys": {A, OA},
    "rest create reader key": {A, OA},
    "rest create admin key": {A},
    "rest add user": {A, OA},
    "rest create group": {A, OA},
    "rest read audit": {A},
    "rest public switch": {A},
    "rest revoke admin key": set(),  # tried last by admin below; nobody else may
}


@pytest.mark.parametrize("call", [c for c in CALLS if c != "rest revoke admin key"])
@pytest.mark.parametrize("role", list(Role))
def test_role_on_endpoint(world: World, role: Role, call: str) -> None:
    headers = {"Authorization": f"Bearer {world.keys[role]}", "Accept": TAXII}
    with httpx.Client(base_url=world.server.url, headers=headers, timeout=30) as client:
        response = CALLS[call](client, world)
    if role in ALLOWED[call]:
        assert response.status_code < 300, (role, call, response.status_code, response.text)
    else:
        assert response.status_code == 403, (role, call, response.status_code, response.text)


@pytest.mark.parametrize("role", [OA, N, R, S])
def test_nobody_but_the_admin_revokes_the_admin_key(world: World, role: Role) -> None:
    headers = {"Authorization": f"Bearer {world.keys[role]}"}
    with httpx.Client(base_url=world.server.url, headers=headers, timeout=30) as client:
        response = CALLS["rest revoke admin key"](client, world)
    assert response.status_code == 403
    admin = {"Authorization": f"Bearer {world.keys[A]}"}
    assert httpx.get(world.server.url + "/api/v1/audit", headers=admin).status_code == 200


def test_a_sync_key_writes_only_as_its_peer_org(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.keys[S]}", "Accept": TAXII}
    forged = indicator(created_by_ref=world.node.operator().org_identity)
    with httpx.Client(base_url=world.server.url, headers=headers, timeout=30) as client:
        status = client.post(
            world.collection + "objects/",
            content=orjson.dumps({"objects": [forged]}),
            headers={"Content-Type": TAXII},
        ).json()
        assert status["failure_count"] == 1
        mine = indicator()
        client.post(
            world.collection + "objects/",
            content=orjson.dumps({"objects": [mine]}),
            headers={"Content-Type": TAXII},
        )
        stored = client.get(world.collection + f"objects/{mine['id']}/").json()["objects"][0]
    assert stored["created_by_ref"] == PEER_ORG
