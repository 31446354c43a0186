"""`bayanihan peer ...` and `bayanihan sync` as real processes; /api/v1/peers over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.store import peers as peer_store
from tests.conftest import ThreadServer, free_port, run_cli
from tests.federation import test_pull
from tests.federation.test_pull import Pair, submit
from tests.stixgen import indicator

# the two-node fixtures of test_pull, shared
pair = test_pull.pair
peer_db = test_pull.peer_db


def test_peer_commands_and_sync_through_the_cli(pair: Pair, tmp_path: Path) -> None:
    db = ["--db", pair.a.settings.db]
    pair.a.store.dispose()  # the CLI processes use the database from here on
    submit(pair.b, "VN Police", indicator("198.51.100.90", tlp=Tlp.GREEN))
    with ThreadServer(pair.b) as server:
        added = run_cli(
            *db, "peer", "add", "B", "--url", server.url + "/taxii2/", "--key", pair.sync_key
        )
        assert added.returncode == 0, added.stderr
        assert pair.sync_key not in added.stdout
        synced = run_cli(*db, "sync")
        assert synced.returncode == 0, synced.stderr
        assert "B: " in synced.stdout and " stored" in synced.stdout
        listed = run_cli(*db, "peer", "list")
        assert listed.returncode == 0, listed.stderr
        assert "VN Police" in listed.stdout and "lag:" in listed.stdout
        assert pair.sync_key not in listed.stdout

        down = f"http://127.0.0.1:{free_port()}/taxii2/"
        assert run_cli(*db, "peer", "add", "down", "--url", down, "--key", "k").returncode == 0
        failed = run_cli(*db, "sync")
        assert failed.returncode != 0
        assert "peer down failed" in failed.stderr and "B: " in failed.stdout
        only_b = run_cli(*db, "sync", "--peer", "B")
        assert only_b.returncode == 0, only_b.stderr

    refused = run_cli(*db, "peer", "add", "far", "--url", "http://b.example.org/", "--key", "k")
    assert refused.returncode != 0 and "plain http" in refused.stderr
    both = run_cli(
        *db, "peer", "add", "C", "--url", "https://c.example.org/", "--key", "k", "--user", "u"
    )
    assert both.returncode != 0 and "not both" in both.stderr
    removed = run_cli(*db, "peer", "remove", "down")
    assert removed.returncode == 0, removed.stderr
    listed = run_cli(*db, "peer", "list", "--json")
    assert '"name": "B"' in listed.stdout and '"down"' not in listed.stdout


def test_peers_over_rest(pair: Pair) -> None:
    admin = pair.a.add_key(role=Role.ADMIN).secret
    analyst = pair.a.add_key(role=Role.ANALYST).secret
    with ThreadServer(pair.a) as server:
        api = server.url + "/api/v1"
        as_admin = {"Authorization": f"Bearer {admin}"}
        body = {"name": "B", "url": "https://b.example.org/taxii2/", "key": "bay_secret-key"}
        created = httpx.post(f"{api}/peers", json=body, headers=as_admin)
        assert created.status_code == 201, created.text
        assert "bay_secret-key" not in created.text
        again = httpx.post(f"{api}/peers", json=body, headers=as_admin)
        assert again.status_code == 400 and "already exists" in again.text
        bad = httpx.post(
            f"{api}/peers",
            json={**body, "name": "C", "url": "http://x.example.org/"},
            headers=as_admin,
        )
        assert bad.status_code == 400 and "plain http" in bad.text
        listed = httpx.get(f"{api}/peers", headers=as_admin)
        assert [p["name"] for p in listed.json()] == ["B"]
        assert "bay_secret-key" not in listed.text
        denied = httpx.get(f"{api}/peers", headers={"Authorization": f"Bearer {analyst}"})
        assert denied.status_code == 403
        assert httpx.get(f"{api}/peers").status_code == 401
        assert httpx.delete(f"{api}/peers/B", headers=as_admin).status_code == 204
        assert httpx.delete(f"{api}/peers/B", headers=as_admin).status_code == 404
        assert httpx.get(f"{api}/peers", headers=as_admin).json() == []


def test_peer_add_reads_the_secret_from_standard_input(pair: Pair) -> None:
    """--key-stdin / --password-stdin: the secret is neither an argument (seen in `ps`)
    nor in the shell's history; one line is read and its line ending dropped."""
    db = ["--db", pair.a.settings.db]
    pair.a.store.dispose()  # the CLI processes use the database from here on
    submit(pair.b, "VN Police", indicator("198.51.100.91", tlp=Tlp.GREEN))
    with ThreadServer(pair.b) as server:
        url = server.url + "/taxii2/"
        added = run_cli(
            *db, "peer", "add", "B", "--url", url, "--key-stdin", input_text=pair.sync_key + "\n"
        )
        assert added.returncode == 0, added.stderr
        assert "bearer key" in added.stdout
        assert pair.sync_key not in added.stdout + added.stderr
        pulled = run_cli(*db, "sync", "--peer", "B", "--pull-only")  # B takes the key
        assert pulled.returncode == 0, pulled.stderr
        assert "B: 0 stored" not in pulled.stdout and " stored" in pulled.stdout
    basic = run_cli(
        *db,
        "peer",
        "add",
        "M",
        "--url",
        "https://m.example.org/taxii2/",
        "--user",
        "interop",
        "--password-stdin",
        input_text=" pass word \r\nnot this line\n",
    )
    assert basic.returncode == 0, basic.stderr
    assert "HTTP Basic as interop" in basic.stdout and "pass word" not in basic.stdout

    def refused(*args: str, given: str, says: str) -> None:
        done = run_cli(
            *db, "peer", "add", "C", "--url", "https://c.example.org/", *args, input_text=given
        )
        assert done.returncode != 0 and says in done.stderr, done.stderr

    refused("--key-stdin", given="", says="--key-stdin: standard input gave no secret")
    refused("--key-stdin", given="  \n", says="--key-stdin: standard input gave no secret")
    refused("--user", "u", "--password-stdin", given="", says="--password-stdin: standard input")
    refused("--password-stdin", given="p\n", says="--password-stdin is the HTTP Basic password")
    refused("--key", "k", "--key-stdin", given="k\n", says="not allowed with argument")
    refused("--key-stdin", "--user", "u", "--password-stdin", given="k\n", says="one secret")
    refused("--key-stdin", "--user", "u", given="k\n", says="not both")

    listed = run_cli(*db, "peer", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [p["name"] for p in json.loads(listed.stdout)] == ["B", "M"]  # nothing else kept
    with pair.a.store.read() as conn:
        stored = {p.name: p for p in peer_store.list_peers(conn)}
    assert stored["B"].secret == pair.sync_key
    assert (stored["M"].username, stored["M"].secret) == ("interop", " pass word ")
