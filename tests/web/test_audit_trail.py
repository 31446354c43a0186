"""Every write and every read of non-CLEAR objects leaves one audit entry per request."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from bayanihan.node import Node
from bayanihan.policy.tlp import Tlp
from tests.conftest import TAXII, ThreadServer, make_node, run_cli, taxii_client
from tests.stixgen import indicator
from tests.web.test_taxii_http import collection_url


def entries(node: Node) -> list[tuple[str, tuple[str, ...], str | None, int | None]]:
    return [(e.action, e.object_ids, e.remote, e.key_row) for e in node.audit_entries(limit=10_000)]


def test_taxii_requests_are_audited(server: ThreadServer, node: Node, keys: dict[str, str]) -> None:
    url = collection_url(node)
    amber = indicator("192.0.2.1", tlp=Tlp.AMBER)
    clear = indicator("192.0.2.2", tlp=Tlp.CLEAR)
    with taxii_client(server.url, keys["analyst"]) as client:
        response = client.post(
            url + "objects/",
            content=orjson.dumps({"objects": [amber, clear]}),
            headers={"Content-Type": TAXII},
        )
        assert response.status_code == 202
        before = len(entries(node))
        client.get(url + f"objects/{clear['id']}/")  # CLEAR only: no entry
        assert len(entries(node)) == before
        client.get(url + f"objects/{amber['id']}/")
        client.get(url + "manifest/", params={"match[id]": amber["id"]})
    trail = entries(node)
    writes = [e for e in trail if e[0] == "taxii.add-objects"]
    assert len(writes) == 1 and set(writes[0][1]) == {amber["id"], clear["id"]}
    assert writes[0][2] == "127.0.0.1" and writes[0][3] is not None
    reads = [e for e in trail if e[0] in ("taxii.get-objects", "taxii.get-manifest")]
    assert [r[1] for r in reads] == [(amber["id"],), (amber["id"],)]
    assert node.verify_audit().ok


def test_audit_verify_command_names_the_tampered_entry(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    node = make_node(f"sqlite:///{path}")
    node.add_org("Bank", country="PH")
    node.add_org("Police", country="PH")
    node.store.dispose()
    db = f"sqlite:///{path}"
    ok = run_cli("--db", db, "audit", "verify")
    assert ok.returncode == 0 and "intact" in ok.stdout
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE audit_log SET detail = 'someone else' WHERE seq = 1")
    broken = run_cli("--db", db, "audit", "verify")
    assert broken.returncode == 1
    assert "entry 1" in broken.stderr
    exported = run_cli("--db", db, "audit", "export")
    lines = [orjson.loads(line) for line in exported.stdout.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2]
    assert lines[0]["action"] == "org.add"


def test_an_export_is_one_audit_entry(sqlite_node: Node) -> None:
    from bayanihan.catalogue import Catalogue
    from bayanihan.ingest.importer import import_objects

    node = sqlite_node
    objects = [indicator(f"198.51.100.{i}", tlp=Tlp.AMBER) for i in range(2500)]
    import_objects(node, node.operator(), objects)
    before = len(entries(node))
    bundle = orjson.loads(b"".join(Catalogue(node).export(node.operator())))
    assert {o["id"] for o in objects} <= {o["id"] for o in bundle["objects"]}
    exports = [e for e in entries(node)[before:] if e[0] == "export"]
    assert len(exports) == 1 and set(exports[0][1]) == {o["id"] for o in objects}
