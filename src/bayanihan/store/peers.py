"""Peer nodes: their records, per-collection pull cursors, the organisations they host,
and the push outbox.

All the SQL of federation lives here; ``bayanihan.federation`` decides what to write,
and ``bayanihan.policy`` what a peer may receive (a ReadScope rendered by
``objects.visible``, and the peer's outbound cap by ``objects.within``, which reads by
the peer's sync key use too).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)

from bayanihan.store.objects import visible, within
from bayanihan.store.schema import (
    object_groups,
    objects,
    orgs,
    peer_cursors,
    peer_orgs,
    peer_outbox,
    peer_push,
    peers,
)
from bayanihan.store.scope import OutboundCap, ReadScope

NO_CAP = OutboundCap()


@dataclass(frozen=True, slots=True)
class PeerRecord:
    row_id: int
    name: str
    url: str
    auth: str  # "key" | "basic"
    username: str | None
    secret: str
    ca_file: str | None
    client_cert: str | None  # our certificate for mutual TLS (path), None: none
    client_key: str | None  # its private key (path), None: in client_cert
    outbound_tlp: str | None  # JSON list of TLP labels; None: every level
    outbound_groups: str | None  # JSON list of sharing group ids; None: every group
    allow_insecure: bool
    node_identity: str | None
    node_org_row: int | None
    created: int
    last_attempt: int | None
    last_success: int | None
    last_error: str | None
    pulled: int

    @property
    def outbound(self) -> OutboundCap:
        """The operator's cap on what is pushed to this peer."""
        return OutboundCap(
            tlp=_decode(self.outbound_tlp),
            groups=_decode(self.outbound_groups),
        )


def _decode(stored: str | None) -> frozenset[str] | None:
    return None if stored is None else frozenset(json.loads(stored))


def _encode(values: frozenset[str] | None) -> str | None:
    return None if values is None else json.dumps(sorted(values))


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
    peers.c.client_cert,
    peers.c.client_key,
    peers.c.outbound_tlp,
    peers.c.outbound_groups,
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
    client_cert: str | None = None,
    client_key: str | None = None,
    outbound: OutboundCap = NO_CAP,
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
            client_cert=client_cert,
            client_key=client_key,
            outbound_tlp=_encode(outbound.tlp),
            outbound_groups=_encode(outbound.groups),
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
    """Forget a peer, its cursors, outbox and which orgs it hosts (orgs and objects stay)."""
    conn.execute(delete(peer_outbox).where(peer_outbox.c.peer_row == row_id))
    conn.execute(delete(peer_push).where(peer_push.c.peer_row == row_id))
    conn.execute(delete(peer_cursors).where(peer_cursors.c.peer_row == row_id))
    conn.execute(delete(peer_orgs).where(peer_orgs.c.peer_row == row_id))
    conn.execute(delete(peers).where(peers.c.row_id == row_id))


def set_client_cert(
    conn: Connection, *, row_id: int, client_cert: str | None, client_key: str | None
) -> None:
    """The certificate (and key) presented to the peer; None: none."""
    conn.execute(
        update(peers)
        .where(peers.c.row_id == row_id)
        .values(client_cert=client_cert, client_key=client_key)
    )


def set_outbound(conn: Connection, *, row_id: int, cap: OutboundCap) -> None:
    """The operator's cap on what is pushed to the peer from now on. The versions an
    earlier cap held back are decided again under this one at the next push (a
    narrower cap holds them back again; a wider one sends them)."""
    conn.execute(
        update(peers)
        .where(peers.c.row_id == row_id)
        .values(outbound_tlp=_encode(cap.tlp), outbound_groups=_encode(cap.groups))
    )
    rewind_push(conn, peer_row=row_id, requeue_held=True)


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


def cap_of_host(conn: Connection, org_row: int) -> OutboundCap:
    """The outbound cap of the peer hosting an organisation (what may leave towards that
    peer, read afresh each time); open when no peer is known to host it."""
    row = conn.execute(
        select(peers.c.outbound_tlp, peers.c.outbound_groups)
        .select_from(peer_orgs.join(peers, peers.c.row_id == peer_orgs.c.peer_row))
        .where(peer_orgs.c.org_row == org_row)
    ).first()
    if row is None:
        return NO_CAP
    return OutboundCap(tlp=_decode(row[0]), groups=_decode(row[1]))


def host_of(conn: Connection, org_row: int) -> int | None:
    """The peer hosting an organisation, or None."""
    value = conn.execute(
        select(peer_orgs.c.peer_row).where(peer_orgs.c.org_row == org_row)
    ).scalar()
    return None if value is None else int(value)


def link_org(conn: Connection, *, peer_row: int, org_row: int) -> None:
    """The peer hosts the organisation. What it may receive widened: its push cursor
    goes back to the start, so the next push queues the versions addressed to that
    organisation that the cursor had passed (versions already queued are left)."""
    conn.execute(insert(peer_orgs).values(peer_row=peer_row, org_row=org_row))
    rewind_push(conn, peer_row=peer_row)


def rewind_push(conn: Connection, *, peer_row: int, requeue_held: bool = False) -> None:
    """Scan from the start at the next push: for an audience or a cap that widened.

    Versions already in the outbox are not queued again; with ``requeue_held`` the ones
    the peer's cap held back (dropped, ``HELD``) are forgotten first, so the cap now in
    force decides for them anew."""
    if requeue_held:
        conn.execute(
            delete(peer_outbox).where(
                peer_outbox.c.peer_row == peer_row,
                peer_outbox.c.state == DROPPED,
                peer_outbox.c.last_error == HELD,
            )
        )
    conn.execute(update(peer_push).where(peer_push.c.peer_row == peer_row).values(cursor=0))


# -- push -------------------------------------------------------------------------------

PENDING = "pending"  # to be sent when next_attempt comes
SENT = "sent"  # posted; the peer's status said pending: followed up next round
DONE = "done"  # the peer's status counted it a success
FAILED = "failed"  # refused by the peer for good (recorded, not retried)
DROPPED = "dropped"  # no longer to be sent: deleted here, or the policy no longer allows it

# What every node writes for itself at set-up and publishes in its own right: the node
# and organisation identities, the TLP marking definitions, the extension definitions.
# Peers learn them by pulling; they are not pushed (a peer would refuse them anyway,
# since they are not written as the organisation its key writes as).
_REFERENCE_TYPES = ("identity", "marking-definition", "extension-definition")

# The reason given to a version the peer's outbound cap holds back (not queued, or
# dropped from the outbox at send time).
HELD = "peer policy"


@dataclass(frozen=True, slots=True)
class PushState:
    peer_row: int
    cursor: int  # the last objects.date_added considered for the outbox
    collection_id: str | None
    last_attempt: int | None
    last_success: int | None
    last_error: str | None
    pushed: int


@dataclass(frozen=True, slots=True)
class Candidate:
    date_added: int
    id: str
    version: int
    allowed: bool = True  # False: held back by the peer's outbound cap


@dataclass(frozen=True, slots=True)
class Sendable:
    """A queued version that may still be sent, as read at send time."""

    body: bytes
    tlp: str
    groups: frozenset[str]  # the sharing groups it names (read only when a cap needs them)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    row_id: int
    peer_row: int
    date_added: int
    object_id: str
    version: int
    created: int
    state: str
    attempts: int
    next_attempt: int
    last_error: str | None
    status_id: str | None
    finished: int | None


_PUSH_COLUMNS = (
    peer_push.c.peer_row,
    peer_push.c.cursor,
    peer_push.c.collection_id,
    peer_push.c.last_attempt,
    peer_push.c.last_success,
    peer_push.c.last_error,
    peer_push.c.pushed,
)

_OUTBOX_COLUMNS = (
    peer_outbox.c.row_id,
    peer_outbox.c.peer_row,
    peer_outbox.c.date_added,
    peer_outbox.c.object_id,
    peer_outbox.c.version,
    peer_outbox.c.created,
    peer_outbox.c.state,
    peer_outbox.c.attempts,
    peer_outbox.c.next_attempt,
    peer_outbox.c.last_error,
    peer_outbox.c.status_id,
    peer_outbox.c.finished,
)


def _entry(row: object) -> OutboxEntry:
    return OutboxEntry(*row)  # type: ignore[misc]


def push_state(conn: Connection, peer_row: int) -> PushState:
    """The peer's push state; made (cursor 0: everything) the first time it is asked."""
    row = conn.execute(select(*_PUSH_COLUMNS).where(peer_push.c.peer_row == peer_row)).first()
    if row is None:
        conn.execute(insert(peer_push).values(peer_row=peer_row, cursor=0, pushed=0))
        return PushState(peer_row, 0, None, None, None, None, 0)
    return PushState(*row)


def push_states(conn: Connection) -> dict[int, PushState]:
    return {r[0]: PushState(*r) for r in conn.execute(select(*_PUSH_COLUMNS))}


def set_push_collection(conn: Connection, *, peer_row: int, collection_id: str | None) -> None:
    push_state(conn, peer_row)
    conn.execute(
        update(peer_push)
        .where(peer_push.c.peer_row == peer_row)
        .values(collection_id=collection_id)
    )


def last_date_added(conn: Connection) -> int:
    """The newest stored version's date_added (0 on an empty store)."""
    return int(conn.execute(select(func.max(objects.c.date_added))).scalar() or 0)


def _pushable(scope: ReadScope) -> list[ColumnElement[bool]]:
    """Versions a peer may be sent: visible in its scope (the policy's decision), written
    here (origin ``local``: nothing received from a peer goes out again, so nothing
    echoes to where it came from), by one of this node's own organisations, and not one
    of the reference objects every node publishes for itself."""
    return [
        visible(scope),
        objects.c.origin == "local",
        objects.c.author_org.in_(select(orgs.c.row_id).where(orgs.c.local.is_(True))),
        ~and_(objects.c.created_by_ref.is_(None), objects.c.type.in_(_REFERENCE_TYPES)),
    ]


def pushable(
    conn: Connection,
    *,
    scope: ReadScope,
    cap: OutboundCap = NO_CAP,
    after: int,
    upto: int,
    limit: int,
) -> list[Candidate]:
    """Up to ``limit`` versions with ``after < date_added <= upto`` a peer may be sent,
    each saying whether the peer's outbound cap lets it go (``allowed``)."""
    rows = conn.execute(
        select(objects.c.date_added, objects.c.id, objects.c.version, within(cap))
        .where(
            objects.c.date_added > after,
            objects.c.date_added <= upto,
            *_pushable(scope),
        )
        .order_by(objects.c.date_added)
        .limit(limit)
    )
    return [Candidate(int(r[0]), str(r[1]), int(r[2]), bool(r[3])) for r in rows]


def pushable_bodies(
    conn: Connection, *, scope: ReadScope, date_addeds: Sequence[int], with_groups: bool = False
) -> dict[int, Sendable]:
    """Those versions that may still be sent, with what the outbound cap is checked on
    (asked again at send time: a version deleted, or whose audience narrowed, since it
    was queued is not); their sharing groups only ``with_groups``."""
    if not date_addeds:
        return {}
    wanted = sorted(set(date_addeds))
    rows = conn.execute(
        select(objects.c.date_added, objects.c.body, objects.c.tlp).where(
            objects.c.date_added.in_(wanted), *_pushable(scope)
        )
    ).all()
    groups: dict[int, set[str]] = {}
    if with_groups and rows:
        named = conn.execute(
            select(object_groups.c.date_added, object_groups.c.group_id).where(
                object_groups.c.date_added.in_([int(r[0]) for r in rows])
            )
        )
        for date_added, group_id in named:
            groups.setdefault(int(date_added), set()).add(str(group_id))
    return {
        int(r[0]): Sendable(bytes(r[1]), str(r[2]), frozenset(groups.get(int(r[0]), ())))
        for r in rows
    }


def enqueue(
    conn: Connection, *, peer_row: int, found: Sequence[Candidate], now: int
) -> tuple[int, int]:
    """Queue versions for a peer (due now); a version already queued is left as it is.
    One its outbound cap holds back is recorded as dropped (reason ``HELD``), never
    sent: the outbox shows what was kept from the peer. Returns (queued, held back)."""
    if not found:
        return 0, 0
    queued = set(
        conn.execute(
            select(peer_outbox.c.date_added).where(
                peer_outbox.c.peer_row == peer_row,
                peer_outbox.c.date_added.in_([c.date_added for c in found]),
            )
        ).scalars()
    )
    fresh = [c for c in found if c.date_added not in queued]
    if fresh:
        conn.execute(
            insert(peer_outbox),
            [
                {
                    "peer_row": peer_row,
                    "date_added": c.date_added,
                    "object_id": c.id,
                    "version": c.version,
                    "created": now,
                    "state": PENDING if c.allowed else DROPPED,
                    "attempts": 0,
                    "next_attempt": now,
                    "last_error": None if c.allowed else HELD,
                    "finished": None if c.allowed else now,
                }
                for c in fresh
            ],
        )
    held = sum(1 for c in fresh if not c.allowed)
    return len(fresh) - held, held


def set_push_cursor(conn: Connection, *, peer_row: int, cursor: int) -> None:
    """Move the push cursor forward (never back)."""
    conn.execute(
        update(peer_push)
        .where(peer_push.c.peer_row == peer_row, peer_push.c.cursor < cursor)
        .values(cursor=cursor)
    )


def sent_versions(
    conn: Connection, *, peer_row: int, object_ids: Iterable[str]
) -> dict[str, set[int]]:
    """Of these object ids, the versions this node has sent, or is sending, to the peer:
    object id -> versions (``objects.version``: modified, else created, else 0 for an
    SCO). Every outbox entry counts but those the peer refused (``failed``) or that were
    never sent (``dropped``): a pending entry may have reached the peer in an attempt
    whose answer was lost. Only versions written here by this node's own organisations
    are ever queued, so what this names is ours.

    Pulling asks this once per page (by ``ix_peer_outbox_object``), to know our own
    objects coming back when they name no author (SCOs)."""
    wanted = sorted(set(object_ids))
    found: dict[str, set[int]] = {}
    for chunk in range(0, len(wanted), 900):
        rows = conn.execute(
            select(peer_outbox.c.object_id, peer_outbox.c.version)
            .where(
                peer_outbox.c.peer_row == peer_row,
                peer_outbox.c.object_id.in_(wanted[chunk : chunk + 900]),
                peer_outbox.c.state.not_in([FAILED, DROPPED]),
            )
            .distinct()
        )
        for object_id, version in rows:
            found.setdefault(str(object_id), set()).add(int(version))
    return found


def claim_due(
    conn: Connection, *, peer_row: int, now: int, limit: int, lease_until: int
) -> list[OutboxEntry]:
    """Take up to ``limit`` due entries, oldest first, and hold them until ``lease_until``
    (a concurrent round skips them; after a crash they are due again when it passes)."""
    query = (
        select(*_OUTBOX_COLUMNS)
        .where(
            peer_outbox.c.peer_row == peer_row,
            peer_outbox.c.state == PENDING,
            peer_outbox.c.next_attempt <= now,
        )
        .order_by(peer_outbox.c.date_added)
        .limit(limit)
    )
    if conn.dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    entries = [_entry(r) for r in conn.execute(query)]
    if entries:
        conn.execute(
            update(peer_outbox)
            .where(peer_outbox.c.row_id.in_([e.row_id for e in entries]))
            .values(next_attempt=lease_until)
        )
    return entries


def awaiting_status(conn: Connection, peer_row: int) -> list[OutboxEntry]:
    """Entries posted whose status the peer still gave as pending."""
    rows = conn.execute(
        select(*_OUTBOX_COLUMNS)
        .where(peer_outbox.c.peer_row == peer_row, peer_outbox.c.state == SENT)
        .order_by(peer_outbox.c.date_added)
    )
    return [_entry(r) for r in rows]


def settle(
    conn: Connection,
    row_ids: Sequence[int],
    *,
    state: str,
    now: int,
    error: str | None = None,
    status_id: str | None = None,
) -> None:
    """Give entries their outcome: done, failed or dropped (finished now), or sent
    (waiting on ``status_id``), or pending again (due now)."""
    if not row_ids:
        return
    values: dict[str, object] = {"state": state, "last_error": error}
    if state in (DONE, FAILED, DROPPED):
        values["finished"] = now
    if state == SENT:
        values["status_id"] = status_id
    if state == PENDING:
        values["next_attempt"] = now
        values["status_id"] = None
    for chunk in range(0, len(row_ids), 900):
        conn.execute(
            update(peer_outbox)
            .where(peer_outbox.c.row_id.in_(list(row_ids[chunk : chunk + 900])))
            .values(**values)
        )


def defer(
    conn: Connection, entries: Sequence[OutboxEntry], *, next_attempts: dict[int, int], error: str
) -> None:
    """One more failed attempt for each entry; ``next_attempts`` maps an attempt count
    (after this failure) to when the entry is due again."""
    by_attempts: dict[int, list[int]] = {}
    for entry in entries:
        by_attempts.setdefault(entry.attempts + 1, []).append(entry.row_id)
    for attempts, rows in by_attempts.items():
        for chunk in range(0, len(rows), 900):
            conn.execute(
                update(peer_outbox)
                .where(peer_outbox.c.row_id.in_(rows[chunk : chunk + 900]))
                .values(
                    state=PENDING,
                    attempts=attempts,
                    next_attempt=next_attempts[attempts],
                    last_error=error,
                )
            )


def due(conn: Connection, *, peer_row: int, now: int) -> list[OutboxEntry]:
    """Every entry due now (what a round that cannot reach the peer defers)."""
    rows = conn.execute(
        select(*_OUTBOX_COLUMNS).where(
            peer_outbox.c.peer_row == peer_row,
            peer_outbox.c.state == PENDING,
            peer_outbox.c.next_attempt <= now,
        )
    )
    return [_entry(r) for r in rows]


def outbox(
    conn: Connection, *, peer_row: int, states: Sequence[str], limit: int = 1000
) -> list[OutboxEntry]:
    rows = conn.execute(
        select(*_OUTBOX_COLUMNS)
        .where(peer_outbox.c.peer_row == peer_row, peer_outbox.c.state.in_(list(states)))
        .order_by(peer_outbox.c.date_added)
        .limit(limit)
    )
    return [_entry(r) for r in rows]


def held_counts(conn: Connection, peer_row: int | None = None) -> dict[int, int]:
    """Versions held back from each peer (every peer, or one) by its outbound cap."""
    query = (
        select(peer_outbox.c.peer_row, func.count())
        .where(peer_outbox.c.state == DROPPED, peer_outbox.c.last_error == HELD)
        .group_by(peer_outbox.c.peer_row)
    )
    if peer_row is not None:
        query = query.where(peer_outbox.c.peer_row == peer_row)
    return {int(row): int(n) for row, n in conn.execute(query)}


def outbox_counts(conn: Connection, peer_row: int | None = None) -> dict[int, dict[str, int]]:
    """Entries per peer (every peer, or one) and state."""
    counts: dict[int, dict[str, int]] = {}
    query = select(peer_outbox.c.peer_row, peer_outbox.c.state, func.count()).group_by(
        peer_outbox.c.peer_row, peer_outbox.c.state
    )
    if peer_row is not None:
        query = query.where(peer_outbox.c.peer_row == peer_row)
    rows = conn.execute(query)
    for peer_row, state, count in rows:
        counts.setdefault(int(peer_row), {})[str(state)] = int(count)
    return counts


def record_push(
    conn: Connection, *, peer_row: int, when: int, error: str | None, pushed: int
) -> None:
    """Note how a push round went (a failure keeps the time of the last success)."""
    push_state(conn, peer_row)
    values: dict[str, object] = {
        "last_attempt": when,
        "last_error": error,
        "pushed": peer_push.c.pushed + pushed,
    }
    if error is None:
        values["last_success"] = when
    conn.execute(update(peer_push).where(peer_push.c.peer_row == peer_row).values(**values))
