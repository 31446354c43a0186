"""postings carry their version's author, so hits are found without reading objects

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("postings", sa.Column("author_org", sa.Integer()))
    op.execute(
        "UPDATE postings SET author_org = (SELECT o.author_org FROM objects o "
        "WHERE o.date_added = postings.date_added)"
    )


def downgrade() -> None:
    with op.batch_alter_table("postings") as batch:
        batch.drop_column("author_org")
