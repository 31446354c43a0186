"""Statements compiled once and run at the driver level.

A SQLAlchemy statement as rich as a visibility filter costs more to build, and to
derive its cache key on every execution, than SQLite takes to run it (a search
probe spent 0.8 of its 1.1 ms there). For statements on a hot read path the
statement is built and compiled once per shape, and each call only supplies the
values of its parameters to the driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect


@dataclass(frozen=True, slots=True)
class Prepared:
    """A compiled statement: its text and how to lay out its parameters."""

    sql: str
    positions: tuple[str, ...] | None  # parameter names in order; None: named style
    defaults: Mapping[str, Any]  # values bound when the statement was built

    @classmethod
    def compile(cls, statement: Any, dialect: Dialect) -> Prepared:
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        positions = tuple(compiled.positiontup) if compiled.positional else None
        return cls(compiled.string, positions, dict(compiled.params))

    def run(self, conn: Connection, values: Mapping[str, Any] | None = None) -> list[Any]:
        """Every row the statement returns, with ``values`` for its named parameters."""
        params = {**self.defaults, **values} if values else self.defaults
        if self.positions is not None:
            args: Any = tuple(params[name] for name in self.positions)
        else:
            args = dict(params)
        return list(conn.exec_driver_sql(self.sql, args).all())


def padded(values: list[Any]) -> list[Any]:
    """``values`` (not empty) repeated at the end up to a power of two: statements of
    an IN list are compiled per length, and this keeps the lengths few."""
    size = 1
    while size < len(values):
        size *= 2
    return values + [values[-1]] * (size - len(values))
