"""Pulling from a peer: TAXII pages in, through the normal intake path, attributed right.

Each page is stored in one write transaction together with the collection's new
cursor, so a crash between pages loses nothing and skips nothing: the next round
asks again from the last committed cursor, and what is received twice is a
duplicate (a no-op). Writers are serialised by the store, and the cursor only
moves forward, so two pulls of one peer at once store each version once.

Who an object is written as (DESIGN §6):

- authored by an organisation the peer hosts: as that organisation, any TLP;
- authored by one of this node's own organisations: not written (no echo); nor is an
  object naming no author (an SCO) whose very version this node sent to the peer (the
  outbox says so): the same value reported by the peer's own organisation is then not
  told apart from ours coming back, and not stored again (docs/federation.md);
- anything else (a third node's org, an unknown author, no author, SCOs): relayed,
  accepted only at TLP:CLEAR or GREEN, attributed to the peer's node, origin
  ``relay:NAME``.

The organisations a peer hosts are learned from the identities it publishes:
those with the organisation-profile extension whose ``home_node`` is the peer's
node identity, pinned on the first pull.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from bayanihan.federation.client import (
    ClientCertificate,
    Credentials,
    PeerUnreachable,
    Response,
    TaxiiClient,
)
from bayanihan.ingest.intake import (
    IntakeOptions,
    Outcome,
    prepare_batch,
    store_prepared,
    version_of,
)
from bayanihan.node import Node, NodeError, parse_country
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import MARKING_LEVELS, Tlp, tlp_of
from bayanihan.stix.extensions import ORGANISATION_EXTENSION_ID, PROJECT_IDENTITY_ID
from bayanihan.stix.timestamps import TimestampError, format_timestamp, parse_timestamp
from bayanihan.store import objects as object_store
from bayanihan.store import orgs as org_store
from bayanihan.store import peers as peer_store
from bayanihan.store.objects import NewVersion

UNKNOWN_COUNTRY = "ZZ"  # ISO 3166 user-assigned: a plain TAXII server names no country
_MAX_PAGES = 100_000  # a peer answering `more` forever stops here
# what every node publishes identically (TLP marking definitions, the project identity)
_SHIPPED = frozenset({PROJECT_IDENTITY_ID, *MARKING_LEVELS})


@dataclass(slots=True)
class PullResult:
    """How one peer's round went."""

    peer: str
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    skipped: int = 0  # our own objects coming back, and the project's shipped definitions
    collections: int = 0
    error: str | None = None
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "ok": self.ok,
            "error": self.error,
            "collections": self.collections,
            "stored": self.stored,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "rejections": [{"reason": r, "count": n} for r, n in self.reasons.most_common(20)],
        }


class PeerGone(NodeError):
    """The peer was removed while it was being pulled."""


def client_for(node: Node, record: peer_store.PeerRecord) -> TaxiiClient:
    client_cert = None
    if record.client_cert is not None:
        client_cert = ClientCertificate(record.client_cert, record.client_key)
    return TaxiiClient(
        Credentials(record.secret, record.username if record.auth == "basic" else None),
        ca_file=record.ca_file,
        client_cert=client_cert,
        allow_insecure=record.allow_insecure,
        connect_timeout=node.settings.peer_connect_timeout,
        read_timeout=node.settings.peer_read_timeout,
    )


def pull_peer(node: Node, record: peer_store.PeerRecord) -> PullResult:
    """One attempt at every readable collection of one peer; never raises for the peer's
    faults: they end up in ``error`` (and in the peer's ``last_error``)."""
    result = PullResult(peer=record.name)
    collection_row = node.default_collection_row()
    try:
        client = client_for(node, record)
        root = client.api_root_of(record.url)
        for collection_id in client.readable_collections(root):
            _pull_collection(node, record, client, root, collection_id, collection_row, result)
            result.collections += 1
    except (PeerUnreachable, NodeError) as exc:
        result.error = str(exc)
    except Exception as exc:  # a lying peer must not stop the round for the others
        result.error = f"{type(exc).__name__}: {exc}"
    with node.store.write() as conn:
        if peer_store.peer_by_row(conn, record.row_id) is not None:
            peer_store.record_attempt(
                conn, row_id=record.row_id, when=node.clock(), error=result.error
            )
    return result


def _pull_collection(
    node: Node,
    record: peer_store.PeerRecord,
    client: TaxiiClient,
    root: str,
    collection_id: str,
    collection_row: int,
    result: PullResult,
) -> None:
    """Every page of one collection from the committed cursor on, as a pipeline: while
    page N is stored (one write transaction with its cursor), page N+1 is already
    asked for and, in a long pull, validated in a worker process. Pages are committed
    strictly in order; what was fetched before a failure is stored before the failure
    ends the round."""
    with node.store.read() as conn:
        cursor = peer_store.cursors(conn, record.row_id).get(collection_id)
    pages = _pages(client, root, collection_id, cursor.cursor if cursor else None)
    pending: _Sorted | None = None
    received = 0
    with _Preparer() as preparer:
        try:
            for page in pages:
                received += len(page.objects)
                if received > _WORKER_AFTER and page.more:
                    preparer.start()
                ready = _sort_page(node, record, collection_id, collection_row, page)
                preparer.submit(ready)
                if pending is not None:
                    done, pending = pending, None
                    _store_page(node, record, done, result)
                pending = ready
        except BaseException:
            if pending is not None:
                done, pending = pending, None
                _store_page(node, record, done, result)
            raise
        if pending is not None:
            _store_page(node, record, pending, result)


# once a collection has brought this many objects and says there is more, the rest is
# validated in a worker process (starting one costs about a second)
_WORKER_AFTER = 2000


@dataclass(slots=True)
class _Page:
    objects: list[object]
    upto: str | None  # the cursor to commit with the page
    upto_micros: int | None
    more: bool


def _read_page(answer: Response, collection_id: str) -> tuple[_Page, str | None, int | None]:
    """The page, and its X-TAXII-Date-Added-Last as text and in microseconds."""
    objects = answer.document.get("objects", [])
    if not isinstance(objects, list):
        raise PeerUnreachable(f"collection {collection_id}: 'objects' is not a list")
    last = answer.headers.get("x-taxii-date-added-last")
    last_micros = None
    if last is not None and objects:
        try:
            last_micros = parse_timestamp(last.strip())
        except TimestampError:
            raise PeerUnreachable(
                f"collection {collection_id}: X-TAXII-Date-Added-Last {last!r} is not a timestamp"
            ) from None
    more = answer.document.get("more") is True and bool(objects)
    upto, upto_micros = last, last_micros
    if more and last_micros is not None:
        # a page may end inside a run of equal dates (medallion dates every object of
        # one POST alike) and `added_after` is strict: short of the last page, commit
        # the cursor just before that date, so a round cut here asks for the run again
        upto_micros = last_micros - 1
        upto = format_timestamp(upto_micros)
    return _Page(objects, upto, upto_micros, more), last, last_micros


def _pages(
    client: TaxiiClient, root: str, collection_id: str, added_after: str | None
) -> Iterator[_Page]:
    """The collection's pages after ``added_after``; the next one is asked for as soon as
    this one is in, so the peer serves it while we store this one."""
    fetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bayanihan-pull")
    try:
        asked = fetcher.submit(
            client.objects_page, root, collection_id, added_after=added_after, next_token=None
        )
        tokens: set[str] = set()
        for _page in range(_MAX_PAGES):
            answer = asked.result()
            page, last, last_micros = _read_page(answer, collection_id)
            if not page.more:
                yield page
                return
            token = answer.document.get("next")
            if isinstance(token, str) and token and token not in tokens:
                tokens.add(token)
                next_token: str | None = token
            elif last_micros is not None and last is not None:
                added_after, next_token = last.strip(), None  # `more` without `next`: by date
            else:
                yield page
                raise PeerUnreachable(
                    f"collection {collection_id}: the peer says there is more but gives no way on"
                )
            asked = fetcher.submit(
                client.objects_page,
                root,
                collection_id,
                added_after=added_after,
                next_token=next_token,
            )
            yield page
        raise PeerUnreachable(f"collection {collection_id}: more than {_MAX_PAGES} pages; stopped")
    finally:
        fetcher.shutdown(wait=False, cancel_futures=True)


@dataclass(slots=True)
class _Batch:
    principal: Principal
    origin: str
    untagged: Tlp
    objects: list[object] = field(default_factory=list)
    options: IntakeOptions | None = None


@dataclass(slots=True)
class _Sorted:
    """A page sorted by writer, ready to be validated and then stored."""

    collection_id: str
    page: _Page
    batches: list[_Batch]
    outcomes: list[Outcome]
    work: Future[list[list[NewVersion | Outcome]]] | None = None


def _sort_page(
    node: Node,
    record: peer_store.PeerRecord,
    collection_id: str,
    collection_row: int,
    page: _Page,
) -> _Sorted:
    """Learn the organisations a page names and sort its objects by writer (one short
    write transaction: learning may register organisations)."""
    with node.store.write() as conn:
        peer = peer_store.peer_by_name(conn, record.name, lock=True)
        if peer is None or peer.row_id != record.row_id:
            raise PeerGone(f"peer {record.name} was removed during the pull")
        peer = _learn(node, conn, peer, page.objects)
        batches, outcomes = _sort(node, conn, peer, page.objects)
        directory = org_store.load_directory(conn)
        for batch in batches.values():
            org = org_store.org_by_row(conn, batch.principal.org_row)
            batch.options = IntakeOptions(
                principal=batch.principal,
                collection_row=collection_row,
                untagged=batch.untagged,
                directory=directory,
                origin=batch.origin,
                region=org.country if org is not None else None,
                correlate=node.correlator is not None,
            )
    return _Sorted(collection_id, page, list(batches.values()), outcomes)


def _prepare_all(
    work: list[tuple[list[object], IntakeOptions]],
) -> list[list[NewVersion | Outcome]]:
    """Validate and serialise a page's batches (pure work: it may run in a worker)."""
    return [
        [
            item
            for start in range(0, len(objects), _CHUNK)
            for item in prepare_batch(objects[start : start + _CHUNK], options)
        ]
        for objects, options in work
    ]


_CHUNK = 1000


class _Preparer:
    """Validation in a worker process for a long pull; in line until it is started.

    The worker is spawned (a fresh interpreter, nothing of this process's threads,
    sockets or database connections), once per collection that runs to several pages.
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> _Preparer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def start(self) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )

    def submit(self, ready: _Sorted) -> None:
        work = [(b.objects, b.options) for b in ready.batches if b.options is not None]
        if self._pool is None:
            done: Future[list[list[NewVersion | Outcome]]] = Future()
            done.set_result(_prepare_all(work))
            ready.work = done
        else:
            ready.work = self._pool.submit(_prepare_all, work)


def _store_page(
    node: Node,
    record: peer_store.PeerRecord,
    ready: _Sorted,
    result: PullResult,
) -> None:
    """Store one prepared page and move the cursor past it, in one transaction."""
    if ready.work is None:
        raise RuntimeError("a page was stored before it was prepared")
    try:
        prepared = ready.work.result()
    except BrokenProcessPool:
        raise NodeError("the validating worker process died during the pull") from None
    page = ready.page
    with node.store.write() as conn:
        object_store.lock_writes(conn)
        peer = peer_store.peer_by_name(conn, record.name, lock=True)
        if peer is None or peer.row_id != record.row_id:
            raise PeerGone(f"peer {record.name} was removed during the pull")
        outcomes = list(ready.outcomes)
        for items in prepared:
            for start in range(0, len(items), _CHUNK):
                outcomes.extend(
                    store_prepared(
                        conn,
                        items[start : start + _CHUNK],
                        now=node.clock(),
                        correlator=node.correlator,
                    )
                )
        stored = [o.id for o in outcomes if o.status == "stored"]
        for outcome in outcomes:
            if outcome.status == "stored":
                result.stored += 1
            elif outcome.status == "duplicate":
                result.duplicate += 1
            elif outcome.status == "skipped":
                result.skipped += 1
            else:
                result.rejected += 1
                result.reasons[outcome.message[:300]] += 1
        if page.upto is not None and page.upto_micros is not None:
            peer_store.set_cursor(
                conn,
                peer_row=peer.row_id,
                collection_id=ready.collection_id,
                cursor=page.upto.strip(),
                cursor_micros=page.upto_micros,
                updated=node.clock(),
            )
        peer_store.add_pulled(conn, row_id=peer.row_id, count=len(stored))
        if stored:
            node.audit(
                conn,
                None,
                "federation.pull",
                stored,
                detail=f"peer {peer.name} collection {ready.collection_id}",
            )


def _profile(obj: dict[str, Any]) -> dict[str, Any] | None:
    extensions = obj.get("extensions")
    if isinstance(extensions, dict):
        profile = extensions.get(ORGANISATION_EXTENSION_ID)
        if isinstance(profile, dict):
            return profile
    return None


def _free_name(conn: Connection, name: str, peer: str) -> str:
    """``name``, or a suffixed form when an organisation here already has it."""
    candidates = [name, f"{name} ({peer})"]
    candidates += [f"{name} ({peer}) {n}" for n in range(2, 100)]
    for candidate in candidates:
        if org_store.org_by_name(conn, candidate) is None:
            return candidate
    raise NodeError(f"no free name for the organisation {name!r} of peer {peer}")


def _register(
    node: Node,
    conn: Connection,
    peer: peer_store.PeerRecord,
    identity: dict[str, Any],
    profile: dict[str, Any],
    *,
    name: str,
) -> int | None:
    """Register (or link) an organisation the peer hosts; its row, or None when refused."""
    identity_id = str(identity["id"])
    existing = org_store.org_by_identity(conn, identity_id)
    if existing is not None:
        if existing.local:
            return None  # a peer may not claim one of our organisations
        host = peer_store.host_of(conn, existing.row_id)
        if host is None:  # registered by hand (`org add --id`), e.g. for a sync key
            peer_store.link_org(conn, peer_row=peer.row_id, org_row=existing.row_id)
            return existing.row_id
        return existing.row_id if host == peer.row_id else None
    try:
        country = parse_country(str(profile.get("country", "")))
    except NodeError:
        return None
    sectors = identity.get("sectors")
    sector = str(sectors[0]) if isinstance(sectors, list) and sectors else None
    parent_row = None
    parent_ref = profile.get("parent_ref")
    if isinstance(parent_ref, str):
        parent = org_store.org_by_identity(conn, parent_ref)
        parent_row = parent.row_id if parent is not None else None
    org = org_store.add_org(
        conn,
        identity_id=identity_id,
        name=_free_name(conn, name, peer.name),
        country=country,
        sector=sector,
        parent_row=parent_row,
        local=False,
        created=node.clock(),
    )
    peer_store.link_org(conn, peer_row=peer.row_id, org_row=org.row_id)
    node.audit(conn, None, "org.add", [identity_id], detail=f"{org.name}, hosted by {peer.name}")
    return org.row_id


def _learn(
    node: Node, conn: Connection, peer: peer_store.PeerRecord, objects: Sequence[object]
) -> peer_store.PeerRecord:
    """Pin the peer's node identity and register the organisations it hosts."""
    identities = [
        (o, p)
        for o in objects
        if isinstance(o, dict)
        and o.get("type") == "identity"
        and isinstance(o.get("id"), str)
        and isinstance(o.get("name"), str)
        and (p := _profile(o)) is not None
    ]
    if peer.node_identity is None:
        for identity, profile in identities:
            if (
                identity.get("identity_class") == "system"
                and profile.get("home_node") == identity["id"]
            ):
                row = _register(node, conn, peer, identity, profile, name=f"{peer.name} (node)")
                if row is not None:
                    peer_store.set_node_identity(
                        conn,
                        row_id=peer.row_id,
                        node_identity=str(identity["id"]),
                        node_org_row=row,
                    )
                    peer = peer_store.peer_by_row(conn, peer.row_id) or peer
                break
    if peer.node_identity is not None:
        for identity, profile in identities:
            if (
                identity.get("identity_class", "organization") == "organization"
                and profile.get("home_node") == peer.node_identity
            ):
                _register(node, conn, peer, identity, profile, name=str(identity["name"]))
    return peer


def _node_org(node: Node, conn: Connection, peer: peer_store.PeerRecord) -> org_store.OrgRecord:
    """The organisation standing for the peer's node (relayed objects are attributed to it);
    made up, under a new id, for a plain TAXII server that publishes no node identity."""
    if peer.node_org_row is not None:
        org = org_store.org_by_row(conn, peer.node_org_row)
        if org is not None:
            return org
    org = org_store.add_org(
        conn,
        identity_id=f"identity--{node.new_uuid()}",
        name=_free_name(conn, f"{peer.name} (node)", peer.name),
        country=UNKNOWN_COUNTRY,
        sector=None,
        parent_row=None,
        local=False,
        created=node.clock(),
    )
    peer_store.link_org(conn, peer_row=peer.row_id, org_row=org.row_id)
    peer_store.set_node_identity(
        conn, row_id=peer.row_id, node_identity=None, node_org_row=org.row_id
    )
    node.audit(conn, None, "org.add", [org.identity_id], detail=f"{org.name} (relays)")
    return org


def _version(obj: dict[str, Any]) -> int | None:
    """The version the store would give ``obj`` (None: not a valid timestamp)."""
    try:
        return version_of(obj)[1]
    except (TimestampError, TypeError, ValueError):
        return None


def _sent_back(
    conn: Connection, peer: peer_store.PeerRecord, objects: Sequence[object]
) -> dict[str, set[int]]:
    """The versions this node sent to the peer among the page's objects that name no
    author: an SCO carries no ``created_by_ref``, so only the outbox tells that the one
    coming back is ours. One query for the page."""
    anonymous = [
        o["id"]
        for o in objects
        if isinstance(o, dict) and isinstance(o.get("id"), str) and o.get("created_by_ref") is None
    ]
    if not anonymous:
        return {}
    return peer_store.sent_versions(conn, peer_row=peer.row_id, object_ids=anonymous)


def _sort(
    node: Node, conn: Connection, peer: peer_store.PeerRecord, objects: Sequence[object]
) -> tuple[dict[tuple[int, str, str], _Batch], list[Outcome]]:
    """Group a page's objects by who writes them; the ones refused outright as outcomes."""
    local = {o.identity_id for o in org_store.list_orgs(conn) if o.local}
    hosted = {o.identity_id: o for o in peer_store.hosted_orgs(conn, peer.row_id)}
    sent = _sent_back(conn, peer, objects)
    batches: dict[tuple[int, str, str], _Batch] = {}
    outcomes: list[Outcome] = []
    node_org: org_store.OrgRecord | None = None

    def add(principal: Principal, origin: str, obj: object, untagged: Tlp) -> None:
        key = (principal.org_row, principal.org_identity, origin)
        batch = batches.setdefault(key, _Batch(principal, origin, untagged))
        batch.objects.append(obj)

    for obj in objects:
        if not isinstance(obj, dict):
            outcomes.append(Outcome("(not an object)", None, "rejected", "not a JSON object"))
            continue
        object_id = obj.get("id")
        object_id = object_id if isinstance(object_id, str) else "(no id)"
        author = obj.get("created_by_ref")
        if (
            author in local
            or object_id in local
            or (author is None and object_id in sent and _version(obj) in sent[object_id])
        ):
            outcomes.append(Outcome(object_id, None, "skipped", "ours: not written back"))
            continue
        if author == PROJECT_IDENTITY_ID or object_id in _SHIPPED:
            outcomes.append(Outcome(object_id, None, "skipped", "shipped with every node"))
            continue
        writer = hosted.get(author) if isinstance(author, str) else None
        if writer is None and obj.get("type") == "identity":
            writer = hosted.get(object_id)  # a hosted org's own identity names no author
        if writer is not None:
            principal = Principal(
                org_row=writer.org_row,
                org_identity=writer.identity_id,
                org_name=writer.name,
                role=Role.ANALYST,
            )
            add(principal, f"peer:{peer.name}", obj, node.untagged_tlp)
            continue
        refs = obj.get("object_marking_refs")
        level = tlp_of(refs if isinstance(refs, list) else None, untagged=node.untagged_tlp)
        if level > Tlp.GREEN:
            outcomes.append(
                Outcome(
                    object_id,
                    None,
                    "rejected",
                    f"relayed by {peer.name} at TLP:{level.label.upper()}, not from an "
                    "organisation it hosts: only CLEAR and GREEN relay",
                )
            )
            continue
        if node_org is None:
            node_org = _node_org(node, conn, peer)
        # written with the original author's id (so the body is kept as sent) but
        # attributed to the relaying node's organisation
        principal = Principal(
            org_row=node_org.row_id,
            org_identity=author if isinstance(author, str) else node_org.identity_id,
            org_name=node_org.name,
            role=Role.ANALYST,
        )
        add(principal, f"relay:{peer.name}", obj, node.untagged_tlp)
    return batches, outcomes
