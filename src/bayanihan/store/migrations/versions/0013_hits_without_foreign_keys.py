"""hits lose their foreign keys: derived rows, and their checks dominated recording a hit

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_KEYS = (
    ("fk_hits_observable_row_observables", "observable_row", "observables", "row_id"),
    ("fk_hits_date_added_objects", "date_added", "objects", "date_added"),
    ("fk_hits_org_row_orgs", "org_row", "orgs", "row_id"),
    (
        "fk_hits_counterpart_observable_row_observables",
        "counterpart_observable_row",
        "observables",
        "row_id",
    ),
    ("fk_hits_counterpart_date_added_objects", "counterpart_date_added", "objects", "date_added"),
    ("fk_hits_counterpart_org_row_orgs", "counterpart_org_row", "orgs", "row_id"),
)


def _rebuild(add: bool) -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    # SQLite rebuilds the table: hit row ids must stay never reused (AUTOINCREMENT)
    seq = (
        bind.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'hits'").scalar()
        if sqlite
        else None
    )
    with op.batch_alter_table("hits", table_kwargs={"sqlite_autoincrement": True}) as batch:
        for name, column, table, target in _KEYS:
            if add:
                batch.create_foreign_key(name, table, [column], [target])
            else:
                batch.drop_constraint(name, type_="foreignkey")
    if seq is not None:
        bind.exec_driver_sql(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'hits'", (int(seq),)
        )
        if not bind.exec_driver_sql("SELECT 1 FROM sqlite_sequence WHERE name = 'hits'").first():
            bind.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('hits', ?)", (int(seq),)
            )


def upgrade() -> None:
    _rebuild(add=False)


def downgrade() -> None:
    _rebuild(add=True)
