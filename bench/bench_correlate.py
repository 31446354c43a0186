"""The correlation index: its size, its cost at ingest, and lookups, on SQLite and PostgreSQL.

1. Size. ``--count`` generated indicators (seeded), each carrying one value (a domain,
   IPv4 address, URL or SHA-256), where every distinct value is carried by a number of
   objects drawn uniformly from 1 to 50, spread over six organisations of different
   countries, are imported with ``bayanihan import`` (one file per organisation). The
   index is the on-disk size of the tables ``observables``, ``postings`` and
   ``ip_prefixes`` with all their indexes (SQLite: the ``dbstat`` virtual table;
   PostgreSQL: ``pg_total_relation_size``), compared with the raw observable bytes: the
   UTF-8 length of each value as written in the pattern, summed over all indicators.
   The ``hits`` table is reported on its own.
2. Ingest. The same files imported into two fresh databases, once with
   ``BAYANIHAN_CORRELATION=false`` in the environment of every ``bayanihan`` process and
   once with correlation on (the default); objects/s is the total number of objects over
   the summed wall-clock time of the import processes (whole process, as a user runs it).
3. Lookup. The imported database is copied and its ``observables`` table filled up to
   ``--lookup-size`` rows by bulk inserts (SQLite ``executemany``, PostgreSQL ``COPY``) of
   normalised values of several kinds, a tenth of them with one posting to an imported
   object, then ``ANALYZE``. In a process of its own, on a warm cache, each lookup is
   timed with ``time.perf_counter_ns()``: (a) the index probe of the search path
   (``normalise.guess``, ``by_values`` per interpretation, ``visible_postings`` for a
   reader's scope), on one open connection, one read transaction per lookup; (b) the
   whole ``Correlation(node).search(who, value)`` call, which also writes an audit entry
   when its answer names objects other than TLP:CLEAR.
4. CIDR containment. A database holding ``--ranges`` network observables (IPv4 /16 to
   /30 and some IPv6) with their ``ip_prefixes`` rows; random addresses and networks are
   looked up as the search path does for an IP: ``by_values`` of the value, the
   ``prefixes`` of its family, ``supernets`` then ``by_values`` of the containing
   networks, and ``inside`` for a network query.

Generated files are cached in bench/.work; results go to bench/.work/correlate.json.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psutil
import psycopg
from sqlalchemy.engine import make_url

from bayanihan.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import drop_pg, pg_database, timed_import  # noqa: E402
from datagen import AMBER, GREEN  # noqa: E402
from servers import WORK  # noqa: E402

SEED = 7
NODE = ("Correlation bench", "PH")
ORGS = [  # (name, country, share of the objects)
    ("CERT-PH bench", "PH", 25),
    ("ThaiCERT bench", "TH", 20),
    ("VNCERT bench", "VN", 18),
    ("MyCERT bench", "MY", 15),
    ("KrCERT bench", "KR", 12),
    ("JPCERT bench", "JP", 10),
]
READER = "ThaiCERT bench"  # whose scope the lookups use
MAX_MULTIPLICITY = 50
LOOKUPS = 10_000
WARMUP = 2_000
SEARCHES = 3_000
SEARCH_SECONDS = 150.0  # the search test stops after this long (at least MIN_SEARCHES calls)
MIN_SEARCHES = 500
CIDR_LOOKUPS = 10_000
FILLER_POSTING_SHARE = 0.1
NOW_MICROS = 1_796_083_200_000_000  # 2026-12-01, first_seen of the filler rows
INDEX_TABLES = ("observables", "postings", "ip_prefixes")
GOAL_SIZE_RATIO = 3.0
GOAL_INGEST_RATIO = 0.7
GOAL_LOOKUP_P99_MS = 2.0
GOAL_CIDR_P99_MS = 5.0

TIMED = {
    "size": "on-disk bytes of observables, postings and ip_prefixes with all their indexes "
    "(SQLite dbstat after a WAL checkpoint; PostgreSQL pg_total_relation_size right after "
    "the import, and again after VACUUM) over the UTF-8 bytes of every value as written "
    "in the patterns",
    "ingest": "wall-clock time of the `bayanihan import` processes (one per organisation "
    "file, whole process), BAYANIHAN_CORRELATION=false vs the default",
    "probe": "normalise.guess + by_values per interpretation + visible_postings for a "
    "reader's scope, one read transaction per lookup on one open connection",
    "search": "Correlation(node).search(who, value) for a reader, the whole service call "
    "(exact, CIDR and registered-domain matches, visible objects, their hits, and an "
    "audit entry when the answer names objects other than TLP:CLEAR)",
    "cidr": "guess + by_values of the value + prefixes + supernets + by_values of the "
    "containing networks (+ inside, limit 200, for a network), one read transaction per "
    "lookup on one open connection",
}

_CONSONANTS = "bcdfghjklmnprstvwxz"
_VOWELS = "aeiou"
_WORDS = (
    "verify", "secure", "login", "account", "parcel", "track", "pay", "bank", "update",
    "wallet", "promo", "claim", "post", "delivery", "support", "help", "auth", "billing",
)  # fmt: skip
_SUBS = ("www", "m", "login", "secure", "app", "my", "portal", "id", "online", "web")
_TLDS = (
    "com", "com", "com", "net", "org", "info", "xyz", "top", "shop", "online", "site",
    "com.ph", "co.th", "com.vn", "com.my", "co.id", "com.sg", "co.kr", "cn",
)  # fmt: skip
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_PATHS = ("track", "login", "verify", "pay", "claim", "update", "account", "parcel", "id")


# ------------------------------------------------------------------------ values


class Values:
    """Realistic normalised values (made-up registrable domains, public-looking IPs)."""

    def __init__(self, rng: random.Random, registered: int) -> None:
        self.rng = rng
        self.registered = [self._registered() for _ in range(registered)]

    def _syllables(self, low: int, high: int) -> str:
        choice = self.rng.choice
        return "".join(
            choice(_CONSONANTS) + choice(_VOWELS) for _ in range(self.rng.randint(low, high))
        )

    def _registered(self) -> str:
        rng = self.rng
        name = self._syllables(2, 3) + rng.choice(_CONSONANTS)
        if rng.random() < 0.7:
            name = (
                f"{name}-{rng.choice(_WORDS)}"
                if rng.random() < 0.5
                else f"{rng.choice(_WORDS)}-{name}"
            )
        return f"{name}.{rng.choice(_TLDS)}"

    def _token(self, length: int) -> str:
        return "".join(self.rng.choices(_ALNUM, k=length))

    def host(self) -> tuple[str, str]:
        rng = self.rng
        registered = rng.choice(self.registered)
        sub = f"{rng.choice(_SUBS)}-{self._token(rng.randint(4, 7))}"
        if rng.random() < 0.3:
            sub = f"{sub}.{rng.choice(_SUBS)}"
        return f"{sub}.{registered}", registered

    def domain(self) -> tuple[str, str]:
        return self.host()

    def url(self) -> tuple[str, str]:
        host, registered = self.host()
        rng = self.rng
        path = f"/{rng.choice(_PATHS)}/{self._token(rng.randint(6, 12))}"
        query = f"?id={self._token(rng.randint(6, 10))}" if rng.random() < 0.6 else ""
        return f"{rng.choice(('https', 'http'))}://{host}{path}{query}", registered

    def email(self) -> tuple[str, str]:
        host, registered = self.host()
        return f"{self._token(self.rng.randint(5, 10))}@{host}", registered

    def ipv4(self) -> int:
        while True:
            number = self.rng.getrandbits(32)
            address = ipaddress.IPv4Address(number)
            if address.is_global and not address.is_multicast:
                return number

    def ipv6(self) -> int:
        # 2400::/12 is APNIC's: addresses of the region, not documentation ranges
        return (0x240 << 116) | self.rng.getrandbits(116)

    def digest(self, bits: int) -> str:
        return format(self.rng.getrandbits(bits), f"0{bits // 4}x")


# ------------------------------------------------------------------------ dataset (goals 1, 2)


def _pattern(kind: str, written: str) -> str:
    if kind == "domain":
        return f"[domain-name:value = '{written}']"
    if kind == "ipv4":
        return f"[ipv4-addr:value = '{written}']"
    if kind == "url":
        return f"[url:value = '{written}']"
    return f"[file:hashes.'SHA-256' = '{written}']"


def _written(rng: random.Random, kind: str, value: str) -> str:
    """The value as one organisation writes it: mostly canonical, sometimes not."""
    if rng.random() >= 0.2:
        return value
    if kind in ("domain", "sha256"):
        return value.upper()
    if kind == "url":
        scheme, _, rest = value.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme.upper()}://{host.upper()}{slash}{path}"
    return value


def _indicator(rng: random.Random, n: int, kind: str, written: str) -> dict[str, Any]:
    stamp = f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:{(n // 60) % 60:02d}."
    stamp += f"{n % 1000:03d}Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        "created": stamp,
        "modified": stamp,
        "name": f"Scam infrastructure {n}",
        "description": "Seen in a parcel-delivery smishing wave targeting bank customers.",
        "indicator_types": ["malicious-activity"],
        "pattern": _pattern(kind, written),
        "pattern_type": "stix",
        "valid_from": stamp,
        "confidence": 50 + n % 50,
        "labels": ["smishing", "banking"],
        "object_marking_refs": [GREEN if n % 3 else AMBER],
    }


def make_dataset(count: int) -> dict[str, Any]:
    """Per-organisation bundles of ``count`` indicators (cached) and what they hold."""
    folder = WORK / f"correlate-{count}"
    meta_path = folder / "meta.json"
    if meta_path.exists():
        return orjson.loads(meta_path.read_bytes())
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    values = Values(rng, registered=max(100, count // 200))
    kinds = ("domain", "ipv4", "url", "sha256")
    distinct: list[tuple[str, str]] = []
    carriers: list[int] = []
    multiplicity: list[int] = []
    seen: set[tuple[str, str]] = set()
    while len(carriers) < count:
        kind = kinds[len(distinct) % 4]
        if kind == "domain":
            value = values.domain()[0]
        elif kind == "url":
            value = values.url()[0]
        elif kind == "ipv4":
            value = str(ipaddress.IPv4Address(values.ipv4()))
        else:
            value = values.digest(256)
        if (kind, value) in seen:
            continue
        seen.add((kind, value))
        times = min(rng.randint(1, MAX_MULTIPLICITY), count - len(carriers))
        multiplicity.append(times)
        carriers.extend([len(distinct)] * times)
        distinct.append((kind, value))
    rng.shuffle(carriers)
    org_of = rng.choices(range(len(ORGS)), weights=[w for _, _, w in ORGS], k=count)
    outs = [(folder / f"org-{i}.json.partial").open("wb") for i in range(len(ORGS))]
    written_count = [0] * len(ORGS)
    raw_bytes = 0
    raw_by_kind: Counter[str] = Counter()
    objects_by_kind: Counter[str] = Counter()
    for i, out in enumerate(outs):
        out.write(b'{"type": "bundle", "id": "bundle--' + str(uuid.UUID(int=SEED + i)).encode())
        out.write(b'", "objects": [\n')
    for n, (value_index, org) in enumerate(zip(carriers, org_of, strict=True)):
        kind, value = distinct[value_index]
        written = _written(rng, kind, value)
        size = len(written.encode())
        raw_bytes += size
        raw_by_kind[kind] += size
        objects_by_kind[kind] += 1
        out = outs[org]
        if written_count[org]:
            out.write(b",\n")
        out.write(orjson.dumps(_indicator(rng, n, kind, written)))
        written_count[org] += 1
    files = []
    for i, out in enumerate(outs):
        out.write(b"\n]}\n")
        out.close()
        final = folder / f"org-{i}.json"
        Path(out.name).rename(final)
        name, country, _ = ORGS[i]
        files.append(
            {
                "path": str(final),
                "org": name,
                "country": country,
                "objects": written_count[i],
                "bytes": final.stat().st_size,
            }
        )
    orgs_per_value = Counter(
        len({org_of[n] for n in where}) for where in _positions(carriers, len(distinct))
    )
    listed = warning_share(distinct)
    meta = {
        "objects": count,
        "distinct_values": len(distinct),
        "values_by_kind": dict(Counter(k for k, _ in distinct)),
        "objects_by_kind": dict(objects_by_kind),
        "raw_observable_bytes": raw_bytes,
        "raw_bytes_by_kind": dict(raw_by_kind),
        "multiplicity": {
            "min": min(multiplicity),
            "max": max(multiplicity),
            "mean": statistics.fmean(multiplicity),
        },
        "organisations_per_value": {str(k): v for k, v in sorted(orgs_per_value.items())},
        "warning_listed": listed,
        "files": files,
        "seconds": time.perf_counter() - started,
    }
    meta_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    return meta


def _positions(carriers: list[int], distinct: int) -> list[list[int]]:
    where: list[list[int]] = [[] for _ in range(distinct)]
    for n, value_index in enumerate(carriers):
        where[value_index].append(n)
    return where


def warning_share(values: list[tuple[str, str]]) -> dict[str, Any]:
    """How many of these (normalised) values a MISP warning-list names."""
    from bayanihan.correlate.warninglists import WarningIndex

    index = WarningIndex.load()
    listed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    lists: Counter[str] = Counter()
    for kind, value in values:
        total[kind] += 1
        name = index.match(kind, value)
        if name is not None:
            listed[kind] += 1
            lists[name] += 1
    return {
        "checked": len(values),
        "listed": sum(listed.values()),
        "share": sum(listed.values()) / max(1, len(values)),
        "share_by_kind": {k: listed[k] / total[k] for k in sorted(total)},
        "lists": dict(lists.most_common(5)),
    }


# ------------------------------------------------------------------------ the CLI


def cli(db: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bayanihan.cli", "--db", db, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(f"bayanihan {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def set_up_node(db: str, env: dict[str, str] | None = None) -> None:
    cli(db, "init", "--node-name", NODE[0], "--country", NODE[1], env=env)
    for name, country, _ in ORGS:
        cli(db, "org", "add", name, "--country", country, env=env)


def ingest(db: str, meta: dict[str, Any], *, correlation: bool) -> dict[str, Any]:
    env = {} if correlation else {"BAYANIHAN_CORRELATION": "false"}
    set_up_node(db, env)
    files = []
    for f in meta["files"]:
        files.append(timed_import(db, f["path"], f["org"], env))
        if make_url(db).get_backend_name() == "postgresql":
            files[-1]["table_stats"] = pg_table_stats(pg_plain(db))
    seconds = sum(f["seconds"] for f in files)
    objects = sum(f["objects"] for f in files)
    run = {
        "correlation": "on" if correlation else "off",
        "objects": objects,
        "seconds": seconds,
        "rate": objects / seconds,
        "peak_rss_mib": max(f["peak_rss_mib"] for f in files),
        "files": files,
    }
    print(
        f"  import correlation {run['correlation']}: {objects:,} objects in {seconds:.1f} s "
        f"= {run['rate']:,.0f}/s",
        flush=True,
    )
    return run


def pg_table_stats(url: str) -> dict[str, Any]:
    """Scans and statistics of the busiest tables, as PostgreSQL saw them so far."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT s.relname, s.seq_scan, s.idx_scan, s.n_live_tup, s.n_dead_tup,"
            " s.last_autoanalyze IS NOT NULL OR s.last_analyze IS NOT NULL, c.reltuples"
            " FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
            " WHERE s.relname IN ('objects', 'observables', 'postings', 'hits')"
        ).fetchall()
    return {
        name: {
            "seq_scan": seq,
            "idx_scan": idx,
            "live": live,
            "dead": dead,
            "analysed": analysed,
            "planner_rows": reltuples,
        }
        for name, seq, idx, live, dead, analysed, reltuples in rows
    }


def ingest_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    off = [r["rate"] for r in runs if r["correlation"] == "off"]
    on = [r["rate"] for r in runs if r["correlation"] == "on"]
    summary: dict[str, Any] = {"runs": runs}
    if off and on:
        summary["off_rate"] = statistics.median(off)
        summary["on_rate"] = statistics.median(on)
        summary["ratio"] = summary["on_rate"] / summary["off_rate"]
    return summary


# ------------------------------------------------------------------------ sizes


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    assert database
    return Path(database)


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def sqlite_sizes(path: Path) -> dict[str, Any]:
    checkpoint(path)
    conn = sqlite3.connect(path)
    owner = {
        name: table for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_master")
    }
    parts: dict[str, dict[str, int]] = {}
    for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
        parts.setdefault(owner.get(name, name), {})[name] = int(size)
    tables = {}
    for table in (*INDEX_TABLES, "hits", "objects"):
        rows = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        found = parts.get(table, {})
        tables[table] = {"bytes": sum(found.values()), "rows": rows, "parts": found}
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    return {"tables": tables, "database_bytes": page * pages, "method": "dbstat"}


def pg_sizes(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:

        def measure() -> dict[str, Any]:
            tables = {}
            for table in (*INDEX_TABLES, "hits", "objects"):
                total, heap, indexes = conn.execute(
                    "SELECT pg_total_relation_size(%s::regclass), pg_relation_size(%s::regclass),"
                    " pg_indexes_size(%s::regclass)",
                    (table, table, table),
                ).fetchone()  # type: ignore[misc]
                rows = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # type: ignore[index]
                parts = {
                    name: int(size)
                    for name, size in conn.execute(
                        "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid)"
                        " FROM pg_index WHERE indrelid = %s::regclass",
                        (table,),
                    )
                }
                parts[table] = int(heap)
                tables[table] = {"bytes": int(total), "rows": rows, "parts": parts}
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
            return {"tables": tables, "database_bytes": int(size)}

        after_import = measure()
        for table in (*INDEX_TABLES, "hits"):
            conn.execute(f"VACUUM {table}")
        after_vacuum = measure()
        for table in (*INDEX_TABLES, "hits"):
            conn.execute(f"VACUUM FULL {table}")
        after_full = measure()
    return {
        **after_import,
        "after_vacuum": after_vacuum,
        "after_vacuum_full": after_full,
        "method": "pg_total_relation_size",
    }


def size_summary(sizes: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    index_bytes = sum(sizes["tables"][t]["bytes"] for t in INDEX_TABLES)
    sizes["index_bytes"] = index_bytes
    sizes["raw_observable_bytes"] = meta["raw_observable_bytes"]
    sizes["ratio"] = index_bytes / meta["raw_observable_bytes"]
    for variant in ("after_vacuum", "after_vacuum_full"):
        vacuumed = sizes.get(variant)
        if vacuumed:
            vacuumed["index_bytes"] = sum(vacuumed["tables"][t]["bytes"] for t in INDEX_TABLES)
            vacuumed["ratio"] = vacuumed["index_bytes"] / meta["raw_observable_bytes"]
    return sizes


# ------------------------------------------------------------------------ lookup fixture (3)


def filler_files(size: int, existing: int) -> dict[str, Any]:
    """Sorted rows of ``size - existing`` normalised observables (cached), their postings
    and query samples."""
    count = max(0, size - existing)
    folder = WORK / f"correlate-filler-{count}"
    meta_path = folder / "meta.json"
    if meta_path.exists():
        return orjson.loads(meta_path.read_bytes())
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED + 1)
    values = Values(rng, registered=max(1000, count // 20))
    mix = (
        ("domain", 33), ("url", 30), ("sha256", 14), ("md5", 5), ("sha1", 3),
        ("ipv4", 11), ("ipv6", 2), ("email", 2),
    )  # fmt: skip
    kinds = rng.choices([k for k, _ in mix], weights=[w for _, w in mix], k=count)
    lines: list[str] = []  # "kind\tvalue\trelated\tip_start\tip_end": sorts by (kind, value)
    for kind in kinds:
        lines.append(_filler_line(values, kind))
    del kinds
    lines.sort()
    unique = [line for i, line in enumerate(lines) if i == 0 or line != lines[i - 1]]
    del lines
    while len(unique) < count:  # a value drawn twice: top up with fresh hashes, then re-sort
        unique.append(f"sha256\t{values.digest(256)}\t\t\t")
        if len(unique) == count:
            unique = sorted(set(unique))
    picks = sorted(rng.sample(range(count), min(count, 5 * LOOKUPS)))
    samples = [unique[i].split("\t", 2)[:2] for i in picks]
    posted = sorted(rng.sample(range(count), int(count * FILLER_POSTING_SHARE)))
    with (folder / "observables.tsv").open("w") as out:
        for line in unique:
            out.write(line + "\n")
    by_kind = Counter(line.split("\t", 1)[0] for line in unique)
    del unique
    with (folder / "posted.tsv").open("w") as out:
        for i in posted:
            out.write(f"{i}\t{rng.getrandbits(40)}\n")  # row offset, which object (modulo)
    meta = {
        "folder": str(folder),
        "rows": count,
        "posted": len(posted),
        "by_kind": dict(by_kind),
        "samples": samples,
        "seconds": time.perf_counter() - started,
        "warning_listed_sample": warning_share([(k, v) for k, v in samples]),
    }
    meta_path.write_bytes(orjson.dumps(meta))
    return meta


def _filler_line(values: Values, kind: str) -> str:
    related = start = ""
    if kind == "domain":
        value, related = values.domain()
    elif kind == "url":
        value, related = values.url()
    elif kind == "email":
        value, related = values.email()
    elif kind == "ipv4":
        number = values.ipv4()
        value, start = str(ipaddress.IPv4Address(number)), format(number, "08x")
    elif kind == "ipv6":
        number = values.ipv6()
        value, start = str(ipaddress.IPv6Address(number)), format(number, "032x")
    else:
        value = values.digest({"md5": 128, "sha1": 160, "sha256": 256}[kind])
    return f"{kind}\t{value}\t{related}\t{start}\t{start}"


def _filler_lines(folder: Path) -> Iterator[tuple[str, str, str | None, str | None, str | None]]:
    with (folder / "observables.tsv").open() as source:
        for line in source:
            kind, value, related, start, end = line.rstrip("\n").split("\t")
            yield kind, value, related or None, start or None, end or None


def _posted(folder: Path) -> dict[int, int]:
    with (folder / "posted.tsv").open() as source:
        return {int(a): int(b) for a, b in (line.split("\t") for line in source)}


def fill_sqlite(path: Path, filler: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    folder = Path(filler["folder"])
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA cache_size=-2000000")
    conn.execute("PRAGMA synchronous=OFF")
    dates = list(conn.execute("SELECT date_added, author_org FROM objects ORDER BY date_added"))
    base = conn.execute("SELECT COALESCE(MAX(row_id), 0) FROM observables").fetchone()[0]
    present = set(conn.execute("SELECT kind, value FROM observables"))
    posted = _posted(folder)
    skipped = 0
    batch: list[tuple[Any, ...]] = []
    postings: list[tuple[int, int, int]] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO observables (row_id, kind, value, problem, related, ip_start, ip_end,"
            " warning, objects, first_seen) VALUES (?, ?, ?, NULL, ?, ?, ?, NULL, ?, ?)",
            batch,
        )
        conn.executemany(
            "INSERT INTO postings (observable_row, date_added, author_org) VALUES (?, ?, ?)",
            postings,
        )
        conn.execute("COMMIT")
        batch.clear()
        postings.clear()

    row = base
    for offset, (kind, value, related, start, end) in enumerate(_filler_lines(folder)):
        if (kind, value) in present:  # drawn by the import too: already indexed
            skipped += 1
            continue
        row += 1
        target = posted.get(offset)
        batch.append(
            (row, kind, value, related, start, end, 0 if target is None else 1, NOW_MICROS)
        )
        if target is not None:
            postings.append((row, *dates[target % len(dates)]))
        if len(batch) >= 500_000:
            flush()
    if batch:
        flush()
    loaded = time.perf_counter() - started
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"load_seconds": loaded, "seconds": time.perf_counter() - started, "skipped": skipped}


def fill_pg(url: str, filler: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    folder = Path(filler["folder"])
    with psycopg.connect(url) as conn:
        dates = list(conn.execute("SELECT date_added, author_org FROM objects ORDER BY date_added"))
        base = conn.execute("SELECT COALESCE(MAX(row_id), 0) FROM observables").fetchone()[0]  # type: ignore[index]
        present = {(k, v) for k, v in conn.execute("SELECT kind, value FROM observables")}
        posted = _posted(folder)
        skipped = 0
        postings: list[tuple[int, int, int]] = []
        with conn.cursor() as cursor:
            with cursor.copy(
                "COPY observables (row_id, kind, value, related, ip_start, ip_end, objects,"
                " first_seen) FROM STDIN"
            ) as copy:
                row = base
                for offset, (kind, value, related, start, end) in enumerate(_filler_lines(folder)):
                    if (kind, value) in present:  # drawn by the import too: already indexed
                        skipped += 1
                        continue
                    row += 1
                    target = posted.get(offset)
                    if target is not None:
                        postings.append((row, *dates[target % len(dates)]))
                    objects = 0 if target is None else 1
                    copy.write_row((row, kind, value, related, start, end, objects, NOW_MICROS))
            with cursor.copy(
                "COPY postings (observable_row, date_added, author_org) FROM STDIN"
            ) as copy:
                for pair in postings:
                    copy.write_row(pair)
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('observables', 'row_id'),"
                " (SELECT MAX(row_id) FROM observables))"
            )
        conn.commit()
        loaded = time.perf_counter() - started
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE observables")
        conn.execute("VACUUM ANALYZE postings")
    return {"load_seconds": loaded, "seconds": time.perf_counter() - started, "skipped": skipped}


def lookup_queries(meta: dict[str, Any], filler: dict[str, Any]) -> list[tuple[str, str]]:
    """(class, text) of the lookups: imported values as some org wrote them, filler values,
    and values absent from the index."""
    rng = random.Random(SEED + 2)
    imported = []
    for f in meta["files"][:2]:
        with open(f["path"], "rb") as source:
            for line in source:
                if line.startswith(b'{"type":"indicator"'):
                    pattern = orjson.loads(line.rstrip(b",\n"))["pattern"]
                    imported.append(pattern.split(" = '", 1)[1].rsplit("'", 1)[0])
                if len(imported) >= 3 * LOOKUPS:
                    break
    values = Values(rng, registered=2000)
    absent = []
    for i in range(LOOKUPS):
        kind = ("domain", "url", "sha256", "ipv4")[i % 4]
        if kind == "domain":
            absent.append(values.domain()[0])
        elif kind == "url":
            absent.append(values.url()[0])
        elif kind == "sha256":
            absent.append(values.digest(256))
        else:
            absent.append(str(ipaddress.IPv4Address(values.ipv4())))
    samples = [v for _, v in filler["samples"]] or imported
    total = WARMUP + LOOKUPS
    queries = []
    for _ in range(total):
        pick = rng.random()
        if pick < 1 / 3:
            queries.append(("imported", rng.choice(imported)))
        elif pick < 2 / 3:
            queries.append(("filler", rng.choice(samples)))
        else:
            queries.append(("absent", rng.choice(absent)))
    return queries


# ------------------------------------------------------------------------ CIDR fixture (4)

_PREFIX_WEIGHTS = {
    16: 1, 17: 1, 18: 1, 19: 2, 20: 3, 21: 3, 22: 5, 23: 5, 24: 40, 25: 4, 26: 5, 27: 6,
    28: 8, 29: 8, 30: 8,
}  # fmt: skip
_PREFIX6_WEIGHTS = {32: 10, 36: 5, 40: 10, 44: 10, 48: 40, 56: 15, 64: 10}
IPV6_SHARE = 0.05


def range_files(count: int) -> dict[str, Any]:
    folder = WORK / f"correlate-ranges-{count}-{CIDR_LOOKUPS}"
    meta_path = folder / "meta.json"
    if meta_path.exists():
        return orjson.loads(meta_path.read_bytes())
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED + 3)
    values = Values(rng, registered=10)
    lengths4, weights4 = list(_PREFIX_WEIGHTS), list(_PREFIX_WEIGHTS.values())
    lengths6, weights6 = list(_PREFIX6_WEIGHTS), list(_PREFIX6_WEIGHTS.values())
    networks: dict[tuple[str, str], tuple[int, int]] = {}
    while len(networks) < count:
        if rng.random() < IPV6_SHARE:
            kind, width, prefix = "ipv6", 128, rng.choices(lengths6, weights6)[0]
            number = values.ipv6()
        else:
            kind, width, prefix = "ipv4", 32, rng.choices(lengths4, weights4)[0]
            number = values.ipv4()
        first = number & (((1 << prefix) - 1) << (width - prefix))
        last = first | ((1 << (width - prefix)) - 1)
        make = ipaddress.IPv4Address if width == 32 else ipaddress.IPv6Address
        networks[(kind, f"{make(first)}/{prefix}")] = (first, last)
    digits = {"ipv4": 8, "ipv6": 32}
    ordered = sorted(networks.items())
    with (folder / "networks.tsv").open("w") as out:
        for (kind, value), (first, last) in ordered:
            width = digits[kind]
            out.write(f"{kind}\t{value}\t{first:0{width}x}\t{last:0{width}x}\n")
    queries = []
    stored = [(k, v, b) for (k, v), b in rng.sample(ordered, min(len(ordered), 4 * CIDR_LOOKUPS))]
    for _ in range(WARMUP + CIDR_LOOKUPS):
        pick = rng.random()
        kind, value, (first, last) = rng.choice(stored)
        width = 32 if kind == "ipv4" else 128
        make = ipaddress.IPv4Address if width == 32 else ipaddress.IPv6Address
        prefix = int(value.rsplit("/", 1)[1])
        if pick < 0.4:  # an address inside a stored network
            queries.append(("address in a stored network", str(make(rng.randint(first, last)))))
        elif pick < 0.7:  # a random address of the same family
            number = values.ipv4() if width == 32 else values.ipv6()
            queries.append(("random address", str(make(number))))
        elif pick < 0.9:  # a smaller network inside a stored one
            inner = min(width - 2, prefix + rng.randint(1, 8))
            start = rng.randint(first, last) & (((1 << inner) - 1) << (width - inner))
            queries.append(("network in a stored network", f"{make(start)}/{inner}"))
        else:  # a network that may hold stored ones
            outer = max(8, prefix - rng.randint(0, 8)) if width == 32 else max(24, prefix - 8)
            start = first & (((1 << outer) - 1) << (width - outer))
            queries.append(("network around stored networks", f"{make(start)}/{outer}"))
    meta = {
        "folder": str(folder),
        "rows": len(ordered),
        "by_kind": dict(Counter(k for (k, _), _ in ordered)),
        "by_prefix": dict(
            Counter(f"{k}/{v.rsplit('/', 1)[1]}" for (k, v), _ in ordered).most_common()
        ),
        "queries": queries,
        "seconds": time.perf_counter() - started,
    }
    meta_path.write_bytes(orjson.dumps(meta))
    return meta


def _network_lines(folder: Path) -> Iterator[tuple[str, str, str, str]]:
    with (folder / "networks.tsv").open() as source:
        for line in source:
            kind, value, start, end = line.rstrip("\n").split("\t")
            yield kind, value, start, end


def _prefix_rows(ranges: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted({(k.split("/")[0], int(k.split("/")[1])) for k in ranges["by_prefix"]})


def fill_ranges_sqlite(path: Path, ranges: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    folder = Path(ranges["folder"])
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO observables (kind, value, ip_start, ip_end, objects, first_seen)"
        " VALUES (?, ?, ?, ?, 0, ?)",
        ((k, v, s, e, NOW_MICROS) for k, v, s, e in _network_lines(folder)),
    )
    conn.executemany("INSERT INTO ip_prefixes (kind, prefix) VALUES (?, ?)", _prefix_rows(ranges))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"seconds": time.perf_counter() - started}


def fill_ranges_pg(url: str, ranges: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    folder = Path(ranges["folder"])
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            with cursor.copy(
                "COPY observables (kind, value, ip_start, ip_end, objects, first_seen) FROM STDIN"
            ) as copy:
                for k, v, s, e in _network_lines(folder):
                    copy.write_row((k, v, s, e, 0, NOW_MICROS))
            cursor.executemany(
                "INSERT INTO ip_prefixes (kind, prefix) VALUES (%s, %s)", _prefix_rows(ranges)
            )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE observables")
        conn.execute("ANALYZE ip_prefixes")
    return {"seconds": time.perf_counter() - started}


# ------------------------------------------------------------------------ measuring


def percentiles(nanos: list[int]) -> dict[str, Any]:
    ordered = sorted(nanos)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] / 1e6

    return {
        "n": len(ordered),
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": ordered[-1] / 1e6,
        "mean_ms": statistics.fmean(ordered) / 1e6,
    }


def _summarise(timings: list[tuple[str, int, int]]) -> dict[str, Any]:
    """timings: (class, nanoseconds, objects or observables found)."""
    summary = percentiles([t for _, t, _ in timings])
    by_class: dict[str, Any] = {}
    for name in sorted({c for c, _, _ in timings}):
        mine = [(t, f) for c, t, f in timings if c == name]
        by_class[name] = {
            **percentiles([t for t, _ in mine]),
            "found_share": sum(1 for _, f in mine if f) / len(mine),
            "mean_found": statistics.fmean(f for _, f in mine),
        }
    summary["by_class"] = by_class
    return summary


def _reader(node: Any) -> Any:
    from bayanihan.policy.roles import Role

    return node.operator(READER, role=Role.READER)


def measure_lookup(db: str, queries_path: Path) -> dict[str, Any]:
    """Run in a process of its own: time the probe, then the service call."""
    from bayanihan.correlate import normalise as n
    from bayanihan.correlate.service import Correlation
    from bayanihan.node import Node
    from bayanihan.policy.visibility import read_scope
    from bayanihan.settings import Settings
    from bayanihan.store import observables as index_store

    plan = orjson.loads(queries_path.read_bytes())
    queries, warmup = [tuple(q) for q in plan["queries"]], plan["warmup"]
    node = Node(Settings(db=db))
    who = _reader(node)
    scope = read_scope(who)
    region = dict((name, cc) for name, cc, _ in ORGS)[READER]
    probe: list[tuple[str, int, int]] = []
    steps: dict[str, list[int]] = {"guess": [], "by_values": [], "visible_postings": []}
    with node.store.engine.connect() as conn:
        for number, (name, value) in enumerate(queries):
            started = time.perf_counter_ns()
            with conn.begin():
                candidates = n.guess(value, region=region)
                guessed = time.perf_counter_ns()
                rows = [
                    record.row_id
                    for candidate in candidates
                    for record in index_store.by_values(conn, candidate.kind, [candidate.value])
                ]
                probed = time.perf_counter_ns()
                found = index_store.visible_postings(conn, scope, rows)
                posted = time.perf_counter_ns()
            elapsed = time.perf_counter_ns() - started
            if number >= warmup:
                probe.append((name, elapsed, len(found)))
                steps["guess"].append(guessed - started)
                steps["by_values"].append(probed - guessed)
                steps["visible_postings"].append(posted - probed)
    service = Correlation(node)
    search: list[tuple[str, int, int]] = []
    wanted = queries[: warmup + plan["searches"]]
    budget = time.monotonic() + plan["search_seconds"]
    for number, (name, value) in enumerate(wanted):
        started = time.perf_counter_ns()
        answer = service.search(who, value)
        elapsed = time.perf_counter_ns() - started
        if number >= warmup:
            search.append((name, elapsed, len(answer["objects"])))
            if time.monotonic() > budget and len(search) >= MIN_SEARCHES:
                break  # a slow service: fewer calls, as the n column shows
    audited = 0
    with node.store.read() as conn:
        from sqlalchemy import func, select

        from bayanihan.store.schema import audit_log

        audited = conn.execute(
            select(func.count())
            .select_from(audit_log)
            .where(audit_log.c.action == "correlate.search")
        ).scalar_one()
    return {
        "probe": _summarise(probe)
        | {"steps_p50_ms": {k: statistics.median(v) / 1e6 for k, v in steps.items()}},
        "search": {**_summarise(search), "audit_entries_written": audited},
    }


def measure_cidr(db: str, queries_path: Path) -> dict[str, Any]:
    from bayanihan.correlate import normalise as n
    from bayanihan.correlate.extract import ip_bounds, supernets
    from bayanihan.node import Node
    from bayanihan.settings import Settings
    from bayanihan.store import observables as index_store

    plan = orjson.loads(queries_path.read_bytes())
    queries, warmup = [tuple(q) for q in plan["queries"]], plan["warmup"]
    node = Node(Settings(db=db))
    timings: list[tuple[str, int, int]] = []
    with node.store.engine.connect() as conn:
        for number, (name, value) in enumerate(queries):
            started = time.perf_counter_ns()
            with conn.begin():
                found = 0
                for candidate in n.guess(value):
                    if candidate.kind not in ("ipv4", "ipv6"):
                        continue
                    found += len(index_store.by_values(conn, candidate.kind, [candidate.value]))
                    known = [p for k, p in index_store.prefixes(conn) if k == candidate.kind]
                    containing = supernets(candidate.value, known)
                    found += len(index_store.by_values(conn, candidate.kind, containing))
                    bounds = ip_bounds(candidate.value)
                    if bounds is not None and "/" in candidate.value:
                        found += len(
                            index_store.inside(
                                conn, candidate.kind, bounds[0], bounds[1], limit=200
                            )
                        )
            elapsed = time.perf_counter_ns() - started
            if number >= warmup:
                timings.append((name, elapsed, found))
    return _summarise(timings)


def in_own_process(kind: str, db: str, queries: list[tuple[str, str]]) -> dict[str, Any]:
    queries_path = WORK / f"correlate-queries-{kind}.json"
    out_path = WORK / f"correlate-measure-{kind}.json"
    plan = {
        "warmup": WARMUP,
        "searches": SEARCHES,
        "search_seconds": SEARCH_SECONDS,
        "queries": queries,
    }
    queries_path.write_bytes(orjson.dumps(plan))
    out_path.unlink(missing_ok=True)
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure",
            kind,
            "--db",
            db,
            "--queries",
            str(queries_path),
            "--out",
            str(out_path),
        ],
        check=True,
    )
    return orjson.loads(out_path.read_bytes())


def show(label: str, stats: dict[str, Any]) -> None:
    print(
        f"  {label}: p50 {stats['p50_ms']:.3f} ms, p95 {stats['p95_ms']:.3f} ms, "
        f"p99 {stats['p99_ms']:.3f} ms (n={stats['n']})",
        flush=True,
    )


# ------------------------------------------------------------------------ one backend


@contextmanager
def sqlite_db(name: str) -> Iterator[str]:
    path = WORK / f"{name}.db"
    remove_sqlite(path)
    try:
        yield f"sqlite:///{path}"
    finally:
        remove_sqlite(path)


@contextmanager
def pg_db(base: str) -> Iterator[str]:
    url, name = pg_database(base)
    try:
        yield url
    finally:
        drop_pg(base, name)


def pg_template_copy(base: str, template_url: str) -> tuple[str, str]:
    template = make_url(template_url).database
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return make_url(base).set(database=name).render_as_string(hide_password=False), name


def pg_database_bytes(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]


def pg_plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run_backend(
    backend: str, base: str | None, meta: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    # off first on SQLite, on first on PostgreSQL; further pairs alternate
    first = 0 if backend == "sqlite" else 1
    pairs = args.repeat if backend == "sqlite" else 1
    order = [
        c for i in range(pairs) for c in ((False, True) if (i + first) % 2 == 0 else (True, False))
    ]
    runs: list[dict[str, Any]] = []
    kept: str | None = None
    kept_name: str | None = None
    MONITOR.phase(f"{backend} ingest")
    print(f"{backend}: ingest", flush=True)
    for number, correlation in enumerate(order):
        if backend == "sqlite":
            path = WORK / f"correlate-ingest-{number}.db"
            remove_sqlite(path)
            url = f"sqlite:///{path}"
        else:
            assert base is not None
            url, name = pg_database(base)
        runs.append(ingest(url, meta, correlation=correlation))
        if correlation and kept is None:
            kept = url
            kept_name = None if backend == "sqlite" else name
        elif backend == "sqlite":
            remove_sqlite(path)
        else:
            drop_pg(base, name)  # type: ignore[arg-type]
    result["ingest"] = ingest_summary(runs)
    assert kept is not None
    try:
        if backend == "sqlite":
            sizes = sqlite_sizes(sqlite_path(kept))
        else:
            sizes = pg_sizes(pg_plain(kept))
        result["size"] = size_summary(sizes, meta)
        print(
            f"  index {result['size']['index_bytes'] / 2**20:,.1f} MiB = "
            f"{result['size']['ratio']:.2f}x raw",
            flush=True,
        )
        if not args.ingest_only:
            result["lookup"] = lookup_fixture(backend, base, kept, meta, args)
    finally:
        if backend == "sqlite":
            remove_sqlite(sqlite_path(kept))
        else:
            drop_pg(base, kept_name)  # type: ignore[arg-type]
    if not args.ingest_only:
        result["cidr"] = cidr_fixture(backend, base, args)
    return result


def lookup_fixture(
    backend: str, base: str | None, imported: str, meta: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    MONITOR.phase(f"{backend} lookup fixture")
    print(f"{backend}: lookup fixture", flush=True)
    existing = (
        sqlite_sizes(sqlite_path(imported))["tables"]["observables"]["rows"]
        if backend == "sqlite"
        else pg_sizes_rows(pg_plain(imported))
    )
    filler = filler_files(args.lookup_size, existing)
    queries = lookup_queries(meta, filler)
    started = time.perf_counter()
    if backend == "sqlite":
        path = WORK / "correlate-lookup.db"
        remove_sqlite(path)
        checkpoint(sqlite_path(imported))
        shutil.copyfile(sqlite_path(imported), path)
        url = f"sqlite:///{path}"
        name = None
    else:
        assert base is not None
        url, name = pg_template_copy(base, imported)
    try:
        copied = time.perf_counter() - started
        if backend == "sqlite":
            build = fill_sqlite(path, filler)
            database_bytes = path.stat().st_size
        else:
            build = fill_pg(pg_plain(url), filler)
            database_bytes = pg_database_bytes(pg_plain(url))
        rows = count_rows(backend, url)
        print(
            f"  {rows['observables']:,} observables, {rows['postings']:,} postings, built in "
            f"{build['seconds'] + copied:.0f} s",
            flush=True,
        )
        measured = in_own_process("lookup", url, queries)
        show("probe", measured["probe"])
        show("search", measured["search"])
        return {
            "rows": rows,
            "filler": {k: v for k, v in filler.items() if k != "samples"},
            "copy_seconds": copied,
            "build": build,
            "build_seconds": copied + build["seconds"],
            "database_bytes": database_bytes,
            **measured,
        }
    finally:
        if backend == "sqlite":
            remove_sqlite(path)
        else:
            drop_pg(base, name)  # type: ignore[arg-type]


def pg_sizes_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM observables").fetchone()[0])  # type: ignore[index]


def count_rows(backend: str, url: str) -> dict[str, int]:
    from bayanihan.store import observables as index_store
    from bayanihan.store.engine import Store

    store = Store(url)
    try:
        with store.read() as conn:
            return {str(name): rows for name, rows in index_store.count_rows(conn).items()}
    finally:
        store.dispose()


def cidr_fixture(backend: str, base: str | None, args: argparse.Namespace) -> dict[str, Any]:
    MONITOR.phase(f"{backend} CIDR fixture")
    print(f"{backend}: CIDR fixture", flush=True)
    ranges = range_files(args.ranges)
    manager = sqlite_db("correlate-ranges") if backend == "sqlite" else pg_db(base)  # type: ignore[arg-type]
    with manager as url:
        started = time.perf_counter()
        cli(url, "init", "--node-name", NODE[0], "--country", NODE[1])
        if backend == "sqlite":
            build = fill_ranges_sqlite(sqlite_path(url), ranges)
            database_bytes = sqlite_path(url).stat().st_size
        else:
            build = fill_ranges_pg(pg_plain(url), ranges)
            database_bytes = pg_database_bytes(pg_plain(url))
        seconds = time.perf_counter() - started
        print(f"  {ranges['rows']:,} networks, built in {seconds:.0f} s", flush=True)
        measured = in_own_process("cidr", url, [tuple(q) for q in ranges["queries"]])
        show("cidr", measured)
    return {
        "ranges": ranges["rows"],
        "by_kind": ranges["by_kind"],
        "by_prefix": ranges["by_prefix"],
        "build_seconds": seconds,
        "fill_seconds": build["seconds"],
        "generate_seconds": ranges["seconds"],
        "database_bytes": database_bytes,
        **measured,
    }


# ------------------------------------------------------------------------ interference


class Monitor:
    """CPU seconds used, per phase, by this benchmark's process tree, by PostgreSQL server
    processes (ours and anyone's) and by every other process: others' use is noise.

    Sampled every ``interval`` seconds, so the last moments of a process that exits between
    two samples are not counted: the figures are a lower bound.
    """

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval
        self.current = "start"
        self.phases: dict[str, dict[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._last: dict[int, float] = {}
        self._names: dict[str, Counter[str]] = {}

    def phase(self, name: str) -> None:
        self.current = name

    def start(self) -> None:
        self._sample()
        self._thread.start()

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        self._thread.join()
        self._sample()
        cores = os.cpu_count() or 1
        for name, entry in self.phases.items():
            entry["other_share_of_machine"] = entry["other"] / max(1e-9, entry["wall"] * cores)
            top = self._names.get(name, Counter()).most_common(3)
            entry["top_others"] = {k: round(v, 1) for k, v in top}  # type: ignore[assignment]
        return self.phases

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        me = psutil.Process()
        ours = {me.pid, *(c.pid for c in me.children(recursive=True))}
        entry = self.phases.setdefault(
            self.current, {"wall": 0.0, "ours": 0.0, "postgres": 0.0, "other": 0.0}
        )
        now = time.monotonic()
        entry["wall"] += now - getattr(self, "_at", now)
        self._at = now
        seen: dict[int, float] = {}
        for process in psutil.process_iter(["pid", "name", "cpu_times"]):
            times = process.info["cpu_times"]
            if times is None:
                continue
            used = times.user + times.system
            seen[process.pid] = used
            delta = used - self._last.get(process.pid, 0.0)  # new since: all of its time
            if not self._last or delta <= 0:
                continue
            if process.pid in ours:
                entry["ours"] += delta
            elif (process.info["name"] or "").startswith("postgres"):
                entry["postgres"] += delta
            else:
                entry["other"] += delta
                who = self._names.setdefault(self.current, Counter())
                who[_describe(process)] += delta
        self._last = seen


def _describe(process: psutil.Process) -> str:
    try:
        words = process.cmdline()[:4]
    except psutil.Error:
        words = []
    return " ".join(Path(w).name if i == 0 else w for i, w in enumerate(words))[:80] or (
        process.info["name"] or "?"
    )


MONITOR = Monitor()


def code_fingerprint() -> str:
    """A hash of the code the measurements run (the package's top-level modules, correlate,
    ingest, store and its migrations, policy, stix): the JSON tells whether it changed during
    the run."""
    import hashlib

    import bayanihan

    digest = hashlib.sha256()
    root = Path(bayanihan.__file__).resolve().parent
    measured = ("correlate", "ingest", "store", "policy", "stix")
    paths = [p for p in root.rglob("*.py") if p.parent == root or p.parts[-2] in measured]
    paths += list((root / "store" / "migrations" / "versions").glob("*.py"))
    for path in sorted(set(paths)):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def save(results: dict[str, Any]) -> Path:
    out = WORK / "correlate.json"
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return out


# ------------------------------------------------------------------------ main


def main() -> None:
    global LOOKUPS, WARMUP, SEARCHES, CIDR_LOOKUPS
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--lookup-size", type=int, default=10_000_000)
    parser.add_argument("--ranges", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="off/on pairs on SQLite")
    parser.add_argument("--lookups", type=int, default=LOOKUPS, help="timed lookups per test")
    parser.add_argument(
        "--searches", type=int, default=SEARCHES, help="timed calls of the search service"
    )
    parser.add_argument(
        "--pg", default=os.environ.get("BAYANIHAN_BENCH_PG", os.environ.get("BAYANIHAN_TEST_PG"))
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="ingest off/on and index size only (no lookup or containment fixtures)",
    )
    parser.add_argument("--measure", choices=("lookup", "cidr"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--queries", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure = measure_lookup if args.measure == "lookup" else measure_cidr
        result = measure(args.db, Path(args.queries))
        Path(args.out).write_bytes(orjson.dumps(result))
        return
    if args.quick:
        args.count, args.lookup_size, args.ranges, args.repeat = 20_000, 200_000, 50_000, 1
        args.lookups = min(args.lookups, 2_000)
    LOOKUPS = CIDR_LOOKUPS = args.lookups
    SEARCHES = min(args.searches, args.lookups)
    WARMUP = min(WARMUP, max(200, args.lookups // 5))
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    MONITOR.start()
    MONITOR.phase("generate data")
    meta = make_dataset(args.count)
    print(
        f"dataset: {meta['objects']:,} objects, {meta['distinct_values']:,} values, "
        f"{meta['raw_observable_bytes']:,} raw bytes, warning-listed "
        f"{meta['warning_listed']['share']:.2%}",
        flush=True,
    )
    results: dict[str, Any] = {
        "quick": args.quick,
        "count": args.count,
        "lookup_size": args.lookup_size,
        "ranges": args.ranges,
        "dataset": {k: v for k, v in meta.items() if k != "files"}
        | {"files": [{k: v for k, v in f.items() if k != "path"} for f in meta["files"]]},
        "timed": TIMED,
        "goals": {
            "size_ratio": GOAL_SIZE_RATIO,
            "ingest_ratio": GOAL_INGEST_RATIO,
            "lookup_p99_ms": GOAL_LOOKUP_P99_MS,
            "cidr_p99_ms": GOAL_CIDR_P99_MS,
        },
        "max_objects": Settings().correlation_max_objects,
        "lookups": args.lookups,
        "searches": SEARCHES,
        "search_seconds": SEARCH_SECONDS,
        "warmup": WARMUP,
        "load_average_start": os.getloadavg(),
    }
    results["code"] = {"start": code_fingerprint(), "changed": []}
    results["complete"] = False
    backends = [("sqlite", None)] + ([("postgresql", args.pg)] if args.pg else [])
    for key, base in backends:
        results[key] = run_backend(key, base, meta, args)
        now = code_fingerprint()
        if now != results["code"]["start"]:
            results["code"]["changed"].append(key)
            print(f"WARNING: the package source changed during the {key} part", flush=True)
        save(results)  # what is measured so far survives a later failure
    results["load_average_end"] = os.getloadavg()
    results["cpu_by_phase"] = MONITOR.stop()
    results["seconds"] = time.perf_counter() - started
    results["complete"] = True
    out = save(results)
    print(f"wrote {out} ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
