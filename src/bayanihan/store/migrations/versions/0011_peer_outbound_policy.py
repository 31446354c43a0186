"""peer outbound policy: the operator's cap on the TLP levels and sharing groups pushed to a peer

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("peers", sa.Column("outbound_tlp", sa.Text()))
    op.add_column("peers", sa.Column("outbound_groups", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("peers") as batch:
        batch.drop_column("outbound_groups")
        batch.drop_column("outbound_tlp")
