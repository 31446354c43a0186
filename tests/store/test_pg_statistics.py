"""PostgreSQL plans from statistics that autovacuum gathers only after a commit; a long
write (an import, a first pull) analyses the correlation tables itself as they grow,
so looking values up stays an index probe rather than a scan of every row of a kind."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bayanihan.ingest.importer import import_objects
from bayanihan.node import Node
from bayanihan.store import observables as index_store
from tests.conftest import make_node
from tests.stixgen import indicator

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_node(pg_url: str) -> Iterator[Node]:
    node = make_node(pg_url)
    yield node
    node.store.dispose()


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
    pg_node: Node, monkeypatch: pytest.MonkeyPatch, threshold: int
) -> None:
    monkeypatch.setattr(index_store, "_ANALYZE_FROM", threshold)
    objects = [
        indicator(
            f"login-{i}.scam-bank.test", pattern=f"[domain-name:value = 'login-{i}.scam-bank.test']"
        )
        for i in range(3000)
    ]
    summary = import_objects(pg_node, pg_node.operator(), objects)
    assert summary.stored == 3000
    pg_node.store.dispose()  # the writing session ends: its statistics are reported
    if threshold == 500:
        # inside the import's one transaction, once past 500 observables (and again
        # each time the index doubled since, as the batches come)
        assert _manual_analyses(pg_node) >= 1
    else:
        time.sleep(1)
        assert _manual_analyses(pg_node) == 0  # below the threshold nothing is analysed
