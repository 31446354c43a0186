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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

import argon2
import orjson
from sqlalchemy import Connection

from bayanihan.correlate.index import Correlator, indexed
from bayanihan.ingest.deletion import Notice
from bayanihan.ingest.intake import IntakeOptions, store_objects, version_of
from bayanihan.policy.audience import audience_for
from bayanihan.policy.principal import PeerOrg, Principal
from bayanihan.policy.roles import Action, Role, may_grant, no_wider
from bayanihan.policy.tlp import Tlp, marking_definition
from bayanihan.settings import Settings
from bayanihan.stix.extensions import (
    SHARING_GROUP_TYPE,
    deletion_notice_extension_definition,
    observable_extension_definitions,
    organisation_extension_definition,
    organisation_identity,
    project_identity,
    recipients_of,
    sharing_extension_definition,
    sharing_group_extension_definition,
)
from bayanihan.stix.timestamps import format_timestamp, now_micros
from bayanihan.store import Store
from bayanihan.store import audit as audit_store
from bayanihan.store import groups as group_store
from bayanihan.store import keys as key_store
from bayanihan.store import objects as object_store
from bayanihan.store import orgs as org_store
from bayanihan.store import peers as peer_store
from bayanihan.store import taxii as taxii_store
from bayanihan.store import users as user_store
from bayanihan.store.objects import NewVersion, insert_versions
from bayanihan.store.scope import OPEN_CAP, Directory, OutboundCap

API_ROOT_PATH = "api"
KEY_PREFIX = "bay_"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
_GROUP_ID = re.compile(
    rf"^{SHARING_GROUP_TYPE}--[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$"
)
MIN_PASSWORD = 12


def _hasher() -> argon2.PasswordHasher:
    return argon2.PasswordHasher()


_IDENTITY_ID = re.compile(
    r"^identity--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


class NodeError(Exception):
    """An operation was refused; the message says why, for the person who asked."""


class NotInitialised(NodeError):
    pass


class PermissionDenied(NodeError):
    pass


class NotFound(NodeError):
    """Nothing there for this caller (also what a caller who may not know of it is told)."""


def require(who: Principal, action: Action, what: str) -> None:
    """Refuse, saying what, when the caller's role does not allow ``action``."""
    if not who.can(action):
        raise PermissionDenied(f"a {who.role} key may not {what}")


@dataclass(frozen=True, slots=True)
class NewKey:
    secret: str
    row_id: int
    org_name: str
    role: Role


def _check_grant(
    granter: Principal, role: Role, org: org_store.OrgRecord, *, made: str, verb: str
) -> None:
    """A key may hand out (keys, users) no wider than itself, and only in its own org
    unless it may act for any org."""
    if not may_grant(granter.role, role):
        raise PermissionDenied(f"a {granter.role} key may not create {made}")
    if org.row_id != granter.org_row and not granter.can(Action.CREATE_KEY_ANY_ORG):
        raise PermissionDenied(f"an org-admin may only {verb} its own org")


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
        self.correlator = (
            Correlator(max_objects=settings.correlation_max_objects)
            if settings.correlation
            else None
        )

    # -- set-up -------------------------------------------------------------------------

    def init(self, *, node_name: str | None = None, country: str | None = None) -> bool:
        """Create or migrate the database and the node's own org. Returns True when new.

        Objects stored before correlation existed (or while it was off) are indexed here.
        """
        self.store.migrate()
        if self.correlator is not None:
            with self.store.read() as conn:
                build = not indexed(conn)
            if build:
                with self.store.bulk_write() as conn:
                    self.correlator.rebuild(conn, clock=self.clock)
        with self.store.write() as conn:
            existing = org_store.get_node(conn)
            if existing is not None:
                # definitions added by later releases reach nodes set up before them
                self._publish(
                    conn,
                    observable_extension_definitions(),
                    org_row=existing.org_row,
                    collection_row=None,
                )
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
                sharing_extension_definition(),
                sharing_group_extension_definition(),
                deletion_notice_extension_definition(),
                *observable_extension_definitions(),
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

    def require_current_schema(self) -> org_store.NodeRecord:
        """As ``require_initialised``, and the schema must be this version's (checked by
        the commands that serve or sync: after an upgrade of the package they refuse
        to run on the old schema rather than fail request by request)."""
        record = self.require_initialised()
        behind = self.store.schema_behind()
        if behind is not None:
            raise NotInitialised(
                f"{behind}: run `bayanihan init` to migrate it (idempotent; keeps all data)"
            )
        return record

    # -- organisations ------------------------------------------------------------------

    def add_org(
        self,
        name: str,
        *,
        country: str,
        sector: str | None = None,
        identity_id: str | None = None,
        parent: str | None = None,
        by: Principal | None = None,
    ) -> org_store.OrgRecord:
        """Register an organisation; with ``identity_id`` it is hosted on another node."""
        if by is not None:
            require(by, Action.MANAGE_ORGS, "register organisations")
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
            self.audit(conn, by, "org.add", [org.identity_id], detail=name)
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

    def add_key(
        self,
        *,
        role: Role,
        org_name: str | None = None,
        label: str | None = None,
        granted_by: Principal | None = None,
        username: str | None = None,
    ) -> NewKey:
        """Create an API key; the secret is returned once and only its hash is kept.

        ``granted_by`` is None for the local operator (the CLI, who holds the
        database); a key may only hand out roles no wider than its own.
        """
        node = self.require_initialised()
        with self.store.write() as conn:
            user = None
            if username is not None:
                user = user_store.user_by_name(conn, username)
                if user is None or user.disabled is not None:
                    raise NodeError(f"no active user named {username!r}")
                if role is Role.SYNC:
                    raise NodeError("sync keys are for peer nodes, not for people")
                if not no_wider(role, Role(user.role)):
                    raise NodeError(
                        f"{username}'s role is {user.role}: a {role} key would be wider"
                    )
                org_name = user.org_name
            org = self._org_or_own(conn, node, org_name)
            if granted_by is not None:
                _check_grant(granted_by, role, org, made=f"{role} keys", verb="create keys for")
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
                user_row=user.row_id if user else None,
            )
            self.audit(conn, granted_by, "key.add", detail=f"key #{row_id} {role} for {org.name}")
        return NewKey(secret=secret, row_id=row_id, org_name=org.name, role=role)

    def keys(self) -> list[key_store.KeyRecord]:
        with self.store.read() as conn:
            return key_store.list_keys(conn)

    def revoke_key(self, row_id: int) -> bool:
        """Revoke a key as the local operator."""
        with self.store.write() as conn:
            done = key_store.revoke_key(conn, row_id=row_id, when=self.clock())
            if done:
                self.audit(conn, None, "key.revoke", detail=f"key #{row_id}")
            return done

    def authenticate(self, secret: str) -> Principal | None:
        """The principal behind an API key, or None for an unknown or revoked key."""
        if not secret or len(secret) > 256:
            return None
        with self.store.read() as conn:
            record = key_store.key_by_hash(conn, hash_key(secret))
            if record is None or record.revoked is not None or record.user_disabled is not None:
                return None
            role = Role(record.role)
            # a sync key is a peer node: it acts for every org this node knows it hosts,
            # and reads within that peer's outbound cap (as of this request)
            fellows: list[org_store.OrgRecord] = []
            cap: OutboundCap = OPEN_CAP
            if role is Role.SYNC:
                fellows = org_store.co_hosted(conn, record.org_row)
                cap = peer_store.cap_of_host(conn, record.org_row)
        return Principal(
            org_row=record.org_row,
            org_identity=record.org_identity,
            org_name=record.org_name,
            role=role,
            key_row=record.row_id,
            user_row=record.user_row,
            peer_orgs=tuple(PeerOrg(o.row_id, o.identity_id, o.country) for o in fellows),
            outbound=cap,
        )

    def revoke_key_as(self, principal: Principal, row_id: int) -> None:
        """Revoke a key on behalf of a key holder: never one of wider rights, nor another org's."""
        with self.store.write() as conn:
            record = key_store.key_by_row(conn, row_id)
            if record is None or record.revoked is not None:
                raise NodeError(f"no active key #{row_id}")
            if not principal.can(Action.CREATE_KEY_ANY_ORG):
                if not principal.can(Action.CREATE_KEY_OWN_ORG):
                    raise PermissionDenied(f"a {principal.role} key may not revoke keys")
                if record.org_row != principal.org_row:
                    raise PermissionDenied("an org-admin may only revoke its own org's keys")
                if not may_grant(principal.role, Role(record.role)):
                    raise PermissionDenied(
                        f"a {principal.role} key may not revoke a {record.role} key"
                    )
            key_store.revoke_key(conn, row_id=row_id, when=self.clock())
            self.audit(conn, principal, "key.revoke", detail=f"key #{row_id}")

    # -- users --------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        org_name: str | None,
        password: str,
        role: Role,
        granted_by: Principal | None = None,
    ) -> user_store.UserRecord:
        """Register a person who logs in; the password is kept as an argon2 hash."""
        node = self.require_initialised()
        username = username.strip()
        if not _USERNAME.match(username):
            raise NodeError("a user name is 2-64 letters, digits, '.', '_', '-' or '@'")
        if len(password) < MIN_PASSWORD:
            raise NodeError(f"a password needs at least {MIN_PASSWORD} characters")
        if role is Role.SYNC:
            raise NodeError("sync is a role for peer nodes' keys, not for people")
        with self.store.write() as conn:
            org = self._org_or_own(conn, node, org_name)
            if not org.local:
                raise NodeError(f"{org.name!r} is hosted on another node: add its users there")
            if granted_by is not None:
                _check_grant(granted_by, role, org, made=f"{role} users", verb="add users to")
            if role is Role.ADMIN and org.row_id != node.org_row:
                raise NodeError("admin users belong to the node's own organisation")
            if user_store.user_by_name(conn, username) is not None:
                raise NodeError(f"a user named {username!r} already exists")
            row_id = user_store.add_user(
                conn,
                identity_id=f"identity--{self.new_uuid()}",
                org_row=org.row_id,
                username=username,
                password_hash=_hasher().hash(password),
                role=role.value,
                created=self.clock(),
            )
            user = user_store.user_by_row(conn, row_id)
            assert user is not None
            self.audit(conn, granted_by, "user.add", [user.identity_id], detail=username)
        return user

    def users(self, *, org_row: int | None = None) -> list[user_store.UserRecord]:
        with self.store.read() as conn:
            return user_store.list_users(conn, org_row=org_row)

    def login(self, username: str, password: str) -> NewKey | None:
        """Check a password; on success a new key for that person (their role, their org)."""
        with self.store.read() as conn:
            user = user_store.user_by_name(conn, username)
        hasher = _hasher()
        if user is None or user.disabled is not None:
            hasher.hash(password)  # the same time whether or not the name exists
            return None
        try:
            hasher.verify(user.password_hash, password)
        except argon2.exceptions.VerificationError:
            return None
        if hasher.check_needs_rehash(user.password_hash):
            with self.store.write() as conn:
                user_store.set_password(
                    conn, row_id=user.row_id, password_hash=hasher.hash(password)
                )
        return self.add_key(role=Role(user.role), username=username, label="login")

    # -- sharing groups -----------------------------------------------------------------

    def add_group(
        self,
        name: str,
        *,
        owner: Principal,
        description: str | None = None,
        members: list[str] | None = None,
        group_id: str | None = None,
    ) -> group_store.GroupRecord:
        """Create a sharing group owned by ``owner``'s organisation (a member from the start)."""
        if not (owner.can(Action.MANAGE_GROUPS_OWN_ORG) or owner.can(Action.MANAGE_GROUPS_ANY)):
            raise PermissionDenied(f"a {owner.role} key may not create sharing groups")
        name = name.strip()
        if not name:
            raise NodeError("a sharing group needs a name")
        if group_id is not None and not _GROUP_ID.match(group_id):
            raise NodeError(f"a sharing group id is {SHARING_GROUP_TYPE}--<UUID>, not {group_id!r}")
        with self.store.write() as conn:
            if group_store.group_by(conn, name_or_id=name, owner_org=owner.org_row):
                raise NodeError(f"your organisation already has a sharing group named {name!r}")
            if group_id and group_store.group_by(conn, name_or_id=group_id):
                raise NodeError(f"a sharing group with id {group_id} is already registered")
            group = group_store.add_group(
                conn,
                group_id=group_id or f"{SHARING_GROUP_TYPE}--{self.new_uuid()}",
                name=name,
                description=description,
                owner_org=owner.org_row,
                created=self.clock(),
            )
            group_store.add_member(conn, group_row=group.row_id, org_row=owner.org_row)
            for member in members or []:
                org = self._org_by_name_or_identity(conn, member)
                group_store.add_member(conn, group_row=group.row_id, org_row=org.row_id)
            self.audit(conn, owner, "group.add", [group.id], detail=name)
        return group

    @staticmethod
    def _org_by_name_or_identity(conn: Connection, text: str) -> org_store.OrgRecord:
        org = org_store.org_by_identity(conn, text) or org_store.org_by_name(conn, text)
        if org is None:
            raise NodeError(
                f"no organisation {text!r}: register it first (`bayanihan org add`, with --id "
                "for one hosted on another node)"
            )
        return org

    def _visible_group(
        self, conn: Connection, viewer: Principal, group: str
    ) -> group_store.GroupRecord:
        """The group, when the viewer may know of it (members and the node admin)."""
        visible = [
            record
            for record in group_store.group_by(conn, name_or_id=group)
            if viewer.can(Action.MANAGE_GROUPS_ANY)
            or viewer.org_row
            in {m.org_row for m in group_store.members(conn, group_row=record.row_id)}
        ]
        if len(visible) == 1:
            return visible[0]
        if len(visible) > 1:
            raise NodeError(f"several sharing groups are named {group!r}: use the group's id")
        raise NotFound(f"no sharing group {group!r}")  # the same answer whether it exists or not

    def groups(self, viewer: Principal) -> list[group_store.GroupRecord]:
        """The groups the viewer's organisation belongs to (every group for the node admin)."""
        member = None if viewer.can(Action.MANAGE_GROUPS_ANY) else viewer.org_row
        with self.store.read() as conn:
            return group_store.list_groups(conn, member_org=member)

    def group_members(self, viewer: Principal, group: str) -> list[group_store.MemberRecord]:
        with self.store.read() as conn:
            record = self._visible_group(conn, viewer, group)
            return group_store.members(conn, group_row=record.row_id)

    def change_group_member(self, editor: Principal, group: str, member: str, *, add: bool) -> bool:
        """Add or remove a member; for the owner organisation's org-admins and the node admin."""
        with self.store.write() as conn:
            record = self._visible_group(conn, editor, group)
            owner_admin = editor.org_row == record.owner_org and editor.can(
                Action.MANAGE_GROUPS_OWN_ORG
            )
            if not (owner_admin or editor.can(Action.MANAGE_GROUPS_ANY)):
                raise PermissionDenied("only the owner organisation's org-admins edit a group")
            org = self._org_by_name_or_identity(conn, member)
            if not add and org.row_id == record.owner_org:
                raise NodeError("the owner organisation stays a member of its group")
            if add:
                changed = group_store.add_member(conn, group_row=record.row_id, org_row=org.row_id)
            else:
                changed = group_store.remove_member(
                    conn, group_row=record.row_id, org_row=org.row_id
                )
            if changed:
                self._redecide_audiences(conn, record.id)
                host = peer_store.host_of(conn, org.row_id) if add else None
                if host is not None:
                    # the peer hosting the new member may now receive what the group
                    # shared before: its next push scans from the start
                    peer_store.rewind_push(conn, peer_row=host)
            action = "group.member-add" if add else "group.member-remove"
            self.audit(conn, editor, action, [record.id], detail=org.identity_id)
            return changed

    def _redecide_audiences(self, conn: Connection, group_id: str) -> None:
        """Decide again who may see every stored version that names the group.

        A member removed stops seeing what the group shared, before and after; a
        member added sees it too. A group the author has left adds nobody.
        """
        directory = org_store.load_directory(conn)
        for version in object_store.versions_naming_group(conn, group_id):
            recipients, groups = recipients_of(orjson.loads(version.body))
            still = [g for g in groups if version.author_org in directory.group_members.get(g, ())]
            known = [
                r
                for r in recipients
                if r in directory.org_by_identity or r in directory.user_by_identity
            ]
            audience = audience_for(
                Tlp.parse(version.tlp),
                author_org=version.author_org,
                recipient_refs=known,
                group_refs=still,
                directory=directory,
            )
            object_store.set_audience(conn, date_added=version.date_added, audience=audience)

    # -- audit --------------------------------------------------------------------------

    def audit(
        self,
        conn: Connection,
        who: Principal | None,
        action: str,
        object_ids: Sequence[str] = (),
        detail: str | None = None,
    ) -> None:
        """Record a request in the audit log, inside the transaction of its change.

        Call it last in the transaction (after object writes): writers then take
        the object lock before the audit lock, always in that order.
        """
        audit_store.append(
            conn,
            at=self.clock(),
            key_row=who.key_row if who else None,
            org_row=who.org_row if who else None,
            user_row=who.user_row if who else None,
            action=action,
            object_ids=sorted(set(object_ids)),
            remote="cli" if who is None or who.key_row is None else who.remote,
            detail=detail,
        )

    def audit_read(
        self, who: Principal | None, action: str, seen: Iterable[tuple[str, str]]
    ) -> None:
        """Record a read when it returned objects other than TLP:CLEAR ((id, tlp) pairs)."""
        ids = [object_id for object_id, tlp in seen if tlp != Tlp.CLEAR.label]
        if ids:
            with self.store.write() as conn:
                self.audit(conn, who, action, ids)

    def verify_audit(self) -> audit_store.VerifyReport:
        with self.store.read() as conn:
            return audit_store.verify(conn)

    def export_audit(self, out: TextIO) -> int:
        with self.store.read() as conn:
            return audit_store.export_jsonl(conn, out)

    def audit_entries(self, *, after: int = 0, limit: int = 1000) -> list[audit_store.AuditEntry]:
        with self.store.read() as conn:
            return audit_store.entries(conn, after=after, limit=limit)

    # -- node options -------------------------------------------------------------------

    def public_collection(self) -> bool:
        with self.store.read() as conn:
            return taxii_store.get_option(conn, "public_collection") == "on"

    def set_public_collection(self, enabled: bool, *, by: Principal | None = None) -> None:
        """Publish TLP:CLEAR objects without authentication (off by default)."""
        if by is not None:
            require(by, Action.MANAGE_NODE, "change the public collection")
        with self.store.write() as conn:
            taxii_store.set_option(conn, "public_collection", "on" if enabled else "off")
            self.audit(conn, by, "node.public-collection", detail="on" if enabled else "off")
            if enabled and taxii_store.public_collection(conn) is None:
                root = taxii_store.list_api_roots(conn)[0]
                taxii_store.add_collection(
                    conn,
                    collection_id=str(self.new_uuid()),
                    api_root_row=root.row_id,
                    title="Public",
                    description="TLP:CLEAR objects of this node, readable without a key.",
                    scope="public",
                    is_default=False,
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

    def intake_options(
        self,
        principal: Principal,
        *,
        collection_row: int | None = None,
        force_tlp: Tlp | None = None,
    ) -> IntakeOptions:
        """How this node takes in objects written by ``principal`` (one place for every path)."""
        with self.store.read() as conn:
            org = org_store.org_by_row(conn, principal.org_row)
            row = (
                collection_row if collection_row is not None else self._default_collection_row(conn)
            )
        return IntakeOptions(
            principal=principal,
            collection_row=row,
            untagged=self.untagged_tlp,
            directory=self.directory(),
            force_tlp=force_tlp,
            region=org.country if org is not None else None,
            correlate=self.correlator is not None,
        )

    def store_notice(self, conn: Connection, notice: Notice) -> None:
        """Store a deletion notice inside the deleting write transaction, as its author."""
        org = org_store.org_by_row(conn, notice.author_org)
        if org is None:  # the author org of a version being deleted always exists
            raise NodeError(f"no organisation row {notice.author_org}")
        principal = Principal(
            org_row=org.row_id, org_identity=org.identity_id, org_name=org.name, role=Role.ORG_ADMIN
        )
        options = IntakeOptions(
            principal=principal,
            collection_row=notice.collection_row,
            untagged=self.untagged_tlp,
            directory=org_store.load_directory(conn),
            region=org.country,
            correlate=False,
        )
        [outcome] = store_objects(
            conn, [notice.body], options, clock=self.clock, correlator=self.correlator
        )
        if outcome.status != "stored":
            raise NodeError(f"the deletion notice was not stored: {outcome.message}")

    def operator(self, org_name: str | None = None, *, role: Role = Role.ANALYST) -> Principal:
        """The local operator acting for an org (CLI commands such as ``import --org``)."""
        node = self.require_initialised()
        with self.store.read() as conn:
            org = self._org_or_own(conn, node, org_name)
        return Principal(
            org_row=org.row_id, org_identity=org.identity_id, org_name=org.name, role=role
        )
