"""STIX object versions: idempotent writes, gap-free paging, visibility in SQL.

A *lineage* is every version of one object id written by one organisation.
For SDOs and SROs an id belongs to a single organisation (the intake refuses a
second author); SCOs carry deterministic ids and no timestamps, so each
organisation that reports the same observable keeps its own copy with its own
markings.

``date_added`` is allocated from a counter row inside the write transaction.
On SQLite the single writer already orders commits; on PostgreSQL the
``SELECT ... FOR UPDATE`` on that row serialises object writers, so a
transaction that holds a lower ``date_added`` has always committed before a
higher one is handed out: a reader paging by ``date_added`` never skips a row
that commits later.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    false,
    insert,
    or_,
    select,
    true,
    union_all,
    update,
)

from bayanihan.store.schema import (
    audience_members,
    audience_users,
    audiences,
    counters,
    object_groups,
    object_readers,
    object_refs,
    object_user_readers,
    objects,
    orgs,
    tombstones,
)
from bayanihan.store.scope import Audience, OutboundCap, ReadScope

if TYPE_CHECKING:
    from bayanihan.store.observables import ObservableSpec

_CHUNK = 900
_COPY_THRESHOLD = 64
_CLOCK = "date_added"

STORED = "stored"
DUPLICATE = "duplicate"


@dataclass(slots=True)
class NewVersion:
    """One object version ready to be stored (validated, attributed, audience decided)."""

    id: str
    type: str
    spec_version: str
    version: int
    created: int | None
    created_by_ref: str | None
    author_org: int
    revoked: bool
    tlp: str
    markings: str | None
    confidence: int | None
    valid_until: int | None
    origin: str
    audience: Audience | None
    collection_row: int
    body: bytes
    name: str | None = None
    description: str | None = None
    refs: tuple[str, ...] = ()  # what a relationship or sighting points at
    groups: tuple[str, ...] = ()  # sharing groups it names
    observables: tuple[ObservableSpec, ...] = ()  # what correlation indexes

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # an import hands its batches to the writing process pickled: the dataclass
        # default (a state list built field by field) cost 5 us of each side per version
        return (NewVersion, _NEW_VERSION_FIELDS(self))


_NEW_VERSION_FIELDS = attrgetter(*(f.name for f in fields(NewVersion)))


@dataclass(slots=True)
class LatestChanges:
    """What a write changed among current versions, for the observable index."""

    superseded: list[int] = field(default_factory=list)  # stored rows no longer latest
    current: list[tuple[int, NewVersion]] = field(default_factory=list)  # new latest rows


@dataclass(slots=True)
class _Lineage:
    """What is known of one (id, author) while a batch is written."""

    versions: dict[int, int] = field(default_factory=dict)  # version -> date_added (0: new)
    latest: int | None = None
    latest_ref: tuple[str, int] | None = None  # ("db", date_added) or ("new", index)
    latest_revoked: bool = False
    first: int | None = None
    first_ref: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """``match[version]``: any of last / first / all / exact timestamps."""

    last: bool = False
    first: bool = False
    all: bool = False
    exact: frozenset[int] = frozenset()


LAST = VersionSpec(last=True)


@dataclass(frozen=True, slots=True)
class ObjectQuery:
    scope: ReadScope
    collection_row: int | None = None  # None: every collection (a collection of scope "all")
    after: int | None = None  # date_added strictly greater than this
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    spec_versions: frozenset[str] = frozenset()
    versions: VersionSpec = LAST
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class ManifestRow:
    date_added: int
    id: str
    version: int
    spec_version: str
    tlp: str


def next_date_added(conn: Connection, count: int, *, now: int) -> int:
    """Reserve ``count`` consecutive date_added values; returns the first.

    Values never go backwards (a clock stepping back only slows them to +1 µs)
    and are never reused, even after deletions.
    """
    query = select(counters.c.value).where(counters.c.name == _CLOCK)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    last = conn.execute(query).scalar()
    if last is None:
        conn.execute(insert(counters).values(name=_CLOCK, value=0))
        last = 0
    start = max(now, last + 1)
    conn.execute(update(counters).where(counters.c.name == _CLOCK).values(value=start + count - 1))
    return start


def lock_writes(conn: Connection) -> None:
    """Take the object-write lock early in a transaction (PostgreSQL; SQLite has one writer)."""
    if conn.dialect.name != "sqlite":
        conn.execute(select(counters.c.value).where(counters.c.name == _CLOCK).with_for_update())


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def audience_rows(conn: Connection, sets: Iterable[Audience]) -> dict[Audience, int]:
    """The audiences row for each distinct audience, created when new."""
    wanted = {audience.key: audience for audience in set(sets)}
    if not wanted:
        return {}
    found: dict[Audience, int] = {}
    keys = list(wanted)
    for chunk in _chunks(keys):
        for row_id, members_key in conn.execute(
            select(audiences.c.row_id, audiences.c.members_key).where(
                audiences.c.members_key.in_(chunk)
            )
        ):
            found[wanted[members_key]] = row_id
    for members_key, audience in wanted.items():
        if audience in found:
            continue
        result = conn.execute(insert(audiences).values(members_key=members_key))
        assert result.inserted_primary_key is not None
        row_id = int(result.inserted_primary_key[0])
        conn.execute(
            insert(audience_members),
            [{"audience_row": row_id, "org_row": m} for m in sorted(audience.orgs)],
        )
        if audience.users:
            conn.execute(
                insert(audience_users),
                [{"audience_row": row_id, "user_row": u} for u in sorted(audience.users)],
            )
        found[audience] = row_id
    return found


def _existing_lineages(
    conn: Connection, ids: Sequence[str]
) -> tuple[dict[tuple[str, int], _Lineage], dict[str, set[int]]]:
    lineages: dict[tuple[str, int], _Lineage] = {}
    authors: dict[str, set[int]] = {}
    marker = "?" if conn.dialect.name == "sqlite" else "%s"
    for chunk in _chunks(ids):
        rows = conn.exec_driver_sql(
            "SELECT id, author_org, version, date_added, is_latest, is_first, revoked "
            f"FROM {objects.name} WHERE id IN ({', '.join([marker] * len(chunk))})",
            tuple(chunk),
        )
        for object_id, author, version, date_added, is_latest, is_first, revoked in rows:
            authors.setdefault(object_id, set()).add(author)
            lineage = lineages.setdefault((object_id, author), _Lineage())
            lineage.versions[version] = date_added
            if is_latest:
                lineage.latest, lineage.latest_ref = version, ("db", date_added)
                lineage.latest_revoked = bool(revoked)
            if is_first:
                lineage.first, lineage.first_ref = version, ("db", date_added)
    return lineages, authors


def insert_versions(
    conn: Connection,
    versions: Sequence[NewVersion],
    *,
    now: int,
    changes: LatestChanges | None = None,
) -> list[tuple[str, int]]:
    """Store new versions; returns, per input, (STORED, DUPLICATE or a rejection reason,
    the date_added of the stored version or 0).

    Must run inside ``Store.write()``. A version already held is a no-op; an
    older version than the newest is kept as history; a newer one supersedes.
    ``changes``, when given, receives which versions became and ceased to be current.
    """
    lock_writes(conn)
    outcomes: list[tuple[str, int]] = [("", 0)] * len(versions)
    stored_at: list[int] = []  # index into outcomes of each new row
    lineages, authors = _existing_lineages(conn, sorted({v.id for v in versions}))
    rows: list[NewVersion] = []
    flags: list[tuple[bool, bool]] = []
    clear_latest: list[int] = []  # date_added of stored rows no longer latest
    clear_first: list[int] = []
    for index, item in enumerate(versions):
        owners = authors.setdefault(item.id, set())
        if item.created is not None and owners and item.author_org not in owners:
            # the author is not named: the writer may not be allowed to see the object
            outcomes[index] = (
                f"object id {item.id} belongs to another organisation; an org may not "
                "write versions of another's objects",
                0,
            )
            continue
        lineage = lineages.setdefault((item.id, item.author_org), _Lineage())
        if item.version in lineage.versions:
            outcomes[index] = (DUPLICATE, lineage.versions[item.version])
            continue
        if lineage.latest_revoked and lineage.latest is not None and item.version > lineage.latest:
            outcomes[index] = (
                f"object {item.id} is revoked; a revoked object gets no new versions",
                0,
            )
            continue
        is_latest = lineage.latest is None or item.version > lineage.latest
        is_first = lineage.first is None or item.version < lineage.first
        position = len(rows)
        if is_latest:
            _unflag(lineage.latest_ref, flags, clear_latest, 0)
            lineage.latest, lineage.latest_ref = item.version, ("new", position)
            lineage.latest_revoked = item.revoked
        if is_first:
            _unflag(lineage.first_ref, flags, clear_first, 1)
            lineage.first, lineage.first_ref = item.version, ("new", position)
        lineage.versions[item.version] = 0
        owners.add(item.author_org)
        flags.append((is_latest, is_first))
        rows.append(item)
        stored_at.append(index)
    if not rows:
        return outcomes
    audience_ids = audience_rows(conn, (v.audience for v in versions if v.audience is not None))
    start = next_date_added(conn, len(rows), now=now)
    params = []
    references: list[dict[str, Any]] = []
    group_rows: list[dict[str, Any]] = []
    readers: list[tuple[int, int]] = []
    user_readers: list[tuple[int, int]] = []
    for offset, (item, (is_latest, is_first)) in enumerate(zip(rows, flags, strict=True)):
        audience = None if item.audience is None else audience_ids[item.audience]
        params.append(
            (
                start + offset,
                item.id,
                item.type,
                item.spec_version,
                item.version,
                item.created,
                item.created_by_ref,
                item.author_org,
                item.revoked,
                item.tlp,
                item.markings,
                item.confidence,
                item.valid_until,
                item.origin,
                audience,
                item.collection_row,
                is_latest,
                is_first,
                item.name,
                item.description,
                item.body,
            )
        )
        references.extend({"date_added": start + offset, "ref_id": r} for r in set(item.refs))
        group_rows.extend({"date_added": start + offset, "group_id": g} for g in set(item.groups))
        if item.audience is not None:
            readers.extend((org, start + offset) for org in item.audience.orgs)
            user_readers.extend((user, start + offset) for user in item.audience.users)
        outcomes[stored_at[offset]] = (STORED, start + offset)
        if changes is not None and is_latest:
            changes.current.append((start + offset, item))
    if changes is not None:
        changes.superseded.extend(clear_latest)
    for chunk in _chunks(clear_latest):
        conn.execute(update(objects).where(objects.c.date_added.in_(chunk)).values(is_latest=False))
    for chunk in _chunks(clear_first):
        conn.execute(update(objects).where(objects.c.date_added.in_(chunk)).values(is_first=False))
    _bulk_insert(conn, params)
    marker = "?" if conn.dialect.name == "sqlite" else "%s"
    for table, column, rows_ in (
        (object_readers, "org_row", readers),
        (object_user_readers, "user_row", user_readers),
    ):
        if rows_:
            conn.exec_driver_sql(
                f"INSERT INTO {table.name} ({column}, date_added) VALUES ({marker}, {marker})",
                rows_,
            )
    if references:
        conn.execute(insert(object_refs), references)
    if group_rows:
        conn.execute(insert(object_groups), group_rows)
    return outcomes


def _unflag(
    ref: tuple[str, int] | None, flags: list[tuple[bool, bool]], stored: list[int], slot: int
) -> None:
    if ref is None:
        return
    where, key = ref
    if where == "db":
        stored.append(key)
    else:
        current = list(flags[key])
        current[slot] = False
        flags[key] = (current[0], current[1])


_INSERT_COLUMNS = (
    "date_added",
    "id",
    "type",
    "spec_version",
    "version",
    "created",
    "created_by_ref",
    "author_org",
    "revoked",
    "tlp",
    "markings",
    "confidence",
    "valid_until",
    "origin",
    "audience",
    "collection_row",
    "is_latest",
    "is_first",
    "name",
    "description",
    "body",
)


def _bulk_insert(conn: Connection, params: list[tuple[Any, ...]]) -> None:
    """Insert object rows straight through the driver.

    SQLAlchemy's per-row parameter processing would cost more than the insert
    itself on this path. PostgreSQL takes large batches through COPY.
    """
    if conn.dialect.name == "postgresql" and len(params) >= _COPY_THRESHOLD:
        driver = conn.connection.dbapi_connection
        assert driver is not None
        columns = ", ".join(_INSERT_COLUMNS)
        with driver.cursor() as cursor:  # type: ignore[attr-defined]
            with cursor.copy(f"COPY {objects.name} ({columns}) FROM STDIN") as copy:
                for row in params:
                    copy.write_row(row)
        return
    conn.exec_driver_sql(_insert_sql(conn.dialect.name), params)


def _insert_sql(dialect: str) -> str:
    marker = "?" if dialect == "sqlite" else "%s"
    columns = ", ".join(_INSERT_COLUMNS)
    markers = ", ".join([marker] * len(_INSERT_COLUMNS))
    return f"INSERT INTO {objects.name} ({columns}) VALUES ({markers})"


def _audience_visible(scope: ReadScope, table: Any) -> ColumnElement[bool]:
    if scope.everything:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if scope.community:
        clauses.append(table.c.audience.is_(None))
    if scope.org_rows:
        clauses.append(
            table.c.audience.in_(
                select(audience_members.c.audience_row).where(
                    audience_members.c.org_row.in_(sorted(scope.org_rows))
                )
            )
        )
    if scope.user_row is not None:
        clauses.append(
            table.c.audience.in_(
                select(audience_users.c.audience_row).where(
                    audience_users.c.user_row == scope.user_row
                )
            )
        )
    condition = or_(*clauses) if clauses else false()
    if scope.clear_only:
        condition = and_(table.c.tlp == "clear", condition)
    return condition


# Built once: an alias makes a proxy of every column, which costs more than the query.
_ENDPOINT = objects.alias("endpoint")
_REFS = object_refs.alias("refs")
_CAPPED_GROUPS = object_groups.alias("capped_groups")


def within(cap: OutboundCap, table: Any = objects) -> ColumnElement[bool]:
    """The SQL form of ``policy.outbound.may_leave``: versions a peer's outbound cap lets
    leave towards it. Push decides with it what it queues; reads by the peer's sync key
    have it in their ReadScope (``outbound``), so the two never disagree."""
    clauses: list[ColumnElement[bool]] = []
    if cap.tlp is not None:
        clauses.append(table.c.tlp.in_(sorted(cap.tlp)))
    if cap.groups is not None:
        groups = _CAPPED_GROUPS
        other = select(groups.c.date_added).where(groups.c.date_added == table.c.date_added)
        if cap.groups:
            other = other.where(groups.c.group_id.not_in(sorted(cap.groups)))
        clauses.append(~exists(other.correlate_except(groups)))
    return and_(*clauses) if clauses else true()


def _capped(scope: ReadScope, table: Any) -> list[ColumnElement[bool]]:
    """The scope's outbound cap as conditions (none for an open cap: the common case
    keeps its plain query)."""
    return [] if scope.outbound.open else [within(scope.outbound, table)]


def _admitted(scope: ReadScope, table: Any) -> ColumnElement[bool]:
    """The version itself is in the scope: its audience admits the reader, within the cap."""
    return and_(_audience_visible(scope, table), *_capped(scope, table))


def _endpoints_visible(scope: ReadScope, table: Any) -> ColumnElement[bool]:
    """For a relationship or sighting: every object it points at has a visible version
    (in the same scope, outbound cap included)."""
    endpoint, refs = _ENDPOINT, _REFS
    hidden_endpoint = (
        select(refs.c.ref_id)
        .where(
            refs.c.date_added == table.c.date_added,
            ~select(endpoint.c.date_added)
            .where(endpoint.c.id == refs.c.ref_id, _admitted(scope, endpoint))
            .exists(),
        )
        .exists()
    )
    # the type test first: most rows are not edges and skip the probe of object_refs
    is_edge = table.c.type.in_(("relationship", "sighting"))
    return or_(~is_edge, ~hidden_endpoint)


def visible(scope: ReadScope, table: Any = objects) -> ColumnElement[bool]:
    """The SQL rendering of a ReadScope (the policy module decides the scope).

    An object is visible when its audience admits the reader, the scope's outbound
    cap (if any) lets it leave and, for a relationship or sighting, every object it
    points at has a version the reader may see by the same rules: an edge never tells
    of an endpoint the reader cannot open.
    """
    if scope.everything and scope.outbound.open:
        return true()
    return and_(_admitted(scope, table), _endpoints_visible(scope, table))


_AFTER = bindparam("page_after", type_=BigInteger)
_NO_CURSOR = -1  # below every date_added: a first page


def _branches(query: ObjectQuery, *columns: Any) -> list[Any]:
    """SELECTs, each in date_added order, whose merge is the reader's next page.

    For a restricted reader: the community's objects (a partial index) and the
    reader's own postings in object_readers / object_user_readers, one branch per
    organisation of the scope (a sync key reads for every organisation its peer
    hosts). Each is an index range scan from the cursor (the ``page_after``
    parameter), already filtered, holds each version at most once, so a page costs
    about the same whatever share of the store the reader may see. A version posted
    to two organisations of the scope (or to one and to the person) is in two
    branches: the merge keeps it once.
    """
    limit = query.limit + 1
    filters = _filters(replace(query, after=None))
    ordered = objects.c.date_added
    scope = query.scope
    if scope.everything:
        if not scope.outbound.open:
            filters.append(visible(scope))
        return [select(*columns).where(ordered > _AFTER, *filters).order_by(ordered).limit(limit)]
    # the outbound cap in each branch, so every page is full and counts stay exact
    beyond_audience = [*_capped(scope, objects), _endpoints_visible(scope, objects)]
    branches: list[Any] = []
    if scope.community:
        community: list[ColumnElement[bool]] = [objects.c.audience.is_(None)]
        if scope.clear_only:
            community.append(objects.c.tlp == "clear")
        branches.append(
            select(*columns)
            .where(*community, ordered > _AFTER, *filters, *beyond_audience)
            .order_by(ordered)
            .limit(limit)
        )
    if scope.clear_only:
        return branches
    postings: list[tuple[Any, ColumnElement[bool]]] = [
        (object_readers, object_readers.c.org_row == org) for org in sorted(scope.org_rows)
    ]
    if scope.user_row is not None:
        postings.append((object_user_readers, object_user_readers.c.user_row == scope.user_row))
    for table, reader in postings:
        # the cursor on the posting table itself, so the index seek starts there
        branches.append(
            select(*columns)
            .select_from(table.join(objects, objects.c.date_added == table.c.date_added))
            .where(reader, table.c.date_added > _AFTER, *filters, *beyond_audience)
            .order_by(table.c.date_added)
            .limit(limit)
        )
    return branches


@lru_cache(maxsize=256)
def _page_statements(query: ObjectQuery, columns: tuple[Any, ...]) -> tuple[Any, ...]:
    """The branches of a query (its cursor left as a parameter), built once: readers
    page through the same query again and again, and building the statements cost
    more than SQLite takes to run them."""
    return tuple(_branches(query, *columns))


@lru_cache(maxsize=256)
def _merged_statement(query: ObjectQuery, columns: tuple[Any, ...]) -> Any:
    """The branches merged by the database (PostgreSQL: a Merge Append of index
    scans, stopped by the outer LIMIT), so that only the page's rows leave the server."""
    arms = [select(branch.subquery()) for branch in _page_statements(query, columns)]
    merged = union_all(*arms).subquery()
    return select(merged).order_by(merged.c[0]).limit(query.limit + 1)


def _page(conn: Connection, query: ObjectQuery, *columns: Any) -> list[Any]:
    """A page of rows in date_added order (the first column), at most ``limit + 1``."""
    key = replace(query, after=None)
    cursor = {"page_after": _NO_CURSOR if query.after is None else query.after}
    statements = _page_statements(key, columns)
    if len(statements) == 1:
        return list(conn.execute(statements[0], cursor).cursor.fetchall())
    if conn.dialect.name == "postgresql":
        rows = list(conn.execute(_merged_statement(key, columns), cursor).cursor.fetchall())
        unique = _unique(rows)
        if len(unique) == len(rows):
            return rows
        # a version posted twice for this reader came out twice: the page may be
        # short of a row, so merge the branches here instead (rare: a sync key of
        # several organisations, or a person named as well as their organisation)
    results = [conn.execute(statement, cursor) for statement in statements]
    try:
        return _merge([result.cursor for result in results], query.limit + 1)
    finally:
        for result in results:
            result.close()


def _unique(rows: list[Any]) -> list[Any]:
    """Rows in date_added order without repeats of the same date_added."""
    kept: list[Any] = []
    last = None
    for row in rows:
        if row[0] != last:
            kept.append(row)
            last = row[0]
    return kept


_FIRST = itemgetter(0)


def _merge(cursors: list[Any], wanted: int) -> list[Any]:
    """The first ``wanted`` distinct rows of several cursors, each in date_added order
    (the first column) without repeats of its own.

    Rows are fetched in growing chunks, so a branch contributing a few rows to the
    page is read little further than them; the rows of every chunk up to the
    smallest last key of a branch that may hold more are final, and are sorted in C.
    """
    size = 64
    pending: list[list[Any]] = [[] for _ in cursors]
    done = [False] * len(cursors)
    out: list[Any] = []
    while len(out) < wanted:
        # never more than the page still lacks: a branch read past the page's end
        # would cost as much as the rows the page holds
        fetch = max(1, min(size, wanted - len(out)))
        for i, cursor in enumerate(cursors):
            if not pending[i] and not done[i]:
                pending[i] = list(cursor.fetchmany(fetch))
                done[i] = len(pending[i]) < fetch
        if not any(pending):
            break
        bound = min((rows[-1][0] for i, rows in enumerate(pending) if not done[i]), default=None)
        final: list[Any] = []
        for i, rows in enumerate(pending):
            cut = len(rows) if bound is None else bisect_right(rows, bound, key=_FIRST)
            final.extend(rows[:cut])
            pending[i] = rows[cut:]
        final.sort(key=_FIRST)
        last = out[-1][0] if out else None
        for row in final:
            if row[0] != last:
                out.append(row)
                last = row[0]
        size = min(size * 2, 1024)
    return out[:wanted]


def _where(query: ObjectQuery) -> list[ColumnElement[bool]]:
    return [visible(query.scope), *_filters(query)]


def _filters(query: ObjectQuery) -> list[ColumnElement[bool]]:
    """Every condition of a query but the reader's scope."""
    where: list[ColumnElement[bool]] = []
    if query.after is not None:
        where.append(objects.c.date_added > query.after)
    if query.collection_row is not None:
        where.append(objects.c.collection_row == query.collection_row)
    if query.ids:
        where.append(objects.c.id.in_(sorted(query.ids)))
    if query.types:
        where.append(objects.c.type.in_(sorted(query.types)))
    if query.spec_versions:
        where.append(objects.c.spec_version.in_(sorted(query.spec_versions)))
    spec = query.versions
    if not spec.all:
        choices: list[ColumnElement[bool]] = []
        if spec.last:
            choices.append(objects.c.is_latest.is_(True))
        if spec.first:
            choices.append(objects.c.is_first.is_(True))
        if spec.exact:
            choices.append(objects.c.version.in_(sorted(spec.exact)))
        where.append(or_(*choices) if choices else false())
    return where


class PageRow(NamedTuple):
    """A version as a page carries it (a tuple: a page builds a thousand of them)."""

    date_added: int
    body: bytes
    id: str
    tlp: str


def list_bodies(conn: Connection, query: ObjectQuery) -> list[PageRow]:
    """Up to ``limit + 1`` matching versions with their stored bytes, oldest first.

    One row more than asked tells the caller whether there are more.
    """
    # The driver's rows as they come: no column needs converting, and this is the
    # hottest read of the node (every TAXII page).
    rows = _page(conn, query, objects.c.date_added, objects.c.body, objects.c.id, objects.c.tlp)
    return list(map(PageRow._make, rows))


def list_manifest(conn: Connection, query: ObjectQuery) -> list[ManifestRow]:
    rows = _page(
        conn,
        query,
        objects.c.date_added,
        objects.c.id,
        objects.c.version,
        objects.c.spec_version,
        objects.c.tlp,
    )
    return [ManifestRow(*r) for r in rows]


def count_objects(conn: Connection, scope: ReadScope) -> int:
    from sqlalchemy import func

    return int(
        conn.execute(
            select(func.count()).select_from(objects).where(visible(scope), objects.c.is_latest)
        ).scalar_one()
    )


@dataclass(frozen=True, slots=True)
class StoredVersion:
    date_added: int
    author_org: int
    version: int


def matching_versions(conn: Connection, query: ObjectQuery) -> list[StoredVersion]:
    """Every matching version (no paging): what a DELETE would remove."""
    rows = conn.execute(
        select(objects.c.date_added, objects.c.author_org, objects.c.version)
        .where(*_where(query))
        .order_by(objects.c.date_added)
    )
    return [StoredVersion(*r) for r in rows]


def delete_versions(
    conn: Connection, *, object_id: str, doomed: Sequence[StoredVersion], by_org: int, now: int
) -> list[int]:
    """Remove versions of one object, re-flag what remains, and leave a tombstone.

    Returns the date_added of versions that became current again (an older version
    whose newer one was deleted), so that the observable index can take them up.
    """
    if not doomed:
        return []
    lock_writes(conn)
    from bayanihan.store.observables import forget_versions

    forget_versions(conn, [v.date_added for v in doomed])
    for chunk in _chunks([v.date_added for v in doomed]):
        conn.execute(delete(objects).where(objects.c.date_added.in_(chunk)))
    revived: list[int] = []
    for author in sorted({v.author_org for v in doomed}):
        latest = _reflag(conn, object_id=object_id, author_org=author)
        if latest is not None:
            revived.append(latest)
    conn.execute(
        insert(tombstones).values(
            id=object_id,
            versions=",".join(str(v.version) for v in doomed),
            org_row=by_org,
            deleted=now,
        )
    )
    return revived


def _reflag(conn: Connection, *, object_id: str, author_org: int) -> int | None:
    """Mark the latest and first of what remains of a lineage; returns a latest that was
    not flagged so before (it has just become current), else None."""
    rows = conn.execute(
        select(objects.c.date_added, objects.c.version, objects.c.is_latest).where(
            objects.c.id == object_id, objects.c.author_org == author_org
        )
    ).all()
    if not rows:
        return None
    latest = max(rows, key=lambda r: (r[1], r[0]))[0]
    first = min(rows, key=lambda r: (r[1], r[0]))[0]
    lineage = and_(objects.c.id == object_id, objects.c.author_org == author_org)
    conn.execute(
        update(objects)
        .where(lineage)
        .values(is_latest=objects.c.date_added == latest, is_first=objects.c.date_added == first)
    )
    was_latest = any(r[0] == latest and r[2] for r in rows)
    return None if was_latest else latest


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """The REST object list: latest versions, filtered, newest first, keyset-paged."""

    scope: ReadScope
    types: frozenset[str] = frozenset()
    author_orgs: frozenset[int] | None = None  # None: any author
    countries: frozenset[str] = frozenset()
    tlps: frozenset[str] = frozenset()
    added_after: int | None = None
    added_before: int | None = None  # also the paging cursor (strictly before)
    text: str | None = None
    ids: frozenset[str] = frozenset()
    limit: int = 100


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(conn: Connection, query: SearchQuery) -> list[PageRow]:
    """Up to ``limit + 1`` visible latest versions matching every filter, newest first."""
    where: list[ColumnElement[bool]] = [visible(query.scope), objects.c.is_latest.is_(True)]
    if query.types:
        where.append(objects.c.type.in_(sorted(query.types)))
    if query.author_orgs is not None:
        where.append(objects.c.author_org.in_(sorted(query.author_orgs)))
    if query.countries:
        where.append(
            objects.c.author_org.in_(
                select(orgs.c.row_id).where(orgs.c.country.in_(sorted(query.countries)))
            )
        )
    if query.tlps:
        where.append(objects.c.tlp.in_(sorted(query.tlps)))
    if query.added_after is not None:
        where.append(objects.c.date_added > query.added_after)
    if query.added_before is not None:
        where.append(objects.c.date_added < query.added_before)
    if query.ids:
        where.append(objects.c.id.in_(sorted(query.ids)))
    if query.text:
        pattern = _like(query.text)
        where.append(
            or_(
                objects.c.name.ilike(pattern, escape="\\"),
                objects.c.description.ilike(pattern, escape="\\"),
            )
        )
    result = conn.execute(
        select(objects.c.date_added, objects.c.body, objects.c.id, objects.c.tlp)
        .where(*where)
        .order_by(objects.c.date_added.desc())
        .limit(query.limit + 1)
    )
    return list(map(PageRow._make, result.all()))


@dataclass(frozen=True, slots=True)
class SharedVersion:
    date_added: int
    tlp: str
    author_org: int
    body: bytes


def versions_naming_group(conn: Connection, group_id: str) -> list[SharedVersion]:
    """Every stored version that names the sharing group."""
    rows = conn.execute(
        select(objects.c.date_added, objects.c.tlp, objects.c.author_org, objects.c.body)
        .select_from(
            object_groups.join(objects, objects.c.date_added == object_groups.c.date_added)
        )
        .where(object_groups.c.group_id == group_id)
    )
    return [SharedVersion(*r) for r in rows]


def set_audience(conn: Connection, *, date_added: int, audience: Audience | None) -> None:
    """Give one stored version a new audience (its postings follow)."""
    row = None if audience is None else audience_rows(conn, [audience])[audience]
    conn.execute(update(objects).where(objects.c.date_added == date_added).values(audience=row))
    conn.execute(delete(object_readers).where(object_readers.c.date_added == date_added))
    conn.execute(delete(object_user_readers).where(object_user_readers.c.date_added == date_added))
    if audience is not None:
        if audience.orgs:
            conn.execute(
                insert(object_readers),
                [{"org_row": o, "date_added": date_added} for o in sorted(audience.orgs)],
            )
        if audience.users:
            conn.execute(
                insert(object_user_readers),
                [{"user_row": u, "date_added": date_added} for u in sorted(audience.users)],
            )
