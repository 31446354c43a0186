"""peers: peer nodes, their per-collection pull cursors and the organisations they host

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("row_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("auth", sa.String(8), nullable=False),
        sa.Column("username", sa.Text()),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("ca_file", sa.Text()),
        sa.Column("allow_insecure", sa.Boolean(), nullable=False),
        sa.Column("node_identity", sa.Text()),
        sa.Column("node_org_row", sa.Integer()),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("last_attempt", sa.BigInteger()),
        sa.Column("last_success", sa.BigInteger()),
        sa.Column("last_error", sa.Text()),
        sa.Column("pulled", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_org_row"], ["orgs.row_id"], name=op.f("fk_peers_node_org_row_orgs")
        ),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_peers")),
        sa.UniqueConstraint("name", name=op.f("uq_peers_name")),
    )
    op.create_table(
        "peer_cursors",
        sa.Column("peer_row", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Text(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("cursor_micros", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_row"],
            ["peers.row_id"],
            name=op.f("fk_peer_cursors_peer_row_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("peer_row", "collection_id", name=op.f("pk_peer_cursors")),
    )
    op.create_table(
        "peer_orgs",
        sa.Column("peer_row", sa.Integer(), nullable=False),
        sa.Column("org_row", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_row"],
            ["peers.row_id"],
            name=op.f("fk_peer_orgs_peer_row_peers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_row"], ["orgs.row_id"], name=op.f("fk_peer_orgs_org_row_orgs")
        ),
        sa.PrimaryKeyConstraint("org_row", name=op.f("pk_peer_orgs")),
    )
    op.create_index("ix_peer_orgs_peer_row", "peer_orgs", ["peer_row"])


def downgrade() -> None:
    op.drop_index("ix_peer_orgs_peer_row", table_name="peer_orgs")
    op.drop_table("peer_orgs")
    op.drop_table("peer_cursors")
    op.drop_table("peers")
