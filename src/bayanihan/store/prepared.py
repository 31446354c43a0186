"""Statements compiled once and run at the driver level.

A SQLAlchemy statement as rich as a visibility filter costs more to build, and to
derive its cache key on every execution, than SQLite takes to run it (a search
probe spent 0.8 of its 1.1 ms there). For statements on a hot read path the
statement is built and compiled once per shape, and each call only supplies the
values of its parameters to the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


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


class Statements:
    """Compiled statements by shape (and dialect), built on first use.

    The shapes a node sees are few (one per reader scope and query form); should a
    caller bring many, the cache empties itself at ``size`` rather than grow.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._found: dict[tuple[Hashable, str], Prepared | None] = {}

    def get(self, conn: Connection, key: Hashable, build: Callable[[], Any]) -> Prepared | None:
        """The statement for ``key``; ``build`` makes it (None: the shape has none)."""
        slot = (key, conn.dialect.name)
        if slot not in self._found:
            if len(self._found) >= self._size:
                self._found.clear()
            statement = build()
            self._found[slot] = (
                None if statement is None else Prepared.compile(statement, conn.dialect)
            )
        return self._found[slot]


def slots(
    name: str, count: int, type_: TypeEngine[Any] | type[TypeEngine[Any]]
) -> list[BindParameter[Any]]:
    """``count`` parameters ``name_0``... for an IN list given per call (see ``fill``)."""
    return [bindparam(f"{name}_{i}", 0, type_) for i in range(count)]


def fill(name: str, values: list[Any]) -> dict[str, Any]:
    """The values of the parameters ``slots(name, len(values), ...)``."""
    return {f"{name}_{i}": value for i, value in enumerate(values)}


def padded(values: list[Any]) -> list[Any]:
    """``values`` (not empty) repeated at the end up to a power of two: statements of
    an IN list are compiled per length, and this keeps the lengths few."""
    size = 1
    while size < len(values):
        size *= 2
    return values + [values[-1]] * (size - len(values))
