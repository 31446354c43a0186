"""object readers: per-organisation postings of restricted objects

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_readers",
        sa.Column("org_row", sa.Integer(), nullable=False),
        sa.Column("date_added", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["date_added"],
            ["objects.date_added"],
            name=op.f("fk_object_readers_date_added_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_row", "date_added", name=op.f("pk_object_readers")),
    )
    op.create_table(
        "object_user_readers",
        sa.Column("user_row", sa.Integer(), nullable=False),
        sa.Column("date_added", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["date_added"],
            ["objects.date_added"],
            name=op.f("fk_object_user_readers_date_added_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_row", "date_added", name=op.f("pk_object_user_readers")),
    )
    op.create_index(
        "ix_objects_community",
        "objects",
        ["date_added"],
        unique=False,
        sqlite_where=sa.text("audience IS NULL"),
        postgresql_where=sa.text("audience IS NULL"),
    )
    # postings for the objects already stored
    op.execute(
        "INSERT INTO object_readers (org_row, date_added) "
        "SELECT m.org_row, o.date_added FROM objects o "
        "JOIN audience_members m ON m.audience_row = o.audience"
    )
    op.execute(
        "INSERT INTO object_user_readers (user_row, date_added) "
        "SELECT u.user_row, o.date_added FROM objects o "
        "JOIN audience_users u ON u.audience_row = o.audience"
    )


def downgrade() -> None:
    op.drop_index("ix_objects_community", table_name="objects")
    op.drop_table("object_user_readers")
    op.drop_table("object_readers")
