"""Keeping the observable index and the hits current as versions are written.

Runs inside the write transaction that stores the versions, so the index never
disagrees with the objects: a version that becomes current gets its postings, the
one it supersedes loses them, and a revoked version carries none. Hits on a
superseded version move to its successor when the successor still carries the
observable (they are not new hits, nobody is alerted twice).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection

from bayanihan.correlate.extract import specs, supernets
from bayanihan.correlate.warninglists import WarningIndex
from bayanihan.store import observables as index_store
from bayanihan.store import taxii as taxii_store
from bayanihan.store.objects import LatestChanges
from bayanihan.store.observables import NewHit, ObservableRecord, ObservableSpec, Posting

_IP_KINDS = ("ipv4", "ipv6")


@dataclass(frozen=True, slots=True)
class RaisedHit:
    """A hit just recorded, with the organisations on each side (for alerts)."""

    row_id: int
    org_row: int
    counterpart_org_row: int


class Correlator:
    """The node's correlation rules: warning-lists, the noise threshold, containment.

    ``max_objects``: a value carried by more current objects than this is noise
    (MISP's default is 20). The warning-list index loads on first use, once per
    process, because reading every list takes a moment.
    """

    def __init__(self, *, max_objects: int = 20, disabled_lists: Iterable[str] = ()) -> None:
        self.max_objects = max_objects
        self._disabled = frozenset(disabled_lists)
        self._warnings: WarningIndex | None = None
        self._lock = threading.Lock()

    @property
    def warnings(self) -> WarningIndex:
        with self._lock:
            if self._warnings is None:
                self._warnings = WarningIndex.load(self._disabled)
            return self._warnings

    def set_disabled(self, disabled: Iterable[str]) -> None:
        wanted = frozenset(disabled)
        with self._lock:
            if self._warnings is not None:
                self._warnings = self._warnings.with_disabled(wanted)
            self._disabled = wanted

    @property
    def disabled(self) -> frozenset[str]:
        return self._disabled

    def follow(self, conn: Connection) -> None:
        """Take up the warning-lists the operator switched off (a node option), which
        another process may have changed."""
        disabled = disabled_lists(conn)
        if disabled != self._disabled:
            self.set_disabled(disabled)

    def warning(self, spec: ObservableSpec) -> str | None:
        """The warning-list naming a value, if any (raw values are never looked up)."""
        if spec.problem is not None:
            return None
        return self.warnings.match(spec.kind, spec.value)

    def is_noise(self, record: ObservableRecord) -> bool:
        return (
            record.warning is not None
            or record.problem is not None
            or record.objects > self.max_objects
        )

    def noise_reason(self, record: ObservableRecord) -> str | None:
        if record.warning is not None:
            return f"on the warning-list {record.warning!r}"
        if record.problem is not None:
            return f"not normalised: {record.problem}"
        if record.objects > self.max_objects:
            return (
                f"carried by {record.objects} objects, more than the threshold of "
                f"{self.max_objects}"
            )
        return None

    # ------------------------------------------------------------------ write path

    def update(self, conn: Connection, changes: LatestChanges, *, now: int) -> list[RaisedHit]:
        """Apply a write's changes to the index, record the hits it raises and queue
        their alerts."""
        self.follow(conn)
        carried = index_store.remove_postings(conn, changes.superseded)
        current = [
            (date_added, version)
            for date_added, version in changes.current
            if not version.revoked and version.observables
        ]
        rows = index_store.observable_rows(
            conn,
            (spec for _, version in current for spec in version.observables),
            now=now,
            warning=self.warning,
        )
        pairs = [
            (rows[spec.key], date_added)
            for date_added, version in current
            for spec in version.observables
        ]
        index_store.add_postings(conn, pairs)
        self._carry(conn, changes, carried, pairs)
        new_postings = {  # date_added -> (observable row, author org)
            date_added: [
                (row, version.author_org)
                for row in dict.fromkeys(rows[s.key] for s in version.observables)
            ]
            for date_added, version in current
        }
        raised = self._detect(conn, new_postings, now=now)
        queue_alerts(conn, raised, now=now)
        return raised

    def take_up(self, conn: Connection, date_addeds: Sequence[int], *, now: int) -> list[RaisedHit]:
        """Index stored versions that have just become current (an older version whose
        newer one was deleted)."""
        return self.reindex(conn, self.read_specs(conn, date_addeds=date_addeds), now=now)

    def read_specs(
        self,
        conn: Connection,
        *,
        date_addeds: Sequence[int] | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> list[tuple[int, int, tuple[ObservableSpec, ...]]]:
        """(date_added, author org, observables) of current versions, from their bodies."""
        found = index_store.current_versions(
            conn, date_addeds=date_addeds, after=after, limit=limit
        )
        countries = index_store.org_countries(conn, {v.author_org for v in found})
        return [
            (
                v.date_added,
                v.author_org,
                specs(orjson.loads(v.body), region=countries.get(v.author_org)),
            )
            for v in found
        ]

    def reindex(
        self,
        conn: Connection,
        versions: Sequence[tuple[int, int, tuple[ObservableSpec, ...]]],
        *,
        now: int,
        alert: bool = True,
    ) -> list[RaisedHit]:
        """Index versions that became current outside a normal write (after a deletion,
        or a rebuild): (date_added, author org, observables)."""
        rows = index_store.observable_rows(
            conn, (s for _, _, carried in versions for s in carried), now=now, warning=self.warning
        )
        pairs = [(rows[s.key], d) for d, _, carried in versions for s in carried]
        index_store.add_postings(conn, pairs)
        new_postings = {
            d: list(dict.fromkeys((rows[s.key], org) for s in carried))
            for d, org, carried in versions
        }
        raised = self._detect(conn, new_postings, now=now)
        if alert:
            queue_alerts(conn, raised, now=now)
        return raised

    def _carry(
        self,
        conn: Connection,
        changes: LatestChanges,
        carried: dict[int, set[int]],
        pairs: Sequence[tuple[int, int]],
    ) -> None:
        if not changes.superseded:
            return
        superseded = sorted(changes.superseded)
        lineage_of = index_store.lineages(conn, superseded)
        successor = {
            (version.id, version.author_org): date_added for date_added, version in changes.current
        }
        carries: dict[int, set[int]] = {}
        for row, date_added in pairs:
            carries.setdefault(date_added, set()).add(row)
        for old in superseded:
            new = successor.get(lineage_of.get(old, ("", 0)))
            keep = carries.get(new, set()) & carried.get(old, set()) if new else set()
            if new is not None and keep:
                index_store.carry_hits(conn, old=old, new=new, keep=keep)
            else:
                index_store.drop_hits(conn, [old])

    def detect_new(
        self, conn: Connection, new_postings: dict[int, list[tuple[int, int]]], *, now: int
    ) -> list[RaisedHit]:
        """Hits for postings that already exist (values a warning-list no longer names)."""
        raised = self._detect(conn, new_postings, now=now)
        queue_alerts(conn, raised, now=now)
        return raised

    def _detect(
        self, conn: Connection, new_postings: dict[int, list[tuple[int, int]]], *, now: int
    ) -> list[RaisedHit]:
        if not new_postings:
            return []
        touched = {row for entries in new_postings.values() for row, _ in entries}
        info = index_store.records(conn, touched)
        live = {row for row in touched if row in info and not self.is_noise(info[row])}
        if not live:
            return []
        matches = self._matching_observables(conn, [info[row] for row in sorted(live)])
        counterpart_rows = {m for found in matches.values() for m, _ in found}
        by_observable: dict[int, list[Posting]] = {}
        for posting in index_store.current_postings(conn, counterpart_rows):
            by_observable.setdefault(posting.observable_row, []).append(posting)
        seen = index_store.hit_keys(conn, list(new_postings))
        found: list[NewHit] = []
        org_rows: set[int] = set()
        for date_added, entries in new_postings.items():
            for row, org in entries:
                for other_row, match in matches.get(row, ()):
                    for posting in by_observable.get(other_row, ()):
                        if posting.author_org == org or posting.date_added == date_added:
                            continue
                        newer, older = (
                            ((date_added, row, org), posting)
                            if date_added > posting.date_added
                            else (
                                (posting.date_added, posting.observable_row, posting.author_org),
                                Posting(row, date_added, org),
                            )
                        )
                        hit = NewHit(
                            match=match,
                            observable_row=newer[1],
                            date_added=newer[0],
                            org_row=newer[2],
                            counterpart_observable_row=older.observable_row,
                            counterpart_date_added=older.date_added,
                            counterpart_org_row=older.author_org,
                            cross_border=False,
                        )
                        if hit.key in seen:
                            continue
                        seen.add(hit.key)
                        found.append(hit)
                        org_rows.update((org, posting.author_org))
        if not found:
            return []
        countries = index_store.org_countries(conn, org_rows)
        found = [
            NewHit(
                match=h.match,
                observable_row=h.observable_row,
                date_added=h.date_added,
                org_row=h.org_row,
                counterpart_observable_row=h.counterpart_observable_row,
                counterpart_date_added=h.counterpart_date_added,
                counterpart_org_row=h.counterpart_org_row,
                cross_border=countries.get(h.org_row) != countries.get(h.counterpart_org_row),
            )
            for h in found
        ]
        row_ids = index_store.insert_hits(conn, found, now=now)
        return [
            RaisedHit(row_id, h.org_row, h.counterpart_org_row)
            for row_id, h in zip(row_ids, found, strict=True)
        ]

    def _matching_observables(
        self, conn: Connection, records: Sequence[ObservableRecord]
    ) -> dict[int, list[tuple[int, str]]]:
        """For each observable: the observables it matches (itself, exactly; and for
        addresses and networks, those containing it or inside it), with the match kind."""
        matches: dict[int, list[tuple[int, str]]] = {
            r.row_id: [(r.row_id, "exact")] for r in records
        }
        addresses = [r for r in records if r.kind in _IP_KINDS]
        if not addresses:
            return matches
        known = index_store.prefixes(conn)
        for kind in _IP_KINDS:
            lengths = [p for k, p in known if k == kind]
            family = [r for r in addresses if r.kind == kind]
            if not family:
                continue
            wanted: dict[str, list[int]] = {}
            if lengths:
                for record in family:
                    for candidate in supernets(record.value, lengths):
                        if candidate != record.value:
                            wanted.setdefault(candidate, []).append(record.row_id)
            for container in index_store.by_values(conn, kind, sorted(wanted)):
                if self.is_noise(container):
                    continue
                for row in wanted[container.value]:
                    matches[row].append((container.row_id, "cidr"))
            for record in family:
                if "/" not in record.value:
                    continue
                if record.ip_start is None or record.ip_end is None:
                    continue
                inner = index_store.inside(
                    conn, kind, record.ip_start, record.ip_end, limit=self.max_objects * 10 + 1
                )
                inner = [r for r in inner if r.row_id != record.row_id]
                if len(inner) > self.max_objects * 10:
                    continue  # a range this broad is noise for containment
                matches[record.row_id].extend(
                    (r.row_id, "cidr") for r in inner if not self.is_noise(r)
                )
        return matches


DISABLED_OPTION = "warninglists_disabled"


def disabled_lists(conn: Connection) -> frozenset[str]:
    """The warning-lists the operator switched off on this node."""
    text = taxii_store.get_option(conn, DISABLED_OPTION)
    return frozenset(orjson.loads(text)) if text else frozenset()


def set_disabled_lists(conn: Connection, names: Iterable[str]) -> None:
    taxii_store.set_option(conn, DISABLED_OPTION, orjson.dumps(sorted(set(names))).decode())


def queue_alerts(conn: Connection, raised: Sequence[RaisedHit], *, now: int) -> int:
    """One delivery per new hit for each side's alert channels (the sender checks, when
    it builds the message, that the org may see the other side)."""
    wanted = [(h.row_id, org) for h in raised for org in (h.org_row, h.counterpart_org_row)]
    return index_store.enqueue(conn, wanted, now=now)
