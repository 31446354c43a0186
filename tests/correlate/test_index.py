"""The observable index and hits, on SQLite and PostgreSQL: exact and CIDR matches,
related domains, noise, supersession, revocation, deletion, visibility, rebuild."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from bayanihan.catalogue import Catalogue
from bayanihan.correlate.service import Correlation
from bayanihan.correlate.warninglists import documentation_lists
from bayanihan.ingest.intake import store_batch
from bayanihan.node import Node
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.stix.extensions import SHARING_EXTENSION_ID
from bayanihan.store import observables as index_store
from bayanihan.taxii.service import TaxiiService
from tests.conftest import make_node
from tests.stixgen import indicator, stamp


def pattern_indicator(
    pattern: str, *, tlp: Tlp = Tlp.GREEN, object_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    return indicator(
        "unused", tlp=tlp, object_id=object_id, pattern=pattern, name=f"about {pattern}", **extra
    )


class Region:
    """A node hosting CERTs of three countries (two of them in the Philippines)."""

    def __init__(self, node: Node, **settings: object) -> None:
        self.node = node
        node.add_org("SingCERT", country="SG")
        node.add_org("JPCERT", country="JP")
        node.add_org("PH Bank CSIRT", country="PH")
        self.ph = node.operator()
        self.sg = node.operator("SingCERT")
        self.jp = node.operator("JPCERT")
        self.ph_bank = node.operator("PH Bank CSIRT")
        self.catalogue = Catalogue(node)
        self.correlation = Correlation(node)

    def submit(self, who: Principal, *objects: dict[str, Any]) -> list[Any]:
        outcomes = self.catalogue.submit(who, list(objects))
        assert all(o.ok for o in outcomes), [o.message for o in outcomes]
        return outcomes

    def hits(self, who: Principal, **kwargs: Any) -> list[dict[str, Any]]:
        return self.correlation.hits(who, **kwargs).hits

    def sizes(self) -> dict[str, int]:
        with self.node.store.read() as conn:
            return index_store.count_rows(conn)


@pytest.fixture
def region(node: Node) -> Iterator[Region]:
    yield Region(node)


def test_a_shared_domain_raises_one_cross_border_hit(region: Region) -> None:
    mine = pattern_indicator("[domain-name:value = 'login.qzx-bank-verify.com']")
    theirs = pattern_indicator("[domain-name:value = 'LOGIN.qzx-bank-verify.COM.']")
    region.submit(region.ph, mine)
    region.submit(region.sg, theirs)
    [hit] = region.hits(region.ph)
    assert hit["cross_border"] is True
    assert hit["match"] == "exact"
    assert hit["observable"]["value"] == "login.qzx-bank-verify.com"
    sides = {hit["object"]["id"]: hit["object"]["org"], hit["counterpart"]["id"]: None}
    assert mine["id"] in sides and theirs["id"] in {hit["object"]["id"], hit["counterpart"]["id"]}
    orgs = {hit["object"]["org"]["country"], hit["counterpart"]["org"]["country"]}
    assert orgs == {"PH", "SG"}
    # the same hit, seen from the other side
    [seen_by_sg] = region.hits(region.sg)
    assert seen_by_sg["hit_id"] == hit["hit_id"]
    assert seen_by_sg["object"]["id"] == theirs["id"]


def test_a_domestic_hit_is_not_cross_border_and_one_org_never_hits_itself(
    region: Region,
) -> None:
    region.submit(region.ph, pattern_indicator("[url:value = 'http://qzx-pay.com:80/a/../b']"))
    region.submit(region.ph, pattern_indicator("[url:value = 'HTTP://QZX-PAY.com/b']"))
    assert region.hits(region.ph) == []  # the same org twice: no hit
    region.submit(region.ph_bank, pattern_indicator("[url:value = 'http://qzx-pay.com/b']"))
    bank_hits = region.hits(region.ph_bank)  # one with each of CERT-PH's two objects
    assert len(bank_hits) == 2
    assert {h["cross_border"] for h in bank_hits} == {False}
    assert {h["observable"]["value"] for h in bank_hits} == {"http://qzx-pay.com/b"}
    assert len(region.hits(region.ph)) == 2


def test_every_comparison_of_a_pattern_is_indexed(region: Region) -> None:
    region.submit(
        region.ph,
        pattern_indicator(
            "[ipv4-addr:value = '45.133.1.7' OR domain-name:value = 'qzx-a.com'] "
            "FOLLOWEDBY [file:hashes.'SHA-256' = '"
            + "a" * 64
            + "' OR file:hashes.'SHA-256' = '"
            + "B" * 64
            + "'] WITHIN 600 SECONDS"
        ),
    )
    region.submit(region.sg, pattern_indicator(f"[file:hashes.MD5 = '{'c' * 32}']"))
    region.submit(region.sg, pattern_indicator(f"[artifact:hashes.'SHA-256' = '{'b' * 64}']"))
    region.submit(region.jp, pattern_indicator("[ipv4-addr:value = '45.133.1.7']"))
    hits = region.hits(region.ph)
    assert {h["observable"]["value"] for h in hits} == {"b" * 64, "45.133.1.7"}


def test_matches_and_like_are_pattern_only(region: Region) -> None:
    obj = pattern_indicator(
        "[url:value MATCHES '^http://qzx' AND domain-name:value LIKE 'qzx%'] OR "
        "[domain-name:value = 'qzx-real.com' AND domain-name:value != 'qzx-not.com']"
    )
    region.submit(region.ph, obj)
    found = region.correlation.observables_of(region.ph, obj["id"])
    assert [o["value"] for o in found["observables"]] == ["qzx-real.com"]
    assert len(found["pattern_only"]) == 3


def test_an_address_inside_a_shared_range_is_a_cidr_hit(region: Region) -> None:
    region.submit(region.sg, pattern_indicator("[ipv4-addr:value ISSUBSET '91.243.60.0/22']"))
    region.submit(region.ph, pattern_indicator("[ipv4-addr:value = '91.243.61.17']"))
    [hit] = region.hits(region.ph)
    assert hit["match"] == "cidr"
    assert {hit["observable"]["value"], hit["counterpart_observable"]["value"]} == {
        "91.243.60.0/22",
        "91.243.61.17",
    }
    # a range inside a range, either order of arrival
    region.submit(region.jp, pattern_indicator("[ipv4-addr:value ISSUBSET '91.243.0.0/16']"))
    jp_hits = region.hits(region.jp)
    assert len(jp_hits) == 2
    assert {h["match"] for h in jp_hits} == {"cidr"}
    # an address outside: nothing
    region.submit(region.ph_bank, pattern_indicator("[ipv4-addr:value = '91.244.0.1']"))
    assert region.hits(region.ph_bank) == []


def test_ipv6_containment_and_forms(region: Region) -> None:
    region.submit(region.sg, pattern_indicator("[ipv6-addr:value = '2a0e:97c0:3e0::/44']"))
    region.submit(region.ph, pattern_indicator("[ipv6-addr:value = '2A0E:97C0:03E1:0:0:0:0:1']"))
    [hit] = region.hits(region.ph)
    assert hit["match"] == "cidr"
    assert hit["observable"]["value"] in ("2a0e:97c0:3e1::1", "2a0e:97c0:3e0::/44")


def test_same_registered_domain_is_related_not_a_hit(region: Region) -> None:
    region.submit(region.sg, pattern_indicator("[domain-name:value = 'a.qzx-shop.co.uk']"))
    region.submit(region.ph, pattern_indicator("[domain-name:value = 'b.qzx-shop.co.uk']"))
    assert region.hits(region.ph) == []
    found = region.correlation.search(region.ph, "b.qzx-shop.co.uk")
    assert [o["observable"] for o in found["objects"]] == ["b.qzx-shop.co.uk"]
    assert [r["observable"] for r in found["related"]] == ["a.qzx-shop.co.uk"]
    assert found["related"][0]["registered_domain"] == "qzx-shop.co.uk"
    assert found["related"][0]["org"]["country"] == "SG"


def test_warning_listed_values_raise_no_hits_and_say_why(region: Region) -> None:
    private = pattern_indicator("[ipv4-addr:value = '10.20.30.40']")
    region.submit(region.ph, private)
    region.submit(region.sg, pattern_indicator("[ipv4-addr:value = '10.20.30.40']"))
    assert region.hits(region.ph) == []
    [observable] = region.correlation.observables_of(region.ph, private["id"])["observables"]
    assert observable["noise"] is not None and "warning-list" in observable["noise"]


def test_switching_documentation_lists_off_raises_the_hits_they_hid(region: Region) -> None:
    region.submit(region.ph, pattern_indicator("[ipv4-addr:value = '203.0.113.50']"))
    region.submit(region.sg, pattern_indicator("[domain-name:value = 'scam.example.com']"))
    region.submit(region.sg, pattern_indicator("[ipv4-addr:value = '203.0.113.50']"))
    region.submit(region.jp, pattern_indicator("[domain-name:value = 'SCAM.Example.COM.']"))
    assert region.hits(region.sg) == []
    region.correlation.set_warninglists(None, documentation_lists(), enabled=False)
    values = sorted(h["observable"]["value"] for h in region.hits(region.sg))
    assert values == ["203.0.113.50", "scam.example.com"]
    # and on again: hidden again, with the reason
    region.correlation.set_warninglists(None, documentation_lists(), enabled=True)
    assert region.hits(region.sg) == []


def test_unknown_warning_list_name_is_refused_and_changes_nothing(region: Region) -> None:
    from bayanihan.node import NodeError

    with pytest.raises(NodeError, match="no warning-list named"):
        region.correlation.set_warninglists(None, ["No such list"], enabled=False)
    assert all(item["enabled"] for item in region.correlation.warninglists())


def test_a_value_on_too_many_objects_is_noise(db_url: str) -> None:
    node = make_node(db_url, correlation_max_objects=3)
    try:
        region = Region(node)
        orgs = [region.ph, region.sg, region.jp]
        region.submit(orgs[0], pattern_indicator("[domain-name:value = 'qzx-cdn.net']"))
        region.submit(orgs[1], pattern_indicator("[domain-name:value = 'qzx-cdn.net']"))
        assert len(region.hits(region.ph)) == 1
        for who in (orgs[2], region.ph_bank):
            region.submit(who, pattern_indicator("[domain-name:value = 'qzx-cdn.net']"))
        assert region.hits(region.ph) == []  # four objects now: above the threshold
        assert region.sizes()["hits"] == 0  # and the hits it had raised are gone
        found = region.correlation.search(region.ph, "qzx-cdn.net")
        assert "more than the threshold of 3" in found["observables"][0]["noise"]
    finally:
        node.store.dispose()


def _objects_of(node: Node, kind: str, value: str) -> int:
    with node.store.read() as conn:
        [record] = index_store.by_values(conn, kind, [value])
    return record.objects


@pytest.mark.parametrize("held", [50_000, 0], ids=["held-to-commit", "written-early"])
def test_counts_summed_over_one_long_write_decide_noise_and_are_written_at_commit(
    db_url: str, held: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import writes batch after batch in one transaction: the counts it has not yet
    written decide noise all the same, and what it commits is exact, whether the sums
    wait for the commit or (many distinct values) are written along the way."""
    monkeypatch.setattr(index_store, "_PENDING_LIMIT", held)
    node = make_node(db_url, correlation_max_objects=3)
    try:
        region = Region(node)
        value = "[domain-name:value = 'qzx-bulk.net']"
        with node.store.write() as conn:

            def write(who: Principal) -> None:
                store_batch(
                    conn,
                    [pattern_indicator(value)],
                    node.intake_options(who),
                    now=node.clock(),
                    correlator=node.correlator,
                )

            write(region.ph)
            write(region.sg)
            assert index_store.count_rows(conn)["hits"] == 1
            write(region.jp)
            write(region.ph_bank)
            # four objects now, inside the same transaction: above the threshold
            assert index_store.count_rows(conn)["hits"] == 0
        assert _objects_of(node, "domain", "qzx-bulk.net") == 4
        assert region.sizes()["hits"] == 0
    finally:
        node.store.dispose()


def test_a_rolled_back_write_leaves_the_counts_as_they_were(region: Region) -> None:
    node = region.node
    value = "[domain-name:value = 'qzx-undone.net']"
    region.submit(region.ph, pattern_indicator(value))
    with pytest.raises(RuntimeError, match="interrupted"):
        with node.store.write() as conn:
            store_batch(
                conn,
                [pattern_indicator(value), pattern_indicator(value)],
                node.intake_options(region.sg),
                now=node.clock(),
                correlator=node.correlator,
            )
            raise RuntimeError("interrupted")
    assert _objects_of(node, "domain", "qzx-undone.net") == 1
    # the next write on the same connection starts from what was committed
    region.submit(region.sg, pattern_indicator(value))
    assert _objects_of(node, "domain", "qzx-undone.net") == 2
    assert len(region.hits(region.ph)) == 1


def test_a_new_version_keeps_its_hits_and_a_changed_one_loses_them(region: Region) -> None:
    object_id = f"indicator--{uuid.uuid4()}"
    first = pattern_indicator("[domain-name:value = 'qzx-loan.app']", object_id=object_id)
    region.submit(region.ph, first)
    region.submit(region.sg, pattern_indicator("[domain-name:value = 'qzx-loan.app']"))
    [hit] = region.hits(region.ph)
    second = {**first, "modified": stamp(2), "description": "confirmed"}
    region.submit(region.ph, second)
    [same] = region.hits(region.ph)
    assert same["hit_id"] == hit["hit_id"]  # carried over, not a new hit
    assert region.sizes()["postings"] == 2  # the old version holds no posting
    third = {**second, "modified": stamp(3), "pattern": "[domain-name:value = 'qzx-other.app']"}
    region.submit(region.ph, third)
    assert region.hits(region.ph) == []
    assert region.hits(region.sg) == []


def test_an_older_version_arriving_late_changes_nothing(region: Region) -> None:
    object_id = f"indicator--{uuid.uuid4()}"
    newer = pattern_indicator(
        "[domain-name:value = 'qzx-new.app']", object_id=object_id, modified=stamp(5)
    )
    older = pattern_indicator(
        "[domain-name:value = 'qzx-old.app']", object_id=object_id, modified=stamp(2)
    )
    region.submit(region.ph, newer)
    region.submit(region.ph, older)
    region.submit(region.sg, pattern_indicator("[domain-name:value = 'qzx-old.app']"))
    assert region.hits(region.ph) == []
    region.submit(region.sg, pattern_indicator("[domain-name:value = 'qzx-new.app']"))
    assert len(region.hits(region.ph)) == 1


def test_revocation_removes_postings_and_hits(region: Region) -> None:
    mine = pattern_indicator("[email-addr:value = 'Refunds@QZX-Tax.example.net']")
    region.submit(region.ph, mine)
    region.submit(
        region.sg, pattern_indicator("[email-addr:value = 'refunds@qzx-tax.example.net']")
    )
    region.correlation.set_warninglists(None, documentation_lists(), enabled=False)
    assert len(region.hits(region.sg)) == 1
    region.catalogue.revoke(region.ph, mine["id"])
    assert region.hits(region.sg) == []
    found = region.correlation.search(region.sg, "refunds@qzx-tax.example.net")
    assert [o["org"]["country"] for o in found["objects"]] == ["SG"]
    assert found["observables"][0]["objects"] == 1


def test_deleting_the_latest_version_brings_back_the_previous_ones_postings(
    region: Region,
) -> None:
    object_id = f"indicator--{uuid.uuid4()}"
    v1 = pattern_indicator("[domain-name:value = 'qzx-v1.com']", object_id=object_id)
    v2 = {**v1, "modified": stamp(4), "pattern": "[domain-name:value = 'qzx-v2.com']"}
    region.submit(region.ph, v1, v2)
    region.submit(region.sg, pattern_indicator("[domain-name:value = 'qzx-v1.com']"))
    region.submit(region.jp, pattern_indicator("[domain-name:value = 'qzx-v2.com']"))
    assert [h["observable"]["value"] for h in region.hits(region.ph)] == ["qzx-v2.com"]
    admin = region.node.operator(role=Role.ADMIN)
    service = TaxiiService(region.node)
    collection = service.collections(admin, "api").body
    collection_id = orjson.loads(collection)["collections"][0]["id"]
    service.delete_object(
        admin, "api", collection_id, object_id, {"match[version]": ["2026-11-04T00:00:00.000Z"]}
    )
    assert [h["observable"]["value"] for h in region.hits(region.ph)] == ["qzx-v1.com"]


def test_hits_are_seen_only_through_visible_objects(region: Region) -> None:
    """An AMBER object shared with JPCERT alone: SingCERT, which carries the same value,
    learns nothing of it (neither a hit nor, by search, that it exists)."""
    jp_identity = region.jp.org_identity
    secret = pattern_indicator(
        "[domain-name:value = 'qzx-c2.org']",
        tlp=Tlp.AMBER,
        extensions={
            SHARING_EXTENSION_ID: {
                "extension_type": "property-extension",
                "recipient_refs": [jp_identity],
            }
        },
    )
    region.submit(region.ph, secret)
    region.submit(region.sg, pattern_indicator("[domain-name:value = 'qzx-c2.org']"))
    region.submit(region.jp, pattern_indicator("[domain-name:value = 'qzx-c2.org']"))
    # PH sees both hits on its object; JP sees the hit with PH (and with SG's GREEN one)
    assert len(region.hits(region.ph)) == 2
    assert len(region.hits(region.jp)) == 2
    # SG: only the hit with JP's GREEN object; the AMBER one stays invisible
    sg_hits = region.hits(region.sg)
    assert [h["counterpart"]["org"]["country"] for h in sg_hits] in (["JP"], [])
    for hit in sg_hits:
        assert secret["id"] not in (hit["object"]["id"], hit["counterpart"]["id"])
    found = region.correlation.search(region.sg, "qzx-c2.org")
    ids = {o["id"] for o in found["objects"]} | {
        side["id"] for h in found["hits"] for side in (h["object"], h["counterpart"])
    }
    assert secret["id"] not in ids
    assert found["observables"][0]["objects"] >= 1
    # PH_BANK holds nothing: the value is told only through objects it may see
    everything = region.hits(region.ph_bank, everything=True)
    assert all(secret["id"] not in (h["object"]["id"], h["counterpart"]["id"]) for h in everything)


def test_a_value_known_only_from_invisible_objects_is_not_told(region: Region) -> None:
    region.submit(
        region.ph,
        pattern_indicator("[domain-name:value = 'qzx-hidden.org']", tlp=Tlp.RED),
    )
    found = region.correlation.search(region.sg, "qzx-hidden.org")
    assert found["observables"] == [] and found["objects"] == [] and found["hits"] == []


def test_rejected_input_changes_nothing(region: Region) -> None:
    before = region.sizes()
    bad = pattern_indicator("[domain-name:value = 'qzx-x.com'")  # unbalanced bracket
    [outcome] = region.catalogue.submit(region.ph, [bad])
    assert not outcome.ok
    assert region.sizes() == before


def test_an_interrupted_write_leaves_the_index_as_it_was(region: Region) -> None:
    from bayanihan.ingest.intake import store_objects

    region.submit(region.ph, pattern_indicator("[domain-name:value = 'qzx-keep.com']"))
    before = region.sizes()
    options = region.node.intake_options(region.sg)
    with pytest.raises(RuntimeError), region.node.store.write() as conn:
        store_objects(
            conn,
            [pattern_indicator("[domain-name:value = 'qzx-keep.com']")],
            options,
            clock=region.node.clock,
            correlator=region.node.correlator,
        )
        assert index_store.count_rows(conn)["hits"] == 1  # written, not yet committed
        raise RuntimeError("the process dies here")
    assert region.sizes() == before
    assert region.hits(region.ph) == []


def test_rebuild_gives_the_same_index(region: Region) -> None:
    region.submit(region.ph, pattern_indicator("[domain-name:value = 'qzx-r.com']"))
    region.submit(region.sg, pattern_indicator("[domain-name:value = 'qzx-r.com']"))
    region.submit(region.jp, pattern_indicator("[ipv4-addr:value ISSUBSET '91.200.0.0/24']"))
    region.submit(region.ph, pattern_indicator("[ipv4-addr:value = '91.200.0.9']"))
    before = region.sizes()
    shown = sorted(h["observable"]["value"] for h in region.hits(region.ph))
    sizes = region.correlation.rebuild()
    assert sizes == before
    assert sorted(h["observable"]["value"] for h in region.hits(region.ph)) == shown


def test_extension_observables_correlate(region: Region) -> None:
    """Phone numbers in national form (each org's own country), wallets and handles."""
    sg_phone = {
        "type": "x-bayanihan-phone-number",
        "spec_version": "2.1",
        "id": f"x-bayanihan-phone-number--{uuid.uuid4()}",
        "value": "+65 9123 4567",
        "object_marking_refs": [Tlp.GREEN.marking_id],
    }
    ph_view = pattern_indicator("[x-bayanihan-phone-number:value = '+6591234567']")
    region.submit(region.sg, sg_phone)
    region.submit(region.ph, ph_view)
    [hit] = region.hits(region.ph)
    assert hit["observable"] == {**hit["observable"], "kind": "phone", "value": "+6591234567"}
    wallet = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    region.submit(
        region.jp,
        {
            "type": "x-bayanihan-crypto-wallet",
            "spec_version": "2.1",
            "id": f"x-bayanihan-crypto-wallet--{uuid.uuid4()}",
            "address": wallet,
            "currency": "btc",
            "object_marking_refs": [Tlp.GREEN.marking_id],
        },
    )
    region.submit(region.ph, pattern_indicator(f"[x-bayanihan-crypto-wallet:address = '{wallet}']"))
    kinds = {h["observable"]["kind"] for h in region.hits(region.ph)}
    assert kinds == {"phone", "crypto-wallet"}


def test_objects_stored_with_correlation_off_are_indexed_by_the_next_init(db_url: str) -> None:
    off = make_node(db_url, correlation=False)
    off.add_org("SingCERT", country="SG")
    pattern = "[domain-name:value = 'qzx-while-off.com']"
    for who in (off.operator(), off.operator("SingCERT")):
        Catalogue(off).submit(who, [indicator("x", pattern=pattern)])
    off.store.dispose()
    on = make_node(db_url)
    try:
        [hit] = Correlation(on).hits(on.operator()).hits
        assert hit["observable"]["value"] == "qzx-while-off.com"
    finally:
        on.store.dispose()
