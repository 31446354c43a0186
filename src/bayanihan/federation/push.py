"""Pushing to a peer: what the policy lets the peer's organisations see, through an outbox.

A round for one peer has two steps.

1. **Fill** (no network call). In one write transaction, every version stored since
   the peer's push cursor that the peer may receive is queued in the outbox and the
   cursor moves past the newest version stored, so a write made while the peer is
   down is queued exactly once and sent when the peer is back, across restarts. The
   object-write lock is held meanwhile, so no version with a lower ``date_added`` can
   commit after the cursor has passed it.

   What the peer may receive is the policy's decision (``peer_scope`` of the
   organisations it hosts, rendered in SQL by the store): CLEAR and GREEN to every
   peer, AMBER and above only to a peer hosting an organisation of the object's
   audience. Who a peer hosts is learned by pulling from it, so a peer never pulled
   from successfully is not pushed to: its AMBER objects would otherwise be passed
   over for good. Its push cursor stays where it was meanwhile, so the first round
   after a successful pull queues everything written in between. Only objects
   written here by this node's own organisations (origin ``local``) are pushed:
   nothing received from a peer is sent on, so nothing goes back to its origin and
   AMBER never relays. The operator's cap for the peer (``policy.outbound``: the TLP
   levels and sharing groups that may leave towards it) narrows that further: a
   version it holds back is not queued but recorded as dropped, "peer policy".

2. **Send**. Due entries, oldest first, are POSTed as TAXII envelopes of
   ``push_batch_size`` objects (within the peer's ``max_content_length``) to the
   peer's writable collection, and the returned status is followed up to
   ``push_status_polls`` times; one still pending is followed in later rounds. The
   policy is asked again at send time, the peer's cap read anew: a version deleted
   since, no longer for this peer, or held back by a cap narrowed since it was queued,
   is dropped, not sent.

   Outcomes, per entry: *done* when the status counts it a success; *failed* (kept,
   never retried) when the status names it a failure or the peer refuses the request
   for good (a 4xx other than 408 and 429; an envelope of several is then sent again
   one object at a time, so one bad object does not sink the others); otherwise
   (connection trouble, time-outs, 5xx, 408, 429) it stays pending and is retried after
   an exponential back-off (``push_retry_base`` doubling per failed attempt, at most
   ``push_retry_max``). A dead or lying peer costs time, never data.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from bayanihan.correlate.notify import retry_delay
from bayanihan.federation.client import PeerUnreachable, TaxiiClient
from bayanihan.federation.pull import PeerGone, client_for
from bayanihan.node import Node, NodeError
from bayanihan.policy.outbound import may_leave
from bayanihan.policy.tlp import Tlp
from bayanihan.policy.visibility import ReadScope, peer_scope
from bayanihan.stix.timestamps import TimestampError, parse_timestamp
from bayanihan.store import objects as object_store
from bayanihan.store import peers as peer_store
from bayanihan.store.peers import OutboxEntry, PeerRecord

_FILL_CHUNK = 5000
_POLL_WAIT = 1.0  # seconds between two looks at a pending status
_HEAD = b'{"objects":['
_TAIL = b"]}"


@dataclass(slots=True)
class PushResult:
    """How one peer's push round went."""

    peer: str
    queued: int = 0  # entries added to the outbox by this round
    sent: int = 0  # objects posted to the peer
    accepted: int = 0  # ... that its status counted a success
    refused: int = 0  # ... refused for good (recorded, not retried)
    pending: int = 0  # ... its status still gave as pending (followed next round)
    dropped: int = 0  # queued but no longer to be sent (deleted, or audience narrowed)
    held: int = 0  # held back by the peer's outbound cap (not queued, or dropped unsent)
    waiting: int = 0  # entries left in the outbox after the round
    error: str | None = None
    reasons: Counter[str] = field(default_factory=Counter)
    sent_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "ok": self.ok,
            "error": self.error,
            "queued": self.queued,
            "sent": self.sent,
            "accepted": self.accepted,
            "refused": self.refused,
            "pending": self.pending,
            "dropped": self.dropped,
            "held": self.held,
            "waiting": self.waiting,
            "refusals": [{"reason": r, "count": n} for r, n in self.reasons.most_common(20)],
        }


@dataclass(slots=True)
class _Round:
    """What one send step works with; ``claimed`` holds entries taken and not yet settled."""

    node: Node
    peer: PeerRecord
    client: TaxiiClient
    root: str
    collection: str
    max_bytes: int | None
    scope: ReadScope
    result: PushResult
    claimed: dict[int, OutboxEntry] = field(default_factory=dict)


def push_peer(node: Node, record: PeerRecord) -> PushResult:
    """One push round with one peer; never raises for the peer's faults: they end up in
    ``error`` (and in the peer's last push error)."""
    result = PushResult(peer=record.name)
    try:
        scope, collection = _fill(node, record, result)
        _send(node, record, scope, collection, result)
    except PeerGone as exc:
        result.error = str(exc)
        return result
    except (PeerUnreachable, NodeError) as exc:
        result.error = str(exc)
    except Exception as exc:  # a lying peer must not stop the round for the others
        result.error = f"{type(exc).__name__}: {exc}"
    with node.store.write() as conn:
        if peer_store.peer_by_row(conn, record.row_id) is None:
            return result
        counts = peer_store.outbox_counts(conn, record.row_id).get(record.row_id, {})
        result.waiting = counts.get(peer_store.PENDING, 0) + counts.get(peer_store.SENT, 0)
        peer_store.record_push(
            conn,
            peer_row=record.row_id,
            when=node.clock(),
            error=result.error,
            pushed=result.accepted,
        )
        if result.sent_ids:
            node.audit(
                conn,
                None,
                "federation.push",
                result.sent_ids,
                detail=f"peer {record.name}: {result.sent} sent, {result.accepted} accepted, "
                f"{result.refused} refused, {result.pending} pending",
            )
    return result


def _hosted_rows(conn: Connection, peer: PeerRecord) -> set[int]:
    """The organisations the peer hosts, less the one made up here for a plain TAXII
    server (it stands for the server's relays; no one there is that organisation)."""
    rows = {org.org_row for org in peer_store.hosted_orgs(conn, peer.row_id)}
    if peer.node_identity is None and peer.node_org_row is not None:
        rows.discard(peer.node_org_row)
    return rows


def _fill(node: Node, record: PeerRecord, result: PushResult) -> tuple[ReadScope, str | None]:
    """Queue what the peer may receive since its push cursor; move the cursor, in one
    transaction. Returns the peer's scope and its configured collection."""
    with node.store.write() as conn:
        object_store.lock_writes(conn)
        peer = peer_store.peer_by_name(conn, record.name, lock=True)
        if peer is None or peer.row_id != record.row_id:
            raise PeerGone(f"peer {record.name} was removed during the push")
        if peer.last_success is None:
            # the one thing a push takes from pulling (it finds the API root and the
            # collection itself); nothing is queued and the cursor stays, so nothing is
            # passed over: the first push after a successful pull sends it all
            why = f"; last pull error: {peer.last_error}" if peer.last_error else ""
            raise NodeError(
                f"nothing pushed to {peer.name}: it has not been pulled from successfully "
                "yet, so the organisations it hosts are unknown (a pull comes first: "
                f"`bayanihan sync`){why}"
            )
        state = peer_store.push_state(conn, peer.row_id)
        scope = peer_scope(_hosted_rows(conn, peer))
        upto = peer_store.last_date_added(conn)
        after = state.cursor
        cap = peer.outbound
        while after < upto:
            found = peer_store.pushable(
                conn, scope=scope, cap=cap, after=after, upto=upto, limit=_FILL_CHUNK
            )
            queued, held = peer_store.enqueue(
                conn, peer_row=peer.row_id, found=found, now=node.clock()
            )
            result.queued += queued
            result.held += held
            if len(found) < _FILL_CHUNK:
                break
            after = found[-1].date_added
        peer_store.set_push_cursor(conn, peer_row=peer.row_id, cursor=upto)
    return scope, state.collection_id


def _send(
    node: Node,
    record: PeerRecord,
    scope: ReadScope,
    collection: str | None,
    result: PushResult,
) -> None:
    settings = node.settings
    lease = (
        2 * (settings.peer_connect_timeout + settings.peer_read_timeout)
        + settings.push_status_polls * _POLL_WAIT
        + 60
    )
    client = client_for(node, record)
    work: _Round | None = None
    try:
        root = client.api_root_of(record.url)
        if collection is None:
            collection = client.writable_collection(root)
            if collection is None:
                raise PeerUnreachable(f"{record.name} offers no collection our key may write to")
        work = _Round(
            node=node,
            peer=record,
            client=client,
            root=root,
            collection=collection,
            max_bytes=client.api_root_limit(root),
            scope=scope,
            result=result,
        )
        _follow_up(work)
        while True:
            now = node.clock()
            with node.store.write() as conn:
                batch = peer_store.claim_due(
                    conn,
                    peer_row=record.row_id,
                    now=now,
                    limit=settings.push_batch_size,
                    lease_until=now + int(lease * 1_000_000),
                )
            if not batch:
                return
            work.claimed = {e.row_id: e for e in batch}
            _send_batch(work, batch)
    except PeerUnreachable as exc:
        # the peer cannot take objects now: what was due this round waits, backing off
        with node.store.write() as conn:
            waiting = peer_store.due(conn, peer_row=record.row_id, now=node.clock())
            if work is not None:
                waiting.extend(work.claimed.values())
            _defer(node, conn, waiting, str(exc))
        raise


def _defer(node: Node, conn: Connection, entries: Sequence[OutboxEntry], error: str) -> None:
    now = node.clock()
    settings = node.settings
    next_attempts = {
        attempts: now
        + int(
            retry_delay(attempts, base=settings.push_retry_base, cap=settings.push_retry_max)
            * 1_000_000
        )
        for attempts in {e.attempts + 1 for e in entries}
    }
    peer_store.defer(conn, entries, next_attempts=next_attempts, error=error[:1000])


def _settle(
    work: _Round,
    entries: Sequence[OutboxEntry],
    state: str,
    *,
    error: str | None = None,
    status_id: str | None = None,
) -> None:
    with work.node.store.write() as conn:
        peer_store.settle(
            conn,
            [e.row_id for e in entries],
            state=state,
            now=work.node.clock(),
            error=error[:1000] if error else None,
            status_id=status_id,
        )
    for entry in entries:
        work.claimed.pop(entry.row_id, None)
    if state == peer_store.FAILED:
        work.result.refused += len(entries)
        work.result.reasons[(error or "refused")[:300]] += len(entries)


def _send_batch(work: _Round, batch: Sequence[OutboxEntry]) -> None:
    """Post one claimed batch: dropped what may no longer go, the rest in envelopes. The
    peer's outbound cap is read again here: narrowed since the batch was queued, it
    holds back what it no longer lets leave."""
    with work.node.store.read() as conn:
        peer = peer_store.peer_by_row(conn, work.peer.row_id)
        if peer is None:
            raise PeerGone(f"peer {work.peer.name} was removed during the push")
        cap = peer.outbound
        found = peer_store.pushable_bodies(
            conn,
            scope=work.scope,
            date_addeds=[e.date_added for e in batch],
            with_groups=cap.groups is not None,
        )
    gone = [e for e in batch if e.date_added not in found]
    held = [
        e
        for e in batch
        if e.date_added in found
        and not may_leave(
            cap, tlp=Tlp.parse(found[e.date_added].tlp), groups=found[e.date_added].groups
        )
    ]
    if gone:
        _settle(work, gone, peer_store.DROPPED, error="no longer stored, or not for this peer")
        work.result.dropped += len(gone)
    if held:
        _settle(work, held, peer_store.DROPPED, error=peer_store.HELD)
        work.result.held += len(held)
    bodies = {e.date_added: found[e.date_added].body for e in batch if e.date_added in found}
    for entry in held:
        del bodies[entry.date_added]
    for envelope in _envelopes(work, [e for e in batch if e.date_added in bodies], bodies):
        _post(work, envelope, bodies)


def _envelopes(
    work: _Round, entries: Sequence[OutboxEntry], bodies: dict[int, bytes]
) -> list[list[OutboxEntry]]:
    """Entries grouped into envelopes within the peer's size limit; an object too large
    on its own is refused here."""
    limit = work.max_bytes
    groups: list[list[OutboxEntry]] = []
    current: list[OutboxEntry] = []
    size = len(_HEAD) + len(_TAIL)
    for entry in entries:
        length = len(bodies[entry.date_added]) + 1
        if limit is not None and len(_HEAD) + len(_TAIL) + length > limit:
            _settle(
                work,
                [entry],
                peer_store.FAILED,
                error=f"larger than the peer accepts ({limit} bytes per request)",
            )
            continue
        if current and limit is not None and size + length > limit:
            groups.append(current)
            current, size = [], len(_HEAD) + len(_TAIL)
        current.append(entry)
        size += length
    if current:
        groups.append(current)
    return groups


def _post(work: _Round, envelope: Sequence[OutboxEntry], bodies: dict[int, bytes]) -> None:
    body = _HEAD + b",".join(bodies[e.date_added] for e in envelope) + _TAIL
    try:
        answer = work.client.add_objects(work.root, work.collection, body)
    except PeerUnreachable as exc:
        if not exc.permanent:
            raise
        if len(envelope) > 1:  # find the objects it refuses: one at a time
            for entry in envelope:
                _post(work, [entry], bodies)
            return
        _settle(work, envelope, peer_store.FAILED, error=str(exc))
        return
    work.result.sent += len(envelope)
    work.result.sent_ids.extend(e.object_id for e in envelope)
    document = answer.document
    status_id = document.get("id")
    status = document.get("status")
    if not isinstance(status_id, str) or not status_id:
        if status != "complete":
            raise PeerUnreachable(f"{work.peer.name} answered a push with no TAXII status")
        status_id = None
    polls = 0
    while status != "complete" and status_id and polls < work.node.settings.push_status_polls:
        time.sleep(_POLL_WAIT)
        polls += 1
        try:
            document = work.client.status(work.root, status_id).document
        except PeerUnreachable:
            break  # posted: the status is asked again next round
        status = document.get("status")
    _apply_status(work, envelope, document, status_id, complete=status == "complete")


def _follow_up(work: _Round) -> None:
    """Ask again for the statuses a previous round left pending."""
    with work.node.store.read() as conn:
        waiting = peer_store.awaiting_status(conn, work.peer.row_id)
    by_status: dict[str, list[OutboxEntry]] = {}
    for entry in waiting:
        by_status.setdefault(entry.status_id or "", []).append(entry)
    for status_id, entries in by_status.items():
        if not status_id:
            _settle(work, entries, peer_store.PENDING, error="no status to follow: sent again")
            continue
        try:
            document = work.client.status(work.root, status_id).document
        except PeerUnreachable as exc:
            if not exc.permanent:
                raise
            # the peer no longer knows the status: send again (storing is idempotent)
            _settle(work, entries, peer_store.PENDING, error=f"status {status_id}: {exc}")
            continue
        complete = document.get("status") == "complete"
        _apply_status(work, entries, document, status_id, complete=complete)


def _details(document: dict[str, Any], name: str) -> dict[str, list[tuple[int | None, str]]]:
    """A status's successes, failures or pendings: object id -> (version, message)."""
    found: dict[str, list[tuple[int | None, str]]] = {}
    listed = document.get(name)
    if not isinstance(listed, list):
        return found
    for item in listed:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        version: int | None = None
        text = item.get("version")
        if isinstance(text, str):
            try:
                version = parse_timestamp(text)
            except TimestampError:
                version = None
        message = item.get("message")
        found.setdefault(item["id"], []).append(
            (version, message if isinstance(message, str) else "")
        )
    return found


def _named(details: dict[str, list[tuple[int | None, str]]], entry: OutboxEntry) -> str | None:
    for version, message in details.get(entry.object_id, ()):
        if version is None or version == entry.version:
            return message
    return None


def _apply_status(
    work: _Round,
    entries: Sequence[OutboxEntry],
    document: dict[str, Any],
    status_id: str | None,
    *,
    complete: bool,
) -> None:
    """Settle each entry by what the status says of it. An object a complete status does
    not name as failed counts as a success (the peer took the envelope)."""
    failures = _details(document, "failures")
    successes = _details(document, "successes")
    pendings = _details(document, "pendings")
    done: list[OutboxEntry] = []
    waiting: list[OutboxEntry] = []
    refused: dict[str, list[OutboxEntry]] = {}
    for entry in entries:
        failure = _named(failures, entry)
        if failure is not None:
            refused.setdefault(failure or "refused by the peer", []).append(entry)
        elif _named(successes, entry) is not None:
            done.append(entry)
        elif _named(pendings, entry) is not None or not complete:
            waiting.append(entry)
        else:
            done.append(entry)
    if done:
        _settle(work, done, peer_store.DONE)
        work.result.accepted += len(done)
    for message, failed in refused.items():
        _settle(work, failed, peer_store.FAILED, error=message)
    if waiting:
        _settle(work, waiting, peer_store.SENT, status_id=status_id)
        work.result.pending += len(waiting)
