"""Mutual TLS towards a peer: ``peer add --client-cert [--client-key]``, against a real
``bayanihan serve --tls-cert --tls-key --tls-client-ca`` process (certificates made by
trustme: one CA for servers, one for the clients the peer trusts, one it does not)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from sqlalchemy import func, select

from bayanihan.federation import Federation
from bayanihan.federation.client import ClientCertificate, check_client_certificate, tls_context
from bayanihan.node import Node, NodeError
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.settings import Settings
from bayanihan.store import peers as peer_store
from bayanihan.store.schema import objects
from tests.conftest import ThreadServer, free_port
from tests.federation.procs import Background, cli, cli_ok, command, node_env
from tests.federation.test_pull import submit
from tests.federation.test_push import entries, held
from tests.stixgen import indicator


def write_cert(cert: trustme.LeafCert, pem: Path, key: Path | None = None) -> None:
    """The certificate chain to ``pem``; its key to ``key``, or into ``pem`` too."""
    with pem.open("wb") as out:
        if key is None:
            out.write(cert.private_key_pem.bytes())
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    if key is not None:
        cert.private_key_pem.write_to_path(str(key))


@dataclass
class Pki:
    dir: Path
    servers: trustme.CA  # signs the peer's server certificate; our --ca-file
    clients: trustme.CA  # the peer requires client certificates signed by this one
    stranger: trustme.CA  # a CA the peer does not trust

    @property
    def ca_file(self) -> Path:
        return self.dir / "servers.pem"

    def client(self, name: str, *, by: trustme.CA | None = None, key_apart: bool = True) -> Path:
        """A client certificate (signed by ``by``, default the trusted clients' CA) in
        ``name.pem``, its key in ``name.key`` (or in the same file)."""
        issued = (by or self.clients).issue_cert(f"{name}.nodes.example")
        pem = self.dir / f"{name}.pem"
        write_cert(issued, pem, self.dir / f"{name}.key" if key_apart else None)
        return pem


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    found = Pki(tmp_path / "pki", trustme.CA(), trustme.CA(), trustme.CA())
    found.dir.mkdir()
    found.servers.cert_pem.write_to_path(str(found.ca_file))
    found.clients.cert_pem.write_to_path(str(found.dir / "clients.pem"))
    write_cert(
        found.servers.issue_cert("127.0.0.1"), found.dir / "server.pem", found.dir / "server.key"
    )
    return found


class MutualTlsServe:
    """``bayanihan serve`` over HTTPS requiring client certificates of ``pki.clients``."""

    def __init__(self, db: str, pki: Pki, log: Path) -> None:
        self.db, self.pki, self.log = db, pki, log
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}/taxii2/"
        self.process: Background | None = None

    def __enter__(self) -> MutualTlsServe:
        tls = self.pki.dir
        argv = command(
            self.db,
            "serve",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--tls-cert",
            str(tls / "server.pem"),
            "--tls-key",
            str(tls / "server.key"),
            "--tls-client-ca",
            str(tls / "clients.pem"),
        )
        self.process = Background(argv, node_env(), self.log)
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        self.pki.clients.issue_cert("probe.example").configure_cert(context)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.process.running:
                raise RuntimeError(f"serve exited: {self.process.output()[-2000:]}")
            try:
                conn = http.client.HTTPSConnection(
                    "127.0.0.1", self.port, timeout=2, context=context
                )
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.process.kill()
        raise RuntimeError("serve did not come up")

    def __exit__(self, *_exc: object) -> None:
        assert self.process is not None
        if self.process.running:
            os.killpg(self.process.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except Exception:
                self.process.kill()


@dataclass
class Nodes:
    a_db: str
    b_db: str
    key: str  # issued by B for A's org
    b_item: str  # an object B holds, for A to pull


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    a_db, b_db = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    a = Node(Settings(db=a_db, correlation=False))
    a.init(node_name="PH CERT", country="PH")
    b = Node(Settings(db=b_db, correlation=False))
    b.init(node_name="VN CERT", country="VN")
    b.add_org("PH CERT", country="PH", identity_id=a.operator().org_identity)
    key = b.add_key(role=Role.SYNC, org_name="PH CERT").secret
    item = indicator("198.51.100.120", tlp=Tlp.GREEN)
    submit(b, None, item)
    a.store.dispose()
    b.store.dispose()
    yield Nodes(a_db, b_db, key, item["id"])


def count(db: str) -> int:
    node = Node(Settings(db=db, correlation=False))
    try:
        with node.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(objects)).scalar() or 0)
    finally:
        node.store.dispose()


def ids(db: str) -> set[str]:
    node = Node(Settings(db=db, correlation=False))
    try:
        return set(held(node))
    finally:
        node.store.dispose()


def write_on(db: str, *objs: dict[str, object]) -> None:
    node = Node(Settings(db=db, correlation=False))
    try:
        submit(node, None, *objs)
    finally:
        node.store.dispose()


def test_the_right_client_certificate_pulls_and_pushes_others_are_refused(
    nodes: Nodes, pki: Pki, tmp_path: Path
) -> None:
    """Real processes on both sides: a peer requiring client certificates lets in the node
    presenting one of its CA's (key apart, or in the same file) and no other; a refused
    round says it is TLS and the certificate, and changes nothing on either node."""
    ours = indicator("198.51.100.121", tlp=Tlp.GREEN)
    write_on(nodes.a_db, ours)
    good = pki.client("a")
    combined = pki.client("a-combined", key_apart=False)
    stranger = pki.client("stranger", by=pki.stranger)
    with MutualTlsServe(nodes.b_db, pki, tmp_path / "b.log") as b:
        common = ["--url", b.url, "--key", nodes.key, "--ca-file", str(pki.ca_file)]
        cli_ok(nodes.a_db, "peer", "add", "bare", *common)
        cli_ok(
            nodes.a_db,
            "peer",
            "add",
            "stranger",
            *common,
            "--client-cert",
            str(stranger),
            "--client-key",
            str(stranger.with_suffix(".key")),
        )
        before = (count(nodes.a_db), count(nodes.b_db))
        for name, says in (("bare", "we present none"), ("stranger", "does not accept ours")):
            failed = cli(nodes.a_db, "sync", "--peer", name)
            assert failed.returncode == 1, failed.stdout
            assert f"peer {name} failed" in failed.stderr
            assert "TLS" in failed.stderr and "certificate" in failed.stderr, failed.stderr
            assert says in failed.stderr, failed.stderr
        assert (count(nodes.a_db), count(nodes.b_db)) == before  # nothing on either side

        added = cli_ok(
            nodes.a_db,
            "peer",
            "add",
            "B",
            *common,
            "--client-cert",
            str(good),
            "--client-key",
            str(good.with_suffix(".key")),
        )
        assert "client certificate" in added
        synced = cli(nodes.a_db, "sync", "--peer", "B")
        assert synced.returncode == 0, synced.stderr
        assert nodes.b_item in ids(nodes.a_db)  # pulled
        assert ours["id"] in ids(nodes.b_db)  # pushed

        cli_ok(nodes.a_db, "peer", "add", "C", *common, "--client-cert", str(combined))
        again = cli(nodes.a_db, "sync", "--peer", "C")  # the key in the certificate file
        assert again.returncode == 0, again.stderr

        # a peer recorded without one gets a certificate later (cursors and outbox kept)
        junk = pki.dir / "junk.pem"
        junk.write_text("junk\n")
        bad = cli(nodes.a_db, "peer", "set", "bare", "--client-cert", str(junk))
        assert bad.returncode != 0 and "no PEM certificate" in bad.stderr
        changed = cli_ok(nodes.a_db, "peer", "set", "bare", "--client-cert", str(combined))
        assert f"client certificate: {combined}" in changed
        assert cli(nodes.a_db, "sync", "--peer", "bare").returncode == 0
        cli_ok(nodes.a_db, "peer", "set", "bare", "--no-client-cert")
        assert cli(nodes.a_db, "sync", "--peer", "bare").returncode == 1
        nothing = cli(nodes.a_db, "peer", "set", "bare")
        assert nothing.returncode != 0 and "nothing to change" in nothing.stderr
        unknown = cli(nodes.a_db, "peer", "set", "nobody", "--no-client-cert")
        assert unknown.returncode != 0 and "no peer named 'nobody'" in unknown.stderr

        listed = cli_ok(nodes.a_db, "peer", "list")
        assert f"client certificate: {good} (key {good.with_suffix('.key')})" in listed
        assert f"client certificate: {combined}\n" in listed
        assert "client certificate: none" in listed  # bare
        shown = {p["name"]: p for p in json.loads(cli_ok(nodes.a_db, "peer", "list", "--json"))}
        assert shown["B"]["client_cert"] == str(good)
        assert shown["B"]["client_key"] == str(good.with_suffix(".key"))
        assert shown["bare"]["client_cert"] is None
        key_pem = good.with_suffix(".key").read_text().strip().splitlines()[1]
        assert key_pem not in listed and key_pem not in json.dumps(shown)


def test_a_replaced_certificate_is_used_by_the_next_round_without_a_restart(
    nodes: Nodes, pki: Pki, tmp_path: Path
) -> None:
    """One long-lived node (as `serve` is): its TLS contexts are cached, keyed on the
    files' modification times, so replacing the certificate on disk takes effect in the
    next round. A certificate the peer does not accept fails pull and push with a TLS
    error; the outbox keeps what was due, and the peer gets nothing."""
    a = Node(Settings(db=nodes.a_db, correlation=False, push_retry_base=0.01, push_retry_max=0.05))
    cert, key = pki.dir / "live.pem", pki.dir / "live.key"
    write_cert(pki.clients.issue_cert("a.nodes.example"), cert, key)
    federation = Federation(a)
    try:
        with MutualTlsServe(nodes.b_db, pki, tmp_path / "b.log") as b:
            federation.add_peer(
                "B",
                url=b.url,
                key=nodes.key,
                ca_file=str(pki.ca_file),
                client_cert=str(cert),
                client_key=str(key),
            )
            [first] = federation.sync("B")
            assert first.ok, first.as_dict()

            # the operator puts another certificate in place (one the peer does not trust)
            write_cert(pki.stranger.issue_cert("a.nodes.example"), cert, key)
            later = indicator("198.51.100.122", tlp=Tlp.GREEN)
            submit(a, None, later)
            on_b = count(nodes.b_db)
            [refused] = federation.sync("B")
            assert refused.pull is not None and refused.push is not None
            for error in (refused.pull.error, refused.push.error):
                assert error is not None and "TLS" in error and "does not accept ours" in error
            assert count(nodes.b_db) == on_b
            [entry] = [e for e in entries(a, "B") if e.object_id == later["id"]]
            assert entry.state == "pending" and "TLS" in str(entry.last_error)

            # and then a good one again: no restart, the next round uses it
            write_cert(pki.clients.issue_cert("a.nodes.example"), cert, key)
            time.sleep(0.1)  # the entry's back-off
            [back] = federation.sync("B")
            assert back.ok, back.as_dict()
            assert back.push is not None and back.push.accepted == 1
            assert later["id"] in ids(nodes.b_db)

            # a certificate file gone: a clear error, naming it
            key.unlink()
            [gone] = federation.pull("B")
            assert "cannot load the TLS client certificate" in str(gone.error)
            assert str(key) in str(gone.error)
    finally:
        a.store.dispose()


def test_the_context_cache_follows_the_files(pki: Pki) -> None:
    cert = pki.client("cached")
    client = ClientCertificate(str(cert), str(cert.with_suffix(".key")))
    first = tls_context(str(pki.ca_file), client)
    assert tls_context(str(pki.ca_file), client) is first
    assert tls_context(str(pki.ca_file)) is not first  # without a certificate: another one
    os.utime(cert, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    assert tls_context(str(pki.ca_file), client) is not first


def test_peer_add_refuses_a_client_certificate_it_cannot_use(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = Node(Settings(db=f"sqlite:///{tmp_path / 'n.db'}", correlation=False))
    node.init(node_name="PH CERT", country="PH")
    federation = Federation(node)
    good = pki.client("good")
    other = pki.client("other")
    junk = pki.dir / "junk.pem"
    junk.write_text("not a certificate\n")
    encrypted = pki.dir / "encrypted.key"
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(good.with_suffix(".key").read_bytes(), None)
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    key = str(good.with_suffix(".key"))
    cases = [
        (str(pki.dir / "missing.pem"), None, "no such file"),
        (str(good), str(pki.dir / "missing.key"), "no such file"),
        (None, key, "--client-key goes with --client-cert"),
        (str(junk), key, "no PEM certificate"),
        (key, None, "no PEM certificate"),  # the key given as the certificate
        (str(good), None, "holds no private key: give it with --client-key"),
        (str(good), str(junk), "no PEM private key"),
        (str(good), str(other.with_suffix(".key")), "does not belong to the certificate"),
        (str(good), str(encrypted), "the private key is encrypted"),
        (str(pki.dir), None, "a directory"),
    ]
    for cert, key_file, says in cases:
        with pytest.raises(NodeError) as refused:
            federation.add_peer(
                "B",
                url="https://b.example.org/taxii2/",
                key="bay_k",
                client_cert=cert,
                client_key=key_file,
            )
        assert says in str(refused.value), (cert, key_file, refused.value)
        assert "BEGIN" not in str(refused.value)  # never the files' contents
    assert federation.peers() == []
    assert check_client_certificate(str(good), key) == ClientCertificate(str(good), key)

    # relative paths are stored made absolute
    monkeypatch.chdir(pki.dir)
    view = federation.add_peer(
        "B",
        url="https://b.example.org/taxii2/",
        key="bay_k",
        client_cert="good.pem",
        client_key="good.key",
    )
    assert (view.client_cert, view.client_key) == (str(good), key)

    # the same over the CLI and REST: a clear error, nothing recorded
    node.store.dispose()
    db = node.settings.db
    refused_cli = cli(
        db,
        "peer",
        "add",
        "C",
        "--url",
        "https://c.example.org/",
        "--key",
        "k",
        "--client-cert",
        str(junk),
    )
    assert refused_cli.returncode != 0 and "no PEM certificate" in refused_cli.stderr
    node = Node(Settings(db=db, correlation=False))
    admin = node.add_key(role=Role.ADMIN).secret
    try:
        with ThreadServer(node) as server:
            api, auth = server.url + "/api/v1", {"Authorization": f"Bearer {admin}"}
            body = {"name": "D", "url": "https://d.example.org/taxii2/", "key": "bay_k"}
            bad = httpx.post(f"{api}/peers", json={**body, "client_cert": str(junk)}, headers=auth)
            assert bad.status_code == 400 and "no PEM certificate" in bad.text
            made = httpx.post(
                f"{api}/peers",
                json={**body, "client_cert": str(good), "client_key": key},
                headers=auth,
            )
            assert made.status_code == 201, made.text
            assert made.json()["client_cert"] == str(good)
            assert "PRIVATE KEY" not in made.text
            refused = httpx.patch(f"{api}/peers/D", json={"client_cert": str(junk)}, headers=auth)
            assert refused.status_code == 400 and "no PEM certificate" in refused.text
            kept = httpx.patch(f"{api}/peers/D", json={}, headers=auth)
            assert kept.status_code == 400 and "nothing to change" in kept.text
            dropped = httpx.patch(f"{api}/peers/D", json={"client_cert": None}, headers=auth)
            assert dropped.status_code == 200, dropped.text
            assert (dropped.json()["client_cert"], dropped.json()["client_key"]) == (None, None)
            missing = httpx.patch(f"{api}/peers/E", json={"client_cert": None}, headers=auth)
            assert missing.status_code == 404
        with node.store.read() as conn:
            assert [p.name for p in peer_store.list_peers(conn)] == ["B", "D"]
    finally:
        node.store.dispose()
