"""TAXII 2.1 resources built from the store, for one principal at a time.

Object bodies go out as the bytes they were stored as: an envelope is the
stored JSON joined with commas, never decoded and encoded again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bayanihan.ingest.deletion import notices_for_deletion
from bayanihan.ingest.intake import Outcome, store_objects
from bayanihan.node import Node
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action
from bayanihan.policy.visibility import PUBLIC_SCOPE, ReadScope, public_scope, read_scope
from bayanihan.stix.timestamps import format_timestamp
from bayanihan.store import objects as object_store
from bayanihan.store import orgs as org_store
from bayanihan.store import taxii as taxii_store
from bayanihan.store.objects import VersionSpec
from bayanihan.store.taxii import ApiRootRecord, CollectionRecord, StatusRecord
from bayanihan.taxii import CHALLENGE, STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE
from bayanihan.taxii.errors import TaxiiError
from bayanihan.taxii.filters import (
    KNOWN,
    Filters,
    encode_token,
    parse_filters,
)

_OBJECT_FILTERS = frozenset(
    {"added_after", "limit", "next", "match[version]", "match[spec_version]"}
)
_VERSIONS_FILTERS = frozenset({"added_after", "limit", "next", "match[spec_version]"})
_DELETE_FILTERS = frozenset({"match[version]", "match[spec_version]"})
_LAYOUT_TTL = 5.0  # seconds


@dataclass(slots=True)
class Page:
    """A TAXII response body plus the date_added headers."""

    body: bytes
    first: int | None = None
    last: int | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    def header_items(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.first is not None and self.last is not None:
            headers["X-TAXII-Date-Added-First"] = format_timestamp(self.first)
            headers["X-TAXII-Date-Added-Last"] = format_timestamp(self.last)
        return headers


def _json(document: Any, status: int = 200) -> Page:
    return Page(body=orjson.dumps(document), status=status)


class TaxiiService:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.settings = node.settings
        self._layout_cache: (
            tuple[float, dict[str, tuple[ApiRootRecord, list[CollectionRecord]]]] | None
        ) = None

    # -- lookups ------------------------------------------------------------------------

    def _layout(self) -> dict[str, tuple[ApiRootRecord, list[CollectionRecord]]]:
        """API roots and their collections, re-read at most every few seconds.

        They change only when an administrator adds one; every request needs them.
        Whether the public collection is on is read afresh each time it matters.
        """
        now = time.monotonic()
        if self._layout_cache is None or now - self._layout_cache[0] > _LAYOUT_TTL:
            with self.node.store.read() as conn:
                layout = {
                    root.path: (root, taxii_store.list_collections(conn, api_root_row=root.row_id))
                    for root in taxii_store.list_api_roots(conn)
                }
            self._layout_cache = (now, layout)
        return self._layout_cache[1]

    def _collections_of(self, path: str) -> list[CollectionRecord]:
        """The root's collections as of now: the public one only while it is switched on."""
        collections = self._layout()[path][1]
        if any(c.scope == "public" for c in collections) and not self.node.public_collection():
            return [c for c in collections if c.scope != "public"]
        return collections

    @staticmethod
    def _unauthorized() -> TaxiiError:
        return TaxiiError(
            401,
            "Unauthorized",
            "send an API key: 'Authorization: Bearer KEY', or HTTP Basic with the key as password",
            headers={"WWW-Authenticate": CHALLENGE},
        )

    def _root(self, path: str, principal: Principal | None) -> ApiRootRecord:
        found = self._layout().get(path)
        if principal is None and not (
            found and self._public_collections(self._collections_of(path))
        ):
            raise self._unauthorized()
        if found is None:
            raise TaxiiError(
                404, "Unknown API root", f"there is no API root {path!r} on this server"
            )
        return found[0]

    @staticmethod
    def _public_collections(collections: list[CollectionRecord]) -> list[CollectionRecord]:
        return [c for c in collections if c.scope == "public"]

    def _collection(
        self, root: ApiRootRecord, collection_id: str, principal: Principal | None
    ) -> CollectionRecord:
        for collection in self._collections_of(root.path):
            if collection.id == collection_id:
                if principal is None and collection.scope != "public":
                    raise self._unauthorized()
                return collection
        if principal is None:
            raise self._unauthorized()
        raise TaxiiError(404, "Unknown collection", f"no collection {collection_id!r} here")

    @staticmethod
    def _require(principal: Principal | None, action: Action, what: str) -> Principal:
        if principal is None:
            raise TaxiiService._unauthorized()
        if not principal.can(action):
            raise TaxiiError(403, "Forbidden", f"a {principal.role} key may not {what}")
        return principal

    @staticmethod
    def _scope(principal: Principal | None, collection: CollectionRecord) -> ReadScope:
        """The public collection shows TLP:CLEAR to everyone; the others follow the policy."""
        if collection.scope == "public" or principal is None:
            return public_scope(principal)
        return read_scope(principal)

    @staticmethod
    def _collection_filter(collection: CollectionRecord) -> int | None:
        return None if collection.scope in ("all", "public") else collection.row_id

    # -- discovery, API root, collections -----------------------------------------------

    def discovery(self, base: str) -> Page:
        record = self.node.node_record()
        with self.node.store.read() as conn:
            roots = taxii_store.list_api_roots(conn)
        urls = [f"{base}{root.path}/" for root in roots]
        document: dict[str, Any] = {
            "title": f"Bayanihan node {record.name}",
            "description": f"TAXII 2.1 server of the Bayanihan node {record.name} "
            f"({record.country}).",
            "api_roots": urls,
        }
        if urls:
            document["default"] = urls[0]
        return _json(document)

    def api_root(self, principal: Principal | None, path: str) -> Page:
        root = self._root(path, principal)
        document: dict[str, Any] = {
            "title": root.title,
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": self.settings.max_content_length,
        }
        if root.description:
            document["description"] = root.description
        return _json(document)

    def _collection_resource(
        self, principal: Principal | None, collection: CollectionRecord
    ) -> dict[str, Any]:
        public = collection.scope == "public"
        document: dict[str, Any] = {
            "id": collection.id,
            "title": collection.title,
            "can_read": public or (principal is not None and principal.can(Action.READ)),
            "can_write": not public and principal is not None and principal.can(Action.WRITE),
            "media_types": [STIX_MEDIA_TYPE],
        }
        if collection.description:
            document["description"] = collection.description
        return document

    def collections(self, principal: Principal | None, path: str) -> Page:
        root = self._root(path, principal)
        found = self._collections_of(root.path)
        if principal is None:
            found = self._public_collections(found)
        resources = [self._collection_resource(principal, c) for c in found]
        return _json({"collections": resources} if resources else {})

    def collection(self, principal: Principal | None, path: str, collection_id: str) -> Page:
        collection = self._collection(self._root(path, principal), collection_id, principal)
        return _json(self._collection_resource(principal, collection))

    # -- reads --------------------------------------------------------------------------

    def _query(
        self,
        principal: Principal | None,
        collection: CollectionRecord,
        filters: Filters,
        *,
        ids: frozenset[str] | None = None,
        versions: VersionSpec | None = None,
    ) -> object_store.ObjectQuery:
        if collection.scope != "public":
            self._require(principal, Action.READ, "read objects")
        return object_store.ObjectQuery(
            scope=self._scope(principal, collection),
            collection_row=self._collection_filter(collection),
            after=filters.after,
            ids=filters.ids if ids is None else ids,
            types=filters.types,
            spec_versions=filters.spec_versions,
            versions=filters.versions if versions is None else versions,
            limit=filters.limit,
        )

    def _filters(
        self, params: Mapping[str, Sequence[str]], allowed: frozenset[str] = KNOWN, **kw: Any
    ) -> Filters:
        return parse_filters(
            params,
            default_limit=self.settings.page_limit,
            max_limit=self.settings.max_page_limit,
            allowed=allowed,
            **kw,
        )

    def get_objects(
        self,
        principal: Principal | None,
        path: str,
        collection_id: str,
        params: Mapping[str, Sequence[str]],
        *,
        object_id: str | None = None,
    ) -> Page:
        collection = self._collection(self._root(path, principal), collection_id, principal)
        allowed = _OBJECT_FILTERS if object_id else KNOWN
        filters = self._filters(params, allowed)
        only = frozenset({object_id}) if object_id else None
        query = self._query(principal, collection, filters, ids=only)
        with self.node.store.read() as conn:
            rows = object_store.list_bodies(conn, query)
            if object_id and not rows:
                self._require_exists(conn, principal, collection, object_id)
        more = len(rows) > filters.limit
        rows = rows[: filters.limit]
        self.node.audit_read(principal, "taxii.get-objects", ((r.id, r.tlp) for r in rows))
        if not rows:
            return Page(body=b'{"more":false}')
        head = (
            b'{"more":true,"next":"' + encode_token(rows[-1].date_added).encode() + b'",'
            if more
            else (b'{"more":false,')
        )
        body = head + b'"objects":[' + b",".join(r.body for r in rows) + b"]}"
        return Page(body=body, first=rows[0].date_added, last=rows[-1].date_added)

    def _require_exists(
        self,
        conn: Any,
        principal: Principal | None,
        collection: CollectionRecord,
        object_id: str,
    ) -> None:
        probe = object_store.ObjectQuery(
            scope=self._scope(principal, collection),
            collection_row=self._collection_filter(collection),
            ids=frozenset({object_id}),
            versions=VersionSpec(all=True),
            limit=1,
        )
        if not object_store.list_manifest(conn, probe):
            raise TaxiiError(404, "Unknown object", f"no object {object_id} in this collection")

    def manifest(
        self,
        principal: Principal | None,
        path: str,
        collection_id: str,
        params: Mapping[str, Sequence[str]],
    ) -> Page:
        collection = self._collection(self._root(path, principal), collection_id, principal)
        filters = self._filters(params)
        query = self._query(principal, collection, filters)
        with self.node.store.read() as conn:
            rows = object_store.list_manifest(conn, query)
        more = len(rows) > filters.limit
        rows = rows[: filters.limit]
        self.node.audit_read(principal, "taxii.get-manifest", ((r.id, r.tlp) for r in rows))
        if not rows:
            return _json({"more": False})
        records = [
            {
                "id": r.id,
                "date_added": format_timestamp(r.date_added),
                "version": format_timestamp(r.version or r.date_added),
                "media_type": f"application/stix+json;version={r.spec_version}",
            }
            for r in rows
        ]
        document: dict[str, Any] = {"more": more, "objects": records}
        if more:
            document["next"] = encode_token(rows[-1].date_added)
        page = _json(document)
        page.first, page.last = rows[0].date_added, rows[-1].date_added
        return page

    def versions(
        self,
        principal: Principal | None,
        path: str,
        collection_id: str,
        object_id: str,
        params: Mapping[str, Sequence[str]],
    ) -> Page:
        collection = self._collection(self._root(path, principal), collection_id, principal)
        filters = self._filters(params, _VERSIONS_FILTERS)
        query = self._query(
            principal,
            collection,
            filters,
            ids=frozenset({object_id}),
            versions=VersionSpec(all=True),
        )
        with self.node.store.read() as conn:
            rows = object_store.list_manifest(conn, query)
            if not rows:
                self._require_exists(conn, principal, collection, object_id)
        more = len(rows) > filters.limit
        rows = rows[: filters.limit]
        self.node.audit_read(principal, "taxii.get-versions", ((r.id, r.tlp) for r in rows))
        if not rows:
            return _json({"more": False})
        document: dict[str, Any] = {
            "more": more,
            "versions": [format_timestamp(r.version or r.date_added) for r in rows],
        }
        if more:
            document["next"] = encode_token(rows[-1].date_added)
        page = _json(document)
        page.first, page.last = rows[0].date_added, rows[-1].date_added
        return page

    # -- writes -------------------------------------------------------------------------

    def add_objects(
        self, principal: Principal | None, path: str, collection_id: str, body: bytes
    ) -> Page:
        root = self._root(path, principal)
        collection = self._collection(root, collection_id, principal)
        principal = self._require(principal, Action.WRITE, "write objects")
        if collection.scope == "public":
            raise TaxiiError(403, "Forbidden", "the public collection is read-only")
        envelope = parse_envelope(body)
        options = self.node.intake_options(principal, collection_row=collection.row_id)
        request_timestamp = self.node.clock()
        with self.node.store.write() as conn:
            outcomes = store_objects(
                conn, envelope, options, clock=self.node.clock, correlator=self.node.correlator
            )
            record = status_record(
                status_id=str(self.node.new_uuid()),
                api_root_row=root.row_id,
                org_row=principal.org_row,
                request_timestamp=request_timestamp,
                outcomes=outcomes,
            )
            taxii_store.add_status(conn, record)
            self.node.audit(
                conn,
                principal,
                "taxii.add-objects",
                [o.id for o in outcomes if o.ok],
                detail=f"status {record.id}: {record.success_count} accepted, "
                f"{record.failure_count} rejected",
            )
        return Page(body=status_body(record), status=202)

    def delete_object(
        self,
        principal: Principal | None,
        path: str,
        collection_id: str,
        object_id: str,
        params: Mapping[str, Sequence[str]],
    ) -> Page:
        collection = self._collection(self._root(path, principal), collection_id, principal)
        if principal is None:
            raise self._unauthorized()
        if collection.scope == "public":
            raise TaxiiError(403, "Forbidden", "the public collection is read-only")
        if not (principal.can(Action.DELETE_OWN_ORG) or principal.can(Action.DELETE_ANY)):
            raise TaxiiError(
                403,
                "Forbidden",
                f"a {principal.role} key may not delete objects; revoke the object instead "
                "(post a new version with revoked: true)",
            )
        filters = self._filters(params, _DELETE_FILTERS, default_version="all")
        query = object_store.ObjectQuery(
            scope=self._scope(principal, collection),
            collection_row=self._collection_filter(collection),
            ids=frozenset({object_id}),
            spec_versions=filters.spec_versions,
            versions=filters.versions,
        )
        with self.node.store.write() as conn:
            doomed = object_store.matching_versions(conn, query)
            if not doomed:
                raise TaxiiError(404, "Unknown object", f"no object {object_id} to delete here")
            if not principal.can(Action.DELETE_ANY) and any(
                v.author_org != principal.org_row for v in doomed
            ):
                raise TaxiiError(
                    403, "Forbidden", "an org-admin may only delete its own organisation's objects"
                )
            notices = notices_for_deletion(
                conn, object_id=object_id, doomed=doomed, now=self.node.clock()
            )
            revived = object_store.delete_versions(
                conn,
                object_id=object_id,
                doomed=doomed,
                by_org=principal.org_row,
                now=self.node.clock(),
            )
            if self.node.correlator is not None and revived:
                self.node.correlator.take_up(conn, revived, now=self.node.clock())
            for notice in notices:  # the peers holding the object hear of it (push, pull)
                self.node.store_notice(conn, notice)
            self.node.audit(
                conn,
                principal,
                "taxii.delete-object",
                [object_id],
                detail=f"{len(doomed)} version(s)",
            )
        return Page(body=b"")

    def status(self, principal: Principal | None, path: str, status_id: str) -> Page:
        root = self._root(path, principal)
        if principal is None:
            raise self._unauthorized()
        with self.node.store.read() as conn:
            record = taxii_store.get_status(conn, status_id=status_id, api_root_row=root.row_id)
        if record is None or (
            record.org_row != principal.org_row and not principal.can(Action.READ_ALL)
        ):
            raise TaxiiError(404, "Unknown status", f"no status {status_id!r} for this key")
        return Page(body=status_body(record))

    def describe(self) -> dict[str, Any]:
        """Facts for the landing page."""
        record = self.node.node_record()
        with self.node.store.read() as conn:
            roots = taxii_store.list_api_roots(conn)
            public = object_store.count_objects(conn, PUBLIC_SCOPE)
            org_count = len(org_store.list_orgs(conn))
        return {"node": record, "roots": roots, "public_objects": public, "orgs": org_count}


def parse_envelope(body: bytes) -> list[object]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TaxiiError(
            400, "Malformed JSON", f"the request body is not valid JSON: {exc}"
        ) from None
    if not isinstance(document, dict):
        raise TaxiiError(400, "Not an envelope", "the body must be a TAXII envelope object")
    objects = document.get("objects")
    if not isinstance(objects, list):
        raise TaxiiError(
            400, "Not an envelope", "the envelope must hold an 'objects' list of STIX objects"
        )
    if not objects:
        raise TaxiiError(400, "Empty envelope", "the envelope holds no objects")
    return objects


def status_record(
    *,
    status_id: str,
    api_root_row: int,
    org_row: int,
    request_timestamp: int,
    outcomes: Sequence[Outcome],
) -> StatusRecord:
    successes = [_detail(o) for o in outcomes if o.ok]
    failures = [_detail(o) for o in outcomes if not o.ok]
    details = orjson.dumps({"successes": successes, "failures": failures, "pendings": []})
    return StatusRecord(
        id=status_id,
        api_root_row=api_root_row,
        org_row=org_row,
        request_timestamp=request_timestamp,
        status="complete",
        total_count=len(outcomes),
        success_count=len(successes),
        failure_count=len(failures),
        pending_count=0,
        details=details,
    )


def _detail(outcome: Outcome) -> dict[str, str]:
    detail = {"id": outcome.id, "message": outcome.message}
    version = outcome.version
    if version:
        detail["version"] = version
    return detail


def status_body(record: StatusRecord) -> bytes:
    details = orjson.loads(record.details)
    document: dict[str, Any] = {
        "id": record.id,
        "status": record.status,
        "request_timestamp": format_timestamp(record.request_timestamp),
        "total_count": record.total_count,
        "success_count": record.success_count,
        "failure_count": record.failure_count,
        "pending_count": record.pending_count,
    }
    for name in ("successes", "failures", "pendings"):
        if details.get(name):
            document[name] = details[name]
    return orjson.dumps(document)
