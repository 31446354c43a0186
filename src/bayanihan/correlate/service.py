"""Correlation for people and tools: search by value, hits, observables of an object,
warning-lists, alert channels and their delivery.

Every answer goes through the policy: objects are those the caller may see (in
SQL), a hit is shown only when both of its objects are visible to the caller,
and a value's existence on an invisible object is never told.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bayanihan.correlate import normalise as n
from bayanihan.correlate.extract import extract, ip_bounds, spec, supernets
from bayanihan.correlate.index import Correlator, disabled_lists, indexed, set_disabled_lists
from bayanihan.correlate.notify import (
    MAX_ATTEMPTS,
    DeliveryError,
    SmtpSettings,
    hit_message,
    retry_delay,
    send_email,
    send_webhook,
)
from bayanihan.node import Node, NodeError, NotFound, PermissionDenied, require
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action, Role
from bayanihan.policy.visibility import read_scope
from bayanihan.stix.timestamps import format_timestamp
from bayanihan.store import observables as index_store
from bayanihan.store import orgs as org_store
from bayanihan.store.observables import HitQuery, HitRow, ObservableRecord

MAX_HITS = 1000


@dataclass(frozen=True, slots=True)
class HitPage:
    hits: list[dict[str, Any]]
    next_cursor: int | None


class Correlation:
    """The correlation service of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    @property
    def correlator(self) -> Correlator:
        if self.node.correlator is None:
            raise NodeError("correlation is switched off on this node (BAYANIHAN_CORRELATION)")
        return self.node.correlator

    # ------------------------------------------------------------------ views

    def _orgs(self) -> dict[int, org_store.OrgRecord]:
        return {o.row_id: o for o in self.node.orgs()}

    @staticmethod
    def _org_view(org: org_store.OrgRecord | None) -> dict[str, Any]:
        if org is None:
            return {"id": None, "name": None, "country": None}
        return {"id": org.identity_id, "name": org.name, "country": org.country}

    def _observable_view(self, record: ObservableRecord) -> dict[str, Any]:
        view: dict[str, Any] = {"kind": record.kind, "value": record.value}
        if record.related:
            view["registered_domain"] = record.related
        reason = self.correlator.noise_reason(record)
        view["noise"] = reason
        view["objects"] = record.objects
        return view

    def _hit_views(
        self, rows: Sequence[HitRow], orgs: dict[int, org_store.OrgRecord]
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        if not rows:
            return [], []
        with self.node.store.read() as conn:
            meta = index_store.object_meta(
                conn, {d for h in rows for d in (h.date_added, h.counterpart_date_added)}
            )
            observables = index_store.records(
                conn,
                {o for h in rows for o in (h.observable_row, h.counterpart_observable_row)},
            )
        views: list[dict[str, Any]] = []
        seen: list[tuple[str, str]] = []
        for hit in rows:
            own, other = meta[hit.date_added], meta[hit.counterpart_date_added]
            seen.extend(((own.id, own.tlp), (other.id, other.tlp)))
            views.append(
                {
                    "hit_id": hit.row_id,
                    "detected": format_timestamp(hit.detected),
                    "match": hit.match,
                    "observable": self._observable_view(observables[hit.observable_row]),
                    "counterpart_observable": self._observable_view(
                        observables[hit.counterpart_observable_row]
                    ),
                    "object": self._object_view(own, orgs),
                    "counterpart": self._object_view(other, orgs),
                    "cross_border": hit.cross_border,
                }
            )
        return views, seen

    def _object_view(
        self, meta: index_store.ObjectMeta, orgs: dict[int, org_store.OrgRecord]
    ) -> dict[str, Any]:
        return {
            "id": meta.id,
            "type": meta.type,
            "name": meta.name,
            "tlp": meta.tlp,
            "org": self._org_view(orgs.get(meta.author_org)),
        }

    # ------------------------------------------------------------------ hits

    def hits(
        self,
        who: Principal,
        *,
        everything: bool = False,
        before: int | None = None,
        after: int | None = None,
        cross_border: bool | None = None,
        limit: int = 100,
    ) -> HitPage:
        """Hits on the caller's organisation's objects (a sync key's: its organisations'),
        newest first (``everything``: every hit between two objects the caller may see)."""
        require(who, Action.READ, "read hits")
        limit = max(1, min(limit, MAX_HITS))
        query = HitQuery(
            scope=read_scope(who),
            own_orgs=None if everything else who.org_rows,
            max_objects=self.correlator.max_objects,
            before=before,
            after=after,
            cross_border=cross_border,
            limit=limit,
        )
        with self.node.store.read() as conn:
            rows = index_store.list_hits(conn, query)
        more = len(rows) > limit
        rows = rows[:limit]
        views, seen = self._hit_views(rows, self._orgs())
        self.node.audit_read(who, "correlate.hits", seen)
        return HitPage(views, rows[-1].row_id if more and rows else None)

    # ------------------------------------------------------------------ search

    def search(self, who: Principal, value: str, *, limit: int = 200) -> dict[str, Any]:
        """What the node knows of a value: the visible objects carrying it (exactly, or by
        CIDR containment), those under the same registered domain, and their hits."""
        require(who, Action.READ, "search")
        text = value.strip()
        if not text:
            raise NodeError("give a value to search for")
        if len(text) > 2048:
            raise NodeError("a search value may be at most 2048 characters")
        with self.node.store.read() as conn:
            org = org_store.org_by_row(conn, who.org_row)
        region = org.country if org is not None else None
        candidates = n.guess(text, region=region)
        scope = read_scope(who)
        orgs = self._orgs()
        matched: dict[int, tuple[ObservableRecord, str]] = {}
        related: dict[int, ObservableRecord] = {}
        with self.node.store.read() as conn:
            for candidate in candidates:
                for record in index_store.by_values(conn, candidate.kind, [candidate.value]):
                    matched.setdefault(record.row_id, (record, "exact"))
                if candidate.kind in ("ipv4", "ipv6"):
                    known = [p for k, p in index_store.prefixes(conn) if k == candidate.kind]
                    containing = supernets(candidate.value, known)
                    for record in index_store.by_values(conn, candidate.kind, containing):
                        matched.setdefault(record.row_id, (record, "cidr"))
                    bounds = ip_bounds(candidate.value)
                    if bounds is not None and "/" in candidate.value:
                        for record in index_store.inside(
                            conn, candidate.kind, bounds[0], bounds[1], limit=limit
                        ):
                            matched.setdefault(record.row_id, (record, "cidr"))
                if candidate.related:
                    for record in index_store.related_to(
                        conn, candidate.related, exclude=matched, limit=limit
                    ):
                        related.setdefault(record.row_id, record)
            postings = index_store.visible_postings(conn, scope, matched, limit=limit)
            related_postings = index_store.visible_postings(conn, scope, related, limit=limit)
            meta = index_store.object_meta(
                conn, {p.date_added for p in (*postings, *related_postings)}
            )
            hit_rows = (
                index_store.list_hits(
                    conn,
                    HitQuery(
                        scope=scope,
                        own_orgs=None,
                        max_objects=self.correlator.max_objects,
                        date_addeds=frozenset(p.date_added for p in postings),
                        limit=limit,
                    ),
                )
                if postings
                else []
            )
        # observables only reach the answer through an object the caller may see
        shown = {p.observable_row for p in postings}
        shown_related = {p.observable_row for p in related_postings}
        views, seen = self._hit_views(hit_rows[:limit], orgs)
        seen.extend((m.id, m.tlp) for m in meta.values())
        self.node.audit_read(who, "correlate.search", seen)
        return {
            "query": text,
            "interpretations": [{"kind": c.kind, "value": c.value} for c in candidates],
            "observables": [
                {**self._observable_view(record), "match": match}
                for row, (record, match) in sorted(matched.items())
                if row in shown
            ],
            "objects": [
                {
                    **self._object_view(meta[p.date_added], orgs),
                    "observable": matched[p.observable_row][0].value,
                    "match": matched[p.observable_row][1],
                }
                for p in postings
            ],
            "related": [
                {
                    **self._object_view(meta[p.date_added], orgs),
                    "observable": related[p.observable_row].value,
                    "registered_domain": related[p.observable_row].related,
                }
                for p in related_postings
                if p.observable_row in shown_related
            ],
            "hits": views,
        }

    def observables_of(self, who: Principal, object_id: str) -> dict[str, Any]:
        """The observables an object carries, how each was read, and why any is noise."""
        require(who, Action.READ, "read objects")
        scope = read_scope(who)
        with self.node.store.read() as conn:
            date_added = index_store.current_of(conn, scope, object_id)
            if date_added is None:
                raise NotFound(f"no object {object_id}")
            versions = index_store.current_versions(conn, date_addeds=[date_added])
            current = versions[0] if versions else None
            org = org_store.org_by_row(conn, current.author_org) if current else None
        if current is None:  # revoked: it carries nothing any more
            return {"id": object_id, "observables": [], "pattern_only": []}
        extraction = extract(orjson.loads(current.body), region=org.country if org else None)
        with self.node.store.read() as conn:
            by_key = {
                (r.kind, r.value): r
                for o in extraction.observables
                for r in index_store.by_values(conn, o.kind, [o.value])
            }
        found = []
        for observable in extraction.observables:
            record = by_key.get((observable.kind, observable.value))
            view: dict[str, Any] = {
                "kind": observable.kind,
                "value": observable.value,
                "normalised": observable.normalised,
                "problem": observable.problem,
                "registered_domain": observable.related,
            }
            if record is not None:
                view["objects"] = record.objects
                view["noise"] = self.correlator.noise_reason(record)
            found.append(view)
        return {"id": object_id, "observables": found, "pattern_only": extraction.pattern_only}

    # ------------------------------------------------------------------ warning-lists

    def warninglists(self) -> list[dict[str, Any]]:
        with self.node.store.read() as conn:
            disabled = {d.lower() for d in disabled_lists(conn)}
        return [
            {
                "name": info.name,
                "type": info.type,
                "entries": info.entries,
                "version": info.version,
                "enabled": info.name.lower() not in disabled,
                "description": info.description,
            }
            for info in self.correlator.warnings.lists()
        ]

    def set_warninglists(
        self, who: Principal | None, names: Iterable[str], *, enabled: bool
    ) -> list[str]:
        """Switch warning-lists on or off and re-decide which indexed values they name.

        Values no longer named get their hits now; returns the node's disabled lists.
        """
        if who is not None:
            require(who, Action.MANAGE_NODE, "change warning-lists")
        wanted = list(names)
        known = {info.name.lower(): info.name for info in self.correlator.warnings.lists()}
        unknown = [name for name in wanted if name.lower() not in known]
        if unknown:
            raise NodeError(
                f"no warning-list named {', '.join(map(repr, unknown))} "
                "(see `bayanihan warninglist list`)"
            )
        canonical = {known[name.lower()] for name in wanted}
        correlator = self.correlator
        with self.node.store.write() as conn:
            current = set(disabled_lists(conn))
            disabled = current - canonical if enabled else current | canonical
            set_disabled_lists(conn, disabled)
            correlator.set_disabled(disabled)
            cleared: list[int] = []
            after = 0
            while True:
                batch = index_store.all_observables(conn, after=after, limit=5000)
                if not batch:
                    break
                after = batch[-1].row_id
                changes = []
                for record in batch:
                    name = correlator.warning(spec_of(record))
                    if name != record.warning:
                        changes.append((record.row_id, name))
                        if name is None:
                            cleared.append(record.row_id)
                index_store.set_warnings(conn, changes)
            if cleared:
                postings = index_store.current_postings(conn, cleared)
                by_version: dict[int, list[tuple[int, int]]] = {}
                for p in postings:
                    by_version.setdefault(p.date_added, []).append((p.observable_row, p.author_org))
                correlator.detect_new(conn, by_version, now=self.node.clock())
            self.node.audit(
                conn,
                who,
                "correlate.warninglists",
                detail=f"{'on' if enabled else 'off'}: {', '.join(sorted(canonical))}",
            )
        return sorted(disabled)

    def rebuild(self, who: Principal | None = None) -> dict[str, int]:
        """Index every current version again from its stored body (after an upgrade, or
        when normalisation rules changed). Hits found again raise no new alerts."""
        if who is not None:
            require(who, Action.MANAGE_NODE, "rebuild the correlation index")
        correlator = self.correlator
        with self.node.store.bulk_write() as conn:
            correlator.rebuild(conn, clock=self.node.clock)
            self.node.audit(conn, who, "correlate.rebuild")
            return index_store.count_rows(conn)

    # ------------------------------------------------------------------ alert channels

    def _channel_org(self, who: Principal | None, org_name: str | None) -> org_store.OrgRecord:
        with self.node.store.read() as conn:
            node = org_store.get_node(conn)
            if node is None:
                raise NodeError("the node is not initialised (run `bayanihan init`)")
            if org_name is None:
                org = org_store.org_by_row(conn, who.org_row if who else node.org_row)
            else:
                org = org_store.org_by_identity(conn, org_name) or org_store.org_by_name(
                    conn, org_name
                )
        if org is None:
            raise NodeError(f"no organisation named {org_name!r} (see `bayanihan org list`)")
        if not org.local:
            raise NodeError(f"{org.name!r} is hosted on another node: its alerts go there")
        if who is not None:
            require(who, Action.MANAGE_ALERTS_OWN_ORG, "manage alert channels")
            if who.role is not Role.ADMIN and org.row_id != who.org_row:
                raise PermissionDenied("an org-admin manages only its own organisation's alerts")
        return org

    def add_channel(
        self,
        who: Principal | None,
        *,
        org: str | None,
        kind: str,
        target: str,
        secret: str | None = None,
    ) -> dict[str, Any]:
        """Send the org's hit alerts to a webhook (signed) or an e-mail address."""
        record = self._channel_org(who, org)
        target = target.strip()
        if kind == "webhook":
            if not target.startswith(("https://", "http://")):
                raise NodeError("a webhook URL must start with https:// or http://")
            secret = secret or secrets.token_urlsafe(32)
            if len(secret) < 16:
                raise NodeError("a webhook secret must be at least 16 characters")
        elif kind == "email":
            address = n.email(target)
            if not address.normalised or target.count("@") != 1:
                raise NodeError(f"{target!r} is not an e-mail address")
            secret = None
        else:
            raise NodeError(f"unknown alert channel kind {kind!r} (webhook or email)")
        with self.node.store.write() as conn:
            row = index_store.add_channel(
                conn,
                org_row=record.row_id,
                kind=kind,
                target=target,
                secret=secret,
                now=self.node.clock(),
            )
            self.node.audit(conn, who, "alerts.channel-add", detail=f"{kind} {target}")
        return {"id": row, "org": record.name, "kind": kind, "target": target, "secret": secret}

    def channels(self, who: Principal | None) -> list[dict[str, Any]]:
        orgs = self._orgs()
        with self.node.store.read() as conn:
            if who is None or who.role is Role.ADMIN:
                found = index_store.channels(conn)
            else:
                require(who, Action.MANAGE_ALERTS_OWN_ORG, "list alert channels")
                found = index_store.channels(conn, org_rows=[who.org_row])
        return [
            {
                "id": c.row_id,
                "org": orgs[c.org_row].name if c.org_row in orgs else None,
                "kind": c.kind,
                "target": c.target,
                "active": c.disabled is None,
                "created": format_timestamp(c.created),
            }
            for c in found
        ]

    def remove_channel(self, who: Principal | None, row_id: int) -> None:
        with self.node.store.read() as conn:
            found = [c for c in index_store.channels(conn) if c.row_id == row_id]
        if not found:
            raise NotFound(f"no alert channel {row_id}")
        org = self._orgs().get(found[0].org_row)
        self._channel_org(who, org.identity_id if org else None)
        with self.node.store.write() as conn:
            index_store.disable_channel(conn, row_id, now=self.node.clock())
            self.node.audit(conn, who, "alerts.channel-remove", detail=str(row_id))

    def deliveries(self, who: Principal | None, *, limit: int = 100) -> list[dict[str, Any]]:
        with self.node.store.read() as conn:
            if who is None or who.role is Role.ADMIN:
                rows = index_store.list_deliveries(conn, limit=limit)
            else:
                require(who, Action.MANAGE_ALERTS_OWN_ORG, "list alert deliveries")
                rows = index_store.list_deliveries(conn, org_rows=[who.org_row], limit=limit)
        return [
            {
                "id": d.row_id,
                "channel": d.channel_row,
                "hit_id": d.hit_row,
                "state": d.state,
                "attempts": d.attempts,
                "next_attempt": format_timestamp(d.next_attempt),
                "last_error": d.last_error,
                "sent": format_timestamp(d.sent) if d.sent else None,
            }
            for d in rows
        ]

    # ------------------------------------------------------------------ delivery

    def _smtp(self) -> SmtpSettings | None:
        s = self.node.settings
        if not s.smtp_host:
            return None
        return SmtpSettings(
            host=s.smtp_host,
            port=s.smtp_port,
            sender=s.smtp_sender,
            username=s.smtp_username,
            password=s.smtp_password,
            security=s.smtp_security,
        )

    def deliver(self, *, limit: int = 100) -> dict[str, int]:
        """One round of alert deliveries: every due one is tried once.

        The message is built now, through the policy, as the receiving org sees it:
        a hit whose other side that org may no longer see is dropped, unsent.
        """
        now = self.node.clock()
        with self.node.store.read() as conn:
            due = index_store.due_deliveries(conn, now=now, limit=limit)
            channels = {c.row_id: c for c in index_store.channels(conn)}
        counts = {"sent": 0, "retry": 0, "failed": 0, "dropped": 0}
        orgs = self._orgs()
        smtp = self._smtp()
        for delivery in due:
            channel = channels[delivery.channel_row]
            org = orgs[channel.org_row]
            payload = self._payload(delivery.hit_row, org, orgs)
            state, error, sent = "sent", None, None
            if channel.disabled is not None or payload is None:
                state, error = (
                    "dropped",
                    ("channel removed" if channel.disabled else "hit no longer visible to the org"),
                )
            else:
                try:
                    if channel.kind == "webhook":
                        send_webhook(
                            channel.target,
                            secret=(channel.secret or "").encode(),
                            event="hit",
                            delivery_id=str(delivery.row_id),
                            payload=payload,
                            now=now // 1_000_000,
                        )
                    else:
                        if smtp is None:
                            raise DeliveryError(
                                "no SMTP server configured (BAYANIHAN_SMTP_HOST)", permanent=False
                            )
                        subject, text = hit_message(payload)
                        send_email(smtp, to=[channel.target], subject=subject, text=text)
                    sent = self.node.clock()
                except DeliveryError as exc:
                    error = str(exc)
                    attempts = delivery.attempts + 1
                    state = "failed" if exc.permanent or attempts >= MAX_ATTEMPTS else "pending"
            attempts = delivery.attempts + 1
            next_attempt = now + int(retry_delay(attempts) * 1_000_000)
            with self.node.store.write() as conn:
                index_store.record_attempt(
                    conn,
                    delivery.row_id,
                    state=state,
                    attempts=attempts,
                    next_attempt=next_attempt,
                    error=error,
                    sent=sent,
                )
            counts["retry" if state == "pending" else state] += 1
        return counts

    def _payload(
        self, hit_row: int, org: org_store.OrgRecord, orgs: dict[int, org_store.OrgRecord]
    ) -> dict[str, Any] | None:
        # the receiving organisation's own view, as the policy gives it to its readers
        receiver = Principal(
            org_row=org.row_id, org_identity=org.identity_id, org_name=org.name, role=Role.READER
        )
        query = HitQuery(
            scope=read_scope(receiver),
            own_orgs=frozenset({org.row_id}),
            max_objects=self.correlator.max_objects,
            after=hit_row - 1,
            before=hit_row + 1,
            limit=1,
        )
        with self.node.store.read() as conn:
            rows = index_store.list_hits(conn, query)
        if not rows:
            return None
        views, _ = self._hit_views(rows[:1], orgs)
        return views[0]


def spec_of(record: ObservableRecord) -> index_store.ObservableSpec:
    return index_store.ObservableSpec(
        kind=record.kind, value=record.value, problem=record.problem, related=record.related
    )


def needs_rebuild(node: Node) -> bool:
    with node.store.read() as conn:
        return not indexed(conn)


__all__ = ["Correlation", "HitPage", "needs_rebuild", "spec"]
