"""Organisations and the node's own record."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from bayanihan.store.schema import (
    node,
    orgs,
    peer_orgs,
    sharing_group_members,
    sharing_groups,
    users,
)
from bayanihan.store.scope import Directory


@dataclass(frozen=True, slots=True)
class OrgRecord:
    row_id: int
    identity_id: str
    name: str
    country: str
    sector: str | None
    parent_row: int | None
    local: bool
    created: int


@dataclass(frozen=True, slots=True)
class NodeRecord:
    name: str
    country: str
    identity_id: str
    org_row: int
    created: int


def _org(row: object) -> OrgRecord:
    return OrgRecord(*row)  # type: ignore[misc]


_COLUMNS = (
    orgs.c.row_id,
    orgs.c.identity_id,
    orgs.c.name,
    orgs.c.country,
    orgs.c.sector,
    orgs.c.parent_row,
    orgs.c.local,
    orgs.c.created,
)


def add_org(
    conn: Connection,
    *,
    identity_id: str,
    name: str,
    country: str,
    sector: str | None,
    parent_row: int | None,
    local: bool,
    created: int,
) -> OrgRecord:
    result = conn.execute(
        insert(orgs).values(
            identity_id=identity_id,
            name=name,
            country=country,
            sector=sector,
            parent_row=parent_row,
            local=local,
            created=created,
        )
    )
    row_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    assert row_id is not None
    return OrgRecord(row_id, identity_id, name, country, sector, parent_row, local, created)


def org_by_name(conn: Connection, name: str) -> OrgRecord | None:
    row = conn.execute(select(*_COLUMNS).where(orgs.c.name == name)).first()
    return None if row is None else _org(row)


def org_by_identity(conn: Connection, identity_id: str) -> OrgRecord | None:
    row = conn.execute(select(*_COLUMNS).where(orgs.c.identity_id == identity_id)).first()
    return None if row is None else _org(row)


def org_by_row(conn: Connection, row_id: int) -> OrgRecord | None:
    row = conn.execute(select(*_COLUMNS).where(orgs.c.row_id == row_id)).first()
    return None if row is None else _org(row)


def list_orgs(conn: Connection) -> list[OrgRecord]:
    return [_org(r) for r in conn.execute(select(*_COLUMNS).order_by(orgs.c.name))]


def co_hosted(conn: Connection, org_row: int) -> list[OrgRecord]:
    """The other organisations hosted on the peer node that hosts ``org_row``, by name.

    Which peer hosts an organisation is learned when pulling from it (``peer_orgs``);
    an organisation no peer is known to host has none, and this node's own
    organisations are never among them.
    """
    host = select(peer_orgs.c.peer_row).where(peer_orgs.c.org_row == org_row).scalar_subquery()
    query = (
        select(*_COLUMNS)
        .select_from(orgs.join(peer_orgs, peer_orgs.c.org_row == orgs.c.row_id))
        .where(peer_orgs.c.peer_row == host, orgs.c.row_id != org_row, orgs.c.local.is_(False))
        .order_by(orgs.c.name)
    )
    return [_org(r) for r in conn.execute(query)]


def get_node(conn: Connection) -> NodeRecord | None:
    row = conn.execute(
        select(node.c.name, node.c.country, node.c.identity_id, node.c.org_row, node.c.created)
    ).first()
    return None if row is None else NodeRecord(*row)


def set_node(
    conn: Connection, *, name: str, country: str, identity_id: str, org_row: int, created: int
) -> None:
    conn.execute(
        insert(node).values(
            row_id=1,
            name=name,
            country=country,
            identity_id=identity_id,
            org_row=org_row,
            created=created,
        )
    )


def load_directory(conn: Connection) -> Directory:
    """Organisations, people and sharing groups, as the audience decision needs them."""
    org_by_identity: dict[str, int] = {}
    children: dict[int, list[int]] = {}
    for row_id, identity_id, parent in conn.execute(
        select(orgs.c.row_id, orgs.c.identity_id, orgs.c.parent_row)
    ):
        org_by_identity[identity_id] = row_id
        if parent is not None:
            children.setdefault(parent, []).append(row_id)
    user_by_identity = {
        identity_id: (row_id, org_row)
        for row_id, identity_id, org_row in conn.execute(
            select(users.c.row_id, users.c.identity_id, users.c.org_row).where(
                users.c.disabled.is_(None)
            )
        )
    }
    members: dict[str, set[int]] = {}
    for group_id, org_row in conn.execute(
        select(sharing_groups.c.id, sharing_group_members.c.org_row).select_from(
            sharing_groups.outerjoin(
                sharing_group_members, sharing_group_members.c.group_row == sharing_groups.c.row_id
            )
        )
    ):
        found = members.setdefault(group_id, set())
        if org_row is not None:
            found.add(org_row)
    return Directory(
        org_by_identity=org_by_identity,
        user_by_identity=user_by_identity,
        children={k: tuple(v) for k, v in children.items()},
        group_members={k: frozenset(v) for k, v in members.items()},
    )
