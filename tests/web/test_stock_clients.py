"""Stock clients against a real `bayanihan serve` process: taxii2-client, stix2-validator, TLS."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from bayanihan.policy.tlp import Tlp
from tests.conftest import free_port, run_cli
from tests.stixgen import indicator, ipv4, malware, stamp


class ServeProcess:
    def __init__(self, db: str, workdir: Path, *extra: str) -> None:
        self.port = free_port()
        self.db = db
        self.workdir = workdir
        self.extra = extra
        scheme = "https" if "--tls-cert" in extra else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, verify: str | bool = False) -> ServeProcess:
        self.log = (self.workdir / f"serve-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bayanihan.cli",
                "--db",
                self.db,
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *self.extra,
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.close()
                raise RuntimeError((self.workdir / f"serve-{self.port}.log").read_text())
            try:
                context = (
                    ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
                )
                if httpx.get(self.url + "/healthz", verify=context, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("bayanihan serve did not come up")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        self.log.close()


def _init(tmp_path: Path, db: str) -> tuple[str, str]:
    assert (
        run_cli("--db", db, "init", "--node-name", "Client Test", "--country", "SG").returncode == 0
    )
    analyst = run_cli("--db", db, "key", "add", "--role", "org-admin").stdout.strip()
    assert run_cli("--db", db, "org", "add", "Bank B", "--country", "TH").returncode == 0
    other = run_cli("--db", db, "key", "add", "--role", "analyst", "--org", "Bank B").stdout.strip()
    return analyst, other


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServeProcess, str, str]]:
    db = f"sqlite:///{tmp_path / 'node.db'}"
    analyst, other = _init(tmp_path, db)
    proc = ServeProcess(db, tmp_path).start()
    yield proc, analyst, other
    proc.stop()


def _collection(url: str, key: str, verify: str | bool = True) -> Collection:
    server = Server(f"{url}/taxii2/", user="analyst", password=key, verify=verify)
    [root] = server.api_roots
    [collection] = root.collections
    return collection


def _assert_valid(objects: list[dict[str, object]]) -> None:
    options = ValidationOptions(version="2.1")
    for obj in objects:
        result = validate_instance(obj, options)
        assert result.is_valid, (obj.get("id"), [str(e) for e in result.errors])


def test_taxii2_client_round_trip(served: tuple[ServeProcess, str, str]) -> None:
    proc, key, other = served
    server = Server(f"{proc.url}/taxii2/", user="x", password=key)
    assert server.title == "Bayanihan node Client Test"
    [root] = server.api_roots
    assert isinstance(root, ApiRoot)
    assert root.max_content_length >= 10 * 1024 * 1024
    [collection] = root.collections
    assert collection.can_read and collection.can_write

    objs = [indicator(f"198.51.100.{i}", tlp=Tlp.GREEN) for i in range(30)]
    objs += [malware(), ipv4("203.0.113.7"), indicator("203.0.113.8", tlp=Tlp.AMBER)]
    status = collection.add_objects({"objects": objs})
    assert status.status == "complete"
    assert status.success_count == len(objs) and status.failure_count == 0

    fetched = collection.get_objects(type="indicator")
    assert len(fetched["objects"]) == 31
    paged: list[dict[str, object]] = []
    for page in as_pages(collection.get_objects, per_request=7):
        paged.extend(page.get("objects", []))
    assert len({o["id"] for o in paged}) == len(paged)
    assert {o["id"] for o in objs} <= {o["id"] for o in paged}
    _assert_valid(paged)

    manifest_ids: list[str] = []
    for page in as_pages(collection.get_manifest, per_request=10):
        manifest_ids.extend(r["id"] for r in page.get("objects", []))
    assert sorted(manifest_ids) == sorted(o["id"] for o in paged)

    target = objs[0]
    newer = dict(target, modified=stamp(5), name="updated")
    collection.add_objects({"objects": [newer]})
    assert collection.get_object(target["id"])["objects"][0]["name"] == "updated"
    versions = collection.object_versions(target["id"])["versions"]
    assert len(versions) == 2
    every = collection.get_objects(id=target["id"], version="all")
    assert len(every["objects"]) == 2
    _assert_valid(every["objects"])
    collection.delete_object(target["id"])
    with pytest.raises(Exception, match="404"):
        collection.get_object(target["id"])

    other_view = _collection(proc.url, other)
    seen = {o["id"] for o in other_view.get_objects().get("objects", [])}
    assert objs[-1]["id"] not in seen  # AMBER of another org
    assert objs[1]["id"] in seen  # GREEN


def test_status_polling_without_trailing_slash(served: tuple[ServeProcess, str, str]) -> None:
    proc, key, _ = served
    collection = _collection(proc.url, key)
    status = collection.add_objects({"objects": [indicator()]}, wait_for_completion=False)
    status.refresh()  # taxii2-client asks for .../status/{id} without the slash
    assert status.status == "complete" and status.success_count == 1


def test_invalid_objects_are_reported_per_object(served: tuple[ServeProcess, str, str]) -> None:
    proc, key, _ = served
    collection = _collection(proc.url, key)
    bad = indicator(pattern="[ipv4-addr:value = '1.2.3.4'")
    status = collection.add_objects({"objects": [indicator(), bad]})
    assert status.success_count == 1 and status.failure_count == 1
    assert status.failures[0]["id"] == bad["id"]


def test_https_with_trustme_certificates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these variables override a session's own CA bundle
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    cert_file = tmp_path / "server.pem"
    key_file = tmp_path / "server.key"
    ca_file = tmp_path / "ca.pem"
    certificate.private_key_pem.write_to_path(str(key_file))
    with cert_file.open("wb") as out:
        for blob in certificate.cert_chain_pems:
            out.write(blob.bytes())
    authority.cert_pem.write_to_path(str(ca_file))
    db = f"sqlite:///{tmp_path / 'node.db'}"
    key, _ = _init(tmp_path, db)
    proc = ServeProcess(db, tmp_path, "--tls-cert", str(cert_file), "--tls-key", str(key_file))
    try:
        proc.start(verify=str(ca_file))
        collection = _collection(proc.url, key, verify=str(ca_file))
        assert collection.add_objects({"objects": [indicator()]}).success_count == 1
        with pytest.raises(httpx.ConnectError):
            httpx.get(proc.url + "/healthz")  # not trusted without the CA
    finally:
        proc.stop()


def test_mutual_tls_requires_a_client_certificate_from_the_ca(tmp_path: Path) -> None:
    servers = trustme.CA()
    clients = trustme.CA()
    stranger = trustme.CA()
    certificate = servers.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    certificate.private_key_pem.write_to_path(str(key_file))
    with cert_file.open("wb") as out:
        for blob in certificate.cert_chain_pems:
            out.write(blob.bytes())
    clients.cert_pem.write_to_path(str(tmp_path / "clients.pem"))
    db = f"sqlite:///{tmp_path / 'node.db'}"
    key, _ = _init(tmp_path, db)

    def context(issuer: trustme.CA | None) -> ssl.SSLContext:
        made = ssl.create_default_context()
        servers.configure_trust(made)
        if issuer is not None:
            issuer.issue_cert("peer-node.example").configure_cert(made)
        return made

    proc = ServeProcess(
        db,
        tmp_path,
        "--tls-cert",
        str(cert_file),
        "--tls-key",
        str(key_file),
        "--tls-client-ca",
        str(tmp_path / "clients.pem"),
    )
    try:
        proc.start(verify=context(clients))
        headers = {"Accept": "application/taxii+json;version=2.1", "Authorization": f"Bearer {key}"}
        answer = httpx.get(proc.url + "/taxii2/", headers=headers, verify=context(clients))
        assert answer.status_code == 200
        for wrong in (None, stranger):  # no certificate, or one from another CA
            with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
                httpx.get(proc.url + "/taxii2/", headers=headers, verify=context(wrong))
    finally:
        proc.stop()


def test_mutual_tls_needs_https_and_a_readable_bundle(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'node.db'}"
    _init(tmp_path, db)
    plain = run_cli("--db", db, "serve", "--tls-client-ca", str(tmp_path / "ca.pem"))
    assert plain.returncode == 2
    assert "needs HTTPS" in plain.stderr
    (tmp_path / "s.pem").write_text("x")
    missing = run_cli(
        "--db",
        db,
        "serve",
        "--tls-cert",
        str(tmp_path / "s.pem"),
        "--tls-key",
        str(tmp_path / "s.pem"),
        "--tls-client-ca",
        str(tmp_path / "nope.pem"),
    )
    assert missing.returncode == 2
    assert "no such file" in missing.stderr


def test_serve_refuses_half_a_tls_configuration(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'node.db'}"
    _init(tmp_path, db)
    result = run_cli("--db", db, "serve", "--tls-cert", str(tmp_path / "x.pem"))
    assert result.returncode == 2
    assert "--tls-key" in result.stderr


def test_server_killed_mid_write_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """SIGKILL the server while clients post: every object it acknowledged is still there."""
    db = f"sqlite:///{tmp_path / 'node.db'}"
    key, _ = _init(tmp_path, db)
    proc = ServeProcess(db, tmp_path).start()
    acknowledged: list[str] = []
    headers = {
        "Authorization": f"Bearer {key}",
        "Accept": "application/taxii+json;version=2.1",
        "Content-Type": "application/taxii+json;version=2.1",
    }
    collection = _collection(proc.url, key)
    url = collection.url + "objects/"
    import threading

    stop = threading.Event()

    def writer() -> None:
        with httpx.Client(headers=headers, timeout=5) as client:
            while not stop.is_set():
                batch = [indicator(f"10.9.{i % 250}.{i // 250}") for i in range(200)]
                try:
                    response = client.post(
                        url, content=__import__("orjson").dumps({"objects": batch})
                    )
                except httpx.HTTPError:
                    return
                if response.status_code == 202:
                    acknowledged.extend(o["id"] for o in batch)

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(1.5)
    assert proc.process is not None
    proc.process.kill()
    proc.process.wait()
    proc.stop()
    stop.set()
    thread.join()
    assert acknowledged, "no write was acknowledged before the kill"
    restarted = ServeProcess(db, tmp_path).start()
    try:
        fresh = _collection(restarted.url, key)
        stored: set[str] = set()
        for page in as_pages(fresh.get_manifest, per_request=1000, type="indicator"):
            stored.update(r["id"] for r in page.get("objects", []))
        assert set(acknowledged) <= stored
    finally:
        restarted.stop()
    assert os.path.exists(tmp_path / "node.db")
