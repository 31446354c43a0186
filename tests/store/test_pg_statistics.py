"""PostgreSQL plans from statistics that autovacuum gathers only after a commit; a long
write (an import, a first pull) analyses the correlation tables itself as they grow,
so looking values up stays an index probe rather than a scan of every row of a kind."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from bayanihan.ingest.importer import import_objects
from bayanihan.node import Node
from bayanihan.policy.roles import Role
from bayanihan.policy.visibility import read_scope
from bayanihan.store import engine as engine_module
from bayanihan.store import observables as index_store
from tests.conftest import make_node
from tests.stixgen import indicator

pytestmark = pytest.mark.postgres


def _domain_indicators(prefix: str, count: int) -> list[dict[str, object]]:
    """``count`` indicators, each of its own domain under scam-bank.test."""
    return [
        indicator(
            f"{prefix}{i}.scam-bank.test",
            pattern=f"[domain-name:value = '{prefix}{i}.scam-bank.test']",
        )
        for i in range(count)
    ]


def _manual_analyses(node: Node) -> int:
    """ANALYZE runs counted for the observables table (statistics are reported when the
    writing session is idle: wait for them a little)."""
    count = 0
    for _ in range(50):
        with node.store.read() as conn:
            count = conn.execute(
                text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'observables'")
            ).scalar_one()
        if count:
            return int(count)
        time.sleep(0.1)
    return int(count)


@pytest.mark.parametrize("threshold", [500, 10**9])
def test_a_long_write_analyses_the_index_as_it_grows(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, threshold: int
) -> None:
    monkeypatch.setattr(index_store, "_ANALYZE_FROM", threshold)
    # what a bulk load analyses after its commit is left out here: only the analyses
    # inside the transaction are counted
    monkeypatch.setattr(engine_module, "_BULK_TABLES", "objects")
    pg_node = make_node(pg_url)
    summary = import_objects(pg_node, pg_node.operator(), _domain_indicators("login-", 3000))
    assert summary.stored == 3000
    pg_node.store.dispose()  # the writing session ends: its statistics are reported
    try:
        if threshold == 500:
            # inside the import's one transaction, once past 500 observables (and again
            # each time the index doubled since, as the batches come)
            assert _manual_analyses(pg_node) >= 1
        else:
            time.sleep(1)
            assert _manual_analyses(pg_node) == 0  # below the threshold nothing is analysed
    finally:
        pg_node.store.dispose()


def _generic_plans(conn: object, fragment: str) -> tuple[int, int]:
    """(generic, custom) plans PostgreSQL used for this session's prepared statements
    whose text holds ``fragment``."""
    rows = conn.exec_driver_sql(  # type: ignore[attr-defined]
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
        (f"%{fragment}%",),
    ).all()
    return sum(r[0] for r in rows), sum(r[1] for r in rows)


@pytest.mark.parametrize("options", ["as configured", "server default"])
def test_repeated_lookups_are_planned_for_their_own_values(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, options: str
) -> None:
    """psycopg prepares a statement on the server once it has run a few times; left to
    itself PostgreSQL then plans it once for all values, and for a list of observables
    under ORDER BY ... LIMIT that plan walks the whole postings index. The store has
    every execution planned for its values."""
    if options == "server default":
        real = engine_module.create_engine

        def plain(url: str, **kw: object) -> object:
            kw["connect_args"] = {"options": "-c jit=off"}
            return real(url, **kw)

        monkeypatch.setattr(engine_module, "create_engine", plain)
    node = make_node(pg_url)
    try:
        import_objects(node, node.operator(), _domain_indicators("p", 200))
        scope = read_scope(node.operator(role=Role.READER))
        with node.store.engine.connect() as conn:
            with conn.begin():
                rows = [r[0] for r in conn.exec_driver_sql("SELECT row_id FROM observables")]
            for start in range(0, 160, 10):  # the same shape (8 values), other values
                with conn.begin():
                    assert index_store.visible_postings(conn, scope, rows[start : start + 8])
            with conn.begin():
                generic, custom = _generic_plans(conn, "FROM postings JOIN objects")
        if options == "as configured":
            assert (generic, custom) == (0, custom) and custom >= 10
        else:
            assert generic > 0  # what the setting prevents happens without it
    finally:
        node.store.dispose()


def test_a_bulk_load_leaves_the_tables_it_filled_analysed(pg_url: str) -> None:
    """Statistics right after an import, without waiting for autovacuum (which a
    server may run late, or not at all): the planner knows how many rows there are."""
    node = make_node(pg_url)
    try:
        import_objects(node, node.operator(), _domain_indicators("b", 300))
        with node.store.read() as conn:
            known = dict(
                conn.exec_driver_sql(
                    "SELECT relname, reltuples FROM pg_class "
                    "WHERE relname IN ('objects', 'observables', 'postings')"
                ).all()
            )
            stored = conn.exec_driver_sql("SELECT COUNT(*) FROM objects").scalar_one()
        # reltuples is -1 for a table never analysed
        assert known["objects"] == stored >= 300
        assert known["observables"] >= 300 and known["postings"] >= 300
    finally:
        node.store.dispose()


def test_an_import_stays_committed_when_the_analysis_after_it_fails(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(engine_module, "_BULK_TABLES", "no_such_table")
    node = make_node(pg_url)
    try:
        summary = import_objects(node, node.operator(), _domain_indicators("c", 20))
        assert summary.stored == 20
        with node.store.read() as conn:
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM objects").scalar_one() >= 20
        assert "were not analysed" in caplog.text
    finally:
        node.store.dispose()
