"""peer client certificate: the certificate (and key) presented to a peer requiring mutual TLS

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("peers", sa.Column("client_cert", sa.Text()))
    op.add_column("peers", sa.Column("client_key", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("peers") as batch:
        batch.drop_column("client_key")
        batch.drop_column("client_cert")
