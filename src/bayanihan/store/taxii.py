"""TAXII bookkeeping: API roots, collections and status resources."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from bayanihan.store.schema import api_roots, collections, node_options, statuses


@dataclass(frozen=True, slots=True)
class ApiRootRecord:
    row_id: int
    path: str
    title: str
    description: str | None


@dataclass(frozen=True, slots=True)
class CollectionRecord:
    row_id: int
    id: str
    api_root_row: int
    title: str
    description: str | None
    scope: str
    is_default: bool


@dataclass(frozen=True, slots=True)
class StatusRecord:
    id: str
    api_root_row: int
    org_row: int
    request_timestamp: int
    status: str
    total_count: int
    success_count: int
    failure_count: int
    pending_count: int
    details: bytes


def add_api_root(conn: Connection, *, path: str, title: str, description: str | None) -> int:
    result = conn.execute(insert(api_roots).values(path=path, title=title, description=description))
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def list_api_roots(conn: Connection) -> list[ApiRootRecord]:
    rows = conn.execute(
        select(
            api_roots.c.row_id, api_roots.c.path, api_roots.c.title, api_roots.c.description
        ).order_by(api_roots.c.row_id)
    )
    return [ApiRootRecord(*r) for r in rows]


_COLLECTION_COLUMNS = (
    collections.c.row_id,
    collections.c.id,
    collections.c.api_root_row,
    collections.c.title,
    collections.c.description,
    collections.c.scope,
    collections.c.is_default,
)


def add_collection(
    conn: Connection,
    *,
    collection_id: str,
    api_root_row: int,
    title: str,
    description: str | None,
    scope: str,
    is_default: bool,
) -> int:
    result = conn.execute(
        insert(collections).values(
            id=collection_id,
            api_root_row=api_root_row,
            title=title,
            description=description,
            scope=scope,
            is_default=is_default,
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def list_collections(conn: Connection, *, api_root_row: int) -> list[CollectionRecord]:
    rows = conn.execute(
        select(*_COLLECTION_COLUMNS)
        .where(collections.c.api_root_row == api_root_row)
        .order_by(collections.c.row_id)
    )
    return [CollectionRecord(*r) for r in rows]


def add_status(conn: Connection, record: StatusRecord) -> None:
    conn.execute(
        insert(statuses).values(
            id=record.id,
            api_root_row=record.api_root_row,
            org_row=record.org_row,
            request_timestamp=record.request_timestamp,
            status=record.status,
            total_count=record.total_count,
            success_count=record.success_count,
            failure_count=record.failure_count,
            pending_count=record.pending_count,
            details=record.details,
        )
    )


def get_status(conn: Connection, *, status_id: str, api_root_row: int) -> StatusRecord | None:
    row = conn.execute(
        select(
            statuses.c.id,
            statuses.c.api_root_row,
            statuses.c.org_row,
            statuses.c.request_timestamp,
            statuses.c.status,
            statuses.c.total_count,
            statuses.c.success_count,
            statuses.c.failure_count,
            statuses.c.pending_count,
            statuses.c.details,
        ).where(statuses.c.id == status_id, statuses.c.api_root_row == api_root_row)
    ).first()
    return None if row is None else StatusRecord(**row._mapping)


def public_collection(conn: Connection) -> CollectionRecord | None:
    row = conn.execute(select(*_COLLECTION_COLUMNS).where(collections.c.scope == "public")).first()
    return None if row is None else CollectionRecord(*row)


def get_option(conn: Connection, name: str) -> str | None:
    return conn.execute(select(node_options.c.value).where(node_options.c.name == name)).scalar()


def set_option(conn: Connection, name: str, value: str) -> None:
    if get_option(conn, name) is None:
        conn.execute(insert(node_options).values(name=name, value=value))
    else:
        conn.execute(update(node_options).where(node_options.c.name == name).values(value=value))
