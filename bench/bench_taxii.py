"""TAXII paging and POST throughput: Bayanihan against OASIS medallion 3.0.0, same data, same run.

Both servers are driven over plain HTTP with httpx, and the client decodes each
page (as any consumer must). Results go to bench/.work/taxii.json.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datagen import indicators, write_bundle  # noqa: E402
from servers import (  # noqa: E402
    MEDALLION_USER,
    TAXII,
    WORK,
    bayanihan,
    start_bayanihan,
    start_medallion,
)

_NEXT = re.compile(rb'^\{"more":true,"next":"([^"]+)"')


def page_through(
    client: httpx.Client, objects_url: str, *, limit: int, decode: bool = True
) -> tuple[int, float]:
    """GET every page (following `next`); returns (objects received, seconds).

    ``decode=False`` measures transfer only: the client reads each body but does
    not decode it, taking `next` from the head of our envelope (a full page with
    more to come holds exactly ``limit`` objects; the last page is decoded to count).
    """
    received = 0
    params: dict[str, Any] = {"limit": limit}
    started = time.perf_counter()
    while True:
        response = client.get(objects_url, params=params)
        response.raise_for_status()
        if not decode:
            head = _NEXT.match(response.content[:512])
            if head is not None:
                received += limit
                params = {"limit": limit, "next": head.group(1).decode()}
                continue
        body = orjson.loads(response.content)
        received += len(body.get("objects", []))
        if not body.get("more"):
            break
        if body.get("next"):
            params = {"limit": limit, "next": body["next"]}
        else:
            params = {"limit": limit, "added_after": response.headers["X-TAXII-Date-Added-Last"]}
    return received, time.perf_counter() - started


def bare_select_rate(db_path: Path, *, limit: int) -> float:
    """Objects/s of paging the same stored bytes straight out of SQLite, no HTTP."""
    conn = sqlite3.connect(db_path)
    cursor = -1
    count = 0
    started = time.perf_counter()
    while True:
        rows = conn.execute(
            "SELECT date_added, body FROM objects WHERE date_added > ? ORDER BY date_added LIMIT ?",
            (cursor, limit),
        ).fetchall()
        if not rows:
            break
        count += len(rows)
        cursor = rows[-1][0]
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def our_node(size: int) -> tuple[str, Path]:
    """A SQLite node holding ``size`` generated indicators (imported once, then reused)."""
    db_path = WORK / f"bayanihan-{size}.db"
    db = f"sqlite:///{db_path}"
    if not db_path.exists():
        bayanihan("init", "--node-name", "Bench node", "--country", "SG", db=db)
        bundle = write_bundle(WORK / f"indicators-{size}.json", size)
        bayanihan("import", str(bundle), "--org", "Bench node", db=db)
    return db, db_path


def bayanihan_paging(size: int, repeats: int, limit: int) -> dict[str, Any]:
    db, db_path = our_node(size)
    process, _base, collection, key = start_bayanihan(db)
    headers = {"Accept": TAXII, "Authorization": f"Bearer {key}"}
    rates = []
    transfer = []
    try:
        with httpx.Client(headers=headers, timeout=600) as client:
            for _ in range(repeats):
                count, seconds = page_through(client, collection + "objects/", limit=limit)
                rates.append(count / seconds)
                raw_count, seconds = page_through(
                    client, collection + "objects/", limit=limit, decode=False
                )
                assert raw_count == count, (raw_count, count)
                transfer.append(raw_count / seconds)
    finally:
        process.stop()
    select = [bare_select_rate(db_path, limit=limit) for _ in range(repeats)]
    return {
        "server": "bayanihan",
        "objects": count,
        "rates": rates,
        "median": statistics.median(rates),
        "transfer_median": statistics.median(transfer),
        "bare_select_median": statistics.median(select),
    }


def medallion_paging(size: int, repeats: int, limit: int) -> dict[str, Any]:
    process, collection = start_medallion(indicators(size))
    rates = []
    try:
        with httpx.Client(headers={"Accept": TAXII}, auth=MEDALLION_USER, timeout=3600) as client:
            for _ in range(repeats):
                count, seconds = page_through(client, collection + "objects/", limit=limit)
                rates.append(count / seconds)
    finally:
        process.stop()
    return {
        "server": "medallion",
        "objects": count,
        "rates": rates,
        "median": statistics.median(rates),
    }


def post_rate(
    objects_url: str, client: httpx.Client, *, envelopes: int, per_envelope: int, seed: int
) -> float:
    batches = [
        orjson.dumps({"objects": list(indicators(per_envelope, seed=seed, start=e * per_envelope))})
        for e in range(envelopes)
    ]
    started = time.perf_counter()
    for body in batches:
        response = client.post(objects_url, content=body, headers={"Content-Type": TAXII})
        response.raise_for_status()
        status = response.json()
        assert status.get("success_count") == per_envelope, status
    return envelopes * per_envelope / (time.perf_counter() - started)


def bayanihan_post(size: int, envelopes: int, per_envelope: int) -> dict[str, Any]:
    _, source = our_node(size)
    target = WORK / f"bayanihan-{size}-post.db"
    for suffix in ("", "-wal", "-shm"):  # the paging data set stays as it was
        Path(f"{target}{suffix}").unlink(missing_ok=True)  # a stale WAL would corrupt the copy
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    db = f"sqlite:///{target}"
    process, _base, collection, key = start_bayanihan(db)
    try:
        with httpx.Client(
            headers={"Accept": TAXII, "Authorization": f"Bearer {key}"}, timeout=600
        ) as c:
            rate = post_rate(
                collection + "objects/",
                c,
                envelopes=envelopes,
                per_envelope=per_envelope,
                seed=int(time.time()),
            )
    finally:
        process.stop()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    return {"server": "bayanihan", "stored_before": size, "rate": rate}


def medallion_post(size: int, envelopes: int, per_envelope: int) -> dict[str, Any]:
    process, collection = start_medallion(indicators(size))
    try:
        with httpx.Client(headers={"Accept": TAXII}, auth=MEDALLION_USER, timeout=3600) as c:
            rate = post_rate(
                collection + "objects/", c, envelopes=envelopes, per_envelope=per_envelope, seed=99
            )
    finally:
        process.stop()
    return {"server": "medallion", "stored_before": size, "rate": rate}


_STATIC_APP = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = open({path!r}, "rb").read()


async def page(request):
    return Response(BODY, media_type="application/taxii+json;version=2.1")


app = Starlette(routes=[Route("/page", page)])
"""


def transfer_ceiling(page_bytes: bytes, repeats: int = 50) -> dict[str, Any]:
    """How fast httpx alone receives one page of these bytes from a server doing nothing.

    The same uvicorn and Starlette as the node, a handler returning a constant: what
    is left is the HTTP transfer and the client, the floor under any TAXII server.
    """
    from servers import Process, free_port, wait_until_up

    body_file = WORK / "static-page.json"
    body_file.write_bytes(page_bytes)
    app_file = WORK / "static_page_app.py"
    app_file.write_text(_STATIC_APP.format(path=str(body_file)))
    port = free_port()
    process = Process(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "static_page_app:app",
            "--app-dir",
            str(WORK),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        log=WORK / f"static-{port}.log",
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/page")
        with httpx.Client(timeout=60) as client:
            for _ in range(5):
                client.get(f"http://127.0.0.1:{port}/page")
            started = time.perf_counter()
            for _ in range(repeats):
                client.get(f"http://127.0.0.1:{port}/page").raise_for_status()
            seconds = (time.perf_counter() - started) / repeats
    finally:
        process.stop()
    return {"page_bytes": len(page_bytes), "ms_per_page": seconds * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--post-only",
        action="store_true",
        help="measure the POST figures again and replace them in bench/.work/taxii.json",
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"paging": [], "post": []}

    def note(section: str, entry: dict[str, Any], **labels: Any) -> None:
        entry.update(labels)
        results[section].append(entry)
        print(section, orjson.dumps(entry).decode(), flush=True)

    if args.post_only:
        out = WORK / "taxii.json"
        kept = orjson.loads(out.read_bytes()) if out.exists() else {"paging": []}
        kept["post"] = [
            {**bayanihan_post(10_000, 5, 1000)},
            {**medallion_post(10_000, 5, 1000)},
            {**bayanihan_post(1_000_000, 10, 1000)},
        ]
        out.write_bytes(orjson.dumps(kept, option=orjson.OPT_INDENT_2))
        print(orjson.dumps(kept["post"]).decode())
        return
    if args.quick:
        note("paging", bayanihan_paging(2000, 3, 1000), size=2000)
        note("paging", medallion_paging(2000, 1, 1000), size=2000)
        note("post", bayanihan_post(2000, 3, 1000))
        note("post", medallion_post(2000, 1, 1000))
    else:
        note("paging", bayanihan_paging(2000, 3, 1000), size=2000)
        note("paging", medallion_paging(2000, 3, 1000), size=2000)
        note("paging", bayanihan_paging(10_000, 3, 1000), size=10_000)
        note("paging", medallion_paging(10_000, 1, 1000), size=10_000)
        note("paging", bayanihan_paging(100_000, 3, 1000), size=100_000)
        note("paging", bayanihan_paging(1_000_000, 3, 1000), size=1_000_000)
        page = orjson.dumps({"more": True, "objects": list(indicators(1000, seed=5))})
        results["ceiling"] = transfer_ceiling(page)
        print("ceiling", results["ceiling"], flush=True)
        note("post", bayanihan_post(10_000, 5, 1000))
        note("post", medallion_post(10_000, 5, 1000))
        note("post", bayanihan_post(1_000_000, 10, 1000))
    out = WORK / ("taxii-quick.json" if args.quick else "taxii.json")
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
