"""Keeping the observable index and the hits current as versions are written.

Runs inside the write transaction that stores the versions, so the index never
disagrees with the objects: a version that becomes current gets its postings, the
one it supersedes loses them, and a revoked version carries none. Hits on a
superseded version move to its successor when the successor still carries the
observable (they are not new hits, nobody is alerted twice).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import orjson
from sqlalchemy import Connection

from bayanihan.correlate.extract import specs, supernets
from bayanihan.correlate.warninglists import WarningIndex
from bayanihan.store import observables as index_store
from bayanihan.store import taxii as taxii_store
from bayanihan.store.objects import LatestChanges
from bayanihan.store.observables import NewHit, ObservableRecord, ObservableSpec

_IP_KINDS = ("ipv4", "ipv6")


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

    def update(self, conn: Connection, changes: LatestChanges, *, now: int) -> int:
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
        index_store.add_postings(
            conn,
            [
                (rows[spec.key], date_added, version.author_org)
                for date_added, version in current
                for spec in version.observables
            ],
        )
        received = self._carry(conn, changes, carried, pairs)
        new_postings = {  # date_added -> (observable row, author org)
            date_added: [
                (row, version.author_org)
                for row in dict.fromkeys(rows[s.key] for s in version.observables)
            ]
            for date_added, version in current
        }
        before = index_store.last_hit_row(conn)
        found = self._detect(conn, new_postings, now=now, existing=received, newest=True)
        if found:
            index_store.enqueue_hits_after(conn, before, now=now)
        return found

    def rebuild(self, conn: Connection, *, clock: Callable[[], int], batch: int = 2000) -> None:
        """Index every current version again from its stored body, inside the caller's
        write transaction. Hits found again raise no alerts."""
        self.follow(conn)
        index_store.clear_index(conn)
        after = 0
        while True:
            found = self.read_specs(conn, after=after, limit=batch)
            if not found:
                break
            after = found[-1][0]
            self.reindex(conn, found, now=clock(), alert=False)
        taxii_store.set_option(conn, INDEXED_OPTION, "1")

    def take_up(self, conn: Connection, date_addeds: Sequence[int], *, now: int) -> int:
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
    ) -> int:
        """Index versions that became current outside a normal write (after a deletion,
        or a rebuild): (date_added, author org, observables)."""
        rows = index_store.observable_rows(
            conn, (s for _, _, carried in versions for s in carried), now=now, warning=self.warning
        )
        index_store.add_postings(
            conn, [(rows[s.key], d, org) for d, org, carried in versions for s in carried]
        )
        new_postings = {
            d: list(dict.fromkeys((rows[s.key], org) for s in carried))
            for d, org, carried in versions
        }
        before = index_store.last_hit_row(conn)
        found = self._detect(conn, new_postings, now=now)
        if alert and found:
            index_store.enqueue_hits_after(conn, before, now=now)
        return found

    def _carry(
        self,
        conn: Connection,
        changes: LatestChanges,
        carried: dict[int, set[int]],
        pairs: Sequence[tuple[int, int]],
    ) -> set[int]:
        """Move or drop the hits of superseded versions; returns the versions that
        received hits (only they can already hold a hit found again now)."""
        received: set[int] = set()
        if not changes.superseded:
            return received
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
                received.add(new)
            else:
                index_store.drop_hits(conn, [old])
        return received

    def detect_new(
        self, conn: Connection, new_postings: dict[int, list[tuple[int, int]]], *, now: int
    ) -> int:
        """Hits for postings that already exist (values a warning-list no longer names)."""
        before = index_store.last_hit_row(conn)
        found = self._detect(conn, new_postings, now=now)
        if found:
            index_store.enqueue_hits_after(conn, before, now=now)
        return found

    def _detect(
        self,
        conn: Connection,
        new_postings: dict[int, list[tuple[int, int]]],
        *,
        now: int,
        existing: set[int] | None = None,
        newest: bool = False,
    ) -> int:
        """Record the hits of new postings (date_added -> [(observable, org)]).

        ``existing``: the versions that may already hold hits (None: any of them).
        ``newest``: the versions are newer than every other current version (a write),
        so each pair is found from its newer side, in SQL.
        Returns how many hits were recorded.
        """
        if not new_postings:
            return 0
        added = Counter(row for entries in new_postings.values() for row, _ in entries)
        info = index_store.records(conn, added)
        # a value that has just become too common: the hits it raised are noise now
        crossed = [
            row
            for row, count in added.items()
            if row in info and info[row].objects > self.max_objects >= info[row].objects - count
        ]
        if crossed:
            index_store.drop_hits_on(conn, crossed)
        live = {row for row in added if row in info and not self.is_noise(info[row])}
        if not live:
            return 0
        matches = self._matching_observables(conn, [info[row] for row in sorted(live)])
        # a value only the new posting carries has no exact counterpart to look up
        counterpart_rows = {
            m
            for row, found in matches.items()
            for m, match in found
            if match != "exact" or info[row].objects > 1
        }
        if not counterpart_rows:
            return 0
        if newest:
            wanted = [
                (date_added, row, other_row, match, org)
                for date_added, entries in new_postings.items()
                for row, org in entries
                for other_row, match in matches.get(row, ())
                if match != "exact" or info[row].objects > 1
            ]
            return index_store.insert_newer_hits(conn, wanted, now=now, dedupe=bool(existing))
        by_observable: dict[int, list[tuple[int, int]]] = {}  # obs -> [(date_added, org)]
        for posting in index_store.current_postings(conn, counterpart_rows):
            by_observable.setdefault(posting.observable_row, []).append(
                (posting.date_added, posting.author_org)
            )
        checked = list(new_postings) if existing is None else sorted(existing)
        seen = {_pair_key(k) for k in index_store.hit_keys(conn, checked)} if checked else set()
        countries = self._countries(conn)
        found: list[NewHit] = []
        for date_added, entries in new_postings.items():
            for row, org in entries:
                for other_row, match in matches.get(row, ()):
                    for other_date, other_org in by_observable.get(other_row, ()):
                        if other_org == org or other_date == date_added:
                            continue
                        mine, theirs = (date_added, row), (other_date, other_row)
                        key = (mine, theirs) if mine < theirs else (theirs, mine)
                        if key in seen:
                            continue
                        seen.add(key)
                        border = countries.get(org) != countries.get(other_org)
                        if date_added > other_date:
                            hit = NewHit(
                                match,
                                row,
                                date_added,
                                org,
                                other_row,
                                other_date,
                                other_org,
                                border,
                            )
                        else:
                            hit = NewHit(
                                match,
                                other_row,
                                other_date,
                                other_org,
                                row,
                                date_added,
                                org,
                                border,
                            )
                        found.append(hit)
        index_store.insert_hits(conn, found, now=now)
        return len(found)

    def _countries(self, conn: Connection) -> dict[int, str]:
        """Every organisation's country (a small table, read once per write)."""
        return index_store.all_org_countries(conn)

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
INDEXED_OPTION = "correlation_indexed"


def mark_unindexed(conn: Connection) -> None:
    """Objects were stored without correlation: the index must be built again."""
    if taxii_store.get_option(conn, INDEXED_OPTION) != "0":
        taxii_store.set_option(conn, INDEXED_OPTION, "0")


def indexed(conn: Connection) -> bool:
    """Whether the index was built for this database (migration 0006 starts it empty)."""
    return taxii_store.get_option(conn, INDEXED_OPTION) == "1"


def disabled_lists(conn: Connection) -> frozenset[str]:
    """The warning-lists the operator switched off on this node."""
    text = taxii_store.get_option(conn, DISABLED_OPTION)
    return frozenset(orjson.loads(text)) if text else frozenset()


def set_disabled_lists(conn: Connection, names: Iterable[str]) -> None:
    taxii_store.set_option(conn, DISABLED_OPTION, orjson.dumps(sorted(set(names))).decode())


def _pair_key(key: frozenset[tuple[int, int]]) -> tuple[tuple[int, int], tuple[int, int]]:
    ends = sorted(key)
    return (ends[0], ends[-1])
