"""Storage: SQLAlchemy Core over SQLite (default) or PostgreSQL, chosen by URL.

Nothing outside this package writes SQL. The rest of the system calls the
functions of its modules with plain values and gets plain values back.
"""

from bayanihan.store.engine import Store

__all__ = ["Store"]
