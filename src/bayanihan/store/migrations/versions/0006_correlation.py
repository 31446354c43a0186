"""correlation: observables, postings, hits, alert channels and deliveries

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Objects already stored are indexed by ``bayanihan init`` after the upgrade (the
normalisers live in the package, not in the migration).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ROW = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "observables",
        sa.Column("row_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("problem", sa.Text()),
        sa.Column("related", sa.Text()),
        sa.Column("ip_start", sa.String(32)),
        sa.Column("ip_end", sa.String(32)),
        sa.Column("warning", sa.Text()),
        sa.Column("objects", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_observables")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_observables_kind_value")),
    )
    op.create_index(
        "ix_observables_related",
        "observables",
        ["related"],
        sqlite_where=sa.text("related IS NOT NULL"),
        postgresql_where=sa.text("related IS NOT NULL"),
    )
    op.create_index(
        "ix_observables_ip",
        "observables",
        ["kind", "ip_start"],
        sqlite_where=sa.text("ip_start IS NOT NULL"),
        postgresql_where=sa.text("ip_start IS NOT NULL"),
    )
    op.create_table(
        "ip_prefixes",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("prefix", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "prefix", name=op.f("pk_ip_prefixes")),
    )
    op.create_table(
        "postings",
        sa.Column("observable_row", sa.Integer(), nullable=False),
        sa.Column("date_added", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["observable_row"],
            ["observables.row_id"],
            name=op.f("fk_postings_observable_row_observables"),
        ),
        sa.ForeignKeyConstraint(
            ["date_added"],
            ["objects.date_added"],
            name=op.f("fk_postings_date_added_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("observable_row", "date_added", name=op.f("pk_postings")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_postings_date_added", "postings", ["date_added"])
    op.create_table(
        "hits",
        sa.Column("row_id", _ROW, autoincrement=True, nullable=False),
        sa.Column("detected", sa.BigInteger(), nullable=False),
        sa.Column("match", sa.String(8), nullable=False),
        sa.Column("observable_row", sa.Integer(), nullable=False),
        sa.Column("date_added", sa.BigInteger(), nullable=False),
        sa.Column("org_row", sa.Integer(), nullable=False),
        sa.Column("counterpart_observable_row", sa.Integer(), nullable=False),
        sa.Column("counterpart_date_added", sa.BigInteger(), nullable=False),
        sa.Column("counterpart_org_row", sa.Integer(), nullable=False),
        sa.Column("cross_border", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["observable_row"],
            ["observables.row_id"],
            name=op.f("fk_hits_observable_row_observables"),
        ),
        sa.ForeignKeyConstraint(
            ["date_added"], ["objects.date_added"], name=op.f("fk_hits_date_added_objects")
        ),
        sa.ForeignKeyConstraint(["org_row"], ["orgs.row_id"], name=op.f("fk_hits_org_row_orgs")),
        sa.ForeignKeyConstraint(
            ["counterpart_observable_row"],
            ["observables.row_id"],
            name=op.f("fk_hits_counterpart_observable_row_observables"),
        ),
        sa.ForeignKeyConstraint(
            ["counterpart_date_added"],
            ["objects.date_added"],
            name=op.f("fk_hits_counterpart_date_added_objects"),
        ),
        sa.ForeignKeyConstraint(
            ["counterpart_org_row"],
            ["orgs.row_id"],
            name=op.f("fk_hits_counterpart_org_row_orgs"),
        ),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_hits")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_hits_org", "hits", ["org_row", "row_id"])
    op.create_index("ix_hits_counterpart_org", "hits", ["counterpart_org_row", "row_id"])
    op.create_index("ix_hits_date_added", "hits", ["date_added"])
    op.create_index("ix_hits_counterpart_date_added", "hits", ["counterpart_date_added"])
    op.create_table(
        "alert_channels",
        sa.Column("row_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_row", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text()),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("disabled", sa.BigInteger()),
        sa.ForeignKeyConstraint(
            ["org_row"], ["orgs.row_id"], name=op.f("fk_alert_channels_org_row_orgs")
        ),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_alert_channels")),
        sa.UniqueConstraint(
            "org_row", "kind", "target", name=op.f("uq_alert_channels_org_row_kind_target")
        ),
    )
    op.create_table(
        "deliveries",
        sa.Column("row_id", _ROW, autoincrement=True, nullable=False),
        sa.Column("channel_row", sa.Integer(), nullable=False),
        sa.Column("hit_row", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("sent", sa.BigInteger()),
        sa.ForeignKeyConstraint(
            ["channel_row"],
            ["alert_channels.row_id"],
            name=op.f("fk_deliveries_channel_row_alert_channels"),
        ),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "hit_row", "channel_row", name=op.f("uq_deliveries_hit_row_channel_row")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt"])


def downgrade() -> None:
    # the index goes with its tables: a later upgrade must build it again
    op.execute("DELETE FROM node_options WHERE name = 'correlation_indexed'")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("alert_channels")
    for name in (
        "ix_hits_counterpart_date_added",
        "ix_hits_date_added",
        "ix_hits_counterpart_org",
        "ix_hits_org",
    ):
        op.drop_index(name, table_name="hits")
    op.drop_table("hits")
    op.drop_index("ix_postings_date_added", table_name="postings")
    op.drop_table("postings")
    op.drop_table("ip_prefixes")
    op.drop_index("ix_observables_ip", table_name="observables")
    op.drop_index("ix_observables_related", table_name="observables")
    op.drop_table("observables")
