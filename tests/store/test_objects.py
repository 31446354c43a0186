"""The storage contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading

import orjson
import pytest

from bayanihan.ingest.importer import import_objects
from bayanihan.node import Node
from bayanihan.policy.tlp import Tlp
from bayanihan.stix.extensions import SHARING_EXTENSION_ID
from bayanihan.store import objects as object_store
from bayanihan.store.objects import ObjectQuery, VersionSpec
from bayanihan.store.scope import ReadScope
from tests.stixgen import indicator, ipv4, stamp

EVERYTHING = ReadScope(everything=True)


def _all(node: Node, **kw: object) -> list[dict[str, object]]:
    query = ObjectQuery(scope=EVERYTHING, limit=100_000, **kw)  # type: ignore[arg-type]
    with node.store.read() as conn:
        return [orjson.loads(row.body) for row in object_store.list_bodies(conn, query)]


def _submit(node: Node, objects: list[dict[str, object]], org: str | None = None):  # type: ignore[no-untyped-def]
    return import_objects(node, node.operator(org), objects)


def _user_objects(node: Node, **kw: object) -> list[dict[str, object]]:
    """Everything but what `init` publishes (identities, marking and extension definitions)."""
    reference = {"identity", "marking-definition", "extension-definition"}
    return [o for o in _all(node, **kw) if o["type"] not in reference]


def test_init_is_idempotent_and_publishes_reference_objects(node: Node) -> None:
    before = _all(node)
    assert node.init(node_name="Other name", country="SG") is False
    assert _all(node) == before
    types = sorted({o["type"] for o in before})
    assert types == ["extension-definition", "identity", "marking-definition"]
    record = node.node_record()
    assert record.name == "Test CERT" and record.country == "PH"


def test_same_version_twice_is_a_no_op(node: Node) -> None:
    obj = indicator()
    first = _submit(node, [obj])
    second = _submit(node, [obj])
    assert (first.stored, first.duplicate) == (1, 0)
    assert (second.stored, second.duplicate) == (0, 1)
    assert len(_user_objects(node, versions=VersionSpec(all=True))) == 1


def test_stored_bytes_are_canonical_json(node: Node) -> None:
    obj = indicator()
    _submit(node, [obj])
    query = ObjectQuery(scope=EVERYTHING, ids=frozenset({obj["id"]}))
    with node.store.read() as conn:
        [row] = object_store.list_bodies(conn, query)
    body = row.body
    decoded = orjson.loads(body)
    assert body == orjson.dumps(decoded, option=orjson.OPT_SORT_KEYS)
    assert decoded["created_by_ref"] == node.operator().org_identity


def test_newer_version_supersedes_and_older_is_history(node: Node) -> None:
    v2 = indicator(modified=stamp(2))
    v1 = dict(v2, modified=stamp(1, 30))
    v3 = dict(v2, modified=stamp(3), name="third")
    _submit(node, [v2])
    _submit(node, [v1])  # older arrives late: kept as history, not latest
    assert [o["modified"] for o in _user_objects(node)] == [stamp(2)]
    _submit(node, [v3])
    assert [o["name"] for o in _user_objects(node)] == ["third"]
    first = _user_objects(node, versions=VersionSpec(first=True))
    assert [o["modified"] for o in first] == [stamp(1, 30)]
    every = _user_objects(node, versions=VersionSpec(all=True))
    assert sorted(o["modified"] for o in every) == [stamp(1, 30), stamp(2), stamp(3)]


def test_versions_in_one_batch_flag_latest_and_first(node: Node) -> None:
    base = indicator()
    versions = [dict(base, modified=stamp(1, s)) for s in (5, 1, 9, 3)]
    assert _submit(node, versions).stored == 4
    assert [o["modified"] for o in _user_objects(node)] == [stamp(1, 9)]
    assert [o["modified"] for o in _user_objects(node, versions=VersionSpec(first=True))] == [
        stamp(1, 1)
    ]


def test_revoked_object_gets_no_newer_version(node: Node) -> None:
    obj = indicator()
    revoked = dict(obj, modified=stamp(2), revoked=True)
    later = dict(obj, modified=stamp(3), name="after revocation")
    _submit(node, [obj, revoked])
    summary = _submit(node, [later])
    assert summary.rejected == 1
    assert "revoked" in summary.reasons[0].message
    assert _user_objects(node)[0]["revoked"] is True


def test_an_org_may_not_write_a_version_of_another_orgs_object(node: Node) -> None:
    node.add_org("Second Org", country="VN")
    obj = indicator()
    _submit(node, [obj])
    hijack = dict(obj, modified=stamp(5), name="hijacked")
    del hijack["created_by_ref"]
    summary = _submit(node, [hijack], org="Second Org")
    assert summary.rejected == 1
    assert "belongs to another organisation" in summary.reasons[0].message
    assert "Test CERT" not in summary.reasons[0].message
    assert _user_objects(node)[0]["name"] != "hijacked"


def test_scos_are_kept_per_org_with_their_own_markings(node: Node) -> None:
    node.add_org("Second Org", country="VN")
    _submit(node, [ipv4("192.0.2.10", tlp=Tlp.AMBER)])
    _submit(node, [ipv4("192.0.2.10", tlp=Tlp.GREEN)], org="Second Org")
    rows = _user_objects(node)
    assert len(rows) == 2
    second = node.org("Second Org")
    scope = ReadScope(org_rows=frozenset({second.row_id}))
    with node.store.read() as conn:
        seen = object_store.list_bodies(
            conn, ObjectQuery(scope=scope, types=frozenset({"ipv4-addr"}))
        )
    assert len(seen) == 1  # only its own GREEN copy; the AMBER one is not its to see


def test_date_added_strictly_increases_and_is_never_reused(node: Node) -> None:
    objs = [indicator(f"192.0.2.{i}") for i in range(50)]
    _submit(node, objs[:25])
    with node.store.read() as conn:
        rows = object_store.list_manifest(conn, ObjectQuery(scope=EVERYTHING, limit=10_000))
    last = rows[-1].date_added
    from bayanihan.store.objects import delete_versions, matching_versions

    with node.store.write() as conn:
        doomed = matching_versions(
            conn,
            ObjectQuery(
                scope=EVERYTHING, ids=frozenset({objs[24]["id"]}), versions=VersionSpec(all=True)
            ),
        )
        delete_versions(conn, object_id=objs[24]["id"], doomed=doomed, by_org=1, now=0)
    _submit(node, objs[25:])
    with node.store.read() as conn:
        rows = object_store.list_manifest(conn, ObjectQuery(scope=EVERYTHING, limit=10_000))
    added = [r.date_added for r in rows]
    assert added == sorted(added) and len(set(added)) == len(added)
    assert min(r.date_added for r in rows if r.id == objs[25]["id"]) > last


def test_date_added_survives_a_clock_that_steps_back(db_url: str) -> None:
    from tests.conftest import make_node

    ticks = iter([2_000_000_000_000_000] + [1_000_000_000_000_000] * 1000)
    node = make_node(db_url)
    node.clock = lambda: next(ticks)
    _submit(node, [indicator("192.0.2.1")])
    _submit(node, [indicator("192.0.2.2")])
    with node.store.read() as conn:
        rows = object_store.list_manifest(conn, ObjectQuery(scope=EVERYTHING, limit=10_000))
    assert rows[-1].date_added > rows[-2].date_added >= 2_000_000_000_000_000
    node.store.dispose()


def test_paging_never_skips_or_repeats_while_others_write(node: Node) -> None:
    """A reader pages by date_added while two writers add objects concurrently."""
    total_per_writer = 300
    errors: list[BaseException] = []

    def writer(prefix: int) -> None:
        try:
            for start in range(0, total_per_writer, 10):
                batch = [
                    indicator(f"10.{prefix}.{i // 250}.{i % 250}") for i in range(start, start + 10)
                ]
                _submit(node, batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in (1, 2)]
    for thread in threads:
        thread.start()
    seen: list[str] = []
    cursor = None
    while True:
        query = ObjectQuery(scope=EVERYTHING, after=cursor, limit=7, types=frozenset({"indicator"}))
        with node.store.read() as conn:
            rows = object_store.list_manifest(conn, query)[:7]
        if rows:
            seen.extend(r.id for r in rows)
            cursor = rows[-1].date_added
        elif not any(t.is_alive() for t in threads):
            with node.store.read() as conn:  # one more look after the writers stopped
                rows = object_store.list_manifest(
                    conn,
                    ObjectQuery(
                        scope=EVERYTHING, after=cursor, limit=10_000, types=frozenset({"indicator"})
                    ),
                )
            seen.extend(r.id for r in rows)
            break
    for thread in threads:
        thread.join()
    assert not errors
    assert len(seen) == len(set(seen)) == 2 * total_per_writer


def test_audience_is_rendered_in_sql(node: Node) -> None:
    node.add_org("Second Org", country="VN")
    own = node.operator()
    second = node.org("Second Org")
    objs = {level: indicator(tlp=level) for level in Tlp}
    untagged = indicator(tlp=None)
    _submit(node, [*objs.values(), untagged])

    def visible_to(org_row: int) -> set[str]:
        scope = ReadScope(org_rows=frozenset({org_row}))
        with node.store.read() as conn:
            rows = object_store.list_manifest(
                conn, ObjectQuery(scope=scope, types=frozenset({"indicator"}))
            )
        return {r.id for r in rows}

    assert visible_to(own.org_row) == {o["id"] for o in objs.values()} | {untagged["id"]}
    assert visible_to(second.row_id) == {objs[Tlp.CLEAR]["id"], objs[Tlp.GREEN]["id"]}


def test_rejections_leave_the_valid_objects_stored(node: Node) -> None:
    good = indicator()
    bad = indicator(pattern="[ipv4-addr:value = ")
    summary = _submit(node, [good, bad, {"type": "indicator", "id": "indicator--1"}])
    assert (summary.stored, summary.rejected) == (1, 2)
    assert [o["id"] for o in _user_objects(node)] == [good["id"]]


@pytest.mark.parametrize("count", [2500])
def test_large_batches_cross_chunk_boundaries(node: Node, count: int) -> None:
    objs = [indicator(f"10.0.{i // 250}.{i % 250}") for i in range(count)]
    assert _submit(node, objs).stored == count
    updated = [dict(o, modified=stamp(2)) for o in objs]
    assert _submit(node, updated).stored == count
    assert len(_user_objects(node)) == count
    assert len(_user_objects(node, versions=VersionSpec(all=True))) == 2 * count


def test_a_reader_of_several_orgs_pages_through_objects_posted_to_each_of_them(
    node: Node,
) -> None:
    """A sync key reads for every org its peer hosts: an object shared with two of them
    is posted to both, and paging still gives each object once and misses none."""
    node.add_org("Second Org", country="VN")
    node.add_org("Third Org", country="TH")
    second, third = node.org("Second Org"), node.org("Third Org")
    shared = [
        indicator(
            f"192.0.2.{n}",
            tlp=Tlp.AMBER,
            extensions={
                SHARING_EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "recipient_refs": [second.identity_id, third.identity_id],
                }
            },
        )
        for n in range(25)
    ]
    only_third = [
        indicator(
            f"198.51.100.{n}",
            tlp=Tlp.AMBER,
            extensions={
                SHARING_EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "recipient_refs": [third.identity_id],
                }
            },
        )
        for n in range(5)
    ]
    _submit(node, [*shared, *only_third])
    scope = ReadScope(org_rows=frozenset({second.row_id, third.row_id}))
    seen: list[str] = []
    after = None
    while True:
        with node.store.read() as conn:
            rows = object_store.list_bodies(
                conn,
                ObjectQuery(scope=scope, after=after, limit=7, types=frozenset({"indicator"})),
            )
        seen.extend(r.id for r in rows[:7])
        if len(rows) <= 7:
            break
        after = rows[6].date_added
    assert len(seen) == len(set(seen))
    assert set(seen) == {o["id"] for o in [*shared, *only_third]}
