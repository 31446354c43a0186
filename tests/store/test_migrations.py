"""Upgrading a database that already holds data, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import insert, select

from bayanihan.store import Store
from bayanihan.store.engine import alembic_config
from bayanihan.store.schema import orgs, sharing_group_members, sharing_groups

GROUP = "x-bayanihan-sharing-group--5f0c7a2e-9b1d-4e3a-8c6f-1a2b3c4d5e6f"


def test_upgrade_with_sharing_groups_in_place(db_url: str) -> None:
    """Migration 0004 rebuilds sharing_groups on SQLite while members point at it."""
    store = Store(db_url)
    with store.write() as conn:
        config = alembic_config(store.url)
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
    with store.write() as conn:
        for row, name in ((1, "Alpha"), (2, "Bravo")):
            conn.execute(
                insert(orgs).values(
                    row_id=row,
                    identity_id=f"identity--0000000{row}-0000-4000-8000-000000000000",
                    name=name,
                    country="PH",
                    local=True,
                    created=0,
                )
            )
        conn.execute(
            insert(sharing_groups).values(row_id=1, id=GROUP, name="Mekong", owner_org=1, created=0)
        )
        conn.execute(
            insert(sharing_group_members), [{"group_row": 1, "org_row": o} for o in (1, 2)]
        )
    store.migrate()
    store.migrate()  # a second run changes nothing
    with store.read() as conn:
        members = conn.execute(
            select(sharing_group_members.c.org_row).order_by(sharing_group_members.c.org_row)
        ).scalars()
        assert list(members) == [1, 2]
        assert conn.execute(select(sharing_groups.c.name)).scalars().all() == ["Mekong"]
    with store.write() as conn:  # names are now unique per owner: another may reuse one
        conn.execute(
            insert(sharing_groups).values(
                row_id=2, id=GROUP.replace("5f0c", "6f0c"), name="Mekong", owner_org=2, created=0
            )
        )
    store.dispose()


def test_upgrade_to_correlation_indexes_what_was_stored(db_url: str) -> None:
    """Objects stored before migration 0006 are indexed by the next `init`."""
    from bayanihan.catalogue import Catalogue
    from bayanihan.correlate.service import Correlation
    from tests.conftest import make_node
    from tests.stixgen import indicator

    node = make_node(db_url)
    node.add_org("SingCERT", country="SG")
    pattern = "[domain-name:value = 'qzx-before-upgrade.com']"
    for who in (node.operator(), node.operator("SingCERT")):
        Catalogue(node).submit(who, [indicator("x", pattern=pattern)])
    assert len(Correlation(node).hits(node.operator()).hits) == 1
    with node.store.write() as conn:
        config = alembic_config(node.store.url)
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
    node.store.dispose()
    upgraded = make_node(db_url)  # init: migrate, then build the index once
    from bayanihan.correlate.service import needs_rebuild

    assert not needs_rebuild(upgraded)
    [hit] = Correlation(upgraded).hits(upgraded.operator()).hits
    assert hit["cross_border"] is True
    upgraded.store.dispose()


def test_migrations_build_exactly_the_declared_schema(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bayanihan.store.schema import metadata

    store = Store(db_url)
    store.migrate()
    with store.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.dispose()
    assert diff == []


def test_upgrade_keeps_recorded_peers(db_url: str) -> None:
    """Peers recorded before migrations 0010 and 0011 present no client certificate and
    have no outbound cap."""
    from bayanihan.store import peers as peer_store
    from bayanihan.store.schema import peers

    store = Store(db_url)
    with store.write() as conn:
        config = alembic_config(store.url)
        config.attributes["connection"] = conn
        command.upgrade(config, "0009")
    with store.write() as conn:
        conn.execute(
            insert(peers).values(
                name="B",
                url="https://b.example.org/taxii2/",
                auth="key",
                secret="bay_k",
                allow_insecure=False,
                created=0,
                pulled=0,
            )
        )
    store.migrate()
    with store.read() as conn:
        [record] = peer_store.list_peers(conn)
    assert (record.name, record.client_cert, record.client_key) == ("B", None, None)
    assert record.outbound.open
    store.dispose()


def test_serve_and_sync_refuse_an_old_schema_until_init_migrates_it(tmp_path: Path) -> None:
    """After an upgrade of the package, the commands that serve or sync name the schema's
    revision and the one needed instead of failing request by request; `init` migrates."""
    from tests.conftest import free_port, make_node, run_cli

    db = f"sqlite:///{tmp_path / 'node.db'}"
    node = make_node(db)
    with node.store.write() as conn:
        config = alembic_config(node.store.url)
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")
    node.store.dispose()
    served = run_cli("--db", db, "serve", "--port", str(free_port()), timeout=60)
    assert served.returncode == 2
    assert "schema is at revision 0010" in served.stderr
    assert "run `bayanihan init`" in served.stderr
    synced = run_cli("--db", db, "sync")
    assert synced.returncode == 2 and "schema is at revision 0010" in synced.stderr
    assert run_cli("--db", db, "init").returncode == 0
    assert run_cli("--db", db, "sync").returncode == 0  # no peers: nothing to do, no error


def test_upgrade_gives_every_posting_its_author(db_url: str) -> None:
    """Postings stored before migration 0012 get their version's author, and a later
    object sharing their value raises its hit against them."""
    from bayanihan.catalogue import Catalogue
    from bayanihan.correlate.service import Correlation
    from bayanihan.store.schema import objects, postings
    from tests.conftest import make_node
    from tests.stixgen import indicator

    node = make_node(db_url)
    node.add_org("SingCERT", country="SG")
    node.add_org("KrCERT", country="KR")
    pattern = "[domain-name:value = 'qzx-posting-author.com']"
    Catalogue(node).submit(node.operator("SingCERT"), [indicator("x", pattern=pattern)])
    with node.store.write() as conn:
        config = alembic_config(node.store.url)
        config.attributes["connection"] = conn
        command.downgrade(config, "0011")
    node.store.dispose()
    upgraded = make_node(db_url)
    with upgraded.store.read() as conn:
        pairs = conn.execute(
            select(postings.c.author_org, objects.c.author_org).join(
                objects, objects.c.date_added == postings.c.date_added
            )
        ).all()
    assert pairs and all(mine == theirs for mine, theirs in pairs)
    Catalogue(upgraded).submit(upgraded.operator("KrCERT"), [indicator("y", pattern=pattern)])
    [hit] = Correlation(upgraded).hits(upgraded.operator("KrCERT")).hits
    assert hit["cross_border"] is True
    upgraded.store.dispose()


def test_hit_row_ids_are_not_reused_after_the_hits_table_is_rebuilt(db_url: str) -> None:
    """Migration 0013 rebuilds the hits table on SQLite; the newest hit removed before it
    must not see its row id handed out again."""
    from bayanihan.catalogue import Catalogue
    from bayanihan.correlate.service import Correlation
    from bayanihan.store.schema import hits
    from tests.conftest import make_node
    from tests.stixgen import indicator

    node = make_node(db_url)
    node.add_org("SingCERT", country="SG")
    node.add_org("KrCERT", country="KR")
    for n in range(3):
        pattern = f"[domain-name:value = 'qzx-hit-{n}.com']"
        for org in ("SingCERT", "KrCERT"):
            Catalogue(node).submit(node.operator(org), [indicator(f"{org}{n}", pattern=pattern)])
    with node.store.write() as conn:
        highest = conn.execute(select(hits.c.row_id).order_by(hits.c.row_id.desc())).scalar()
        assert highest is not None
        conn.execute(hits.delete().where(hits.c.row_id == highest))
        config = alembic_config(node.store.url)
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
    node.store.dispose()
    upgraded = make_node(db_url)
    pattern = "[domain-name:value = 'qzx-hit-after.com']"
    for org in ("SingCERT", "KrCERT"):
        Catalogue(upgraded).submit(upgraded.operator(org), [indicator(f"{org}x", pattern=pattern)])
    with upgraded.store.read() as conn:
        rows = conn.execute(select(hits.c.row_id).order_by(hits.c.row_id)).scalars().all()
    assert len(rows) == 3 and rows[-1] > highest
    assert len(Correlation(upgraded).hits(upgraded.operator("KrCERT")).hits) == 3
    upgraded.store.dispose()
