"""The audit log: append-only and hash-chained, one entry per request.

Callers append inside the same write transaction as the change an entry records,
so a request that rolls back leaves no entry and a committed change always has
one. Each entry's hash covers the previous entry's hash and its own fields:
editing, reordering or removing an entry breaks the chain at that point, and
``verify`` names the first entry where it breaks.

Removing entries from the *end* would leave a chain that is still intact, so the
``counters`` row named ``"audit"`` also holds the last sequence number handed
out; ``verify`` compares the two.

On PostgreSQL appenders serialise on that counter row (``SELECT ... FOR
UPDATE``), so sequence numbers are gap-free and a transaction holding seq ``n``
has committed before ``n + 1`` is handed out. On SQLite the single writer does
the same. Append last in a transaction, after any object writes: the audit lock
is then held only briefly and always taken after the object-write lock, which
keeps the two from deadlocking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import orjson
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bayanihan.stix.timestamps import format_timestamp
from bayanihan.store.schema import audit_log, counters

GENESIS = "0" * 64
_COUNTER = "audit"
_CHUNK = 5000

# Built once: every request appends, and composing these per call cost more than running them.
_READ_COUNTER = select(counters.c.value).where(counters.c.name == _COUNTER)
_LOCK_COUNTER = _READ_COUNTER.with_for_update()
_SET_COUNTER = (
    update(counters).where(counters.c.name == _COUNTER).values(value=bindparam("last_seq"))
)
_LAST_ENTRY = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_INSERT_ENTRY = insert(audit_log)

_COLUMNS = (
    audit_log.c.seq,
    audit_log.c.at,
    audit_log.c.key_row,
    audit_log.c.org_row,
    audit_log.c.user_row,
    audit_log.c.action,
    audit_log.c.object_ids,
    audit_log.c.remote,
    audit_log.c.detail,
    audit_log.c.prev_hash,
    audit_log.c.hash,
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded request, as stored (``hash`` is what the chain committed to)."""

    seq: int
    at: int
    key_row: int | None
    org_row: int | None
    user_row: int | None
    action: str
    object_ids: tuple[str, ...]
    remote: str | None
    detail: str | None
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        """Every field, JSON-ready: ``at`` as a STIX timestamp, which parses back exactly,
        so an exported log can be re-verified away from the node."""
        return {
            "seq": self.seq,
            "at": format_timestamp(self.at),
            "key_row": self.key_row,
            "org_row": self.org_row,
            "user_row": self.user_row,
            "action": self.action,
            "object_ids": list(self.object_ids),
            "remote": self.remote,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(slots=True)
class VerifyReport:
    """The outcome of walking the chain.

    ``checked`` counts the entries found sound before the first fault (all of them
    when ``ok``). ``first_broken`` is the seq of the first bad or missing entry;
    it is None when the log is sound, or when the fault belongs to no entry (the
    counter row itself is gone).
    """

    ok: bool
    checked: int
    first_broken: int | None = None
    reason: str | None = None


def entry_hash(
    prev_hash: str,
    seq: int,
    at: int,
    key_row: int | None,
    org_row: int | None,
    user_row: int | None,
    action: str,
    object_ids: Sequence[str],
    remote: str | None,
    detail: str | None,
) -> str:
    """SHA-256 (hex) of an entry chained to its predecessor.

    The fields are encoded as one JSON array: every string is quoted and escaped and
    null differs from "", so no two different entries share an encoding.
    """
    encoded = orjson.dumps(
        [seq, at, key_row, org_row, user_row, action, list(object_ids), remote, detail]
    )
    return hashlib.sha256(prev_hash.encode() + encoded).hexdigest()


def _join_ids(object_ids: Sequence[str]) -> str:
    """Object ids as stored: comma-joined, refusing ids that would not split back."""
    for object_id in object_ids:
        if not object_id or "," in object_id:
            raise ValueError(f"audit object ids must be non-empty and comma-free: {object_id!r}")
    return ",".join(object_ids)


def _split_ids(stored: str) -> tuple[str, ...]:
    return tuple(stored.split(",")) if stored else ()


def _entry(row: Sequence[Any]) -> AuditEntry:
    seq, at, key_row, org_row, user_row, action, ids, remote, detail, prev_hash, hash_ = row
    return AuditEntry(
        seq=int(seq),
        at=int(at),
        key_row=key_row,
        org_row=org_row,
        user_row=user_row,
        action=action,
        object_ids=_split_ids(ids),
        remote=remote,
        detail=detail,
        prev_hash=prev_hash,
        hash=hash_,
    )


def _lock_counter(conn: Connection) -> int:
    """Lock the audit counter row (PostgreSQL) and return the last seq it records.

    The row is created on first use. Two first appenders may both find it missing:
    the insert ignores a row that already exists (waiting, on PostgreSQL, for the
    other transaction to settle), and the locking read that follows sees it.
    """
    query = _READ_COUNTER if conn.dialect.name == "sqlite" else _LOCK_COUNTER
    value = conn.execute(query).scalar()
    if value is not None:
        return int(value)
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        make(counters)
        .values(name=_COUNTER, value=0)
        .on_conflict_do_nothing(index_elements=[counters.c.name])
    )
    value = conn.execute(query).scalar()
    if value is None:
        raise RuntimeError("the audit counter row could not be created")
    return int(value)


def append(
    conn: Connection,
    *,
    at: int,
    key_row: int | None,
    org_row: int | None,
    user_row: int | None,
    action: str,
    object_ids: Sequence[str],
    remote: str | None = None,
    detail: str | None = None,
) -> AuditEntry:
    """Record one request; call inside ``Store.write()`` with the change it records.

    The new seq follows both the counter and the last stored entry, so an entry
    removed from the end is never silently reused: the gap stays visible to ``verify``.
    """
    if not conn.in_transaction():
        raise RuntimeError("audit.append must run inside the write transaction")
    stored_ids = _join_ids(object_ids)
    counted = _lock_counter(conn)
    last = conn.execute(_LAST_ENTRY).first()
    if last is None:
        seq, prev_hash = counted + 1, GENESIS
    else:
        seq, prev_hash = max(counted, int(last.seq)) + 1, str(last.hash)
    ids = tuple(object_ids)
    digest = entry_hash(prev_hash, seq, at, key_row, org_row, user_row, action, ids, remote, detail)
    conn.execute(
        _INSERT_ENTRY,
        {
            "seq": seq,
            "at": at,
            "key_row": key_row,
            "org_row": org_row,
            "user_row": user_row,
            "action": action,
            "object_ids": stored_ids,
            "remote": remote,
            "detail": detail,
            "prev_hash": prev_hash,
            "hash": digest,
        },
    )
    conn.execute(_SET_COUNTER, {"last_seq": seq})
    return AuditEntry(
        seq=seq,
        at=at,
        key_row=key_row,
        org_row=org_row,
        user_row=user_row,
        action=action,
        object_ids=ids,
        remote=remote,
        detail=detail,
        prev_hash=prev_hash,
        hash=digest,
    )


def entries(conn: Connection, *, after: int = 0, limit: int = 1000) -> list[AuditEntry]:
    """Entries with seq greater than ``after``, oldest first: page on the last seq seen."""
    rows = conn.execute(
        select(*_COLUMNS).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)
    )
    return [_entry(row) for row in rows]


def _walk(conn: Connection, chunk_size: int) -> Iterator[AuditEntry]:
    """Every entry in seq order, ``chunk_size`` rows at a time, so memory stays flat."""
    after = 0
    while True:
        page = entries(conn, after=after, limit=chunk_size)
        yield from page
        if len(page) < chunk_size:
            return
        after = page[-1].seq


def _counter(conn: Connection) -> int | None:
    value = conn.execute(_READ_COUNTER).scalar()
    return None if value is None else int(value)


def _missing(first: int, last: int) -> str:
    return (
        f"entry {first} is missing" if first == last else f"entries {first} to {last} are missing"
    )


def verify(conn: Connection, *, chunk_size: int = _CHUNK) -> VerifyReport:
    """Walk the whole chain and report the first fault.

    The counter is read before and after the walk. Under PostgreSQL's read committed
    the walk may see entries appended meanwhile; an honest log then always ends
    between the two readings, so only a log that ends before the first reading was
    cut short, and only one that runs past the second was extended behind the counter.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    counted_before = _counter(conn)
    expected, prev_hash, checked = 1, GENESIS, 0
    for entry in _walk(conn, chunk_size):
        if entry.seq != expected:
            return VerifyReport(False, checked, expected, _missing(expected, entry.seq - 1))
        digest = entry_hash(
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
        if digest != entry.hash:
            reason = f"entry {entry.seq}: hash does not match its contents"
            return VerifyReport(False, checked, entry.seq, reason)
        if entry.prev_hash != prev_hash:
            if entry.seq == 1:
                reason = "entry 1: prev_hash is not the genesis value"
            else:
                reason = f"entry {entry.seq}: prev_hash does not match entry {entry.seq - 1}"
            return VerifyReport(False, checked, entry.seq, reason)
        expected, prev_hash, checked = entry.seq + 1, entry.hash, checked + 1
    last = expected - 1
    counted_after = _counter(conn)
    if counted_after is None:
        if last == 0:
            return VerifyReport(True, 0)
        reason = f"the log ends at entry {last} but the audit counter row is missing"
        return VerifyReport(False, checked, None, reason)
    if counted_before is not None and last < counted_before:
        reason = (
            f"the log ends at entry {last} but the counter says {counted_before}"
            " (entries removed from the end)"
        )
        return VerifyReport(False, checked, last + 1, reason)
    if last > counted_after:
        reason = (
            f"the log ends at entry {last} but the counter says {counted_after}"
            " (entries added without the counter)"
        )
        return VerifyReport(False, counted_after, counted_after + 1, reason)
    return VerifyReport(True, checked)


def export_jsonl(conn: Connection, out: TextIO, *, chunk_size: int = _CHUNK) -> int:
    """Write every entry to ``out`` as one JSON object per line; returns how many.

    Streams in chunks, so exporting a long log does not hold it all in memory.
    """
    count = 0
    for entry in _walk(conn, chunk_size):
        out.write(orjson.dumps(entry.as_json()).decode())
        out.write("\n")
        count += 1
    return count
