"""object groups: which sharing groups each stored version names

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_groups",
        sa.Column("date_added", sa.BigInteger(), nullable=False),
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["date_added"],
            ["objects.date_added"],
            name=op.f("fk_object_groups_date_added_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("date_added", "group_id", name=op.f("pk_object_groups")),
    )
    op.create_index("ix_object_groups_group", "object_groups", ["group_id", "date_added"])
    # versions already stored that name a group (group ids appear verbatim in the body)
    connection = op.get_bind()
    groups = [row[0] for row in connection.execute(sa.text("SELECT id FROM sharing_groups"))]
    body = (
        "CAST(body AS TEXT)"
        if connection.dialect.name == "sqlite"
        else ("convert_from(body, 'UTF8')")
    )
    for group_id in groups:
        connection.execute(
            sa.text(
                "INSERT INTO object_groups (date_added, group_id) "
                f"SELECT date_added, :group FROM objects WHERE {body} LIKE :pattern"
            ),
            {"group": group_id, "pattern": f"%{group_id}%"},
        )


def downgrade() -> None:
    op.drop_index("ix_object_groups_group", table_name="object_groups")
    op.drop_table("object_groups")
