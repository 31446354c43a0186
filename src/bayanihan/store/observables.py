"""The observable index: each distinct (kind, value) once, with postings to object versions.

Only current versions (latest and not revoked) hold postings, so a lookup never
needs to ask whether a posting is stale. ``observables.objects`` counts them:
the correlation layer treats a value carried by too many objects as noise.

Hits are pairs of current versions of different organisations that share an
observable; they are written here and read back through a ``ReadScope`` so that
nobody learns of an object they may not see.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from functools import partial
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from bayanihan.store.engine import before_commit, transaction_state
from bayanihan.store.objects import visible
from bayanihan.store.prepared import Statements, fill, padded, slots
from bayanihan.store.schema import (
    alert_channels,
    deliveries,
    hits,
    ip_prefixes,
    objects,
    observables,
    orgs,
    postings,
)
from bayanihan.store.scope import ReadScope

_CHUNK = 900


@dataclass(frozen=True, slots=True)
class ObservableSpec:
    """One observable as an object carries it, normalised (or kept raw with a problem)."""

    kind: str
    value: str
    problem: str | None = None
    related: str | None = None
    ip_start: str | None = None  # fixed-width hex bounds of an IP address or network
    ip_end: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.value)

    def __reduce__(self) -> tuple[type[ObservableSpec], tuple[Any, ...]]:
        # pickled with every version an import hands to its writing process
        return (ObservableSpec, _SPEC_FIELDS(self))


_SPEC_FIELDS = attrgetter(*(f.name for f in fields(ObservableSpec)))


@dataclass(frozen=True, slots=True)
class ObservableRecord:
    row_id: int
    kind: str
    value: str
    problem: str | None
    related: str | None
    warning: str | None
    objects: int
    first_seen: int
    ip_start: str | None = None
    ip_end: str | None = None


@dataclass(frozen=True, slots=True)
class Posting:
    observable_row: int
    date_added: int
    author_org: int


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


_RECORD_COLUMNS = (
    observables.c.row_id,
    observables.c.kind,
    observables.c.value,
    observables.c.problem,
    observables.c.related,
    observables.c.warning,
    observables.c.objects,
    observables.c.first_seen,
    observables.c.ip_start,
    observables.c.ip_end,
)


def _marker(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def _raw(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Run driver-level SQL (``{m}`` stands for the driver's placeholder): the write path
    runs these queries for every batch, where SQLAlchemy's statement handling would
    cost more than the queries themselves."""
    return list(conn.exec_driver_sql(sql.replace("{m}", _marker(conn)), tuple(params)).all())


def _in(count: int) -> str:
    return ", ".join(["{m}"] * count)


_RECORD_SQL = (
    "SELECT row_id, kind, value, problem, related, warning, objects, first_seen, ip_start, "
    "ip_end FROM observables"
)


def _record(row: Any) -> ObservableRecord:
    return ObservableRecord(*row)


def observable_rows(
    conn: Connection,
    specs: Iterable[ObservableSpec],
    *,
    now: int,
    warning: Callable[[ObservableSpec], str | None],
) -> dict[tuple[str, str], int]:
    """Row ids of the given observables, creating the rows not yet indexed.

    ``warning`` names the warning-list of a new value (asked once per distinct value).
    Runs inside the write transaction (writers are serialised), so no other writer
    creates the same row meanwhile and new row ids can be handed out here.
    """
    wanted: dict[tuple[str, str], ObservableSpec] = {}
    for spec in specs:
        wanted.setdefault(spec.key, spec)
    found: dict[tuple[str, str], int] = {}
    by_kind: dict[str, list[str]] = {}
    for kind, value in wanted:
        by_kind.setdefault(kind, []).append(value)
    for kind, values in by_kind.items():
        for chunk in _chunks(values):
            rows = _raw(
                conn,
                f"SELECT row_id, value FROM observables WHERE kind = {{m}} "
                f"AND value IN ({_in(len(chunk))})",
                (kind, *chunk),
            )
            found.update(((kind, value), row_id) for row_id, value in rows)
    missing = [spec for key, spec in wanted.items() if key not in found]
    if missing:
        start = int(_raw(conn, "SELECT COALESCE(MAX(row_id), 0) FROM observables")[0][0])
        rows_ = []
        for offset, s in enumerate(missing, start=start + 1):
            found[s.key] = offset
            rows_.append(
                (
                    offset,
                    s.kind,
                    s.value,
                    s.problem,
                    s.related,
                    s.ip_start,
                    s.ip_end,
                    warning(s),
                    now,
                )
            )
        m = _marker(conn)
        conn.exec_driver_sql(
            "INSERT INTO observables (row_id, kind, value, problem, related, ip_start, ip_end, "
            f"warning, objects, first_seen) VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, 0, "
            f"{m})",
            rows_,
        )
        _note_prefixes(conn, missing)
        _keep_statistics(conn, created=len(missing), total=start + len(missing))
    return found


# PostgreSQL plans from table statistics, which autovacuum gathers only after a commit:
# inside one long write (an import, a first pull) the observables table grows from
# nothing, and without statistics the planner looks values up by `kind` alone and
# filters every row of that kind (a lookup costs more with every batch). ANALYZE sees
# the transaction's own rows, so it runs each time the index has doubled since.
_ANALYZE_FROM = 20_000
_ANALYZED_TABLES = "observables, postings, hits"


def _keep_statistics(conn: Connection, *, created: int, total: int) -> None:
    """``created`` rows were just added; ``total`` is the highest row id now."""
    if conn.dialect.name != "postgresql":
        return
    grown = conn.info.get("observables_grown", 0) + created
    if grown >= max(_ANALYZE_FROM, conn.info.get("observables_analyzed_at", 0)):
        conn.exec_driver_sql(f"ANALYZE {_ANALYZED_TABLES}")
        conn.info["observables_analyzed_at"] = total
        grown = 0
    conn.info["observables_grown"] = grown


def _note_prefixes(conn: Connection, created: Sequence[ObservableSpec]) -> None:
    wanted = {
        (s.kind, int(s.value.rsplit("/", 1)[1]))
        for s in created
        if s.ip_start is not None and "/" in s.value
    }
    if not wanted:
        return
    known = set(prefixes(conn))
    fresh = sorted(wanted - known)
    if fresh:
        conn.execute(insert(ip_prefixes), [{"kind": k, "prefix": p} for k, p in fresh])


def prefixes(conn: Connection) -> list[tuple[str, int]]:
    """(kind, prefix length) of every network ever indexed."""
    return [(k, p) for k, p in conn.execute(select(ip_prefixes.c.kind, ip_prefixes.c.prefix))]


# Counts change with every posting. Updating the row at each batch rewrote it once per
# batch: on PostgreSQL each update leaves a dead copy that nothing can reclaim while
# the transaction runs (an import of 1,000,000 objects left 89 MiB for 39,339 rows).
# Inside a ``Store.write`` transaction the changes are summed here and written once,
# just before the commit; the write path reads counts through ``_records``.
_PENDING_COUNTS = "observable_counts"
_PENDING_LIMIT = 50_000  # rows of summed changes held at most (a few MB)


def _adjust_counts(conn: Connection, counts: Counter[int], sign: int) -> None:
    state = transaction_state(conn)
    if state is None:
        _write_counts(conn, {row: sign * amount for row, amount in counts.items()})
        return
    pending: Counter[int] | None = state.get(_PENDING_COUNTS)
    if pending is None:
        pending = state[_PENDING_COUNTS] = Counter()
        before_commit(conn, _PENDING_COUNTS, flush_counts)
    for row, amount in counts.items():
        pending[row] += sign * amount
    if len(pending) > _PENDING_LIMIT:
        # a long write of many distinct values: written now, so memory stays bounded
        # (each row is then updated about once per this many new values, not per batch)
        flush_counts(conn)


def flush_counts(conn: Connection) -> None:
    """Write the count changes this transaction has summed so far (SQL that reads
    ``observables.objects`` inside a write transaction runs after this)."""
    state = transaction_state(conn)
    pending = state.pop(_PENDING_COUNTS, None) if state is not None else None
    if pending:
        _write_counts(conn, pending)


def _discard_counts(conn: Connection) -> None:
    state = transaction_state(conn)
    if state is not None:
        state.pop(_PENDING_COUNTS, None)


def _write_counts(conn: Connection, deltas: dict[int, int]) -> None:
    by_amount: dict[int, list[int]] = {}
    for row, amount in deltas.items():
        if amount:
            by_amount.setdefault(amount, []).append(row)
    for amount, rows in by_amount.items():
        for chunk in _chunks(sorted(rows)):
            conn.exec_driver_sql(
                f"UPDATE observables SET objects = objects + {amount:d} "
                f"WHERE row_id IN ({_in(len(chunk))})".replace("{m}", _marker(conn)),
                tuple(chunk),
            )


def _records(conn: Connection, rows: Iterable[Any]) -> list[ObservableRecord]:
    """Records of fetched rows, with the count changes of the open transaction not yet
    written (every read of observables goes through here)."""
    found = [_record(r) for r in rows]
    state = transaction_state(conn)
    pending: Counter[int] | None = state.get(_PENDING_COUNTS) if state is not None else None
    if not pending:
        return found
    return [
        replace(r, objects=r.objects + pending[r.row_id]) if pending.get(r.row_id) else r
        for r in found
    ]


def add_postings(conn: Connection, entries: Sequence[tuple[int, int, int]]) -> None:
    """Record that versions carry observables: (observable_row, date_added, author_org)."""
    unique = sorted(set(entries), key=lambda e: (e[1], e[0]))  # the key's order
    if not unique:
        return
    m = _marker(conn)
    conn.exec_driver_sql(
        f"INSERT INTO {postings.name} (observable_row, date_added, author_org) "
        f"VALUES ({m}, {m}, {m})",
        unique,
    )
    _adjust_counts(conn, Counter(row for row, _, _ in unique), +1)


def postings_of(conn: Connection, date_addeds: Sequence[int]) -> dict[int, set[int]]:
    """The observables each version carries: date_added -> observable rows."""
    carried: dict[int, set[int]] = {}
    for chunk in _chunks(sorted(set(date_addeds))):
        rows = conn.execute(
            select(postings.c.date_added, postings.c.observable_row).where(
                postings.c.date_added.in_(chunk)
            )
        )
        for date_added, row in rows:
            carried.setdefault(date_added, set()).add(row)
    return carried


def remove_postings(conn: Connection, date_addeds: Sequence[int]) -> dict[int, set[int]]:
    """Drop the postings of versions that are no longer current; returns what they carried."""
    carried = postings_of(conn, date_addeds)
    if not carried:
        return carried
    for chunk in _chunks(sorted(carried)):
        conn.execute(delete(postings).where(postings.c.date_added.in_(chunk)))
    _adjust_counts(conn, Counter(row for rows in carried.values() for row in rows), -1)
    return carried


def current_postings(conn: Connection, observable_rows: Iterable[int]) -> list[Posting]:
    """Every current version carrying one of these observables, with its author org."""
    found: list[Posting] = []
    for chunk in _chunks(sorted(set(observable_rows))):
        rows = _raw(
            conn,
            "SELECT p.observable_row, p.date_added, p.author_org FROM postings p "
            f"WHERE p.observable_row IN ({_in(len(chunk))})",
            chunk,
        )
        found.extend(Posting(*row) for row in rows)
    return found


def records(conn: Connection, rows: Iterable[int]) -> dict[int, ObservableRecord]:
    found: dict[int, ObservableRecord] = {}
    for chunk in _chunks(sorted(set(rows))):
        result = _raw(conn, f"{_RECORD_SQL} WHERE row_id IN ({_in(len(chunk))})", chunk)
        found.update((r.row_id, r) for r in _records(conn, result))
    return found


def by_values(conn: Connection, kind: str, values: Sequence[str]) -> list[ObservableRecord]:
    """Indexed observables of one kind among ``values`` (exact match, index probes)."""
    found: list[ObservableRecord] = []
    for chunk in _chunks(sorted(set(values))):
        result = _raw(
            conn,
            f"{_RECORD_SQL} WHERE kind = {{m}} AND value IN ({_in(len(chunk))})",
            (kind, *chunk),
        )
        found.extend(_records(conn, result))
    return found


def inside(
    conn: Connection, kind: str, start: str, end: str, *, limit: int = 10_000
) -> list[ObservableRecord]:
    """Indexed addresses and networks of one family lying wholly within [start, end]."""
    result = conn.execute(
        select(*_RECORD_COLUMNS)
        .where(
            observables.c.kind == kind,
            observables.c.ip_start.is_not(None),
            observables.c.ip_start >= start,
            observables.c.ip_start <= end,
            observables.c.ip_end <= end,
        )
        .order_by(observables.c.ip_start)
        .limit(limit)
    )
    return _records(conn, result)


def related_to(
    conn: Connection, related: str, *, exclude: Iterable[int] = (), limit: int = 200
) -> list[ObservableRecord]:
    """Other observables under the same registered domain (the weaker "related" link):
    a range of the index on (related, row_id), whatever the number under the domain."""
    excluded = sorted(set(exclude))
    skip = f" AND row_id NOT IN ({_in(len(excluded))})" if excluded else ""
    result = _raw(
        conn,
        f"{_RECORD_SQL} WHERE related = {{m}}{skip} ORDER BY row_id LIMIT {int(limit):d}",
        (related, *excluded),
    )
    return _records(conn, result)


def set_warnings(conn: Connection, changes: Sequence[tuple[int, str | None]]) -> None:
    """Set (or clear) the warning-list named on observables: (row, list name or None)."""
    for row, name in changes:
        conn.execute(update(observables).where(observables.c.row_id == row).values(warning=name))


def all_observables(
    conn: Connection, *, after: int = 0, limit: int = 10_000
) -> list[ObservableRecord]:
    result = conn.execute(
        select(*_RECORD_COLUMNS)
        .where(observables.c.row_id > after)
        .order_by(observables.c.row_id)
        .limit(limit)
    )
    return _records(conn, result)


# ---------------------------------------------------------------------------- hits


@dataclass(frozen=True, slots=True)
class NewHit:
    match: str
    observable_row: int
    date_added: int
    org_row: int
    counterpart_observable_row: int
    counterpart_date_added: int
    counterpart_org_row: int
    cross_border: bool

    @property
    def key(self) -> frozenset[tuple[int, int]]:
        """The same hit seen from either side."""
        return frozenset(
            {
                (self.date_added, self.observable_row),
                (self.counterpart_date_added, self.counterpart_observable_row),
            }
        )


def hit_keys(conn: Connection, date_addeds: Sequence[int]) -> set[frozenset[tuple[int, int]]]:
    """Keys of the hits already recorded for these versions (either side)."""
    keys: set[frozenset[tuple[int, int]]] = set()
    for chunk in _chunks(sorted(set(date_addeds))):
        marks = _in(len(chunk))
        rows = _raw(
            conn,
            "SELECT date_added, observable_row, counterpart_date_added, "
            f"counterpart_observable_row FROM hits WHERE date_added IN ({marks}) "
            f"OR counterpart_date_added IN ({marks})",
            (*chunk, *chunk),
        )
        keys.update(frozenset({(a, b), (c, d)}) for a, b, c, d in rows)
    return keys


def insert_hits(conn: Connection, found: Sequence[NewHit], *, now: int) -> list[int]:
    """Record hits one by one; returns their row ids in order (the rarer paths)."""
    m = _marker(conn)
    sql = (
        "INSERT INTO hits (detected, match, observable_row, date_added, org_row, "
        "counterpart_observable_row, counterpart_date_added, counterpart_org_row, "
        f"cross_border) VALUES ({', '.join([m] * 9)}) RETURNING row_id"
    )
    return [
        int(
            conn.exec_driver_sql(
                sql,
                (
                    now,
                    h.match,
                    h.observable_row,
                    h.date_added,
                    h.org_row,
                    h.counterpart_observable_row,
                    h.counterpart_date_added,
                    h.counterpart_org_row,
                    h.cross_border,
                ),
            ).scalar_one()
        )
        for h in found
    ]


def insert_newer_hits(
    conn: Connection,
    matches: Sequence[tuple[int, int, int, str, int]],
    *,
    now: int,
    dedupe: bool,
) -> int:
    """Record, in one statement per chunk, the hits of versions newer than every other
    current version: for each (date_added, observable, counterpart observable, match,
    org) the current postings of the counterpart observable by other organisations
    and older than the version. Each pair is found once, from its newer side.

    ``dedupe`` skips pairs already recorded (versions that received hits of a version
    they superseded). Returns how many hits were recorded.
    """
    found = 0
    pg = conn.dialect.name == "postgresql"
    row = "(%s::bigint, %s::int, %s::int, %s::text, %s::int)" if pg else "(?, ?, ?, ?, ?)"
    m = _marker(conn)
    border = "(mo.country <> po.country)"
    recorded = (
        " AND NOT EXISTS (SELECT 1 FROM hits h WHERE (h.date_added = n.date_added "
        "AND h.observable_row = n.obs AND h.counterpart_date_added = p.date_added "
        "AND h.counterpart_observable_row = p.observable_row) OR (h.date_added = p.date_added "
        "AND h.observable_row = p.observable_row AND h.counterpart_date_added = n.date_added "
        "AND h.counterpart_observable_row = n.obs))"
        if dedupe
        else ""
    )
    for chunk in _chunks(list(matches)):
        sql = (
            f"WITH n(date_added, obs, cobs, kind, org) AS (VALUES {', '.join([row] * len(chunk))}) "
            "INSERT INTO hits (detected, match, observable_row, date_added, org_row, "
            "counterpart_observable_row, counterpart_date_added, counterpart_org_row, "
            f"cross_border) SELECT {m}, n.kind, n.obs, n.date_added, n.org, p.observable_row, "
            f"p.date_added, p.author_org, {border} FROM n "
            "JOIN postings p ON p.observable_row = n.cobs "
            "JOIN orgs mo ON mo.row_id = n.org JOIN orgs po ON po.row_id = p.author_org "
            f"WHERE p.date_added < n.date_added AND p.author_org <> n.org{recorded}"
        )
        params = [value for entry in chunk for value in entry]
        found += conn.exec_driver_sql(sql, (*params, now)).rowcount
    return found


def last_hit_row(conn: Connection) -> int:
    """The newest hit's row id (ids only grow: hits recorded later have larger ones)."""
    return int(_raw(conn, "SELECT COALESCE(MAX(row_id), 0) FROM hits")[0][0])


def enqueue_hits_after(conn: Connection, after: int, *, now: int) -> int:
    """Queue a delivery of every hit after row ``after`` on each active alert channel of
    the organisations on either of its sides."""
    m = _marker(conn)
    return int(
        conn.exec_driver_sql(
            "INSERT INTO deliveries (channel_row, hit_row, created, state, attempts, "
            f"next_attempt) SELECT c.row_id, h.row_id, {m}, 'pending', 0, {m} FROM hits h "
            "JOIN alert_channels c ON c.org_row IN (h.org_row, h.counterpart_org_row) "
            f"WHERE h.row_id > {m} AND c.disabled IS NULL",
            (now, now, after),
        ).rowcount
    )


def carry_hits(conn: Connection, *, old: int, new: int, keep: set[int]) -> None:
    """A version superseded by ``new``: its hits on observables ``new`` still carries move to
    ``new`` (they are not new hits); the others are dropped."""
    for side, obs in (
        (hits.c.date_added, hits.c.observable_row),
        (hits.c.counterpart_date_added, hits.c.counterpart_observable_row),
    ):
        if keep:
            conn.execute(
                update(hits).where(side == old, obs.in_(sorted(keep))).values({side.name: new})
            )
        conn.execute(delete(hits).where(side == old))


def drop_hits(conn: Connection, date_addeds: Sequence[int]) -> None:
    for chunk in _chunks(sorted(set(date_addeds))):
        conn.execute(
            delete(hits).where(
                or_(hits.c.date_added.in_(chunk), hits.c.counterpart_date_added.in_(chunk))
            )
        )


def drop_hits_on(conn: Connection, observable_rows: Sequence[int]) -> None:
    """Delete the hits raised on these observables, found through their postings by the
    indexed version columns (a scan of the hits table per value would be far slower)."""
    carried: dict[int, list[int]] = {}  # date_added -> observable rows
    for chunk in _chunks(sorted(set(observable_rows))):
        for row, date_added in _raw(
            conn,
            "SELECT observable_row, date_added FROM postings "
            f"WHERE observable_row IN ({_in(len(chunk))})",
            chunk,
        ):
            carried.setdefault(int(date_added), []).append(int(row))
    pairs = [(d, r) for d, rows in carried.items() for r in rows]
    m = _marker(conn)
    for side in ("", "counterpart_"):
        for chunk in _chunks(pairs):
            versions = sorted({d for d, _ in chunk})
            doomed = {(d, r) for d, r in chunk}
            found = _raw(
                conn,
                f"SELECT row_id, {side}date_added, {side}observable_row FROM hits "
                f"WHERE {side}date_added IN ({_in(len(versions))})",
                versions,
            )
            rows = [hit for hit, d, r in found if (d, r) in doomed]
            for part in _chunks(rows):
                conn.exec_driver_sql(
                    f"DELETE FROM hits WHERE row_id IN ({', '.join([m] * len(part))})",
                    tuple(part),
                )


def forget_versions(conn: Connection, date_addeds: Sequence[int]) -> None:
    """Before versions are deleted: their postings and hits go with them."""
    remove_postings(conn, date_addeds)
    drop_hits(conn, date_addeds)


@dataclass(frozen=True, slots=True)
class HitRow:
    """One hit seen from one side: ``own`` is the viewer's side when it has one."""

    row_id: int
    detected: int
    match: str
    cross_border: bool
    observable_row: int
    date_added: int
    org_row: int
    counterpart_observable_row: int
    counterpart_date_added: int
    counterpart_org_row: int


@dataclass(frozen=True, slots=True)
class HitQuery:
    scope: ReadScope
    own_orgs: frozenset[int] | None  # None: every hit between objects the scope may see
    max_objects: int  # values carried by more objects than this are noise
    before: int | None = None  # row_id cursor (strictly before): newest first
    after: int | None = None  # only hits detected after this row (new since)
    date_addeds: frozenset[int] | None = None  # only hits touching these versions
    cross_border: bool | None = None
    limit: int = 100


_HIT_COLUMNS = (
    hits.c.row_id,
    hits.c.detected,
    hits.c.match,
    hits.c.cross_border,
)


# Built once (an alias proxies every column: building them per query costs more than it).
_HIT_ALIASES = (
    objects.alias("own_obj"),
    objects.alias("other_obj"),
    observables.alias("own_obs"),
    observables.alias("other_obs"),
)


def _hit_branch(query: HitQuery, *, flipped: bool, dates: int) -> Any:
    """Hits whose (flipped: counterpart) side is the viewer's, the other side visible.

    The cursors and versions are parameters (``before``, ``after``, ``date_0``...;
    ``dates`` of them), so one statement serves every page of the same query."""
    mine = "counterpart_" if flipped else ""
    theirs = "" if flipped else "counterpart_"
    own_obj, other_obj, own_obs, other_obs = _HIT_ALIASES
    col = hits.c
    own_date, own_org, own_ob = (
        col[f"{mine}date_added"],
        col[f"{mine}org_row"],
        col[f"{mine}observable_row"],
    )
    other_date, other_org, other_ob = (
        col[f"{theirs}date_added"],
        col[f"{theirs}org_row"],
        col[f"{theirs}observable_row"],
    )
    where = [
        visible(query.scope, own_obj),
        visible(query.scope, other_obj),
        own_obs.c.warning.is_(None),
        other_obs.c.warning.is_(None),
        own_obs.c.objects <= query.max_objects,
        other_obs.c.objects <= query.max_objects,
    ]
    if query.own_orgs is not None:
        where.append(own_org.in_(sorted(query.own_orgs)))
    elif flipped:
        return None  # without an own side every hit is listed once, as recorded
    if query.before is not None:
        where.append(col.row_id < bindparam("before", 0, BigInteger))
    if query.after is not None:
        where.append(col.row_id > bindparam("after", 0, BigInteger))
    if query.cross_border is not None:
        where.append(col.cross_border.is_(query.cross_border))
    if query.date_addeds is not None:
        chosen = slots("date", dates, BigInteger)
        where.append(or_(own_date.in_(chosen), other_date.in_(chosen)))
    return (
        select(*_HIT_COLUMNS, own_ob, own_date, own_org, other_ob, other_date, other_org)
        .select_from(
            hits.join(own_obj, own_obj.c.date_added == own_date)
            .join(other_obj, other_obj.c.date_added == other_date)
            .join(own_obs, own_obs.c.row_id == own_ob)
            .join(other_obs, other_obs.c.row_id == other_ob)
        )
        .where(and_(*where))
        .order_by(col.row_id.desc())
        .limit(query.limit + 1)
    )


_HIT_STATEMENTS = Statements()


def _hit(row: Any) -> HitRow:
    # rows read by the driver: SQLite gives a boolean as 0 or 1
    return HitRow(row[0], row[1], row[2], bool(row[3]), *row[4:])


def list_hits(conn: Connection, query: HitQuery) -> list[HitRow]:
    """Up to ``limit + 1`` hits, newest first, both objects visible in the scope."""
    flush_counts(conn)  # the query leaves out noise by the counts
    values: dict[str, int] = {}
    if query.before is not None:
        values["before"] = query.before
    if query.after is not None:
        values["after"] = query.after
    dates = 0
    if query.date_addeds is not None:
        chosen = padded(sorted(query.date_addeds)) if query.date_addeds else []
        values.update(fill("date", chosen))
        dates = len(chosen)
    shape = replace(
        query,
        before=None if query.before is None else 0,
        after=None if query.after is None else 0,
        date_addeds=None if query.date_addeds is None else frozenset(),
    )
    found: dict[int, HitRow] = {}
    for flipped in (False, True):
        statement = _HIT_STATEMENTS.get(
            conn,
            (shape, flipped, dates),
            partial(_hit_branch, query, flipped=flipped, dates=dates),
        )
        if statement is None:
            continue
        for row in statement.run(conn, values):
            found.setdefault(row[0], _hit(row))
    ordered = sorted(found.values(), key=lambda h: h.row_id, reverse=True)
    return ordered[: query.limit + 1]


def hit_by_row(conn: Connection, row_id: int) -> HitRow | None:
    row = conn.execute(
        select(
            *_HIT_COLUMNS,
            hits.c.observable_row,
            hits.c.date_added,
            hits.c.org_row,
            hits.c.counterpart_observable_row,
            hits.c.counterpart_date_added,
            hits.c.counterpart_org_row,
        ).where(hits.c.row_id == row_id)
    ).first()
    return _hit(row) if row is not None else None


def count_rows(conn: Connection) -> dict[str, int]:
    """Sizes of the index tables (for operators and benchmarks)."""
    return {
        table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for table in (observables, postings, hits)
    }


# ---------------------------------------------------------------------- alert outbox


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    row_id: int
    org_row: int
    kind: str
    target: str
    secret: str | None
    created: int
    disabled: int | None


_CHANNEL_COLUMNS = (
    alert_channels.c.row_id,
    alert_channels.c.org_row,
    alert_channels.c.kind,
    alert_channels.c.target,
    alert_channels.c.secret,
    alert_channels.c.created,
    alert_channels.c.disabled,
)


def add_channel(
    conn: Connection, *, org_row: int, kind: str, target: str, secret: str | None, now: int
) -> int:
    existing = conn.execute(
        select(alert_channels.c.row_id).where(
            alert_channels.c.org_row == org_row,
            alert_channels.c.kind == kind,
            alert_channels.c.target == target,
        )
    ).scalar()
    if existing is not None:
        conn.execute(
            update(alert_channels)
            .where(alert_channels.c.row_id == existing)
            .values(secret=secret, disabled=None)
        )
        return int(existing)
    result = conn.execute(
        insert(alert_channels).values(
            org_row=org_row, kind=kind, target=target, secret=secret, created=now
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def channels(conn: Connection, *, org_rows: Iterable[int] | None = None) -> list[ChannelRecord]:
    query = select(*_CHANNEL_COLUMNS).order_by(alert_channels.c.row_id)
    if org_rows is not None:
        query = query.where(alert_channels.c.org_row.in_(sorted(set(org_rows))))
    return [ChannelRecord(*r) for r in conn.execute(query)]


def disable_channel(conn: Connection, row_id: int, *, now: int) -> bool:
    result = conn.execute(
        update(alert_channels)
        .where(alert_channels.c.row_id == row_id, alert_channels.c.disabled.is_(None))
        .values(disabled=now)
    )
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    row_id: int
    channel_row: int
    hit_row: int
    created: int
    state: str
    attempts: int
    next_attempt: int
    last_error: str | None
    sent: int | None


_DELIVERY_COLUMNS = (
    deliveries.c.row_id,
    deliveries.c.channel_row,
    deliveries.c.hit_row,
    deliveries.c.created,
    deliveries.c.state,
    deliveries.c.attempts,
    deliveries.c.next_attempt,
    deliveries.c.last_error,
    deliveries.c.sent,
)


def due_deliveries(conn: Connection, *, now: int, limit: int = 100) -> list[DeliveryRecord]:
    result = conn.execute(
        select(*_DELIVERY_COLUMNS)
        .where(deliveries.c.state == "pending", deliveries.c.next_attempt <= now)
        .order_by(deliveries.c.next_attempt, deliveries.c.row_id)
        .limit(limit)
    )
    return [DeliveryRecord(*r) for r in result]


def list_deliveries(
    conn: Connection, *, org_rows: Iterable[int] | None = None, limit: int = 100
) -> list[DeliveryRecord]:
    query = select(*_DELIVERY_COLUMNS).order_by(deliveries.c.row_id.desc()).limit(limit)
    if org_rows is not None:
        query = query.where(
            deliveries.c.channel_row.in_(
                select(alert_channels.c.row_id).where(
                    alert_channels.c.org_row.in_(sorted(set(org_rows)))
                )
            )
        )
    return [DeliveryRecord(*r) for r in conn.execute(query)]


def record_attempt(
    conn: Connection,
    row_id: int,
    *,
    state: str,
    attempts: int,
    next_attempt: int,
    error: str | None,
    sent: int | None,
) -> None:
    conn.execute(
        update(deliveries)
        .where(deliveries.c.row_id == row_id)
        .values(
            state=state, attempts=attempts, next_attempt=next_attempt, last_error=error, sent=sent
        )
    )


def lineages(conn: Connection, date_addeds: Sequence[int]) -> dict[int, tuple[str, int]]:
    """(object id, author org) of stored versions, by date_added."""
    found: dict[int, tuple[str, int]] = {}
    for chunk in _chunks(sorted(set(date_addeds))):
        rows = conn.execute(
            select(objects.c.date_added, objects.c.id, objects.c.author_org).where(
                objects.c.date_added.in_(chunk)
            )
        )
        found.update((d, (i, a)) for d, i, a in rows)
    return found


@dataclass(frozen=True, slots=True)
class CurrentVersion:
    date_added: int
    author_org: int
    body: bytes


def current_versions(
    conn: Connection, *, date_addeds: Sequence[int] | None = None, after: int = 0, limit: int = 1000
) -> list[CurrentVersion]:
    """Latest, unrevoked versions: those named, or the next ``limit`` after ``after``."""
    query = select(objects.c.date_added, objects.c.author_org, objects.c.body).where(
        objects.c.is_latest.is_(True), objects.c.revoked.is_(False)
    )
    if date_addeds is not None:
        query = query.where(objects.c.date_added.in_(sorted(set(date_addeds))))
    else:
        query = query.where(objects.c.date_added > after)
    rows = conn.execute(query.order_by(objects.c.date_added).limit(limit))
    return [CurrentVersion(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    date_added: int
    id: str
    type: str
    name: str | None
    tlp: str
    author_org: int


def object_meta(conn: Connection, date_addeds: Iterable[int]) -> dict[int, ObjectMeta]:
    found: dict[int, ObjectMeta] = {}
    for chunk in _chunks(sorted(set(date_addeds))):
        rows = _raw(
            conn,
            "SELECT date_added, id, type, name, tlp, author_org FROM objects "
            f"WHERE date_added IN ({_in(len(chunk))})",
            chunk,
        )
        found.update((r[0], ObjectMeta(*r)) for r in rows)
    return found


def visible_postings(
    conn: Connection, scope: ReadScope, observable_rows: Iterable[int], *, limit: int = 500
) -> list[Posting]:
    """Current versions carrying these observables that the scope may see."""
    rows = sorted(set(observable_rows))
    if not rows:
        return []
    wanted = padded(rows)
    statement = _VISIBLE_POSTINGS.get(
        conn,
        (scope, len(wanted), limit),
        lambda: (
            select(postings.c.observable_row, postings.c.date_added, objects.c.author_org)
            .select_from(postings.join(objects, objects.c.date_added == postings.c.date_added))
            .where(
                postings.c.observable_row.in_(slots("obs", len(wanted), Integer)), visible(scope)
            )
            .order_by(postings.c.date_added.desc())
            .limit(limit)
        ),
    )
    assert statement is not None
    return [Posting(*r) for r in statement.run(conn, fill("obs", wanted))]


_VISIBLE_POSTINGS = Statements()


def current_of(conn: Connection, scope: ReadScope, object_id: str) -> int | None:
    """date_added of the visible current version of an object id, if any."""
    row = conn.execute(
        select(objects.c.date_added)
        .where(objects.c.id == object_id, objects.c.is_latest.is_(True), visible(scope))
        .order_by(objects.c.date_added.desc())
        .limit(1)
    ).first()
    return int(row[0]) if row is not None else None


def clear_index(conn: Connection) -> None:
    """Empty postings and hits and zero the counts (before a rebuild); observables stay."""
    conn.execute(delete(hits))
    conn.execute(delete(postings))
    _discard_counts(conn)  # changes to counts that are now zero
    conn.execute(update(observables).values(objects=0))


def all_org_countries(conn: Connection) -> dict[int, str]:
    return {row_id: country for row_id, country in _raw(conn, "SELECT row_id, country FROM orgs")}


def org_countries(conn: Connection, org_rows: Iterable[int]) -> dict[int, str]:
    rows = conn.execute(
        select(orgs.c.row_id, orgs.c.country).where(orgs.c.row_id.in_(sorted(set(org_rows))))
    )
    return {row_id: country for row_id, country in rows}
