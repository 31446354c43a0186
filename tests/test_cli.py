"""The `bayanihan` command as a user runs it: separate processes, real files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine, func, select

from bayanihan.policy.tlp import Tlp
from bayanihan.store.schema import objects
from tests.conftest import run_cli
from tests.stixgen import bundle, indicator, ipv4


def count(db: str) -> int:
    engine = create_engine(db)
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(objects)).scalar_one())
    engine.dispose()
    return total


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = run_cli("--db", url, "init", "--node-name", "CLI CERT", "--country", "MY")
    assert result.returncode == 0, result.stderr
    return url


def test_entry_point_is_installed() -> None:
    binary = shutil.which("bayanihan") or str(Path(sys.executable).parent / "bayanihan")
    result = subprocess.run([binary, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("init", "org", "key", "serve", "import"):
        assert command in result.stdout


def test_init_uses_the_working_directory_by_default_and_is_idempotent(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BAYANIHAN_DB"}
    first = subprocess.run(
        [sys.executable, "-m", "bayanihan.cli", "init"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "bayanihan.db").exists()
    second = subprocess.run(
        [sys.executable, "-m", "bayanihan.cli", "init", "--node-name", "Renamed"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert second.returncode == 0 and "already initialised" in second.stdout
    assert first.stdout.split()[-1] == second.stdout.split()[-1]  # same node identity


def test_bayanihan_db_environment_variable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    assert run_cli("init", env={"BAYANIHAN_DB": url}).returncode == 0
    assert (tmp_path / "from-env.db").exists()


def test_commands_before_init_say_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    for args in (
        ["org", "list"],
        ["key", "add", "--role", "reader"],
        ["org", "add", "X", "--country", "VN"],
    ):
        result = run_cli("--db", url, *args)
        assert result.returncode == 2
        assert "bayanihan init" in result.stderr


def test_org_add_and_list(db: str) -> None:
    result = run_cli(
        "--db",
        db,
        "org",
        "add",
        "Bank Negara Ops",
        "--country",
        "my",
        "--sector",
        "financial-services",
    )
    assert result.returncode == 0
    identity = result.stdout.strip()
    assert identity.startswith("identity--") and "\n" not in identity
    child = run_cli(
        "--db", db, "org", "add", "Branch", "--country", "MY", "--parent", "Bank Negara Ops"
    )
    assert child.returncode == 0
    remote_id = "identity--3f1d2a57-8c1e-4d3b-9a0f-6b5e7c2d1a01"
    remote = run_cli("--db", db, "org", "add", "VN Police", "--country", "VN", "--id", remote_id)
    assert remote.stdout.strip() == remote_id
    listing = run_cli("--db", db, "org", "list").stdout
    assert "Bank Negara Ops" in listing and "remote" in listing and remote_id in listing


@pytest.mark.parametrize(
    "args, message",
    [
        (["org", "add", "CLI CERT", "--country", "MY"], "already exists"),
        (["org", "add", "X", "--country", "Malaysia"], "ISO 3166-1"),
        (["org", "add", "X", "--country", "MY", "--id", "identity--1"], "identity--<UUID"),
        (["org", "add", "X", "--country", "MY", "--parent", "Nobody"], "no organisation"),
        (["org", "add", "   ", "--country", "MY"], "needs a name"),
        (["key", "add", "--role", "root"], "unknown role"),
        (["key", "add", "--role", "reader", "--org", "Nobody"], "no organisation"),
        (["key", "revoke", "999"], "no active key"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(
    db: str, args: list[str], message: str
) -> None:
    before = run_cli("--db", db, "org", "list").stdout, run_cli("--db", db, "key", "list").stdout
    result = run_cli("--db", db, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    after = run_cli("--db", db, "org", "list").stdout, run_cli("--db", db, "key", "list").stdout
    assert before == after


def test_key_add_prints_the_key_alone(db: str) -> None:
    result = run_cli("--db", db, "key", "add", "--role", "analyst")
    assert result.returncode == 0
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("bay_")
    listing = run_cli("--db", db, "key", "list").stdout
    assert result.stdout.strip() not in listing  # never shown again
    assert result.stdout[:10] in listing  # but recognisable by its prefix
    revoke = run_cli("--db", db, "key", "revoke", "1")
    assert revoke.returncode == 0 and "revoked" in run_cli("--db", db, "key", "list").stdout


def write(path: Path, document: object) -> Path:
    path.write_bytes(orjson.dumps(document))
    return path


def test_import_bundle_summary_and_idempotence(db: str, tmp_path: Path) -> None:
    file = write(tmp_path / "b.json", bundle([indicator(f"192.0.2.{i}") for i in range(30)]))
    first = run_cli("--db", db, "import", str(file), "--org", "CLI CERT")
    assert first.returncode == 0, first.stderr
    assert "30 stored, 0 duplicate, 0 rejected" in first.stdout
    second = run_cli("--db", db, "import", str(file), "--org", "CLI CERT")
    assert "0 stored, 30 duplicate, 0 rejected" in second.stdout


@pytest.mark.parametrize("single", [False, True])
def test_import_reports_rejections_and_exits_non_zero(
    db: str, tmp_path: Path, single: bool
) -> None:
    good = indicator()
    bad = indicator(pattern="[ipv4-addr:value = 'x'")
    file = write(
        tmp_path / "mixed.json", bundle([good, bad, {"type": "indicator", "id": "indicator--1"}])
    )
    args = ["--db", db, "import", str(file), "--org", "CLI CERT"] + (
        ["--single-process"] if single else []
    )
    result = run_cli(*args)
    assert result.returncode == 1
    assert "1 stored, 0 duplicate, 2 rejected" in result.stdout
    assert f"rejected {bad['id']}" in result.stderr
    assert "rejected indicator--1" in result.stderr


HEAD = b'{"type": "bundle", "id": "bundle--6c7e2f36-0d0e-4b7e-9b79-1f7a0cde1a02", "objects": ['


@pytest.mark.parametrize(
    "tail",
    [
        b', {"type": ',
        b', {"type": "indicator", "name": "\xff\xfe"}]}',
        None,
        b"",
    ],
    ids=["truncated", "invalid-utf8", "not-json", "empty"],
)
def test_import_of_a_broken_file_changes_nothing(
    db: str, tmp_path: Path, tail: bytes | None
) -> None:
    """Valid objects first, then breakage: the whole import rolls back."""
    before = count(db)
    valid = b",".join(orjson.dumps(indicator(f"198.51.100.{i}")) for i in range(5))
    file = tmp_path / "broken.json"
    if tail is None:
        file.write_bytes(b"not json at all")
    elif tail == b"":
        file.write_bytes(b"")
    else:
        file.write_bytes(HEAD + valid + tail)
    result = run_cli("--db", db, "import", str(file), "--org", "CLI CERT")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "error" in result.stderr and "Traceback" not in result.stderr
    assert count(db) == before


def test_deeply_nested_json_is_rejected_per_object(db: str, tmp_path: Path) -> None:
    """A 3,000-deep array as an object, and inside a property: both rejected, not a crash."""
    body = (
        HEAD
        + orjson.dumps(indicator())
        + b", "
        + b"[" * 3000
        + b"]" * 3000
        + b", "
        + orjson.dumps(indicator())[:-1]
        + b', "x_nested": '
        + b"[" * 3000
        + b"]" * 3000
        + b"}]}"
    )
    file = tmp_path / "deep.json"
    file.write_bytes(body)
    result = run_cli("--db", db, "import", str(file), "--org", "CLI CERT")
    assert result.returncode == 1
    assert "1 stored, 0 duplicate, 2 rejected" in result.stdout
    assert "must be a JSON object" in result.stderr
    assert "cannot be stored as JSON" in result.stderr


def test_import_other_shapes_and_tlp(db: str, tmp_path: Path) -> None:
    untagged = indicator(tlp=None)
    envelope = write(tmp_path / "envelope.json", {"objects": [untagged]})
    result = run_cli("--db", db, "import", str(envelope), "--org", "CLI CERT", "--tlp", "red")
    assert result.returncode == 0 and "1 stored" in result.stdout
    array = write(tmp_path / "array.json", [indicator(), ipv4("203.0.113.1")])
    assert "2 stored" in run_cli("--db", db, "import", str(array), "--org", "CLI CERT").stdout
    single = write(tmp_path / "single.json", indicator())
    assert "1 stored" in run_cli("--db", db, "import", str(single), "--org", "CLI CERT").stdout
    engine = create_engine(db)
    with engine.connect() as conn:
        body, tlp = conn.execute(
            select(objects.c.body, objects.c.tlp).where(objects.c.id == untagged["id"])
        ).one()
    engine.dispose()
    assert tlp == "red"
    assert orjson.loads(body)["object_marking_refs"] == [Tlp.RED.marking_id]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--org", "Nobody"], "no organisation"),
        (["--org", "CLI CERT", "--format", "misp"], "only STIX"),
        (["--org", "CLI CERT", "--tlp", "purple"], "unknown TLP"),
    ],
)
def test_import_argument_errors(db: str, tmp_path: Path, args: list[str], message: str) -> None:
    file = write(tmp_path / "b.json", bundle([indicator()]))
    result = run_cli("--db", db, "import", str(file), *args)
    assert result.returncode == 2 and message in result.stderr
    missing = run_cli("--db", db, "import", str(tmp_path / "nope.json"), "--org", "CLI CERT")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_import_for_a_remote_org_is_refused(db: str, tmp_path: Path) -> None:
    run_cli(
        "--db",
        db,
        "org",
        "add",
        "Remote",
        "--country",
        "SG",
        "--id",
        "identity--8a4c6e21-5b7d-4f90-8e13-2c9d0b6a7f02",
    )
    file = write(tmp_path / "b.json", bundle([indicator()]))
    result = run_cli("--db", db, "import", str(file), "--org", "Remote")
    assert result.returncode == 2 and "hosted on another node" in result.stderr


def test_import_killed_midway_leaves_the_database_as_it_was(db: str, tmp_path: Path) -> None:
    """SIGKILL during a large import: nothing of it is committed, earlier data stays."""
    earlier = write(tmp_path / "earlier.json", bundle([indicator("192.0.2.200")]))
    run_cli("--db", db, "import", str(earlier), "--org", "CLI CERT")
    before = count(db)
    big = tmp_path / "big.json"
    with big.open("wb") as out:
        out.write(
            b'{"type": "bundle", "id": "bundle--6c7e2f36-0d0e-4b7e-9b79-1f7a0cde1a01", "objects": ['
        )
        for i in range(120_000):
            out.write(
                (b"," if i else b"")
                + orjson.dumps(indicator(f"10.{i // 62500}.{(i // 250) % 250}.{i % 250}"))
            )
        out.write(b"]}")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bayanihan.cli",
            "--db",
            db,
            "import",
            str(big),
            "--org",
            "CLI CERT",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(2.0)
    assert process.poll() is None, "the import finished before it could be interrupted"
    import psutil

    readers = psutil.Process(process.pid).children(recursive=True)
    assert readers, "the import runs a reading process"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    _gone, alive = psutil.wait_procs(readers, timeout=10)
    assert not alive, "the reading process outlived the killed import"
    assert count(db) == before
    again = run_cli("--db", db, "import", str(earlier), "--org", "CLI CERT")
    assert again.returncode == 0 and "1 duplicate" in again.stdout


def test_load_demo_is_repeatable(db: str) -> None:
    first = run_cli("--db", db, "load-demo")
    assert first.returncode == 0, first.stderr
    assert "bay_" in first.stdout and "example" in first.stdout
    objects_after_first = count(db)
    assert "switched OFF" in first.stdout and "List of RFC 5735 CIDR blocks" in first.stdout
    assert "cross-border" in first.stdout
    second = run_cli("--db", db, "load-demo")
    assert second.returncode == 0 and " 0 new objects" in second.stdout
    assert count(db) == objects_after_first


def test_the_demo_shows_cross_border_hits_of_every_observable_kind(db: str) -> None:
    assert run_cli("--db", db, "load-demo").returncode == 0
    found = []
    for org in ("CLI CERT", "PNP Anti-Cybercrime Group (demo)", "Metro Harbour Bank (demo)"):
        hits = run_cli("--db", db, "hits", "--org", org, "--json")
        assert hits.returncode == 0, hits.stderr
        found += orjson.loads(hits.stdout)
    kinds = {h["observable"]["kind"] for h in found}
    assert {"domain", "phone", "crypto-wallet", "social-handle", "bank-account"} <= kinds
    assert all(h["cross_border"] for h in found)
    # a Philippine number in national form, searched by a Philippine org, matches the
    # international form Viet Nam reported
    bank = "Metro Harbour Bank (demo)"
    phone = run_cli("--db", db, "search", "0917 000 0123", "--org", bank, "--json")
    assert {o["org"]["country"] for o in orjson.loads(phone.stdout)["objects"]} == {"PH", "VN"}
