"""People who log in, as users of an organisation."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from bayanihan.store.schema import orgs, users


@dataclass(frozen=True, slots=True)
class UserRecord:
    row_id: int
    identity_id: str
    org_row: int
    org_name: str
    username: str
    password_hash: str
    role: str
    created: int
    disabled: int | None


_COLUMNS = (
    users.c.row_id,
    users.c.identity_id,
    users.c.org_row,
    orgs.c.name,
    users.c.username,
    users.c.password_hash,
    users.c.role,
    users.c.created,
    users.c.disabled,
)
_JOINED = users.join(orgs, orgs.c.row_id == users.c.org_row)


def add_user(
    conn: Connection,
    *,
    identity_id: str,
    org_row: int,
    username: str,
    password_hash: str,
    role: str,
    created: int,
) -> int:
    result = conn.execute(
        insert(users).values(
            identity_id=identity_id,
            org_row=org_row,
            username=username,
            password_hash=password_hash,
            role=role,
            created=created,
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def user_by_name(conn: Connection, username: str) -> UserRecord | None:
    row = conn.execute(
        select(*_COLUMNS).select_from(_JOINED).where(users.c.username == username)
    ).first()
    return None if row is None else UserRecord(*row)


def user_by_row(conn: Connection, row_id: int) -> UserRecord | None:
    row = conn.execute(
        select(*_COLUMNS).select_from(_JOINED).where(users.c.row_id == row_id)
    ).first()
    return None if row is None else UserRecord(*row)


def list_users(conn: Connection, *, org_row: int | None = None) -> list[UserRecord]:
    query = select(*_COLUMNS).select_from(_JOINED).order_by(users.c.username)
    if org_row is not None:
        query = query.where(users.c.org_row == org_row)
    return [UserRecord(*r) for r in conn.execute(query)]


def set_password(conn: Connection, *, row_id: int, password_hash: str) -> None:
    conn.execute(update(users).where(users.c.row_id == row_id).values(password_hash=password_hash))
