"""The node: the one core object the CLI and the web layer are built around.

It holds the settings, the store, a clock and an id generator (both injectable,
so tests are repeatable) and offers the node's operations: set-up,
organisations, keys and authentication. Object intake lives in
``bayanihan.ingest``, TAXII reads in ``bayanihan.taxii``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection

from bayanihan.ingest.intake import version_of
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action, Role, may_grant
from bayanihan.policy.tlp import Tlp, marking_definition
from bayanihan.settings import Settings
from bayanihan.stix.extensions import (
    organisation_extension_definition,
    organisation_identity,
    project_identity,
)
from bayanihan.stix.timestamps import format_timestamp, now_micros
from bayanihan.store import Store
from bayanihan.store import keys as key_store
from bayanihan.store import orgs as org_store
from bayanihan.store import taxii as taxii_store
from bayanihan.store.objects import NewVersion, insert_versions
from bayanihan.store.scope import Directory

API_ROOT_PATH = "api"
KEY_PREFIX = "bay_"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_IDENTITY_ID = re.compile(
    r"^identity--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


class NodeError(Exception):
    """An operation was refused; the message says why, for the person who asked."""


class NotInitialised(NodeError):
    pass


class PermissionDenied(NodeError):
    pass


@dataclass(frozen=True, slots=True)
class NewKey:
    secret: str
    row_id: int
    org_name: str
    role: Role


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_country(country: str) -> str:
    code = country.strip().upper()
    if not _COUNTRY.match(code):
        raise NodeError(
            f"country must be an ISO 3166-1 alpha-2 code such as VN or SG, not {country!r}"
        )
    return code


class Node:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], int] = now_micros,
        new_uuid: Callable[[], uuid.UUID] = uuid.uuid4,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.new_uuid = new_uuid
        self.store = store or Store(settings.db, sqlite_synchronous=settings.sqlite_synchronous)
        self.untagged_tlp = Tlp.parse(settings.untagged_tlp)

    # -- set-up -------------------------------------------------------------------------

    def init(self, *, node_name: str | None = None, country: str | None = None) -> bool:
        """Create or migrate the database and the node's own org. Returns True when new."""
        self.store.migrate()
        with self.store.write() as conn:
            existing = org_store.get_node(conn)
            if existing is not None:
                return False
            name = (node_name or "Bayanihan node").strip()
            if not name:
                raise NodeError("the node name may not be empty")
            code = parse_country(country or "PH")
            now = self.clock()
            org_identity = f"identity--{self.new_uuid()}"
            node_identity = f"identity--{self.new_uuid()}"
            org = org_store.add_org(
                conn,
                identity_id=org_identity,
                name=name,
                country=code,
                sector=None,
                parent_row=None,
                local=True,
                created=now,
            )
            org_store.set_node(
                conn,
                name=name,
                country=code,
                identity_id=node_identity,
                org_row=org.row_id,
                created=now,
            )
            root_row = taxii_store.add_api_root(
                conn,
                path=API_ROOT_PATH,
                title=f"{name} — shared intelligence",
                description="STIX 2.1 objects shared through this node, filtered by TLP "
                "and the sharing policy for each key.",
            )
            taxii_store.add_collection(
                conn,
                collection_id=str(self.new_uuid()),
                api_root_row=root_row,
                title="Default",
                description="Every object this key may see, written here or received from "
                "peers; writes land here unless another collection is named.",
                scope="all",
                is_default=True,
            )
            stamp = format_timestamp(now)
            published = [
                project_identity(),
                organisation_extension_definition(),
                *(marking_definition(level) for level in Tlp),
                organisation_identity(
                    identity_id=node_identity,
                    name=name,
                    country=code,
                    sector=None,
                    created=stamp,
                    home_node=node_identity,
                    identity_class="system",
                ),
                organisation_identity(
                    identity_id=org_identity,
                    name=name,
                    country=code,
                    sector=None,
                    created=stamp,
                    home_node=node_identity,
                ),
            ]
            self._publish(conn, published, org_row=org.row_id, collection_row=None)
        return True

    def _publish(
        self,
        conn: Connection,
        documents: list[dict[str, object]],
        *,
        org_row: int,
        collection_row: int | None,
    ) -> None:
        """Store node-authored CLEAR reference objects (identities, marking definitions)."""
        if collection_row is None:
            collection_row = self._default_collection_row(conn)
        versions = []
        for document in documents:
            created, version = version_of(document)
            versions.append(
                NewVersion(
                    id=str(document["id"]),
                    type=str(document["type"]),
                    spec_version="2.1",
                    version=version,
                    created=created,
                    created_by_ref=None,
                    author_org=org_row,
                    revoked=False,
                    tlp=Tlp.CLEAR.label,
                    markings=None,
                    confidence=None,
                    valid_until=None,
                    origin="local",
                    audience=None,
                    collection_row=collection_row,
                    body=orjson.dumps(document, option=orjson.OPT_SORT_KEYS),
                )
            )
        insert_versions(conn, versions, now=self.clock())

    def _default_collection_row(self, conn: Connection) -> int:
        for root in taxii_store.list_api_roots(conn):
            for collection in taxii_store.list_collections(conn, api_root_row=root.row_id):
                if collection.is_default:
                    return collection.row_id
        raise NotInitialised("the node has no default collection: run `bayanihan init`")

    def default_collection_row(self) -> int:
        with self.store.read() as conn:
            return self._default_collection_row(conn)

    def node_record(self) -> org_store.NodeRecord:
        with self.store.read() as conn:
            record = org_store.get_node(conn)
        if record is None:
            raise NotInitialised("this database is not initialised: run `bayanihan init` first")
        return record

    def require_initialised(self) -> org_store.NodeRecord:
        if not self.store.is_initialised():
            raise NotInitialised("this database is not initialised: run `bayanihan init` first")
        return self.node_record()

    # -- organisations ------------------------------------------------------------------

    def add_org(
        self,
        name: str,
        *,
        country: str,
        sector: str | None = None,
        identity_id: str | None = None,
        parent: str | None = None,
    ) -> org_store.OrgRecord:
        """Register an organisation; with ``identity_id`` it is hosted on another node."""
        node = self.require_initialised()
        name = name.strip()
        if not name:
            raise NodeError("an organisation needs a name")
        code = parse_country(country)
        if identity_id is not None and not _IDENTITY_ID.match(identity_id):
            raise NodeError(f"--id must be identity--<UUID v4>, not {identity_id!r}")
        with self.store.write() as conn:
            if org_store.org_by_name(conn, name) is not None:
                raise NodeError(f"an organisation named {name!r} already exists")
            if identity_id and org_store.org_by_identity(conn, identity_id) is not None:
                raise NodeError(f"an organisation with id {identity_id} already exists")
            parent_row = None
            parent_identity = None
            if parent is not None:
                parent_org = org_store.org_by_name(conn, parent)
                if parent_org is None:
                    raise NodeError(f"no organisation named {parent!r}")
                parent_row, parent_identity = parent_org.row_id, parent_org.identity_id
            now = self.clock()
            local = identity_id is None
            org = org_store.add_org(
                conn,
                identity_id=identity_id or f"identity--{self.new_uuid()}",
                name=name,
                country=code,
                sector=sector,
                parent_row=parent_row,
                local=local,
                created=now,
            )
            if local:
                identity = organisation_identity(
                    identity_id=org.identity_id,
                    name=name,
                    country=code,
                    sector=sector,
                    created=format_timestamp(now),
                    home_node=node.identity_id,
                    parent=parent_identity,
                )
                self._publish(conn, [identity], org_row=node.org_row, collection_row=None)
        return org

    def org(self, name: str) -> org_store.OrgRecord:
        with self.store.read() as conn:
            org = org_store.org_by_name(conn, name)
        if org is None:
            raise NodeError(f"no organisation named {name!r} (see `bayanihan org list`)")
        return org

    def orgs(self) -> list[org_store.OrgRecord]:
        with self.store.read() as conn:
            return org_store.list_orgs(conn)

    def directory(self) -> Directory:
        """Organisations, people and sharing groups, for audience decisions."""
        with self.store.read() as conn:
            return org_store.load_directory(conn)

    def org_names(self) -> dict[int, str]:
        return {o.row_id: o.name for o in self.orgs()}

    # -- keys ---------------------------------------------------------------------------

    def add_key(
        self,
        *,
        role: Role,
        org_name: str | None = None,
        label: str | None = None,
        granted_by: Principal | None = None,
    ) -> NewKey:
        """Create an API key; the secret is returned once and only its hash is kept.

        ``granted_by`` is None for the local operator (the CLI, who holds the
        database); a key may only hand out roles no wider than its own.
        """
        node = self.require_initialised()
        with self.store.write() as conn:
            org = self._org_or_own(conn, node, org_name)
            if granted_by is not None:
                if not may_grant(granted_by.role, role):
                    raise PermissionDenied(f"a {granted_by.role} key may not create {role} keys")
                if org.row_id != granted_by.org_row and not granted_by.can(
                    Action.CREATE_KEY_ANY_ORG
                ):
                    raise PermissionDenied("an org-admin may only create keys for its own org")
            if role is Role.ADMIN and org.row_id != node.org_row:
                raise NodeError("admin keys belong to the node's own organisation")
            if role is Role.SYNC and org.local and org.row_id != node.org_row:
                raise NodeError(
                    f"sync keys are for peer nodes: {org.name!r} is hosted here, "
                    "register the peer's org with `org add --id` and key that"
                )
            secret = KEY_PREFIX + secrets.token_urlsafe(32)
            row_id = key_store.add_key(
                conn,
                key_hash=hash_key(secret),
                prefix=secret[: len(KEY_PREFIX) + 6],
                org_row=org.row_id,
                role=role.value,
                label=label,
                created=self.clock(),
            )
        return NewKey(secret=secret, row_id=row_id, org_name=org.name, role=role)

    def keys(self) -> list[key_store.KeyRecord]:
        with self.store.read() as conn:
            return key_store.list_keys(conn)

    def revoke_key(self, row_id: int) -> bool:
        with self.store.write() as conn:
            return key_store.revoke_key(conn, row_id=row_id, when=self.clock())

    def authenticate(self, secret: str) -> Principal | None:
        """The principal behind an API key, or None for an unknown or revoked key."""
        if not secret or len(secret) > 256:
            return None
        with self.store.read() as conn:
            record = key_store.key_by_hash(conn, hash_key(secret))
        if record is None or record.revoked is not None:
            return None
        return Principal(
            org_row=record.org_row,
            org_identity=record.org_identity,
            org_name=record.org_name,
            role=Role(record.role),
            key_row=record.row_id,
        )

    @staticmethod
    def _org_or_own(
        conn: Connection, node: org_store.NodeRecord, org_name: str | None
    ) -> org_store.OrgRecord:
        """The named organisation, or the node's own when no name is given."""
        if org_name is None:
            org = org_store.org_by_row(conn, node.org_row)
        else:
            org = org_store.org_by_name(conn, org_name)
        if org is None:
            raise NodeError(f"no organisation named {org_name!r} (see `bayanihan org list`)")
        return org

    def operator(self, org_name: str | None = None) -> Principal:
        """The local operator acting for an org (CLI commands such as ``import --org``)."""
        node = self.require_initialised()
        with self.store.read() as conn:
            org = self._org_or_own(conn, node, org_name)
        return Principal(
            org_row=org.row_id, org_identity=org.identity_id, org_name=org.name, role=Role.ANALYST
        )
