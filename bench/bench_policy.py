"""The cost of the sharing policy when listing objects, on SQLite and PostgreSQL.

A node with 40 organisations holds ``--count`` indicator versions with mixed
audiences (seeded): about 40% for the whole community (TLP:GREEN or CLEAR),
35% for the author alone and 25% for sets of 2-6 organisations (TLP:AMBER or
RED). In one run and one database, with a warm cache, the script times pages
of 1,000 objects read through ``list_bodies`` with the policy disabled
(``ReadScope(everything=True)``) and as five different organisations, from
the start of the store and from a random point in the middle, plus a bare
``SELECT`` of the same pages for reference.

Results go to bench/.work/policy.json and, as a markdown section for
docs/benchmarks.md, to bench/.work/policy.md. The SQLite store is kept in
bench/.work and reused by later runs with the same ``--count``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.engine import make_url

from bayanihan.node import Node
from bayanihan.policy.tlp import Tlp
from bayanihan.settings import Settings
from bayanihan.stix.timestamps import parse_timestamp
from bayanihan.store import objects as object_store
from bayanihan.store.objects import (
    NewVersion,
    ObjectQuery,
    insert_versions,
    list_bodies,
    visible,
)
from bayanihan.store.schema import audiences, objects

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datagen import indicators  # noqa: E402
from servers import WORK  # noqa: E402

ORGS = 40
VIEWERS = 5
PAGE = 1000
BATCH = 5000
COMMIT_EVERY = 100_000
PROGRESS = 25_000
GOAL_RATIO = 2.0
SEED = 7
GOAL = (
    "Listing 1,000 objects per page from a store of 1,000,000 with mixed audiences costs "
    "no more than 2x listing them with the policy disabled (measured in the same run, "
    "on SQLite and PostgreSQL)."
)

COMMUNITY_TLPS = (Tlp.GREEN, Tlp.CLEAR)
RESTRICTED_TLPS = (Tlp.AMBER, Tlp.RED)

# The scope and audience types the store itself renders into SQL.
ReadScope = object_store.ReadScope
_AUDIENCE = getattr(object_store, "Audience", None)


def as_audience(orgs: frozenset[int] | None) -> Any:
    """The stored form of an audience of organisations (None: the whole community)."""
    if orgs is None or _AUDIENCE is None:
        return orgs
    return _AUDIENCE(orgs=orgs)


def date_added(row: Any) -> int:
    """The paging cursor of one ``list_bodies`` row (a tuple or a row object)."""
    value = getattr(row, "date_added", None)
    return int(row[0] if value is None else value)


# -- building the store ---------------------------------------------------------------------


def make_node(db: str) -> Node:
    node = Node(Settings(db=db))
    if node.init(node_name="Policy bench", country="VN"):
        for n in range(1, ORGS + 1):
            node.add_org(f"Bench org {n:02d}", country="VN")
    return node


def bench_orgs(node: Node) -> list[tuple[int, str]]:
    """(row id, identity id) of the organisations the objects are written by."""
    own = node.node_record().org_row
    return sorted((o.row_id, o.identity_id) for o in node.orgs() if o.row_id != own)


def indicator_count(node: Node) -> int:
    with node.store.read() as conn:
        query = select(func.count()).select_from(objects).where(objects.c.type == "indicator")
        return int(conn.execute(query).scalar_one())


def choose_audience(
    rng: random.Random, author: int, org_rows: list[int]
) -> tuple[Tlp, frozenset[int] | None]:
    draw = rng.random()
    if draw < 0.40:
        return rng.choice(COMMUNITY_TLPS), None
    tlp = rng.choice(RESTRICTED_TLPS)
    if draw < 0.75:
        return tlp, frozenset({author})
    others = [o for o in org_rows if o != author]
    return tlp, frozenset({author, *rng.sample(others, rng.randint(2, 6) - 1)})


def new_version(
    obj: dict[str, Any],
    *,
    author: int,
    identity: str,
    tlp: Tlp,
    audience: frozenset[int] | None,
    collection_row: int,
) -> NewVersion:
    obj["created_by_ref"] = identity
    obj["object_marking_refs"] = [tlp.marking_id]
    return NewVersion(
        id=obj["id"],
        type=obj["type"],
        spec_version=obj["spec_version"],
        version=parse_timestamp(obj["modified"]),
        created=parse_timestamp(obj["created"]),
        created_by_ref=identity,
        author_org=author,
        revoked=False,
        tlp=tlp.label,
        markings=tlp.marking_id,
        confidence=obj.get("confidence"),
        valid_until=None,
        origin="local",
        audience=as_audience(audience),
        collection_row=collection_row,
        body=orjson.dumps(obj, option=orjson.OPT_SORT_KEYS),
    )


def versions(node: Node, count: int) -> Iterator[NewVersion]:
    rng = random.Random(SEED)
    orgs = bench_orgs(node)
    org_rows = [row for row, _ in orgs]
    collection_row = node.default_collection_row()
    for obj in indicators(count, seed=SEED):
        author, identity = rng.choice(orgs)
        tlp, audience = choose_audience(rng, author, org_rows)
        yield new_version(
            obj,
            author=author,
            identity=identity,
            tlp=tlp,
            audience=audience,
            collection_row=collection_row,
        )


def build(node: Node, count: int, label: str) -> float:
    """Store ``count`` indicator versions; returns the seconds it took."""
    started = time.perf_counter()
    stream = versions(node, count)
    done = 0
    while done < count:
        with node.store.bulk_write() as conn:
            target = min(count, done + COMMIT_EVERY)
            while done < target:
                batch = [next(stream) for _ in range(min(BATCH, target - done))]
                insert_versions(conn, batch, now=node.clock())
                done += len(batch)
                if done % PROGRESS == 0 or done == count:
                    rate = done / (time.perf_counter() - started)
                    print(
                        f"  {label}: {done:,}/{count:,} stored, {rate:,.0f}/s, "
                        f"about {(count - done) / rate:,.0f} s to go",
                        flush=True,
                    )
    return time.perf_counter() - started


# -- measuring ------------------------------------------------------------------------------


Timings = list[tuple[float, bool]]


def policy_page(conn: Connection, scope: Any, after: int | None) -> tuple[float, int | None]:
    """Seconds for one ``list_bodies`` page and the cursor of the next (None: the end)."""
    began = time.perf_counter()
    rows = list_bodies(conn, ObjectQuery(scope=scope, after=after, limit=PAGE))
    elapsed = time.perf_counter() - began
    return elapsed, date_added(rows[PAGE - 1]) if len(rows) > PAGE else None


def bare_page(conn: Connection, after: int | None) -> tuple[float, int | None]:
    """The same page as a bare SELECT on the same connection, with no policy or filter."""
    marker = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = (
        f"SELECT date_added, body FROM objects WHERE date_added > {marker} "
        f"ORDER BY date_added LIMIT {PAGE + 1}"
    )
    began = time.perf_counter()
    rows = conn.exec_driver_sql(sql, (-1 if after is None else after,)).fetchall()
    elapsed = time.perf_counter() - began
    return elapsed, rows[PAGE - 1][0] if len(rows) > PAGE else None


def walk(
    conn: Connection, scopes: list[tuple[str, Any]], start: int | None, pages: int
) -> dict[str, Timings]:
    """``pages`` consecutive pages from ``start`` for each scope (and the bare SELECT).

    The walks advance in lockstep, one page of each in turn (the order rotating),
    so that anything else running on the machine weighs on all of them alike. A
    walk that reaches the end of the store goes on from the beginning.
    """
    names = ["bare", *(name for name, _ in scopes)]
    by_name = dict(scopes)
    cursors: dict[str, int | None] = dict.fromkeys(names, start)
    timed: dict[str, Timings] = {name: [] for name in names}
    for step in range(pages):
        shift = step % len(names)
        for name in names[shift:] + names[:shift]:
            if name == "bare":
                elapsed, cursor = bare_page(conn, cursors[name])
            else:
                elapsed, cursor = policy_page(conn, by_name[name], cursors[name])
            timed[name].append((elapsed, cursor is None))
            cursors[name] = cursor
    return timed


def ms(values: Timings) -> float:
    return statistics.median(seconds for seconds, _ in values) * 1000


def ends(values: Timings) -> int:
    return sum(1 for _, end in values if end)


def measure(node: Node, pages: int) -> dict[str, Any]:
    rng = random.Random(SEED + 1)
    viewers = sorted(rng.sample([row for row, _ in bench_orgs(node)], VIEWERS))
    scopes: list[tuple[str, Any]] = [("off", ReadScope(everything=True))]
    scopes += [(f"org {v}", ReadScope(org_rows=frozenset({v}))) for v in viewers]
    with node.store.read() as conn:
        low, high = conn.execute(
            select(func.min(objects.c.date_added), func.max(objects.c.date_added)).where(
                objects.c.type == "indicator"
            )
        ).one()
        middle = int(low + (high - low) * rng.uniform(0.25, 0.75))
        starts: list[int | None] = [None, middle]
        total = int(conn.execute(select(func.count()).select_from(objects)).scalar_one())
        audience_sets = int(conn.execute(select(func.count()).select_from(audiences)).scalar_one())
        shares = {}
        for name, scope in scopes[1:]:
            seen = conn.execute(
                select(func.count()).select_from(objects).where(visible(scope))
            ).scalar_one()
            shares[name] = seen / total
        for start in starts:
            walk(conn, scopes, start, pages)
        timed: dict[str, Timings] = {name: [] for name, _ in scopes}
        bare: Timings = []
        for start in starts:
            for name, values in walk(conn, scopes, start, pages).items():
                if name == "bare":
                    bare += values
                else:
                    timed[name] += values
    on = [t for name, values in timed.items() if name != "off" for t in values]
    off_ms, on_ms = ms(timed["off"]), ms(on)
    ratio = on_ms / off_ms
    return {
        "objects": total,
        "audience_sets": audience_sets,
        "pages_per_start": pages,
        "starts": ["beginning", f"date_added > {middle}"],
        "viewers": viewers,
        "visible_share": shares,
        "bare_select_ms": ms(bare),
        "policy_off_ms": off_ms,
        "policy_on_ms": on_ms,
        "policy_on_ms_by_viewer": {k: ms(v) for k, v in timed.items() if k != "off"},
        "policy_on_worst_viewer_ms": max(ms(v) for k, v in timed.items() if k != "off"),
        "ratio": ratio,
        "goal_met": ratio <= GOAL_RATIO,
        "timed_pages": {"bare": len(bare), **{k: len(v) for k, v in timed.items()}},
        "pages_reaching_the_end": {"bare": ends(bare), **{k: ends(v) for k, v in timed.items()}},
    }


# -- backends -------------------------------------------------------------------------------


def run_sqlite(count: int, pages: int) -> dict[str, Any]:
    path = WORK / f"policy-{count}.db"
    node = make_node(f"sqlite:///{path}")
    try:
        held = indicator_count(node)
        build_seconds = None
        if held == count:
            print(f"sqlite: reusing {path} ({held:,} indicators)", flush=True)
        else:
            node.store.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            node = make_node(f"sqlite:///{path}")
            print(f"sqlite: building {path}", flush=True)
            build_seconds = build(node, count, "sqlite")
            node.store.checkpoint()
        result = measure(node, pages)
    finally:
        node.store.dispose()
    result["build_seconds"] = build_seconds
    return result


def admin_engine(base_url: str) -> Any:
    return create_engine(
        make_url(base_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )


@contextmanager
def pg_database(base_url: str) -> Iterator[str]:
    name = f"bench_policy_{uuid.uuid4().hex[:10]}"
    admin = admin_engine(base_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_postgresql(base_url: str, count: int, pages: int) -> dict[str, Any]:
    with pg_database(base_url) as url:
        node = make_node(url)
        try:
            print("postgresql: building", flush=True)
            build_seconds = build(node, count, "postgresql")
            with node.store.write() as conn:
                conn.exec_driver_sql("ANALYZE")
            result = measure(node, pages)
        finally:
            node.store.dispose()
    result["build_seconds"] = build_seconds
    return result


# -- report ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "## Sharing policy cost (list_bodies, pages of 1,000, warm cache)",
        "",
        "| database | objects | distinct audiences | bare SELECT ms/page | policy off ms/page |"
        " policy on ms/page (5 orgs) | worst org ms/page | share an org sees | on / off |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    backends = [b for b in ("sqlite", "postgresql") if b in results]
    for backend in backends:
        r = results[backend]
        shares = list(r["visible_share"].values())
        lines.append(
            f"| {backend} | {r['objects']:,} | {r['audience_sets']:,} | {r['bare_select_ms']:.2f} |"
            f" {r['policy_off_ms']:.2f} | {r['policy_on_ms']:.2f} |"
            f" {r['policy_on_worst_viewer_ms']:.2f} |"
            f" {min(shares):.0%}–{max(shares):.0%} | {r['ratio']:.2f}x |"
        )
    lines.append("")
    for backend in backends:
        r = results[backend]
        lines.append(
            f"- Goal: on {backend}, a policy page costs at most {GOAL_RATIO:g}x one with the "
            f"policy disabled ({r['objects']:,} objects): {r['ratio']:.2f}x, "
            f"{verdict(r['goal_met'])}."
        )
    for backend in backends:
        r = results[backend]
        ended = sum(r["pages_reaching_the_end"].values())
        if ended:
            lines.append(
                f"- On {backend}, {ended:,} of {sum(r['timed_pages'].values()):,} timed pages "
                "reached the end of the store (a short last page); the walk then went on "
                "from the beginning."
            )
    if results["count"] != 1_000_000:
        lines.append(
            f"- The goal is stated for 1,000,000 objects; this run stored {results['count']:,}."
        )
    if "postgresql" not in results:
        lines.append("- PostgreSQL was not run (no `--pg` URL), so the goal is not shown for it.")
    lines.append(
        f"- Medians over {results['pages']} consecutive pages from the start of the store and "
        f"{results['pages']} from a random point in the middle, for each of 5 viewer orgs "
        "(policy on) and for the node admin (policy off); one untimed walk first. "
        f"Audiences: ~40% community, ~35% the author only, ~25% sets of 2–6 of {ORGS} orgs."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument(
        "--pg", default=os.environ.get("BAYANIHAN_BENCH_PG", os.environ.get("BAYANIHAN_TEST_PG"))
    )
    parser.add_argument("--pages", type=int, default=50)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"goal": GOAL, "count": args.count, "pages": args.pages}
    results["sqlite"] = run_sqlite(args.count, args.pages)
    print("sqlite", results["sqlite"], flush=True)
    if args.pg:
        results["postgresql"] = run_postgresql(args.pg, args.count, args.pages)
        print("postgresql", results["postgresql"], flush=True)
    json_out = WORK / "policy.json"
    json_out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    md_out = WORK / "policy.md"
    md_out.write_text(markdown(results))
    print(json_out.read_text())
    print(md_out.read_text())
    print(f"wrote {json_out} and {md_out}")


if __name__ == "__main__":
    main()
