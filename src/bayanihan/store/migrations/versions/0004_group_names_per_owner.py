"""sharing-group names unique per owner organisation, not node-wide

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sharing_groups") as batch_op:
        batch_op.drop_constraint("uq_sharing_groups_name", type_="unique")
        batch_op.create_unique_constraint("uq_sharing_groups_owner_org_name", ["owner_org", "name"])


def downgrade() -> None:
    with op.batch_alter_table("sharing_groups") as batch_op:
        batch_op.drop_constraint("uq_sharing_groups_owner_org_name", type_="unique")
        batch_op.create_unique_constraint("uq_sharing_groups_name", ["name"])
