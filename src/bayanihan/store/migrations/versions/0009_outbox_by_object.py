"""outbox by object: what was sent to a peer, looked up by object id

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-23
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_peer_outbox_object", "peer_outbox", ["peer_row", "object_id"])


def downgrade() -> None:
    op.drop_index("ix_peer_outbox_object", table_name="peer_outbox")
