"""`bayanihan sync --push-only` and `peer outbox` as real processes; push state over REST."""

from __future__ import annotations

import json

import httpx

from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from tests.conftest import ThreadServer, run_cli
from tests.federation import test_pull, test_push
from tests.federation.test_pull import submit
from tests.federation.test_push import Nodes, held
from tests.stixgen import indicator

nodes = test_push.nodes
peer_db = test_pull.peer_db


def test_sync_push_only_through_the_cli(nodes: Nodes) -> None:
    db = ["--db", nodes.a.settings.db]
    sent = indicator("198.51.100.70", tlp=Tlp.GREEN)
    with ThreadServer(nodes.b) as server:
        test_push.peer_b(nodes, server)
        submit(nodes.a, None, sent)
        nodes.a.store.dispose()  # the CLI processes use the database from here on
        pushed = run_cli(*db, "sync", "--push-only")
        assert pushed.returncode == 0, pushed.stderr
        assert "B: pushed 1 (1 accepted, 0 refused, 0 pending)" in pushed.stdout
        assert " stored," not in pushed.stdout  # no pull
        assert sent["id"] in held(nodes.b)
    submit(nodes.a, None, indicator("198.51.100.71", tlp=Tlp.GREEN))
    nodes.a.store.dispose()
    failed = run_cli(*db, "sync", "--push-only")
    assert failed.returncode != 0
    assert "push to peer B failed" in failed.stderr and "connection refused" in failed.stderr
    listed = run_cli(*db, "peer", "list")
    assert listed.returncode == 0, listed.stderr
    assert "outbox: 1 pending" in listed.stdout and "last push success: 20" in listed.stdout
    box = run_cli(*db, "peer", "outbox", "B", "--json")
    assert box.returncode == 0, box.stderr
    [entry] = json.loads(box.stdout)
    assert entry["state"] == "pending" and entry["attempts"] == 1
    both = run_cli(*db, "sync", "--push-only", "--pull-only")
    assert both.returncode != 0 and "not allowed with" in both.stderr


def test_push_state_over_rest(nodes: Nodes) -> None:
    with ThreadServer(nodes.b) as server:
        test_push.peer_b(nodes, server)
    submit(nodes.a, None, indicator("198.51.100.72", tlp=Tlp.GREEN))
    admin = nodes.a.add_key(role=Role.ADMIN).secret
    analyst = nodes.a.add_key(role=Role.ANALYST).secret
    with ThreadServer(nodes.a) as server:
        api = server.url + "/api/v1"
        as_admin = {"Authorization": f"Bearer {admin}"}
        synced = httpx.post(f"{api}/sync?only=push", headers=as_admin, timeout=60)
        assert synced.status_code == 200, synced.text
        [result] = synced.json()
        assert result["pull"] is None and not result["ok"]
        assert result["push"]["waiting"] == 1
        [peer] = httpx.get(f"{api}/peers", headers=as_admin).json()
        assert peer["push_pending"] == 1 and peer["last_push_error"]
        box = httpx.get(f"{api}/peers/B/outbox", headers=as_admin)
        assert box.status_code == 200, box.text
        assert [e["state"] for e in box.json()] == ["pending"]
        denied = httpx.get(f"{api}/peers/B/outbox", headers={"Authorization": f"Bearer {analyst}"})
        assert denied.status_code == 403
        assert httpx.get(f"{api}/peers/C/outbox", headers=as_admin).status_code == 404
