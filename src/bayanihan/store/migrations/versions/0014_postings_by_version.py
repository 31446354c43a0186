"""postings keyed by version first; observables leave room for in-place count updates

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

Postings were keyed by (observable_row, date_added) with a second index on
date_added. Versions are written in date_added order, so a key that starts with it
grows at its end (full pages) where the old key took inserts all over (pages split
half full); the lookup by observable becomes a plain index, which PostgreSQL
stores de-duplicated (one entry per value and its row pointers, where a value has
tens of postings). The author joins the key: it depends on the version alone, and on
SQLite the index by observable then holds every column a hit query reads. Columns
are ordered widest first, which saves PostgreSQL 8 bytes of padding per row.

On PostgreSQL observables keep free space in each page (fillfactor 70): the counts
change with every write, and an update that finds room in its page leaves the
indexes alone and lets the old copy be pruned in place.

The index of observables by registered domain gains the row id: the related-domain
lookup (``WHERE related = ? ORDER BY row_id LIMIT n``) becomes one range of it,
where PostgreSQL could otherwise walk the whole table in row order for a common
domain.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _create(name: str, *, by_version: bool) -> None:
    columns = [
        sa.Column("date_added", sa.BigInteger(), nullable=False),
        sa.Column("observable_row", sa.Integer(), nullable=False),
        sa.Column("author_org", sa.Integer(), nullable=not by_version),
    ]
    if not by_version:
        columns = [columns[1], columns[0], columns[2]]
    key = (
        ("date_added", "observable_row", "author_org")
        if by_version
        else ("observable_row", "date_added")
    )
    op.create_table(
        name,
        *columns,
        sa.ForeignKeyConstraint(
            ["observable_row"],
            ["observables.row_id"],
            name="fk_postings_observable_row_observables",
        ),
        sa.ForeignKeyConstraint(
            ["date_added"],
            ["objects.date_added"],
            name="fk_postings_date_added_objects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(*key, name="pk_postings"),
        sqlite_with_rowid=False,
    )


def _rebuild(*, by_version: bool) -> None:
    bind = op.get_bind()
    # PostgreSQL names constraints per schema: the old table's go before the new one's
    # are created
    op.rename_table("postings", "postings_old")
    if bind.dialect.name == "postgresql":
        for constraint in (
            "pk_postings",
            "fk_postings_observable_row_observables",
            "fk_postings_date_added_objects",
        ):
            op.execute(f"ALTER TABLE postings_old DROP CONSTRAINT IF EXISTS {constraint}")
    op.execute("DROP INDEX IF EXISTS ix_postings_date_added")
    op.execute("DROP INDEX IF EXISTS ix_postings_observable_row")
    _create("postings", by_version=by_version)
    op.execute(
        "INSERT INTO postings (date_added, observable_row, author_org) "
        "SELECT p.date_added, p.observable_row, "
        "COALESCE(p.author_org, (SELECT o.author_org FROM objects o "
        "WHERE o.date_added = p.date_added)) FROM postings_old p ORDER BY p.date_added"
    )
    op.drop_table("postings_old")
    if by_version:
        op.create_index("ix_postings_observable_row", "postings", ["observable_row"])
    else:
        op.create_index("ix_postings_date_added", "postings", ["date_added"])


def _related_index(*columns: str) -> None:
    op.drop_index("ix_observables_related", table_name="observables")
    op.create_index(
        "ix_observables_related",
        "observables",
        list(columns),
        sqlite_where=sa.text("related IS NOT NULL"),
        postgresql_where=sa.text("related IS NOT NULL"),
    )


def upgrade() -> None:
    _rebuild(by_version=True)
    _related_index("related", "row_id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE observables SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE observables RESET (fillfactor)")
    _related_index("related")
    _rebuild(by_version=False)
