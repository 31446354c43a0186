"""Correlation over the REST API on a real HTTP server: hits, search, an object's
observables, warning-lists, alert channels; errors, permissions and what is not told."""

from __future__ import annotations

from typing import Any

import httpx

from bayanihan.node import Node
from bayanihan.policy.tlp import Tlp
from tests.conftest import ThreadServer
from tests.stixgen import indicator
from tests.web.test_rest import assert_error, client


def _domain(value: str, tlp: Tlp = Tlp.GREEN, **extra: Any) -> dict[str, Any]:
    return indicator("x", tlp=tlp, pattern=f"[domain-name:value = '{value}']", **extra)


def _post(api: httpx.Client, *objects: dict[str, Any]) -> None:
    response = api.post("/objects", json=list(objects))
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == 0, response.text


def test_hits_newest_first_with_orgs_countries_and_cross_border(
    server: ThreadServer, keys: dict[str, str]
) -> None:
    with client(server, keys["analyst"]) as ph, client(server, keys["other"]) as vn:
        mine = _domain("qzx-lazada-refund.com")
        _post(ph, mine, _domain("qzx-shopee-refund.com"))
        _post(vn, _domain("QZX-Lazada-Refund.com."))
        _post(vn, _domain("qzx-shopee-refund.com"))
        response = ph.get("/hits")
        assert response.status_code == 200, response.text
        hits = response.json()["hits"]
        assert [h["observable"]["value"] for h in hits] == [
            "qzx-shopee-refund.com",
            "qzx-lazada-refund.com",
        ]
        first = hits[1]
        assert first["cross_border"] is True
        assert first["object"]["id"] == mine["id"]
        assert first["object"]["org"]["country"] == "PH"
        assert first["counterpart"]["org"] == {
            "id": first["counterpart"]["org"]["id"],
            "name": "Second Org",
            "country": "VN",
        }
        # paging and "new since"
        page = ph.get("/hits", params={"limit": 1}).json()
        assert len(page["hits"]) == 1 and page["next"]
        older = ph.get("/hits", params={"limit": 1, "cursor": page["next"]}).json()
        assert older["hits"][0]["observable"]["value"] == "qzx-lazada-refund.com"
        newer = ph.get("/hits", params={"after": first["hit_id"]}).json()["hits"]
        assert [h["observable"]["value"] for h in newer] == ["qzx-shopee-refund.com"]
        assert ph.get("/hits", params={"cross_border": "false"}).json()["hits"] == []


def test_search_normalises_the_query_and_hides_what_the_caller_may_not_see(
    server: ThreadServer, keys: dict[str, str]
) -> None:
    with client(server, keys["analyst"]) as ph, client(server, keys["other"]) as vn:
        _post(ph, _domain("scam.qzx-example.com"))
        _post(ph, _domain("pay.qzx-example.com"))
        _post(ph, _domain("secret.qzx-example.com", tlp=Tlp.RED))
        found = vn.get("/search", params={"q": "SCAM.qzx-Example.COM."}).json()
        assert found["interpretations"] == [{"kind": "domain", "value": "scam.qzx-example.com"}]
        assert [o["observable"] for o in found["objects"]] == ["scam.qzx-example.com"]
        assert found["objects"][0]["org"]["country"] == "PH"
        assert [r["observable"] for r in found["related"]] == ["pay.qzx-example.com"]
        hidden = vn.get("/search", params={"q": "secret.qzx-example.com"}).json()
        assert hidden["observables"] == [] and hidden["objects"] == []
        own = ph.get("/search", params={"q": "secret.qzx-example.com"}).json()
        assert own["objects"][0]["tlp"] == "red"


def test_search_errors_are_json(server: ThreadServer, keys: dict[str, str]) -> None:
    with client(server, keys["reader"]) as api:
        assert_error(api.get("/search"), 422)
        assert_error(api.get("/search", params={"q": ""}), 422)
        assert_error(api.get("/search", params={"q": "x" * 3000}), 422)
        assert_error(api.get("/hits", params={"cursor": "abc"}), 422)
        nothing = api.get("/search", params={"q": "no such thing at all"}).json()
        assert nothing["interpretations"] == [] and nothing["objects"] == []
    with client(server, None) as anonymous:
        assert_error(anonymous.get("/search", params={"q": "x.com"}), 401)
        assert_error(anonymous.get("/hits"), 401)


def test_object_observables_show_normal_forms_and_noise(
    server: ThreadServer, keys: dict[str, str]
) -> None:
    obj = indicator(
        "x",
        pattern="[ipv4-addr:value = '10.1.2.3' OR url:value = 'HTTP://QZX-Bank.com:80/./login']",
    )
    with client(server, keys["analyst"]) as api:
        _post(api, obj)
        found = api.get(f"/objects/{obj['id']}/observables").json()
        by_kind = {o["kind"]: o for o in found["observables"]}
        assert by_kind["url"]["value"] == "http://qzx-bank.com/login"
        assert by_kind["url"]["noise"] is None
        assert "warning-list" in by_kind["ipv4"]["noise"]
        assert_error(
            api.get("/objects/indicator--00000000-0000-4000-8000-000000000000/observables"), 404
        )


def test_warninglists_only_the_node_admin_switches_them(
    server: ThreadServer, keys: dict[str, str]
) -> None:
    with client(server, keys["reader"]) as reader:
        lists = reader.get("/warninglists").json()
        assert len(lists) > 100 and all(item["enabled"] for item in lists)
        name = lists[0]["name"]
        assert_error(reader.put("/warninglists", json={"names": [name], "enabled": False}), 403)
    with client(server, keys["org-admin"]) as org_admin:
        assert_error(org_admin.put("/warninglists", json={"names": [name], "enabled": False}), 403)
    with client(server, keys["admin"]) as admin:
        assert_error(admin.put("/warninglists", json={"names": ["nope"], "enabled": False}), 400)
        response = admin.put("/warninglists", json={"names": [name], "enabled": False})
        assert response.status_code == 200 and response.json()["disabled"] == [name]
        state = {i["name"]: i["enabled"] for i in admin.get("/warninglists").json()}
        assert state[name] is False


def test_alert_channels_by_role(server: ThreadServer, node: Node, keys: dict[str, str]) -> None:
    hook = {"kind": "webhook", "target": "https://soc.cert-ph.example/hook"}
    with client(server, keys["analyst"]) as analyst:
        assert_error(analyst.post("/alerts/channels", json=hook), 403)
        assert_error(analyst.get("/alerts/channels"), 403)
    with client(server, keys["org-admin"]) as org_admin:
        created = org_admin.post("/alerts/channels", json=hook)
        assert created.status_code == 201, created.text
        assert len(created.json()["secret"]) >= 16  # made for us, shown once
        listed = org_admin.get("/alerts/channels").json()
        assert [c["target"] for c in listed] == [hook["target"]]
        assert "secret" not in listed[0]
        assert_error(org_admin.post("/alerts/channels", json={**hook, "org": "Second Org"}), 403)
        assert_error(org_admin.post("/alerts/channels", json={"kind": "sms", "target": "x"}), 422)
    with client(server, keys["other-admin"]) as other:
        assert other.get("/alerts/channels").json() == []
        assert_error(other.delete(f"/alerts/channels/{created.json()['id']}"), 403)
    with client(server, keys["admin"]) as admin:
        assert len(admin.get("/alerts/channels").json()) == 1
        assert admin.delete(f"/alerts/channels/{created.json()['id']}").status_code == 204
        assert admin.get("/alerts/channels").json()[0]["active"] is False
        assert admin.get("/alerts/deliveries").json() == []


def test_the_openapi_document_lists_the_correlation_paths(server: ThreadServer) -> None:
    with client(server, None) as api:
        paths = api.get("/openapi.json").json()["paths"]
    for path in ("/search", "/hits", "/objects/{object_id}/observables", "/warninglists"):
        assert path in paths
