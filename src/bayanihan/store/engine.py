"""The database handle: engines, the single SQLite writer, and migrations."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

_SQLITE_CACHE = -65536  # 64 MiB per reading connection
_SQLITE_WRITER_CACHE = -131072  # 128 MiB for the one writing connection
# Readers map the database file: a reader's page jumps between the rows it may see,
# and each page read through the cache costs a system call and a copy (memory-mapped:
# a policy page of 1,000 objects out of 1,000,000 went from 3.1 to 2.5 ms). SQLite
# caps the size at its compile-time limit (2 GiB in common builds); beyond it, reads
# go through the cache as before. The writer keeps plain reads, so its resident
# memory stays its own.
_SQLITE_READER_MMAP = 1 << 40


# Per-transaction state of a ``Store.write`` (in ``Connection.info``): work a layer
# defers to the end of the transaction, run just before the commit, and dropped
# whatever the outcome, so nothing of one transaction reaches the next.
_TRANSACTION = "bayanihan_transaction"


def transaction_state(conn: Connection) -> dict[str, Any] | None:
    """The open ``Store.write`` transaction's state, or None outside one."""
    state = conn.info.get(_TRANSACTION)
    return state if isinstance(state, dict) else None


def before_commit(conn: Connection, name: str, hook: Any) -> bool:
    """Run ``hook(conn)`` just before this write transaction commits (once per name).

    Returns False outside a ``Store.write`` transaction: the caller does its work at
    once instead.
    """
    state = transaction_state(conn)
    if state is None:
        return False
    state.setdefault("hooks", {}).setdefault(name, hook)
    return True


class StoreError(Exception):
    """A storage operation could not be carried out (bad URL, unreachable database...)."""


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs and use psycopg 3 for them."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise StoreError(f"not a database URL: {url!r}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise StoreError(
            f"unsupported database {parsed.drivername!r}: use sqlite:/// or postgresql://"
        )
    return parsed.render_as_string(hide_password=False)


class Store:
    """One node database.

    SQLite: every write goes through one writer (a process-wide lock plus
    ``BEGIN IMMEDIATE``), reads run in parallel under WAL. PostgreSQL: writers
    serialise on the date_added counter row, which is what keeps the paging
    cursor gap-free (see ``store.objects``).
    """

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL") -> None:
        self.url = normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self._write_lock = threading.Lock()
        self._background_checkpoints = False
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(sqlite_synchronous, writer=False)
            self._writer = self._sqlite_engine(sqlite_synchronous, writer=True)
        else:
            # JIT compilation costs hundreds of milliseconds per query and pays off only
            # for analytics; the planner's estimates for the visibility subqueries set it off.
            # psycopg prepares a statement on the server once it has run a few times, and
            # PostgreSQL then may switch to one plan for every parameter value: for a
            # lookup by a list of observables under ORDER BY ... LIMIT that plan walks
            # the whole postings index backwards (100 ms and more instead of under 1 ms).
            # Reads are planned for their own values; writes keep the shared plans, since
            # re-planning each row of a batch insert made an import 60% slower.
            self.engine = self._pg_engine(
                "-c jit=off -c plan_cache_mode=force_custom_plan", pool_size=8
            )
            self._writer = self._pg_engine("-c jit=off", pool_size=4)

    def _pg_engine(self, options: str, *, pool_size: int) -> Engine:
        return create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=8,
            pool_pre_ping=True,
            connect_args={"options": options},
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _sqlite_engine(self, synchronous: str, *, writer: bool) -> Engine:
        """Readers share a pool; the writer has one connection of its own, with a cache
        big enough for the indexes that every insert touches."""
        in_memory = make_url(self.url).database in (None, "", ":memory:")
        pooling: dict[str, Any] = {"poolclass": NullPool} if in_memory else {}
        if writer and not pooling:
            pooling = {"pool_size": 1, "max_overflow": 0}
        engine = create_engine(
            self.url, connect_args={"check_same_thread": False, "timeout": 60}, **pooling
        )
        cache = _SQLITE_WRITER_CACHE if writer else _SQLITE_CACHE

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute(f"PRAGMA cache_size={cache}")
            cursor.execute("PRAGMA temp_store=MEMORY")
            if not writer and not in_memory:
                cursor.execute(f"PRAGMA mmap_size={_SQLITE_READER_MMAP}")
            # Checkpoint every 64 MiB of WAL rather than SQLite's 4 MiB: a checkpoint
            # syncs the database file, and at the default it ran on nearly every POST.
            # While a background thread checkpoints (a serving node), the writer
            # leaves it to that thread unless the WAL reaches 1 GiB.
            pages = 262144 if writer and self._background_checkpoints else 16384
            cursor.execute(f"PRAGMA wal_autocheckpoint={pages}")
            cursor.execute("PRAGMA journal_size_limit=67108864")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in the one write transaction; commits on success, rolls back on error."""
        if self.is_sqlite:
            with self._write_lock, self._writer.connect() as conn:
                yield from _deferring(conn)
        else:
            with self._writer.connect() as conn:
                yield from _deferring(conn)

    @contextmanager
    def bulk_write(self, *, cache_mib: int = 144) -> Iterator[Connection]:
        """The write transaction for a bulk load, with a larger SQLite page cache.

        The unique index on object ids takes random inserts; a cache that holds
        it keeps a million-object import from turning into random disk reads.
        144 MiB imported 1,000,000 indicators as fast as 192 MiB did (128 MiB was
        slower) and keeps the import's two processes under 500 MB together.
        The pragma applies to this connection only and is restored afterwards.
        """
        with self.write() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql(f"PRAGMA cache_size=-{cache_mib * 1024}")
            try:
                yield conn
            finally:
                if self.is_sqlite:
                    conn.exec_driver_sql(f"PRAGMA cache_size={_SQLITE_WRITER_CACHE}")
        if not self.is_sqlite:
            # A bulk load changes the make-up of these tables at once, and PostgreSQL
            # plans from statistics that autovacuum gathers only later (or never, on a
            # server that runs without it): searches right after an import of 100,000
            # objects took twice as long until the tables were analysed.
            # The load is committed by now: a failure here must not report it as failed.
            try:
                with self._writer.connect() as conn, conn.begin():
                    conn.exec_driver_sql(f"ANALYZE {_BULK_TABLES}")
            except SQLAlchemyError as exc:
                _log.warning("the tables of a bulk load were not analysed: %s", exc)

    def checkpoint_in_background(self) -> None:
        """From now on a background thread calls ``checkpoint``: commits stop doing it."""
        self._background_checkpoints = True
        if self.is_sqlite:
            self._writer.dispose()  # the next writing connection takes the new setting

    def checkpoint(self) -> None:
        """Copy committed WAL pages into the database file without blocking anyone.

        A serving node calls this from a background thread, so that requests do
        not pay for checkpoints (SQLite otherwise runs them inside a commit).
        """
        if self.is_sqlite:
            with self.engine.connect() as conn:
                # on the driver connection: a checkpoint inside a transaction does nothing
                driver = conn.connection.dbapi_connection
                assert driver is not None
                driver.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration shipped in the package.

        On SQLite, foreign keys are off while migrations run (set outside the
        transaction, where SQLite honours it), as SQLite prescribes for rebuilding
        a table others point at; they are checked before the commit.
        """
        config = alembic_config(self.url)
        if not self.is_sqlite:
            with self.write() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
            return
        with self._write_lock, self._writer.connect() as conn:
            driver = conn.connection.dbapi_connection
            assert driver is not None
            driver.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"migration left broken references: {broken[:5]}")
            finally:
                driver.execute("PRAGMA foreign_keys=ON")

    def schema_behind(self) -> str | None:
        """None when the schema is at the newest migration shipped in the package; else
        what it is at and what this version needs (an upgrade not yet migrated)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return None
        return f"the database schema is at revision {current or 'none'}, this version needs {head}"

    def is_initialised(self) -> bool:
        with self.engine.connect() as conn:
            return inspect(conn).has_table("node")

    def dispose(self) -> None:
        self.engine.dispose()
        self._writer.dispose()


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at the migrations inside the installed package."""
    config = Config()
    location = resources.files("bayanihan.store") / "migrations"
    config.set_main_option("script_location", str(location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


_log = logging.getLogger("bayanihan.store")

_BULK_TABLES = (
    "objects, object_readers, object_user_readers, object_groups, object_refs, "
    "observables, postings, hits"
)


def _deferring(conn: Connection) -> Iterator[Connection]:
    """One transaction on ``conn`` whose deferred work (``before_commit``) runs before
    the commit; on an error nothing of it runs and its state is dropped."""
    state: dict[str, Any] = {}
    conn.info[_TRANSACTION] = state
    try:
        with conn.begin():
            yield conn
            hooks = state.get("hooks", {})
            while hooks:  # a hook may defer more work
                name = next(iter(hooks))
                hooks.pop(name)(conn)
    finally:
        conn.info.pop(_TRANSACTION, None)
