"""Peers: the remote nodes this node pulls from, and the sync round over them.

The CLI and the REST API both call ``Federation``; it checks the caller's rights
(node administrators only), validates input before anything is written, and
never hands a secret back (views carry no password or key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bayanihan.federation.client import check_url
from bayanihan.federation.pull import PullResult, pull_peer
from bayanihan.node import Node, NodeError, NotFound, require
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action
from bayanihan.stix.timestamps import format_timestamp
from bayanihan.store import peers as peer_store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class PeerView:
    """What may be shown of a peer: everything but its credentials."""

    name: str
    url: str
    auth: str
    username: str | None
    ca_file: str | None
    allow_insecure: bool
    created: int
    last_attempt: int | None
    last_success: int | None
    last_error: str | None
    lag: float | None  # seconds since the last successful round; None: never
    pulled: int
    orgs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def stamp(value: int | None) -> str | None:
            return None if value is None else format_timestamp(value)

        return {
            "name": self.name,
            "url": self.url,
            "auth": self.auth,
            "username": self.username,
            "ca_file": self.ca_file,
            "allow_insecure": self.allow_insecure,
            "created": stamp(self.created),
            "last_attempt": stamp(self.last_attempt),
            "last_success": stamp(self.last_success),
            "last_error": self.last_error,
            "lag_seconds": self.lag,
            "objects_pulled": self.pulled,
            "orgs": self.orgs,
        }


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
        allow_insecure: bool = False,
        by: Principal | None = None,
    ) -> PeerView:
        """Record a peer; no network call, so a peer that is down can be added."""
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
        if ca_file is not None:
            from pathlib import Path

            if not Path(ca_file).is_file():
                raise NodeError(f"--ca-file {ca_file}: no such file")
            ca_file = str(Path(ca_file).resolve())
        with self.node.store.write() as conn:
            if peer_store.peer_by_name(conn, name) is not None:
                raise NodeError(f"a peer named {name!r} already exists")
            record = peer_store.add_peer(
                conn,
                name=name,
                url=url,
                auth="key" if key is not None else "basic",
                username=username,
                secret=key.strip() if key is not None else str(password),
                ca_file=ca_file,
                allow_insecure=allow_insecure,
                created=self.node.clock(),
            )
            self.node.audit(conn, by, "peer.add", detail=f"{name} {url}")
        return self._view(record, [])

    def peers(self, by: Principal | None = None) -> list[PeerView]:
        _admin(by, "list peers")
        self.node.require_initialised()
        with self.node.store.read() as conn:
            records = peer_store.list_peers(conn)
            hosted = peer_store.hosted_orgs(conn)
        names: dict[int, list[str]] = {}
        for org in hosted:
            names.setdefault(org.peer_row, []).append(org.name)
        return [self._view(r, names.get(r.row_id, [])) for r in records]

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

    def sync(self, name: str | None = None, *, by: Principal | None = None) -> list[PullResult]:
        """One pull round: one attempt per peer (or the one named); a failing peer
        does not stop the others. Each result says how it went."""
        _admin(by, "run sync rounds")
        self.node.require_initialised()
        with self.node.store.read() as conn:
            records = peer_store.list_peers(conn)
        if name is not None:
            records = [r for r in records if r.name == name]
            if not records:
                raise NotFound(f"no peer named {name!r} (see `bayanihan peer list`)")
        return [pull_peer(self.node, record) for record in records]

    def _view(self, record: peer_store.PeerRecord, orgs: list[str]) -> PeerView:
        lag = None
        if record.last_success is not None:
            lag = max(0.0, (self.node.clock() - record.last_success) / 1_000_000)
        return PeerView(
            name=record.name,
            url=record.url,
            auth=record.auth,
            username=record.username,
            ca_file=record.ca_file,
            allow_insecure=record.allow_insecure,
            created=record.created,
            last_attempt=record.last_attempt,
            last_success=record.last_success,
            last_error=record.last_error,
            lag=lag,
            pulled=record.pulled,
            orgs=orgs,
        )
