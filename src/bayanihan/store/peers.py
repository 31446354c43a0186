"""Peer nodes: their records, per-collection pull cursors and the organisations they host.

All the SQL of federation lives here; ``bayanihan.federation`` decides what to write.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from bayanihan.store.schema import orgs, peer_cursors, peer_orgs, peers


@dataclass(frozen=True, slots=True)
class PeerRecord:
    row_id: int
    name: str
    url: str
    auth: str  # "key" | "basic"
    username: str | None
    secret: str
    ca_file: str | None
    allow_insecure: bool
    node_identity: str | None
    node_org_row: int | None
    created: int
    last_attempt: int | None
    last_success: int | None
    last_error: str | None
    pulled: int


@dataclass(frozen=True, slots=True)
class CursorRecord:
    collection_id: str
    cursor: str
    cursor_micros: int
    updated: int


@dataclass(frozen=True, slots=True)
class HostedOrg:
    peer_row: int
    org_row: int
    identity_id: str
    name: str


_COLUMNS = (
    peers.c.row_id,
    peers.c.name,
    peers.c.url,
    peers.c.auth,
    peers.c.username,
    peers.c.secret,
    peers.c.ca_file,
    peers.c.allow_insecure,
    peers.c.node_identity,
    peers.c.node_org_row,
    peers.c.created,
    peers.c.last_attempt,
    peers.c.last_success,
    peers.c.last_error,
    peers.c.pulled,
)


def _peer(row: object) -> PeerRecord:
    return PeerRecord(*row)  # type: ignore[misc]


def add_peer(
    conn: Connection,
    *,
    name: str,
    url: str,
    auth: str,
    username: str | None,
    secret: str,
    ca_file: str | None,
    allow_insecure: bool,
    created: int,
) -> PeerRecord:
    result = conn.execute(
        insert(peers).values(
            name=name,
            url=url,
            auth=auth,
            username=username,
            secret=secret,
            ca_file=ca_file,
            allow_insecure=allow_insecure,
            created=created,
            pulled=0,
        )
    )
    row_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    assert row_id is not None
    found = peer_by_row(conn, int(row_id))
    assert found is not None
    return found


def peer_by_name(conn: Connection, name: str, *, lock: bool = False) -> PeerRecord | None:
    """The peer named ``name``; ``lock`` holds its row until the transaction ends
    (PostgreSQL; SQLite has one writer), so that two pulls of it take turns."""
    query = select(*_COLUMNS).where(peers.c.name == name)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _peer(row)


def peer_by_row(conn: Connection, row_id: int) -> PeerRecord | None:
    row = conn.execute(select(*_COLUMNS).where(peers.c.row_id == row_id)).first()
    return None if row is None else _peer(row)


def list_peers(conn: Connection) -> list[PeerRecord]:
    return [_peer(r) for r in conn.execute(select(*_COLUMNS).order_by(peers.c.name))]


def remove_peer(conn: Connection, row_id: int) -> None:
    """Forget a peer, its cursors and which orgs it hosts (the orgs and objects stay)."""
    conn.execute(delete(peer_cursors).where(peer_cursors.c.peer_row == row_id))
    conn.execute(delete(peer_orgs).where(peer_orgs.c.peer_row == row_id))
    conn.execute(delete(peers).where(peers.c.row_id == row_id))


def set_node_identity(
    conn: Connection, *, row_id: int, node_identity: str | None, node_org_row: int
) -> None:
    """Pin the peer's node identity (None: it publishes none) and the org standing for it."""
    conn.execute(
        update(peers)
        .where(peers.c.row_id == row_id)
        .values(node_identity=node_identity, node_org_row=node_org_row)
    )


def record_attempt(conn: Connection, *, row_id: int, when: int, error: str | None) -> None:
    """Note how a pull round went: a success clears the last error, a failure keeps
    the time of the last success (the lag grows)."""
    values: dict[str, object] = {"last_attempt": when, "last_error": error}
    if error is None:
        values["last_success"] = when
    conn.execute(update(peers).where(peers.c.row_id == row_id).values(**values))


def add_pulled(conn: Connection, *, row_id: int, count: int) -> None:
    if count:
        conn.execute(
            update(peers).where(peers.c.row_id == row_id).values(pulled=peers.c.pulled + count)
        )


def cursors(conn: Connection, peer_row: int) -> dict[str, CursorRecord]:
    rows = conn.execute(
        select(
            peer_cursors.c.collection_id,
            peer_cursors.c.cursor,
            peer_cursors.c.cursor_micros,
            peer_cursors.c.updated,
        ).where(peer_cursors.c.peer_row == peer_row)
    )
    return {r[0]: CursorRecord(*r) for r in rows}


def set_cursor(
    conn: Connection,
    *,
    peer_row: int,
    collection_id: str,
    cursor: str,
    cursor_micros: int,
    updated: int,
) -> None:
    """Move a collection's cursor forward; never back (a slower concurrent pull of
    the same page must not undo a faster one's progress)."""
    current = conn.execute(
        select(peer_cursors.c.cursor_micros).where(
            peer_cursors.c.peer_row == peer_row, peer_cursors.c.collection_id == collection_id
        )
    ).scalar()
    if current is None:
        conn.execute(
            insert(peer_cursors).values(
                peer_row=peer_row,
                collection_id=collection_id,
                cursor=cursor,
                cursor_micros=cursor_micros,
                updated=updated,
            )
        )
    elif cursor_micros > current:
        conn.execute(
            update(peer_cursors)
            .where(
                peer_cursors.c.peer_row == peer_row,
                peer_cursors.c.collection_id == collection_id,
            )
            .values(cursor=cursor, cursor_micros=cursor_micros, updated=updated)
        )


def hosted_orgs(conn: Connection, peer_row: int | None = None) -> list[HostedOrg]:
    """Organisations hosted by one peer (or by every peer), by name."""
    query = (
        select(peer_orgs.c.peer_row, orgs.c.row_id, orgs.c.identity_id, orgs.c.name)
        .select_from(peer_orgs.join(orgs, orgs.c.row_id == peer_orgs.c.org_row))
        .order_by(orgs.c.name)
    )
    if peer_row is not None:
        query = query.where(peer_orgs.c.peer_row == peer_row)
    return [HostedOrg(*r) for r in conn.execute(query)]


def host_of(conn: Connection, org_row: int) -> int | None:
    """The peer hosting an organisation, or None."""
    value = conn.execute(
        select(peer_orgs.c.peer_row).where(peer_orgs.c.org_row == org_row)
    ).scalar()
    return None if value is None else int(value)


def link_org(conn: Connection, *, peer_row: int, org_row: int) -> None:
    conn.execute(insert(peer_orgs).values(peer_row=peer_row, org_row=org_row))
