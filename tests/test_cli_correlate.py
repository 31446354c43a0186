"""The correlation commands as a user runs them: search, hits, warninglist, alert, rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.stixgen import bundle, indicator


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'node.db'}"
    assert run_cli("--db", url, "init", "--node-name", "CERT-PH", "--country", "PH").returncode == 0
    for name, country in (("ThaiCERT", "TH"), ("KrCERT", "KR")):
        assert run_cli("--db", url, "org", "add", name, "--country", country).returncode == 0
    return url


def _import(db: str, tmp_path: Path, org: str, *patterns: str) -> None:
    path = tmp_path / f"{org}.json"
    objects = [indicator("x", pattern=p, name=f"{org}: {p}") for p in patterns]
    path.write_text(json.dumps(bundle(objects)))
    result = run_cli("--db", db, "import", str(path), "--org", org)
    assert result.returncode == 0, result.stderr


def test_search_as_an_org_finds_the_normalised_value_and_the_hit(db: str, tmp_path: Path) -> None:
    _import(db, tmp_path, "ThaiCERT", "[domain-name:value = 'scam.qzx-thai-post.com']")
    _import(db, tmp_path, "KrCERT", "[url:value = 'https://SCAM.qzx-thai-post.com:443/track']")
    _import(db, tmp_path, "CERT-PH", "[domain-name:value = 'scam.qzx-thai-post.com']")
    result = run_cli("--db", db, "search", "SCAM.qzx-Thai-Post.COM.", "--org", "KrCERT")
    assert result.returncode == 0, result.stderr
    assert "domain scam.qzx-thai-post.com" in result.stdout
    assert "ThaiCERT (TH)" in result.stdout and "CERT-PH (PH)" in result.stdout
    assert "cross-border" in result.stdout
    as_json = run_cli("--db", db, "search", "scam.qzx-thai-post.com", "--org", "KrCERT", "--json")
    found = json.loads(as_json.stdout)
    assert {o["org"]["country"] for o in found["objects"]} == {"TH", "PH"}
    assert [h["cross_border"] for h in found["hits"]] == [True]
    url = run_cli("--db", db, "search", "https://scam.qzx-thai-post.com/track", "--org", "KrCERT")
    assert "KrCERT (KR)" in url.stdout


def test_hits_lists_an_orgs_hits(db: str, tmp_path: Path) -> None:
    _import(db, tmp_path, "ThaiCERT", "[ipv4-addr:value = '45.155.205.0/24']")
    _import(db, tmp_path, "KrCERT", "[ipv4-addr:value = '45.155.205.99']")
    result = run_cli("--db", db, "hits", "--org", "ThaiCERT", "--cross-border")
    assert result.returncode == 0, result.stderr
    assert "cidr" in result.stdout and "KrCERT (KR)" in result.stdout
    nothing = run_cli("--db", db, "hits", "--org", "CERT-PH")
    assert "no hits visible to CERT-PH" in nothing.stdout


def test_warninglist_documentation_switch(db: str, tmp_path: Path) -> None:
    _import(db, tmp_path, "ThaiCERT", "[ipv4-addr:value = '198.51.100.23']")
    _import(db, tmp_path, "KrCERT", "[ipv4-addr:value = '198.51.100.23']")
    assert "no hits" in run_cli("--db", db, "hits", "--org", "KrCERT").stdout
    off = run_cli("--db", db, "warninglist", "off", "--documentation")
    assert off.returncode == 0, off.stderr
    assert "RFC 5735" in off.stdout
    assert "198.51.100.23" in run_cli("--db", db, "hits", "--org", "KrCERT").stdout
    listed = run_cli("--db", db, "warninglist", "list").stdout
    assert "off" in listed and "on " in listed
    bad = run_cli("--db", db, "warninglist", "off", "No Such List")
    assert bad.returncode == 2 and "no warning-list named" in bad.stderr


def test_alert_channels_and_rebuild(db: str, tmp_path: Path) -> None:
    added = run_cli(
        "--db", db, "alert", "add", "--webhook", "https://soc.example/h", "--org", "KrCERT"
    )
    assert added.returncode == 0, added.stderr
    assert "webhook secret (shown once)" in added.stdout
    listed = run_cli("--db", db, "alert", "list").stdout
    assert "https://soc.example/h" in listed and "KrCERT" in listed
    assert run_cli("--db", db, "alert", "remove", "1").returncode == 0
    assert "removed" in run_cli("--db", db, "alert", "list").stdout
    bad = run_cli("--db", db, "alert", "add", "--email", "nobody", "--org", "KrCERT")
    assert bad.returncode == 2 and "not an e-mail address" in bad.stderr
    _import(db, tmp_path, "ThaiCERT", "[domain-name:value = 'qzx-rebuild.com']")
    rebuilt = run_cli("--db", db, "correlate", "rebuild")
    assert rebuilt.returncode == 0 and "1 postings" in rebuilt.stdout
    delivered = run_cli("--db", db, "alert", "deliver")
    assert delivered.returncode == 0 and "0 sent" in delivered.stdout
