"""Sharing groups and their members."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from bayanihan.store.schema import orgs, sharing_group_members, sharing_groups


@dataclass(frozen=True, slots=True)
class GroupRecord:
    row_id: int
    id: str
    name: str
    description: str | None
    owner_org: int
    created: int


@dataclass(frozen=True, slots=True)
class MemberRecord:
    org_row: int
    identity_id: str
    name: str
    country: str


_COLUMNS = (
    sharing_groups.c.row_id,
    sharing_groups.c.id,
    sharing_groups.c.name,
    sharing_groups.c.description,
    sharing_groups.c.owner_org,
    sharing_groups.c.created,
)


def add_group(
    conn: Connection,
    *,
    group_id: str,
    name: str,
    description: str | None,
    owner_org: int,
    created: int,
) -> GroupRecord:
    result = conn.execute(
        insert(sharing_groups).values(
            id=group_id, name=name, description=description, owner_org=owner_org, created=created
        )
    )
    assert result.inserted_primary_key is not None
    row_id = int(result.inserted_primary_key[0])
    return GroupRecord(row_id, group_id, name, description, owner_org, created)


def group_by(
    conn: Connection, *, name_or_id: str, owner_org: int | None = None
) -> list[GroupRecord]:
    """Groups with that id, or with that name (of one owner when given)."""
    by_id = conn.execute(select(*_COLUMNS).where(sharing_groups.c.id == name_or_id)).first()
    if by_id is not None:
        return [GroupRecord(*by_id)]
    query = select(*_COLUMNS).where(sharing_groups.c.name == name_or_id)
    if owner_org is not None:
        query = query.where(sharing_groups.c.owner_org == owner_org)
    return [GroupRecord(*r) for r in conn.execute(query)]


def list_groups(conn: Connection, *, member_org: int | None = None) -> list[GroupRecord]:
    """Every group, or only those ``member_org`` belongs to."""
    query = select(*_COLUMNS).order_by(sharing_groups.c.name)
    if member_org is not None:
        query = query.where(
            sharing_groups.c.row_id.in_(
                select(sharing_group_members.c.group_row).where(
                    sharing_group_members.c.org_row == member_org
                )
            )
        )
    return [GroupRecord(*r) for r in conn.execute(query)]


def members(conn: Connection, *, group_row: int) -> list[MemberRecord]:
    rows = conn.execute(
        select(orgs.c.row_id, orgs.c.identity_id, orgs.c.name, orgs.c.country)
        .select_from(
            sharing_group_members.join(orgs, orgs.c.row_id == sharing_group_members.c.org_row)
        )
        .where(sharing_group_members.c.group_row == group_row)
        .order_by(orgs.c.name)
    )
    return [MemberRecord(*r) for r in rows]


def add_member(conn: Connection, *, group_row: int, org_row: int) -> bool:
    exists = conn.execute(
        select(sharing_group_members.c.org_row).where(
            sharing_group_members.c.group_row == group_row,
            sharing_group_members.c.org_row == org_row,
        )
    ).first()
    if exists:
        return False
    conn.execute(insert(sharing_group_members).values(group_row=group_row, org_row=org_row))
    return True


def remove_member(conn: Connection, *, group_row: int, org_row: int) -> bool:
    result = conn.execute(
        delete(sharing_group_members).where(
            sharing_group_members.c.group_row == group_row,
            sharing_group_members.c.org_row == org_row,
        )
    )
    return result.rowcount > 0
