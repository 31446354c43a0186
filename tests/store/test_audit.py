"""The audit log: chaining, paging, export, rollback, tamper detection, concurrency.

Tests measure from the log's state when they start (``_base``), so they hold even if
initialising a node comes to write audit entries of its own.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, insert, select, update

from bayanihan.node import Node
from bayanihan.stix.timestamps import now_micros, parse_timestamp
from bayanihan.store import audit
from bayanihan.store.audit import GENESIS, AuditEntry, VerifyReport
from bayanihan.store.schema import audit_log, counters

FIELDS = {
    "seq",
    "at",
    "key_row",
    "org_row",
    "user_row",
    "action",
    "object_ids",
    "remote",
    "detail",
    "prev_hash",
    "hash",
}


class _Boom(Exception):
    """Raised inside a write transaction to make it roll back."""


def _base(node: Node) -> int:
    with node.store.read() as conn:
        last = conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq.desc())).first()
    return 0 if last is None else int(last.seq)


def _append(node: Node, index: int, **overrides: Any) -> AuditEntry:
    fields: dict[str, Any] = {
        "at": 1_700_000_000_000_000 + index,
        "key_row": index % 3 or None,
        "org_row": 1,
        "user_row": None if index % 2 else index,
        "action": "objects.read" if index % 2 else "objects.write",
        "object_ids": [f"indicator--{index:08d}-0000-4000-8000-000000000000"] * (index % 4),
        "remote": "203.0.113.7" if index % 2 else None,
        "detail": None if index % 3 else f'{{"n": {index}}}',
    }
    fields.update(overrides)
    with node.store.write() as conn:
        return audit.append(conn, **fields)


def _fill(node: Node, count: int) -> list[AuditEntry]:
    return [_append(node, index) for index in range(count)]


def _verify(node: Node, **kw: Any) -> VerifyReport:
    with node.store.read() as conn:
        return audit.verify(conn, **kw)


def _tamper(node: Node, seq: int, **values: Any) -> None:
    with node.store.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == seq).values(**values))


def _remove(node: Node, *seqs: int) -> None:
    with node.store.write() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq.in_(seqs)))


def test_appends_chain_and_verify(node: Node) -> None:
    base = _base(node)
    made = _fill(node, 12)
    assert [e.seq for e in made] == list(range(base + 1, base + 13))
    if base == 0:
        assert made[0].prev_hash == GENESIS
    for before, after in zip(made, made[1:], strict=False):
        assert after.prev_hash == before.hash
    for entry in made:
        assert entry.hash == audit.entry_hash(
            entry.prev_hash,
            entry.seq,
            entry.at,
            entry.key_row,
            entry.org_row,
            entry.user_row,
            entry.action,
            entry.object_ids,
            entry.remote,
            entry.detail,
        )
    with node.store.read() as conn:
        assert audit.entries(conn, after=base) == made
    assert _verify(node) == VerifyReport(ok=True, checked=base + 12)


def test_empty_log_verifies(node: Node) -> None:
    report = _verify(node)
    assert report.ok and report.checked == _base(node)


def test_hash_encoding_is_unambiguous() -> None:
    def digest(ids: list[str], remote: str | None, detail: str | None) -> str:
        return audit.entry_hash(GENESIS, 1, 5, None, None, None, "read", ids, remote, detail)

    assert digest(["a", "b"], None, None) != digest(["a,b"], None, None)
    assert digest([], None, None) != digest([], "", None)
    assert digest([], "x", None) != digest([], None, "x")


def test_object_ids_that_would_not_split_back_are_refused(node: Node) -> None:
    base = _base(node)
    for bad in (["indicator--a,b"], [""]):
        with pytest.raises(ValueError, match="comma-free"):
            _append(node, 1, object_ids=bad)
    assert _base(node) == base


def test_many_object_ids_round_trip(node: Node) -> None:
    ids = [f"indicator--{n:08d}-0000-4000-8000-000000000000" for n in range(1000)]
    entry = _append(node, 1, object_ids=ids)
    with node.store.read() as conn:
        stored = conn.execute(
            select(audit_log.c.object_ids).where(audit_log.c.seq == entry.seq)
        ).scalar_one()
        (read,) = audit.entries(conn, after=entry.seq - 1, limit=1)
    assert stored == ",".join(ids)
    assert read.object_ids == tuple(ids)
    assert _verify(node).ok


def test_entries_pages(node: Node) -> None:
    base = _base(node)
    made = _fill(node, 25)
    pages: list[list[AuditEntry]] = []
    after = base
    with node.store.read() as conn:
        while page := audit.entries(conn, after=after, limit=10):
            pages.append(page)
            after = page[-1].seq
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [e for p in pages for e in p] == made


def test_export_jsonl_writes_every_field(node: Node) -> None:
    base = _base(node)
    made = _fill(node, 7)
    out = io.StringIO()
    with node.store.read() as conn:
        assert audit.export_jsonl(conn, out, chunk_size=3) == base + 7
    lines = out.getvalue().splitlines()
    assert len(lines) == base + 7
    rows = [orjson.loads(line) for line in lines]
    assert all(set(row) == FIELDS for row in rows)
    exported = rows[base:]
    for row, entry in zip(exported, made, strict=True):
        assert row == entry.as_json()
        assert parse_timestamp(row["at"]) == entry.at
        assert isinstance(row["object_ids"], list)
        recomputed = audit.entry_hash(
            row["prev_hash"],
            row["seq"],
            parse_timestamp(row["at"]),
            row["key_row"],
            row["org_row"],
            row["user_row"],
            row["action"],
            row["object_ids"],
            row["remote"],
            row["detail"],
        )
        assert recomputed == row["hash"]


def test_rolled_back_entry_is_not_logged(node: Node) -> None:
    base = _base(node)
    _fill(node, 3)
    with pytest.raises(_Boom), node.store.write() as conn:
        audit.append(
            conn, at=now_micros(), key_row=1, org_row=1, user_row=None, action="x", object_ids=[]
        )
        raise _Boom
    with node.store.read() as conn:
        assert [e.action for e in audit.entries(conn, after=base + 3)] == []
    after = _append(node, 9)
    assert after.seq == base + 4
    assert _verify(node) == VerifyReport(ok=True, checked=base + 4)


@pytest.mark.parametrize(
    "values",
    [
        {"action": "objects.delete"},
        {"object_ids": "indicator--00000000-0000-4000-8000-000000000099"},
        {"at": 1},
        {"remote": "198.51.100.1"},
        {"key_row": 99},
    ],
    ids=["action", "object_ids", "at", "remote", "key_row"],
)
def test_changed_field_is_named(node: Node, values: dict[str, Any]) -> None:
    base = _base(node)
    _fill(node, 10)
    _tamper(node, base + 5, **values)
    report = _verify(node)
    assert not report.ok
    assert report.first_broken == base + 5
    assert report.checked == base + 4
    assert report.reason == f"entry {base + 5}: hash does not match its contents"


def test_deleted_middle_entry_is_named(node: Node) -> None:
    base = _base(node)
    _fill(node, 10)
    _remove(node, base + 4)
    report = _verify(node)
    assert not report.ok and report.first_broken == base + 4
    assert report.reason == f"entry {base + 4} is missing"


def test_deleted_middle_run_is_named(node: Node) -> None:
    base = _base(node)
    _fill(node, 10)
    _remove(node, base + 4, base + 5, base + 6)
    report = _verify(node)
    assert not report.ok and report.first_broken == base + 4
    assert report.reason == f"entries {base + 4} to {base + 6} are missing"


def test_deleted_tail_is_caught_by_the_counter(node: Node) -> None:
    base = _base(node)
    _fill(node, 10)
    _remove(node, base + 9, base + 10)
    report = _verify(node)
    assert not report.ok
    assert report.checked == base + 8
    assert report.first_broken == base + 9
    assert report.reason == (
        f"the log ends at entry {base + 8} but the counter says {base + 10}"
        " (entries removed from the end)"
    )


def test_append_after_truncation_keeps_the_gap_visible(node: Node) -> None:
    base = _base(node)
    _fill(node, 5)
    _remove(node, base + 5)
    entry = _append(node, 6)
    assert entry.seq == base + 6
    report = _verify(node)
    assert not report.ok and report.first_broken == base + 5
    assert report.reason == f"entry {base + 5} is missing"


def test_whole_log_deleted_is_caught(node: Node) -> None:
    _fill(node, 4)
    with node.store.write() as conn:
        conn.execute(delete(audit_log))
    report = _verify(node)
    assert not report.ok and report.first_broken == 1
    assert report.reason is not None and "entries removed from the end" in report.reason


def test_counter_row_removed_is_caught(node: Node) -> None:
    _fill(node, 3)
    with node.store.write() as conn:
        conn.execute(delete(counters).where(counters.c.name == "audit"))
    report = _verify(node)
    assert not report.ok and report.first_broken is None
    assert report.reason is not None and "counter row is missing" in report.reason


def test_entry_added_behind_the_counter_is_caught(node: Node) -> None:
    base = _base(node)
    made = _fill(node, 3)
    last = made[-1]
    seq, at = last.seq + 1, last.at + 1
    forged = audit.entry_hash(last.hash, seq, at, None, 1, None, "forged", [], None, None)
    with node.store.write() as conn:
        conn.execute(
            insert(audit_log).values(
                seq=seq,
                at=at,
                key_row=None,
                org_row=1,
                user_row=None,
                action="forged",
                object_ids="",
                remote=None,
                detail=None,
                prev_hash=last.hash,
                hash=forged,
            )
        )
    report = _verify(node)
    assert not report.ok and report.first_broken == base + 4
    assert report.reason is not None and "entries added without the counter" in report.reason


def test_swapped_entries_are_named(node: Node) -> None:
    base = _base(node)
    _fill(node, 10)
    first, second = base + 3, base + 7
    with node.store.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == first).values(seq=-1))
        conn.execute(update(audit_log).where(audit_log.c.seq == second).values(seq=first))
        conn.execute(update(audit_log).where(audit_log.c.seq == -1).values(seq=second))
    report = _verify(node)
    assert not report.ok and report.first_broken == first
    assert report.reason == f"entry {first}: hash does not match its contents"


def test_forged_entry_with_recomputed_hash_breaks_the_next_link(node: Node) -> None:
    base = _base(node)
    made = _fill(node, 10)
    victim = made[4]
    forged = audit.entry_hash(
        victim.prev_hash,
        victim.seq,
        victim.at,
        victim.key_row,
        victim.org_row,
        victim.user_row,
        "nothing.happened",
        victim.object_ids,
        victim.remote,
        victim.detail,
    )
    _tamper(node, victim.seq, action="nothing.happened", hash=forged)
    report = _verify(node)
    assert not report.ok
    assert report.first_broken == victim.seq + 1
    assert report.checked == base + 5
    assert report.reason == f"entry {victim.seq + 1}: prev_hash does not match entry {victim.seq}"


def test_first_entry_must_start_from_genesis(node: Node) -> None:
    if _base(node):
        pytest.skip("the node already logged entries at init")
    made = _fill(node, 2)
    other = "f" * 64
    entry = made[0]
    forged = audit.entry_hash(
        other,
        1,
        entry.at,
        entry.key_row,
        entry.org_row,
        entry.user_row,
        entry.action,
        entry.object_ids,
        entry.remote,
        entry.detail,
    )
    _tamper(node, 1, prev_hash=other, hash=forged)
    report = _verify(node)
    assert not report.ok and report.first_broken == 1
    assert report.reason == "entry 1: prev_hash is not the genesis value"


def test_verify_across_chunk_boundaries(node: Node) -> None:
    base = _base(node)
    _fill(node, 25)
    for size in (1, 7, 25, 26):
        assert _verify(node, chunk_size=size) == VerifyReport(ok=True, checked=base + 25)
    _remove(node, base + 15)
    for size in (1, 7, 14, 15):
        report = _verify(node, chunk_size=size)
        assert report.first_broken == base + 15, size
    with pytest.raises(ValueError):
        _verify(node, chunk_size=0)


def test_concurrent_appenders_make_one_chain(node: Node) -> None:
    base = _base(node)
    threads, per_thread = 4, 50
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for index in range(per_thread):
                with node.store.write() as conn:
                    audit.append(
                        conn,
                        at=now_micros(),
                        key_row=worker,
                        org_row=1,
                        user_row=None,
                        action=f"worker-{worker}",
                        object_ids=[f"note--{worker}-{index}"],
                    )
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    running = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=120)
    assert errors == []
    total = base + threads * per_thread
    assert _verify(node) == VerifyReport(ok=True, checked=total)
    with node.store.read() as conn:
        logged = audit.entries(conn, after=base, limit=10_000)
    assert [e.seq for e in logged] == list(range(base + 1, total + 1))
    for worker in range(threads):
        mine = [e.object_ids[0] for e in logged if e.action == f"worker-{worker}"]
        assert mine == [f"note--{worker}-{index}" for index in range(per_thread)]


def test_verify_a_long_log_in_chunks(node: Node) -> None:
    """20,000 entries: loaded in bulk (chained with ``entry_hash``), then appended to."""
    base = _base(node)
    first = _append(node, 0)
    total = 20_000
    rows: list[dict[str, Any]] = []
    prev = first.hash
    for seq in range(first.seq + 1, base + total):
        fields: dict[str, Any] = {
            "seq": seq,
            "at": 1_700_000_000_000_000 + seq,
            "key_row": 1,
            "org_row": 1,
            "user_row": None,
            "action": "objects.read",
            "object_ids": f"indicator--{seq:08d}-0000-4000-8000-000000000000",
            "remote": None,
            "detail": None,
        }
        digest = audit.entry_hash(
            prev,
            seq,
            fields["at"],
            1,
            1,
            None,
            "objects.read",
            [fields["object_ids"]],
            None,
            None,
        )
        rows.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    with node.store.write() as conn:
        conn.execute(insert(audit_log), rows)
        conn.execute(
            update(counters).where(counters.c.name == "audit").values(value=base + total - 1)
        )
    last = _append(node, 1)
    assert last.seq == base + total and last.prev_hash == prev
    assert _verify(node) == VerifyReport(ok=True, checked=base + total)
    assert _verify(node, chunk_size=3000) == VerifyReport(ok=True, checked=base + total)
    out = io.StringIO()
    with node.store.read() as conn:
        assert audit.export_jsonl(conn, out) == base + total
    _tamper(node, base + 15_001, action="objects.delete")
    report = _verify(node)
    assert not report.ok and report.first_broken == base + 15_001
    assert report.checked == base + 15_000
