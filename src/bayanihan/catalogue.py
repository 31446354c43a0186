"""Objects for people and tools other than TAXII: search, get, submit, revoke, export.

Every read here goes through the policy (``read_scope``) and is rendered into
SQL by the store; every read of objects other than TLP:CLEAR and every write is
audited.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bayanihan.ingest.intake import Outcome, store_objects
from bayanihan.node import Node, NodeError, NotFound, PermissionDenied, require
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action
from bayanihan.policy.tlp import Tlp
from bayanihan.policy.visibility import read_scope
from bayanihan.stix.timestamps import format_timestamp, parse_timestamp
from bayanihan.store import objects as object_store
from bayanihan.store import orgs as org_store
from bayanihan.store.objects import ObjectQuery, SearchQuery, VersionSpec

MAX_PAGE = 1000
_BATCH = 1000
_NAMED_IDS = 100_000  # beyond this an export's audit entry names a date_added range


@dataclass(frozen=True, slots=True)
class Found:
    """A page of objects with what the reader needs to show them."""

    objects: list[dict[str, Any]]
    next_cursor: int | None


@dataclass(frozen=True, slots=True)
class Filters:
    types: Sequence[str] = ()
    org: str | None = None  # name or identity id of the author organisation
    countries: Sequence[str] = ()
    tlps: Sequence[str] = ()
    added_after: int | None = None
    added_before: int | None = None
    text: str | None = None
    limit: int = 100


class Catalogue:
    def __init__(self, node: Node) -> None:
        self.node = node

    def search(self, who: Principal, filters: Filters) -> Found:
        require(who, Action.READ, "read objects")
        limit = max(1, min(filters.limit, MAX_PAGE))
        authors = None
        if filters.org:
            with self.node.store.read() as conn:
                org = org_store.org_by_identity(conn, filters.org) or org_store.org_by_name(
                    conn, filters.org
                )
            authors = frozenset({org.row_id}) if org else frozenset()
        tlps = frozenset(Tlp.parse(t).label for t in filters.tlps)
        query = SearchQuery(
            scope=read_scope(who),
            types=frozenset(filters.types),
            author_orgs=authors,
            countries=frozenset(c.upper() for c in filters.countries),
            tlps=tlps,
            added_after=filters.added_after,
            added_before=filters.added_before,
            text=filters.text or None,
            limit=limit,
        )
        with self.node.store.read() as conn:
            rows = object_store.search(conn, query)
        more = len(rows) > limit
        rows = rows[:limit]
        self.node.audit_read(who, "rest.search", ((r.id, r.tlp) for r in rows))
        return Found(
            objects=[orjson.loads(r.body) for r in rows],
            next_cursor=rows[-1].date_added if more else None,
        )

    def get(self, who: Principal, object_id: str, *, all_versions: bool = False) -> list[bytes]:
        """The latest visible version of an object (or every visible version); NotFound if none."""
        require(who, Action.READ, "read objects")
        query = ObjectQuery(
            scope=read_scope(who),
            ids=frozenset({object_id}),
            versions=VersionSpec(all=True) if all_versions else VersionSpec(last=True),
            limit=10_000,
        )
        with self.node.store.read() as conn:
            rows = object_store.list_bodies(conn, query)
        if not rows:
            raise NotFound(f"no object {object_id}")
        self.node.audit_read(who, "rest.get", ((r.id, r.tlp) for r in rows))
        return [r.body for r in rows]

    def submit(self, who: Principal, objects: list[object]) -> list[Outcome]:
        require(who, Action.WRITE, "write objects")
        options = self.node.intake_options(who)
        with self.node.store.write() as conn:
            outcomes = store_objects(
                conn, objects, options, clock=self.node.clock, correlator=self.node.correlator
            )
            self.node.audit(
                conn,
                who,
                "rest.submit",
                [o.id for o in outcomes if o.ok],
                detail=f"{sum(o.ok for o in outcomes)} accepted, "
                f"{sum(not o.ok for o in outcomes)} rejected",
            )
        return outcomes

    def revoke(self, who: Principal, object_id: str) -> Outcome:
        """Revoke an object of the caller's organisation (a sync key's: of one of its
        organisations): a new version with revoked true."""
        require(who, Action.WRITE, "revoke objects")
        [body] = self.get(who, object_id)
        current = orjson.loads(body)
        author = current.get("created_by_ref")
        if author != who.org_identity and who.peer_org(author) is None:
            raise PermissionDenied("only the author organisation revokes an object")
        if "modified" not in current:
            raise NodeError(f"{object_id} has no versions (an SCO): delete it instead")
        if current.get("revoked") is True:
            raise NodeError(f"{object_id} is already revoked")
        stamp = max(self.node.clock(), parse_timestamp(current["modified"]) + 1000)
        revoked = {**current, "revoked": True, "modified": _millis(stamp)}
        [outcome] = self.submit(who, [revoked])
        if not outcome.ok:
            raise NodeError(outcome.message)
        return outcome

    def export(self, who: Principal) -> Iterator[bytes]:
        """Every object version (latest) the caller may see, as a STIX bundle, streamed."""
        require(who, Action.READ, "export objects")
        yield b'{"type":"bundle","id":"bundle--' + str(self.node.new_uuid()).encode()
        yield b'","objects":['
        cursor: int | None = None
        first = True
        restricted: list[str] = []  # ids of what was sent beyond TLP:CLEAR
        span: list[int] = []
        while True:
            query = ObjectQuery(scope=read_scope(who), after=cursor, limit=_BATCH)
            with self.node.store.read() as conn:
                rows = object_store.list_bodies(conn, query)[:_BATCH]
            if not rows:
                break
            chunk = b",".join(r.body for r in rows)
            yield chunk if first else b"," + chunk
            first = False
            cursor = rows[-1].date_added
            sent = [r for r in rows if r.tlp != Tlp.CLEAR.label]
            if sent:
                span = [span[0] if span else sent[0].date_added, sent[-1].date_added]
                if len(restricted) <= _NAMED_IDS:
                    restricted.extend(r.id for r in sent)
        # one audit entry for the whole export, once it has been sent
        if restricted:
            named = len(restricted) <= _NAMED_IDS
            with self.node.store.write() as conn:
                self.node.audit(
                    conn,
                    who,
                    "export",
                    restricted if named else (),
                    detail=None
                    if named
                    else f"objects beyond TLP:CLEAR with date_added {span[0]}..{span[1]}",
                )
        yield b"]}\n"


def _millis(micros: int) -> str:
    """A STIX timestamp with millisecond precision (what most tools write)."""
    text = format_timestamp(micros)
    return text[:23] + "Z"
