"""Peers: the remote nodes this node pulls from and pushes to, and the sync round over them.

The CLI and the REST API both call ``Federation``; it checks the caller's rights
(node administrators only), validates input before anything is written, and
never hands a secret back (views carry no password or key).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from bayanihan.federation.client import (
    ClientCertificate,
    check_client_certificate,
    check_url,
)
from bayanihan.federation.pull import PullResult, pull_peer
from bayanihan.federation.push import PushResult, push_peer
from bayanihan.node import Node, NodeError, NotFound, require
from bayanihan.policy.outbound import (
    OPEN,
    OutboundCap,
    PolicyError,
    cap_of,
    describe,
    parse_groups,
    parse_levels,
)
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action
from bayanihan.policy.tlp import Tlp
from bayanihan.stix.timestamps import format_timestamp
from bayanihan.store import groups as group_store
from bayanihan.store import peers as peer_store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# a TAXII collection id goes into a URL path: one plain segment
_COLLECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")
OUTBOX_STATES = (peer_store.PENDING, peer_store.SENT, peer_store.FAILED)
# a policy value as the CLI gives it ("clear,green", "none") or REST (a list)
PolicyValue = str | Sequence[str]


def _stamp(value: int | None) -> str | None:
    return None if value is None else format_timestamp(value)


@dataclass(frozen=True, slots=True)
class PeerView:
    """What may be shown of a peer: everything but its credentials."""

    name: str
    url: str
    auth: str
    username: str | None
    ca_file: str | None
    client_cert: str | None  # path of the certificate presented for mutual TLS
    client_key: str | None  # path of its key; None: in the certificate file
    allow_insecure: bool
    created: int
    last_attempt: int | None
    last_success: int | None
    last_error: str | None
    lag: float | None  # seconds since the last successful round; None: never
    pulled: int
    orgs: list[str] = field(default_factory=list)
    push_collection: str | None = None  # None: the peer's first writable collection
    push_pending: int = 0  # outbox entries still to go (pending, or awaiting a status)
    push_failed: int = 0  # refused by the peer for good
    pushed: int = 0
    last_push_attempt: int | None = None
    last_push_success: int | None = None
    last_push_error: str | None = None
    outbound: OutboundCap = OPEN  # the operator's cap on what leaves towards it
    group_names: dict[str, str] = field(default_factory=dict)  # id -> name, for the cap
    push_held: int = 0  # versions held back by the cap

    @property
    def outbound_text(self) -> str:
        return describe(self.outbound, self.group_names)

    def outbound_dict(self) -> dict[str, Any]:
        cap = self.outbound
        tlp: str | list[str] = (
            "all" if cap.tlp is None else [t.label for t in Tlp if t.label in cap.tlp]
        )
        groups: str | list[dict[str, str | None]]
        if cap.groups is None:
            groups = "all"
        elif not cap.groups:
            groups = "none"
        else:
            groups = [{"id": g, "name": self.group_names.get(g)} for g in sorted(cap.groups)]
        return {"tlp": tlp, "groups": groups}

    def as_dict(self) -> dict[str, Any]:
        stamp = _stamp
        return {
            "name": self.name,
            "url": self.url,
            "auth": self.auth,
            "username": self.username,
            "ca_file": self.ca_file,
            "client_cert": self.client_cert,
            "client_key": self.client_key,
            "allow_insecure": self.allow_insecure,
            "created": stamp(self.created),
            "last_attempt": stamp(self.last_attempt),
            "last_success": stamp(self.last_success),
            "last_error": self.last_error,
            "lag_seconds": self.lag,
            "objects_pulled": self.pulled,
            "orgs": self.orgs,
            "push_collection": self.push_collection,
            "push_pending": self.push_pending,
            "push_failed": self.push_failed,
            "objects_pushed": self.pushed,
            "last_push_attempt": stamp(self.last_push_attempt),
            "last_push_success": stamp(self.last_push_success),
            "last_push_error": self.last_push_error,
            "outbound": self.outbound_dict(),
            "push_held": self.push_held,
        }


@dataclass(frozen=True, slots=True)
class OutboxView:
    """One outbox entry: an object version on its way to a peer."""

    object_id: str
    version: int
    state: str
    attempts: int
    queued: int
    next_attempt: int
    last_error: str | None
    status_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id,
            "version": _stamp(self.version),
            "state": self.state,
            "attempts": self.attempts,
            "queued": _stamp(self.queued),
            "next_attempt": _stamp(self.next_attempt),
            "last_error": self.last_error,
            "status_id": self.status_id,
        }


@dataclass(slots=True)
class SyncResult:
    """One peer's sync round: the pull, then the push (either may be left out)."""

    peer: str
    pull: PullResult | None = None
    push: PushResult | None = None

    @property
    def ok(self) -> bool:
        return all(part.ok for part in (self.pull, self.push) if part is not None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "ok": self.ok,
            "pull": None if self.pull is None else self.pull.as_dict(),
            "push": None if self.push is None else self.push.as_dict(),
        }


def _client_certificate(cert_file: str | None, key_file: str | None) -> ClientCertificate | None:
    """The checked pair (NodeError saying what is wrong), or None when none is given."""
    if cert_file is None:
        if key_file is not None:
            raise NodeError("--client-key goes with --client-cert (the certificate it is for)")
        return None
    try:
        return check_client_certificate(cert_file, key_file)
    except ValueError as exc:
        raise NodeError(str(exc)) from None


def _parse_policy(
    tlp: PolicyValue | None, groups: PolicyValue | None
) -> tuple[frozenset[Tlp] | None, tuple[str, ...] | None]:
    """The levels and group references given (None where all: not given is all too)."""
    try:
        levels = None if tlp is None else parse_levels(tlp)
        refs = None if groups is None else parse_groups(groups)
    except PolicyError as exc:
        raise NodeError(str(exc)) from None
    return levels, refs


def _resolve_groups(conn: Connection, refs: tuple[str, ...] | None) -> frozenset[str] | None:
    """Sharing group ids for names or ids; NodeError for one unknown, or a name several
    groups bear (their owners differ: give the id)."""
    if refs is None:
        return None
    found: set[str] = set()
    for ref in refs:
        matches = group_store.group_by(conn, name_or_id=ref)
        if not matches:
            raise NodeError(f"--groups: no sharing group {ref!r} here (see `bayanihan group list`)")
        if len(matches) > 1:
            ids = ", ".join(sorted(g.id for g in matches))
            raise NodeError(
                f"--groups: {len(matches)} sharing groups are named {ref!r}: give the id ({ids})"
            )
        found.add(matches[0].id)
    return frozenset(found)


def _group_names(conn: Connection) -> dict[str, str]:
    return {g.id: g.name for g in group_store.list_groups(conn)}


def _admin(who: Principal | None, what: str) -> None:
    """Peers are node configuration: the CLI operator (None) or an admin key."""
    if who is not None:
        require(who, Action.MANAGE_NODE, what)


class Federation:
    def __init__(self, node: Node) -> None:
        self.node = node

    def add_peer(
        self,
        name: str,
        *,
        url: str,
        key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        allow_insecure: bool = False,
        push_collection: str | None = None,
        tlp: PolicyValue | None = None,
        groups: PolicyValue | None = None,
        by: Principal | None = None,
    ) -> PeerView:
        """Record a peer; no network call, so a peer that is down can be added.
        ``push_collection`` names the peer's collection to push to (default: the first
        our key may write to). ``client_cert`` (and ``client_key``, unless the key is in
        the certificate file) is presented to a peer requiring mutual TLS: the files are
        read and checked to form a pair now, and only their paths are stored. ``tlp``
        and ``groups`` cap what leaves towards it (see ``set_peer``; default: no cap)."""
        _admin(by, "add peers")
        self.node.require_initialised()
        name = name.strip()
        if not _NAME.match(name):
            raise NodeError(
                "a peer name is 1-64 letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit, not {name!r}"
            )
        url = url.strip()
        try:
            check_url(url, allow_insecure=allow_insecure)
        except ValueError as exc:
            raise NodeError(str(exc)) from None
        if not url.endswith("/"):
            url += "/"
        basic = username is not None or password is not None
        if key is not None and basic:
            raise NodeError("give either --key or --user with --password, not both")
        if key is None and not basic:
            raise NodeError("a peer needs credentials: --key KEY, or --user U --password P")
        if basic and (not username or not password):
            raise NodeError("HTTP Basic needs both --user and --password")
        if key is not None and not key.strip():
            raise NodeError("--key may not be empty")
        if push_collection is not None:
            push_collection = push_collection.strip()
            if not _COLLECTION.match(push_collection):
                raise NodeError(f"--push-collection {push_collection!r} is not a collection id")
        if ca_file is not None:
            from pathlib import Path

            if not Path(ca_file).is_file():
                raise NodeError(f"--ca-file {ca_file}: no such file")
            ca_file = str(Path(ca_file).resolve())
        certificate = _client_certificate(client_cert, client_key)
        levels, group_refs = _parse_policy(tlp, groups)
        with self.node.store.write() as conn:
            if peer_store.peer_by_name(conn, name) is not None:
                raise NodeError(f"a peer named {name!r} already exists")
            cap = cap_of(tlp=levels, groups=_resolve_groups(conn, group_refs))
            record = peer_store.add_peer(
                conn,
                name=name,
                url=url,
                auth="key" if key is not None else "basic",
                username=username,
                secret=key.strip() if key is not None else str(password),
                ca_file=ca_file,
                client_cert=certificate.cert_file if certificate else None,
                client_key=certificate.key_file if certificate else None,
                outbound=cap,
                allow_insecure=allow_insecure,
                created=self.node.clock(),
            )
            if push_collection is not None:
                peer_store.set_push_collection(
                    conn, peer_row=record.row_id, collection_id=push_collection
                )
            self.node.audit(conn, by, "peer.add", detail=f"{name} {url}")
        return self.peer(name, by)

    def set_peer(
        self,
        name: str,
        *,
        tlp: PolicyValue | None = None,
        groups: PolicyValue | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        no_client_cert: bool = False,
        by: Principal | None = None,
    ) -> PeerView:
        """Change a recorded peer (what is not given stays as it is); its cursors,
        outbox and learned organisations stay.

        ``tlp`` (``all``, or levels: ``clear,green``...) and ``groups`` (``all``,
        ``none``, or sharing groups by name or id) cap what leaves towards the peer, on
        top of what its organisations may see (``policy.outbound``): what is pushed to it,
        and what its sync key reads here (from its next request on). It can only narrow.
        A narrower cap holds back, from the next send on, what is still queued; a wider
        one does not send again versions passed over before. ``client_cert`` (checked
        as at ``add_peer``) is presented to the peer; ``no_client_cert`` stops it."""
        _admin(by, "change peers")
        self.node.require_initialised()
        if no_client_cert and (client_cert is not None or client_key is not None):
            raise NodeError("give either --client-cert or --no-client-cert, not both")
        certificate = _client_certificate(client_cert, client_key)
        levels, group_refs = _parse_policy(tlp, groups)
        changes: list[str] = []
        with self.node.store.write() as conn:
            record = peer_store.peer_by_name(conn, name, lock=True)
            if record is None:
                raise NotFound(f"no peer named {name!r} (see `bayanihan peer list`)")
            if tlp is not None or groups is not None:
                current = record.outbound
                given = cap_of(tlp=levels, groups=_resolve_groups(conn, group_refs))
                cap = OutboundCap(
                    tlp=current.tlp if tlp is None else given.tlp,
                    groups=current.groups if groups is None else given.groups,
                )
                peer_store.set_outbound(conn, row_id=record.row_id, cap=cap)
                changes.append(f"outbound: {describe(cap, _group_names(conn))}")
            if certificate is not None or no_client_cert:
                peer_store.set_client_cert(
                    conn,
                    row_id=record.row_id,
                    client_cert=certificate.cert_file if certificate else None,
                    client_key=certificate.key_file if certificate else None,
                )
                changes.append(
                    f"client certificate {certificate.cert_file}"
                    if certificate
                    else "no client certificate"
                )
            if not changes:
                raise NodeError("nothing to change: see `bayanihan peer set --help`")
            self.node.audit(conn, by, "peer.set", detail=f"{name}: {'; '.join(changes)}")
        return self.peer(name, by)

    def peers(self, by: Principal | None = None) -> list[PeerView]:
        _admin(by, "list peers")
        self.node.require_initialised()
        with self.node.store.read() as conn:
            records = peer_store.list_peers(conn)
            hosted = peer_store.hosted_orgs(conn)
            states = peer_store.push_states(conn)
            counts = peer_store.outbox_counts(conn)
            held = peer_store.held_counts(conn)
            group_names = _group_names(conn)
        names: dict[int, list[str]] = {}
        for org in hosted:
            names.setdefault(org.peer_row, []).append(org.name)
        return [
            self._view(
                r,
                names.get(r.row_id, []),
                states.get(r.row_id),
                counts.get(r.row_id, {}),
                held=held.get(r.row_id, 0),
                group_names=group_names,
            )
            for r in records
        ]

    def peer(self, name: str, by: Principal | None = None) -> PeerView:
        for view in self.peers(by):
            if view.name == name:
                return view
        raise NotFound(f"no peer named {name!r} (see `bayanihan peer list`)")

    def remove_peer(self, name: str, *, by: Principal | None = None) -> None:
        """Forget a peer; the organisations and objects learned from it stay."""
        _admin(by, "remove peers")
        self.node.require_initialised()
        with self.node.store.write() as conn:
            record = peer_store.peer_by_name(conn, name, lock=True)
            if record is None:
                raise NotFound(f"no peer named {name!r} (see `bayanihan peer list`)")
            peer_store.remove_peer(conn, record.row_id)
            self.node.audit(conn, by, "peer.remove", detail=name)

    def _records(self, name: str | None) -> list[peer_store.PeerRecord]:
        with self.node.store.read() as conn:
            records = peer_store.list_peers(conn)
        if name is not None:
            records = [r for r in records if r.name == name]
            if not records:
                raise NotFound(f"no peer named {name!r} (see `bayanihan peer list`)")
        return records

    def pull(self, name: str | None = None, *, by: Principal | None = None) -> list[PullResult]:
        """One pull round: one attempt per peer (or the one named); a failing peer
        does not stop the others. Each result says how it went."""
        _admin(by, "run sync rounds")
        self.node.require_initialised()
        return [pull_peer(self.node, record) for record in self._records(name)]

    def push(self, name: str | None = None, *, by: Principal | None = None) -> list[PushResult]:
        """One push round: fill each peer's outbox, then send what is due."""
        _admin(by, "run sync rounds")
        self.node.require_initialised()
        return [push_peer(self.node, record) for record in self._records(name)]

    def sync(
        self,
        name: str | None = None,
        *,
        pull: bool = True,
        push: bool = True,
        by: Principal | None = None,
    ) -> list[SyncResult]:
        """One round per peer: pull (which learns the orgs it hosts), then push. A peer
        whose pull fails is still pushed to (its outbox fills either way) once a pull
        from it has succeeded before; until then who it hosts is unknown and the push
        waits, passing nothing over (see ``push``)."""
        _admin(by, "run sync rounds")
        self.node.require_initialised()
        if not pull and not push:
            raise NodeError("a sync round pulls, pushes or both")
        results = []
        for record in self._records(name):
            result = SyncResult(peer=record.name)
            if pull:
                result.pull = pull_peer(self.node, record)
            if push:
                result.push = push_peer(self.node, record)
            results.append(result)
        return results

    def outbox(
        self,
        name: str,
        *,
        states: tuple[str, ...] = OUTBOX_STATES,
        dropped: bool = False,
        limit: int = 1000,
        by: Principal | None = None,
    ) -> list[OutboxView]:
        """A peer's outbox entries in those states (by default what is still to go, and
        what the peer refused; ``dropped`` adds what was dropped unsent, held back by
        the peer's policy among them), oldest first."""
        if dropped and peer_store.DROPPED not in states:
            states = (*states, peer_store.DROPPED)
        _admin(by, "read a peer's outbox")
        self.node.require_initialised()
        [record] = self._records(name)
        with self.node.store.read() as conn:
            entries = peer_store.outbox(conn, peer_row=record.row_id, states=states, limit=limit)
        return [
            OutboxView(
                object_id=e.object_id,
                version=e.version,
                state=e.state,
                attempts=e.attempts,
                queued=e.created,
                next_attempt=e.next_attempt,
                last_error=e.last_error,
                status_id=e.status_id,
            )
            for e in entries
        ]

    def _view(
        self,
        record: peer_store.PeerRecord,
        orgs: list[str],
        push: peer_store.PushState | None,
        counts: dict[str, int],
        *,
        held: int,
        group_names: dict[str, str],
    ) -> PeerView:
        lag = None
        if record.last_success is not None:
            lag = max(0.0, (self.node.clock() - record.last_success) / 1_000_000)
        return PeerView(
            name=record.name,
            url=record.url,
            auth=record.auth,
            username=record.username,
            ca_file=record.ca_file,
            client_cert=record.client_cert,
            client_key=record.client_key,
            allow_insecure=record.allow_insecure,
            created=record.created,
            last_attempt=record.last_attempt,
            last_success=record.last_success,
            last_error=record.last_error,
            lag=lag,
            pulled=record.pulled,
            orgs=orgs,
            push_collection=push.collection_id if push else None,
            push_pending=counts.get(peer_store.PENDING, 0) + counts.get(peer_store.SENT, 0),
            push_failed=counts.get(peer_store.FAILED, 0),
            pushed=push.pushed if push else 0,
            last_push_attempt=push.last_attempt if push else None,
            last_push_success=push.last_success if push else None,
            last_push_error=push.last_error if push else None,
            outbound=record.outbound,
            group_names={
                g: n for g, n in group_names.items() if g in (record.outbound.groups or ())
            },
            push_held=held,
        )
