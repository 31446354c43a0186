"""The REST API over a real HTTP server: objects, organisations, groups, keys, users, audit."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from bayanihan.node import Node
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from tests.conftest import ThreadServer
from tests.stixgen import indicator, malware

API = "/api/v1"


def client(server: ThreadServer, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url + API, headers=headers, timeout=30)


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == status and body["error"]["message"]
    return body


def test_every_path_needs_a_key(server: ThreadServer) -> None:
    with client(server, None) as api:
        for path in ("/node", "/objects", "/orgs", "/sharing-groups", "/keys", "/users", "/audit"):
            assert_error(api.get(path), 401)
        assert_error(api.post("/objects", json={"objects": [indicator()]}), 401)
    with client(server, "bay_wrong") as api:
        assert_error(api.get("/objects"), 401)


def test_submit_list_filter_get_and_revoke(
    server: ThreadServer, node: Node, keys: dict[str, str]
) -> None:
    first = indicator("192.0.2.10", tlp=Tlp.GREEN, name="Smishing relay", description="parcel")
    second = indicator("192.0.2.11", tlp=Tlp.AMBER, name="Mule account page")
    family = malware("PaketSMS")
    with client(server, keys["analyst"]) as api:
        response = api.post("/objects", json={"type": "bundle", "objects": [first, second, family]})
        assert response.status_code == 200, response.text
        assert response.json()["stored"] == 3
        bad = api.post("/objects", json=[{"type": "indicator", "id": "indicator--1"}])
        assert bad.json()["rejected"] == 1
        assert "spec_version" in bad.json()["outcomes"][0]["message"]

        def ids(**params: Any) -> list[str]:
            response = api.get("/objects", params=params)
            assert response.status_code == 200, response.text
            return [o["id"] for o in response.json()["objects"]]

        assert set(ids(type="indicator")) >= {first["id"], second["id"]}
        assert ids(type="malware") == [family["id"]]
        assert ids(q="smishing") == [first["id"]]
        assert ids(q="PARCEL") == [first["id"]]  # description, any case
        assert ids(q="100%") == []
        assert second["id"] in ids(tlp="amber") and first["id"] not in ids(tlp="amber")
        assert set(ids(org=node.operator().org_identity, type="indicator")) == {
            first["id"],
            second["id"],
        }
        assert ids(country="VN", type="indicator") == []
        assert len(ids(country="PH", type="indicator")) == 2
        page = api.get("/objects", params={"type": "indicator", "limit": 1}).json()
        assert len(page["objects"]) == 1 and page["next"]
        rest = api.get("/objects", params={"type": "indicator", "cursor": page["next"]}).json()
        assert {o["id"] for o in page["objects"] + rest["objects"]} == {first["id"], second["id"]}

        got = api.get(f"/objects/{first['id']}")
        assert got.status_code == 200 and got.json()["name"] == "Smishing relay"
        assert_error(api.get(f"/objects/indicator--{uuid.uuid4()}"), 404)

        revoked = api.post(f"/objects/{first['id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["status"] == "stored"
        assert api.get(f"/objects/{first['id']}").json()["revoked"] is True
        versions = api.get(f"/objects/{first['id']}", params={"versions": "all"}).json()
        assert len(versions) == 2
        assert_error(api.post(f"/objects/{first['id']}/revoke"), 400)
    with client(server, keys["other"]) as api:
        assert_error(api.get(f"/objects/{second['id']}"), 404)
        assert_error(api.post(f"/objects/{family['id']}/revoke"), 403)


@pytest.mark.parametrize(
    "params",
    [{"added_after": "yesterday"}, {"cursor": "abc"}, {"limit": "0"}, {"tlp": "purple"}],
)
def test_bad_filters_are_400_or_422(
    server: ThreadServer, keys: dict[str, str], params: Any
) -> None:
    with client(server, keys["reader"]) as api:
        response = api.get("/objects", params=params)
    assert response.status_code in (400, 422)
    assert response.json()["error"]["message"]


def test_bad_bodies_change_nothing(server: ThreadServer, node: Node, keys: dict[str, str]) -> None:
    from tests.web.test_taxii_http import count_rows

    before = count_rows(node)
    with client(server, keys["analyst"]) as api:
        for content in (b"{", b'"objects"', b'{"objects": []}', b'{"objects": 5}', b"\xff\xfe"):
            response = api.post(
                "/objects", content=content, headers={"Content-Type": "application/json"}
            )
            assert response.status_code in (400, 422), content
            assert response.json()["error"]["code"] in (400, 422)
    assert count_rows(node) == before


def test_orgs_keys_users_and_login(server: ThreadServer, node: Node, keys: dict[str, str]) -> None:
    with client(server, keys["admin"]) as api:
        created = api.post("/orgs", json={"name": "Bank C", "country": "th"})
        assert created.status_code == 201 and created.json()["country"] == "TH"
        assert_error(api.post("/orgs", json={"name": "Bank C", "country": "TH"}), 400)
        key = api.post("/keys", json={"role": "analyst", "org": "Bank C"})
        assert key.status_code == 201 and key.json()["key"].startswith("bay_")
        listed = api.get("/keys").json()
        assert any(k["org"] == "Bank C" for k in listed)
        assert all("key" not in k for k in listed)
        user = api.post(
            "/users",
            json={
                "username": "bea",
                "password": "a long enough pass",
                "role": "analyst",
                "org": "Bank C",
            },
        )
        assert user.status_code == 201
        assert_error(
            api.post("/users", json={"username": "x", "password": "short", "role": "reader"}), 422
        )
    with client(server, None) as api:
        login = api.post("/login", json={"username": "bea", "password": "a long enough pass"})
        assert login.status_code == 200
        assert_error(api.post("/login", json={"username": "bea", "password": "wrong"}), 401)
        assert_error(api.post("/login", json={"username": "nobody", "password": "x"}), 401)
    with client(server, login.json()["key"]) as api:
        me = api.get("/whoami").json()
        assert me == {
            "org_identity_id": created.json()["identity_id"],
            "org_name": "Bank C",
            "role": "analyst",
            "user": "bea",
            "peer_org_identity_ids": [],  # a sync key's other organisations only
        }
    with client(server, keys["org-admin"]) as api:
        assert_error(api.post("/orgs", json={"name": "Bank D", "country": "TH"}), 403)
        mine = api.get("/keys").json()
        assert {k["org"] for k in mine} == {"Test CERT"}


def test_sharing_groups_over_rest(server: ThreadServer, node: Node, keys: dict[str, str]) -> None:
    with client(server, keys["org-admin"]) as api:
        group = api.post(
            "/sharing-groups", json={"name": "Mekong fraud", "members": ["Second Org"]}
        )
        assert group.status_code == 201, group.text
        group_id = group.json()["id"]
        assert {m["name"] for m in group.json()["members"]} == {"Test CERT", "Second Org"}
        node.add_org("Third Org", country="KH")
        added = api.post(f"/sharing-groups/{group_id}/members", json={"org": "Third Org"})
        assert {m["name"] for m in added.json()["members"]} == {
            "Test CERT",
            "Second Org",
            "Third Org",
        }
        removed = api.delete(f"/sharing-groups/{group_id}/members/Third Org")
        assert "Third Org" not in {m["name"] for m in removed.json()["members"]}
    with client(server, keys["other"]) as api:  # a member, not the owner
        assert api.get(f"/sharing-groups/{group_id}").status_code == 200
        assert_error(
            api.post(f"/sharing-groups/{group_id}/members", json={"org": "Third Org"}), 403
        )
    with client(server, keys["analyst"]) as api:
        assert_error(api.post("/sharing-groups", json={"name": "Mine"}), 403)
        shared = indicator(
            tlp=Tlp.AMBER,
            extensions={
                "extension-definition--ffc6ea54-7c4f-48dd-8273-4a9e40ca2725": {
                    "extension_type": "property-extension",
                    "sharing_group_refs": [group_id],
                }
            },
        )
        assert api.post("/objects", json=[shared]).json()["stored"] == 1
    with client(server, keys["other"]) as api:
        assert api.get(f"/objects/{shared['id']}").status_code == 200


def test_audit_over_rest_and_public_switch(
    server: ThreadServer, node: Node, keys: dict[str, str]
) -> None:
    secret = indicator(tlp=Tlp.AMBER)
    with client(server, keys["analyst"]) as api:
        api.post("/objects", json=[secret])
        api.get(f"/objects/{secret['id']}")
        assert_error(api.get("/audit"), 403)
        assert_error(api.put("/public-collection", json={"enabled": True}), 403)
    with client(server, keys["admin"]) as api:
        entries = api.get("/audit", params={"limit": 1000}).json()["entries"]
        actions = [(e["action"], e["object_ids"]) for e in entries]
        assert ("rest.submit", [secret["id"]]) in actions
        assert ("rest.get", [secret["id"]]) in actions
        verify = api.get("/audit/verify").json()
        assert verify["ok"] is True and verify["checked"] == len(entries)
        assert api.put("/public-collection", json={"enabled": True}).json() == {"enabled": True}
    assert node.public_collection() is True


def test_openapi_lists_every_route(server: ThreadServer) -> None:
    document = httpx.get(server.url + API + "/openapi.json").json()
    for path in (
        "/objects",
        "/objects/{object_id}",
        "/sharing-groups",
        "/keys",
        "/users",
        "/audit",
    ):
        assert path in document["paths"]
    roles = document["components"]["schemas"]["KeyCreate"]["properties"]["role"]["enum"]
    assert set(roles) == {r.value for r in Role}
