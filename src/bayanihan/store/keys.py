"""API keys, kept only as SHA-256 hashes of 256-bit random secrets."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, String, bindparam, insert, select, update

from bayanihan.store.prepared import Statements
from bayanihan.store.schema import api_keys, orgs, users


@dataclass(frozen=True, slots=True)
class KeyRecord:
    row_id: int
    prefix: str
    org_row: int
    org_identity: str
    org_name: str
    role: str
    label: str | None
    created: int
    revoked: int | None
    user_row: int | None
    username: str | None
    user_disabled: int | None


_COLUMNS = (
    api_keys.c.row_id,
    api_keys.c.prefix,
    api_keys.c.org_row,
    orgs.c.identity_id.label("org_identity"),
    orgs.c.name.label("org_name"),
    api_keys.c.role,
    api_keys.c.label,
    api_keys.c.created,
    api_keys.c.revoked,
    api_keys.c.user_row,
    users.c.username,
    users.c.disabled.label("user_disabled"),
)
_JOINED = api_keys.join(orgs, orgs.c.row_id == api_keys.c.org_row).outerjoin(
    users, users.c.row_id == api_keys.c.user_row
)


def add_key(
    conn: Connection,
    *,
    key_hash: str,
    prefix: str,
    org_row: int,
    role: str,
    label: str | None,
    created: int,
    user_row: int | None = None,
) -> int:
    result = conn.execute(
        insert(api_keys).values(
            key_hash=key_hash,
            prefix=prefix,
            org_row=org_row,
            role=role,
            label=label,
            created=created,
            user_row=user_row,
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


_BY_HASH = Statements(size=4)


def key_by_hash(conn: Connection, key_hash: str) -> KeyRecord | None:
    """The key with this hash: the lookup of every authenticated request, so it is
    compiled once and run by the driver."""
    statement = _BY_HASH.get(
        conn,
        "by-hash",
        lambda: (
            select(*_COLUMNS)
            .select_from(_JOINED)
            .where(api_keys.c.key_hash == bindparam("key_hash", type_=String))
        ),
    )
    assert statement is not None
    rows = statement.run(conn, {"key_hash": key_hash})
    return KeyRecord(*rows[0]) if rows else None


def list_keys(conn: Connection, *, org_row: int | None = None) -> list[KeyRecord]:
    query = select(*_COLUMNS).select_from(_JOINED).order_by(api_keys.c.row_id)
    if org_row is not None:
        query = query.where(api_keys.c.org_row == org_row)
    return [KeyRecord(**r._mapping) for r in conn.execute(query)]


def key_by_row(conn: Connection, row_id: int) -> KeyRecord | None:
    row = conn.execute(
        select(*_COLUMNS).select_from(_JOINED).where(api_keys.c.row_id == row_id)
    ).first()
    return None if row is None else KeyRecord(**row._mapping)


def revoke_key(conn: Connection, *, row_id: int, when: int) -> bool:
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.row_id == row_id, api_keys.c.revoked.is_(None))
        .values(revoked=when)
    )
    return result.rowcount > 0
