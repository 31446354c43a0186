"""TAXII 2.1 over a real HTTP server: every endpoint, filter, header and error path."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import orjson
import pytest

from bayanihan.node import Node
from bayanihan.policy.tlp import Tlp
from tests.conftest import TAXII, ThreadServer, taxii_client
from tests.stixgen import indicator, stamp

ROOT = "/taxii2/api/"


def collection_url(node: Node) -> str:
    from bayanihan.store import taxii as taxii_store

    with node.store.read() as conn:
        [root] = taxii_store.list_api_roots(conn)
        [col] = taxii_store.list_collections(conn, api_root_row=root.row_id)
    return f"{ROOT}collections/{col.id}/"


def post(client: httpx.Client, url: str, objects: list[Any]) -> httpx.Response:
    return client.post(
        url + "objects/",
        content=orjson.dumps({"objects": objects}),
        headers={"Content-Type": TAXII},
    )


def count_rows(node: Node) -> int:
    from sqlalchemy import func, select

    from bayanihan.store.schema import objects

    with node.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(objects)).scalar_one())


def assert_taxii_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    body = response.json()
    assert body["title"]
    assert body["http_status"] == str(status)
    return body


# -- discovery, auth, media types ---------------------------------------------------------


def test_discovery_is_public_and_lists_the_api_root(server: ThreadServer) -> None:
    with taxii_client(server.url) as client:
        response = client.get("/taxii2/")
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII
    body = response.json()
    assert body["api_roots"] == [f"{server.url}{ROOT}"]
    assert body["default"] == f"{server.url}{ROOT}"


def test_everything_else_needs_a_key(server: ThreadServer, node: Node) -> None:
    url = collection_url(node)
    with taxii_client(server.url) as client:
        for path in (ROOT, ROOT + "collections/", url, url + "objects/", url + "manifest/"):
            response = client.get(path)
            assert_taxii_error(response, 401)
            assert "Basic" in response.headers["www-authenticate"]
    with taxii_client(server.url, "bay_not-a-real-key") as client:
        assert_taxii_error(client.get(ROOT), 401)


def test_basic_auth_with_the_key_as_password(server: ThreadServer, keys: dict[str, str]) -> None:
    token = base64.b64encode(f"anyone:{keys['reader']}".encode()).decode()
    response = httpx.get(
        server.url + ROOT, headers={"Accept": TAXII, "Authorization": f"Basic {token}"}
    )
    assert response.status_code == 200
    assert response.json()["versions"] == [TAXII]
    assert response.json()["max_content_length"] >= 10 * 1024 * 1024


def test_revoked_key_is_refused(server: ThreadServer, node: Node) -> None:
    from bayanihan.policy.roles import Role

    key = node.add_key(role=Role.ANALYST)
    with taxii_client(server.url, key.secret) as client:
        assert client.get(ROOT).status_code == 200
        node.revoke_key(key.row_id)
        assert_taxii_error(client.get(ROOT), 401)


@pytest.mark.parametrize(
    "accept, status",
    [
        ("application/taxii+json;version=2.1", 200),
        ("application/taxii+json", 200),
        ("application/taxii+json; version=2.1", 200),
        ("*/*", 200),
        ("application/json", 406),
        ("application/taxii+json;version=2.0", 406),
        ("text/html", 406),
    ],
)
def test_accept_header(
    server: ThreadServer, keys: dict[str, str], accept: str, status: int
) -> None:
    response = httpx.get(
        server.url + ROOT, headers={"Accept": accept, "Authorization": f"Bearer {keys['reader']}"}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == TAXII


@pytest.mark.parametrize(
    "content_type, status",
    [
        ("application/taxii+json;version=2.1", 202),
        ("application/taxii+json", 202),
        ("application/json", 415),
        ("application/stix+json;version=2.1", 415),
        ("application/taxii+json;version=2.0", 415),
        (None, 415),
    ],
)
def test_content_type_on_post(
    server: ThreadServer, node: Node, keys: dict[str, str], content_type: str | None, status: int
) -> None:
    url = collection_url(node) + "objects/"
    headers = {"Content-Type": content_type} if content_type else {}
    with taxii_client(server.url, keys["analyst"]) as client:
        body = orjson.dumps({"objects": [indicator()]})
        response = client.post(url, content=body, headers=headers)
    assert response.status_code == status
    if status != 202:
        assert_taxii_error(response, status)


# -- objects: reading ---------------------------------------------------------------------


def test_paging_with_limit_next_more_and_headers(
    server: ThreadServer, node: Node, keys: dict[str, str]
) -> None:
    url = collection_url(node)
    objs = [indicator(f"192.0.2.{i}") for i in range(25)]
    with taxii_client(server.url, keys["analyst"]) as client:
        assert post(client, url, objs).status_code == 202
        seen: list[str] = []
        params: dict[str, str] = {"limit": "10", "match[type]": "indicator"}
        pages = 0
        while True:
            response = client.get(url + "objects/", params=params)
            assert response.status_code == 200
            body = response.json()
            assert len(body["objects"]) <= 10
            seen.extend(o["id"] for o in body["objects"])
            first = response.headers["X-TAXII-Date-Added-First"]
            last = response.headers["X-TAXII-Date-Added-Last"]
            assert first <= last
            pages += 1
            if not body["more"]:
                assert "next" not in body
                break
            params["next"] = body["next"]
        assert pages == 3
        assert seen == [o["id"] for o in objs]
        # added_after with the last header gives the next page too
        response = client.get(url + "objects/", params={"limit": "10", "match[type]": "indicator"})
        after = response.headers["X-TAXII-Date-Added-Last"]
        response = client.get(
            url + "objects/", params={"added_after": after, "match[type]": "indicator"}
        )
        assert [o["id"] for o in response.json()["objects"]] == seen[10:]


def test_get_returns_the_stored_bytes(
    server: ThreadServer, node: Node, keys: dict[str, str]
) -> None:
    url = collection_url(node)
    obj = indicator(description="ünïcødé — 東京 — Hà Nội")
    with taxii_client(server.url, keys["analyst"]) as client:
        post(client, url, [obj])
        response = client.get(url + f"objects/{obj['id']}/")
    stored = dict(obj, created_by_ref=node.operator().org_identity)
    assert orjson.dumps(stored, option=orjson.OPT_SORT_KEYS) in response.content


def test_match_filters(server: ThreadServer, node: Node, keys: dict[str, str]) -> None:
    url = collection_url(node) + "objects/"
    a = indicator("192.0.2.1")
    b = indicator("192.0.2.2")
    a2 = dict(a, modified=stamp(2), name="second")
    a3 = dict(a, modified=stamp(3), name="third")
    with taxii_client(server.url, keys["analyst"]) as client:
        post(client, collection_url(node), [a, b, a2, a3])

        def ids(**params: str) -> list[tuple[str, str]]:
            response = client.get(url, params=params)
            assert response.status_code == 200, response.text
            return [(o["id"], o["modified"]) for o in response.json().get("objects", [])]

        assert ids(**{"match[id]": a["id"]}) == [(a["id"], stamp(3))]
        assert ids(**{"match[id]": f"{a['id']},{b['id']}", "match[version]": "first"}) == [
            (a["id"], stamp()),
            (b["id"], stamp()),
        ]
        assert len(ids(**{"match[id]": a["id"], "match[version]": "all"})) == 3
        assert ids(**{"match[id]": a["id"], "match[version]": stamp(2)}) == [(a["id"], stamp(2))]
        assert ids(**{"match[id]": a["id"], "match[version]": "first,last"}) == [
            (a["id"], stamp()),
            (a["id"], stamp(3)),
        ]
        assert ids(**{"match[type]": "malware"}) == []
        assert len(ids(**{"match[type]": "malware,indicator"})) == 2
        assert len(ids(**{"match[type]": "indicator", "match[spec_version]": "2.1"})) == 2
        assert ids(**{"match[type]": "indicator", "match[spec_version]": "2.0"}) == []


def test_object_manifest_and_versions(
    server: ThreadServer, node: Node, keys: dict[str, str]
) -> None:
    url = collection_url(node)
    a = indicator()
    a2 = dict(a, modified=stamp(2))
    with taxii_client(server.url, keys["analyst"]) as client:
        post(client, url, [a, a2])
        one = client.get(url + f"objects/{a['id']}/").json()
        assert [o["modified"] for o in one["objects"]] == [stamp(2)]
        every = client.get(url + f"objects/{a['id']}/", params={"match[version]": "all"}).json()
        assert len(every["objects"]) == 2
        versions = client.get(url + f"objects/{a['id']}/versions/")
        assert versions.status_code == 200
        assert versions.json()["versions"] == [
            "2026-11-01T00:00:00.000000Z",
            "2026-11-02T00:00:00.000000Z",
        ]
        assert "X-TAXII-Date-Added-First" in versions.headers
        manifest = client.get(url + "manifest/", params={"match[id]": a["id"]}).json()
        [record] = manifest["objects"]
        assert record["id"] == a["id"]
        assert record["version"] == "2026-11-02T00:00:00.000000Z"
        assert record["media_type"] == "application/stix+json;version=2.1"
        assert record["date_added"].endswith("Z")
        assert_taxii_error(client.get(url + f"objects/indicator--{uuid.uuid4()}/"), 404)
        assert_taxii_error(client.get(url + f"objects/indicator--{uuid.uuid4()}/versions/"), 404)


def test_unknown_things_are_404_with_taxii_bodies(
    server: ThreadServer, node: Node, keys: dict[str, str]
) -> None:
    with taxii_client(server.url, keys["reader"]) as client:
        assert_taxii_error(client.get("/taxii2/nope/"), 404)
        assert_taxii_error(client.get(ROOT + f"collections/{uuid.uuid4()}/"), 404)
        assert_taxii_error(client.get(ROOT + f"collections/{uuid.uuid4()}/objects/"), 404)
        assert_taxii_error(client.get(ROOT + f"status/{uuid.uuid4()}/"), 404)
        assert_taxii_error(client.get("/taxii2/api/what/ever/"), 404)
        assert_taxii_error(client.put(collection_url(node) + "objects/"), 405)


@pytest.mark.parametrize(
    "params",
    [
        {"added_after": "yesterday"},
        {"added_after": "2026-13-01T00:00:00Z"},
        {"limit": "0"},
        {"limit": "-5"},
        {"limit": "ten"},
        {"next": "not-a-token"},
        {"next": base64.urlsafe_b64encode(b"d1:abc").decode()},
        {"match[version]": "newest"},
        {"match[type]": "Indicator!"},
        {"match[id]": "indicator--1"},
        {"match[spec_version]": "two"},
        {"match[colour]": "red"},
        {"match[type]": "indicator,"},
    ],
)
def test_malformed_filters_are_400(
    server: ThreadServer, node: Node, keys: dict[str, str], params: dict[str, str]
) -> None:
    with taxii_client(server.url, keys["reader"]) as client:
        response = client.get(collection_url(node) + "objects/", params=params)
        body = assert_taxii_error(response, 400)
        assert body.get("description")
        manifest = client.get(collection_url(node) + "manifest/", params=params)
        assert_taxii_error(manifest, 400)


# -- objects: writing ---------------------------------------------------------------------


def test_post_answers_a_status_with_successes_and_failures(
    server: ThreadServer, node: Node, keys: dict[str, str]
) -> None:
    url = collection_url(node)
    good = indicator()
    with taxii_client(server.url, keys["analyst"]) as client:
        response = post(client, url, [good, {"type": "indicator", "id": "indicator--1"}, good])
        assert response.status_code == 202
        assert response.headers["content-type"] == TAXII
        status = response.json()
        assert status["status"] == "complete"
        assert (status["total_count"], status["success_count"], status["failure_count"]) == (
            3,
            2,
            1,
        )
        assert status["pending_count"] == 0
        assert [s["id"] for s in status["successes"]] == [good["id"], good["id"]]
        assert status["successes"][0]["version"] == "2026-11-01T00:00:00.000000Z"
        [failure] = status["failures"]
        assert failure["id"] == "indicator--1" and "spec_version" in failure["message"]
        fetched = client.get(ROOT + f"status/{status['id']}/")
        assert fetched.status_code == 200 and fetched.json() == status
        assert client.get(ROOT + f"status/{status['id']}").json() == status
    with taxii_client(server.url, keys["other"]) as client:
        assert_taxii_error(client.get(ROOT + f"status/{status['id']}/"), 404)


def test_writing_as_another_org_is_refused(
    server: ThreadServer, node: Node, keys: dict[str, str]
) -> None:
    other = node.org("Second Org")
    forged = indicator(created_by_ref=other.identity_id)
    with taxii_client(server.url, keys["analyst"]) as client:
        status = post(client, collection_url(node), [forged]).json()
    assert status["failure_count"] == 1
    assert "may not write as another" in status["failures"][0]["message"]


BAD_BODIES: list[tuple[str, bytes]] = [
    ("malformed JSON", b'{"objects": [{"type": "indicator",'),
    ("invalid UTF-8", b'{"objects": [{"type": "indicator", "name": "\xff\xfe"}]}'),
    ("deeply nested", b'{"objects": [' + b"[" * 5000 + b"]" * 5000 + b"]}"),
    ("not an object", b'[{"type": "indicator"}]'),
    ("objects not a list", b'{"objects": {"type": "indicator"}}'),
    ("no objects", b'{"more": false}'),
    ("empty objects", b'{"objects": []}'),
    ("a bare string", b'"objects"'),
    ("empty body", b""),
]


@pytest.mark.parametrize("name, body", BAD_BODIES, ids=[n for n, _ in BAD_BODIES])
def test_bad_bodies_are_400_and_change_nothing(
    server: ThreadServer, node: Node, keys: dict[str, str], name: str, body: bytes
) -> None:
    before = count_rows(node)
    with taxii_client(server.url, keys["analyst"]) as client:
        response = client.post(
            collection_url(node) + "objects/", content=body, headers={"Content-Type": TAXII}
        )
    assert_taxii_error(response, 400)
    assert count_rows(node) == before


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "indicator"},
        {"type": 7, "id": "indicator--1"},
        "just a string",
        None,
        ["a", "list"],
    ],
)
def test_wrong_types_in_an_envelope_are_failures_not_errors(
    server: ThreadServer, node: Node, keys: dict[str, str], bad: Any
) -> None:
    before = count_rows(node)
    with taxii_client(server.url, keys["analyst"]) as client:
        response = post(client, collection_url(node), [bad])
    assert response.status_code == 202
    assert response.json()["failure_count"] == 1
    assert count_rows(node) == before


def test_oversize_bodies_are_413(server: ThreadServer, node: Node, keys: dict[str, str]) -> None:
    limit = node.settings.max_content_length
    before = count_rows(node)
    big = b'{"objects": [' + b" " * (limit + 10) + b"]}"
    with taxii_client(server.url, keys["analyst"]) as client:
        response = client.post(
            collection_url(node) + "objects/", content=big, headers={"Content-Type": TAXII}
        )
        assert_taxii_error(response, 413)

        def chunks():  # no Content-Length: the limit applies while reading
            yield b'{"objects": ['
            for _ in range(limit // 65536 + 2):
                yield b" " * 65536
            yield b"]}"

        response = client.post(
            collection_url(node) + "objects/", content=chunks(), headers={"Content-Type": TAXII}
        )
        assert_taxii_error(response, 413)
    assert count_rows(node) == before


# -- roles ---------------------------------------------------------------------------------


def test_reader_may_not_write(server: ThreadServer, node: Node, keys: dict[str, str]) -> None:
    with taxii_client(server.url, keys["reader"]) as client:
        collection = client.get(collection_url(node)).json()
        assert collection["can_read"] is True and collection["can_write"] is False
        assert_taxii_error(post(client, collection_url(node), [indicator()]), 403)


def test_delete_rules(server: ThreadServer, node: Node, keys: dict[str, str]) -> None:
    url = collection_url(node)
    mine = indicator("192.0.2.50")
    theirs = indicator("192.0.2.51", tlp=Tlp.GREEN)
    with taxii_client(server.url, keys["analyst"]) as client:
        post(client, url, [mine])
        response = client.delete(url + f"objects/{mine['id']}/")
        assert "revoke" in assert_taxii_error(response, 403)["description"]
    with taxii_client(server.url, keys["other"]) as client:
        post(client, url, [theirs])
    with taxii_client(server.url, keys["org-admin"]) as client:
        assert_taxii_error(client.delete(url + f"objects/{theirs['id']}/"), 403)
        response = client.delete(url + f"objects/{mine['id']}/")
        assert response.status_code == 200
        assert_taxii_error(client.get(url + f"objects/{mine['id']}/"), 404)
        assert_taxii_error(client.delete(url + f"objects/{mine['id']}/"), 404)
    with taxii_client(server.url, keys["admin"]) as client:
        assert client.delete(url + f"objects/{theirs['id']}/").status_code == 200


def test_delete_one_version_keeps_the_rest(
    server: ThreadServer, node: Node, keys: dict[str, str]
) -> None:
    url = collection_url(node)
    a = indicator()
    a2 = dict(a, modified=stamp(2))
    with taxii_client(server.url, keys["org-admin"]) as client:
        post(client, url, [a, a2])
        response = client.delete(url + f"objects/{a['id']}/", params={"match[version]": "last"})
        assert response.status_code == 200
        remaining = client.get(url + f"objects/{a['id']}/").json()["objects"]
        assert [o["modified"] for o in remaining] == [stamp()]


def test_other_orgs_amber_is_invisible_on_every_path(
    server: ThreadServer, node: Node, keys: dict[str, str]
) -> None:
    url = collection_url(node)
    secret = indicator("192.0.2.99", tlp=Tlp.AMBER)
    with taxii_client(server.url, keys["analyst"]) as client:
        post(client, url, [secret])
        assert client.get(url + f"objects/{secret['id']}/").status_code == 200
    with taxii_client(server.url, keys["other"]) as client:
        assert_taxii_error(client.get(url + f"objects/{secret['id']}/"), 404)
        assert_taxii_error(client.get(url + f"objects/{secret['id']}/versions/"), 404)
        listed = client.get(url + "objects/", params={"match[type]": "indicator"}).json()
        assert secret["id"] not in {o["id"] for o in listed.get("objects", [])}
        manifest = client.get(url + "manifest/").json()
        assert secret["id"] not in {o["id"] for o in manifest.get("objects", [])}
    with taxii_client(server.url, keys["other-admin"]) as client:
        assert_taxii_error(client.delete(url + f"objects/{secret['id']}/"), 404)


# -- other pages ---------------------------------------------------------------------------


def test_landing_health_and_rest(server: ThreadServer, keys: dict[str, str]) -> None:
    landing = httpx.get(server.url + "/")
    assert landing.status_code == 200
    assert "Test CERT" in landing.text
    assert 'href="/taxii2/"' in landing.text and 'href="/api/v1/docs"' in landing.text
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    openapi = httpx.get(server.url + "/api/v1/openapi.json").json()
    assert "/node" in openapi["paths"]
    docs = httpx.get(server.url + "/api/v1/docs")
    assert docs.status_code == 200 and "/api/v1/node" in docs.text
    assert "http" not in docs.text.split("<body>")[0].replace("http-equiv", "")
    denied = httpx.get(server.url + "/api/v1/node")
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == 401
    me = httpx.get(
        server.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {keys['reader']}"}
    )
    assert me.json()["role"] == "reader"
