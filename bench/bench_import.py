"""`bayanihan import` of a large bundle on SQLite and PostgreSQL: objects/s and peak RSS.

The figure is for the whole command as a user runs it (interpreter start-up,
migrations check, reading, validating, writing, commit). Peak RSS is the
largest sum over the process tree (the writer and its reader process), sampled
every 50 ms. Results go to bench/.work/import.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datagen import write_bundle  # noqa: E402
from servers import WORK, bayanihan  # noqa: E402


def timed_process(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one process; wall-clock seconds and the process tree's peak RSS (the sum over
    the process and its children), sampled every 50 ms."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    watched = psutil.Process(process.pid)
    peak = 0
    out_chunks: list[str] = []
    # the output is read on the side, so a chatty process never blocks on a full pipe
    reader = threading.Thread(
        target=lambda: out_chunks.append(process.stdout.read() if process.stdout else "")
    )
    reader.start()
    while process.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    reader.join()
    err = process.stderr.read() if process.stderr else ""
    return {
        "seconds": elapsed,
        "peak_rss_mib": peak / 2**20,
        "returncode": process.returncode,
        "stdout": "".join(out_chunks),
        "stderr": err,
    }


def timed_import(db: str, path: str, org: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one `bayanihan import` process (the writer and its reader process, timed)."""
    run = timed_process(
        [sys.executable, "-m", "bayanihan.cli", "--db", db, "import", path, "--org", org], env
    )
    if run["returncode"] != 0:
        raise RuntimeError(f"import of {path} failed: {run['stderr']}")
    out = run["stdout"]
    return {
        "org": org,
        "objects": int(out.split()[0]),
        "seconds": run["seconds"],
        "peak_rss_mib": run["peak_rss_mib"],
        "summary": out.strip(),
    }


def measure_import(db: str, bundle: Path) -> dict[str, Any]:
    bayanihan("init", "--node-name", "Import bench", "--country", "TH", db=db)
    result = timed_import(db, str(bundle), "Import bench")
    return {**result, "rate": result["objects"] / result["seconds"]}


def pg_database(base_url: str) -> tuple[str, str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        make_url(base_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False), name


def drop_pg(base_url: str, name: str) -> None:
    admin = create_engine(
        make_url(base_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument(
        "--pg", default=os.environ.get("BAYANIHAN_BENCH_PG", os.environ.get("BAYANIHAN_TEST_PG"))
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    bundle = write_bundle(WORK / f"indicators-{args.count}.json", args.count)
    results: dict[str, Any] = {"count": args.count, "bundle_bytes": bundle.stat().st_size}
    sqlite_path = WORK / f"import-bench-{args.count}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(sqlite_path) + suffix).unlink(missing_ok=True)
    results["sqlite"] = measure_import(f"sqlite:///{sqlite_path}", bundle)
    print("sqlite", results["sqlite"], flush=True)
    sqlite_path.unlink()
    if args.pg:
        url, name = pg_database(args.pg)
        try:
            results["postgresql"] = measure_import(url, bundle)
            print("postgresql", results["postgresql"], flush=True)
        finally:
            drop_pg(args.pg, name)
    out = WORK / f"import-{args.count}.json"
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
