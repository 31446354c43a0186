"""Write docs/benchmarks.md from the result files of the last benchmark run."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path
from typing import Any

import orjson
import psutil

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
DOC = HERE.parent / "docs" / "benchmarks.md"


# Figures measured earlier on the same machine, kept to show what later features cost.
HISTORY = [
    "## Earlier measurements (same machine)",
    "",
    "2026-12-01, before recipients, sharing groups, reader postings and the audit log:",
    "import of 1,000,000 indicators 27,390 objects/s on SQLite (peak RSS 391 MiB) and",
    "17,273/s on PostgreSQL; paging at 1,000,000 objects 98,550 objects/s (client decoding);",
    "POST with 1,000,000 stored 8,858 objects/s, and 10,340/s once WAL checkpoints moved to",
    "a background thread. Every page read of non-CLEAR objects now also writes an audit",
    "entry, and every restricted write its reader postings.",
    "",
]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def load(name: str) -> dict[str, Any] | None:
    path = WORK / name
    return orjson.loads(path.read_bytes()) if path.exists() else None


def fmt(value: float) -> str:
    return f"{value:,.0f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def taxii_section(data: dict[str, Any]) -> list[str]:
    paging = {(p["server"], p["size"]): p for p in data["paging"]}
    lines = [
        "## TAXII paging (GET objects, limit 1,000, client decodes every page)",
        "",
        "| objects in collection | Bayanihan objects/s (median) | medallion objects/s | ratio |"
        " Bayanihan, transfer only | bare SELECT objects/s | decoded / bare SELECT |"
        " transfer only / bare SELECT |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sorted({s for _, s in paging}):
        ours = paging.get(("bayanihan", size))
        theirs = paging.get(("medallion", size))
        if ours is None:
            continue
        ratio = f"{ours['median'] / theirs['median']:,.0f}x" if theirs else "—"
        theirs_text = fmt(theirs["median"]) if theirs else "not run (see below)"
        select = ours["bare_select_median"]
        raw = ours["transfer_median"]
        lines.append(
            f"| {size:,} | {fmt(ours['median'])} | {theirs_text} | {ratio} | {fmt(raw)} |"
            f" {fmt(select)} | {ours['median'] / select:.2f} | {raw / select:.2f} |"
        )
    small = (paging.get(("bayanihan", 2000)), paging.get(("medallion", 2000)))
    lines.append("")
    if all(small):
        ratio = small[0]["median"] / small[1]["median"]  # type: ignore[index]
        lines.append(
            f"- Goal: at least 50x medallion at 2,000 objects: {ratio:,.0f}x, "
            f"{verdict(ratio >= 50)}."
        )
    big = paging.get(("bayanihan", 1_000_000))
    if big:
        share = big["median"] / big["bare_select_median"]
        raw_share = big["transfer_median"] / big["bare_select_median"]
        lines.append(
            f"- Goal: at 1,000,000 objects at least half the rate of a bare SELECT of the same "
            f"bytes: {share:.2f} with the client decoding each page, {raw_share:.2f} counting "
            f"transfer only; {verdict(max(share, raw_share) >= 0.5)}."
        )
        flat = [
            p["median"] for (s, size), p in paging.items() if s == "bayanihan" and size >= 10_000
        ]
        if flat:
            lines.append(
                f"- Flatness: from 10,000 to 1,000,000 objects our rate stays within "
                f"{fmt(min(flat))}–{fmt(max(flat))} objects/s."
            )
    ceiling = data.get("ceiling")
    if ceiling and big:
        per_page = ceiling["ms_per_page"]
        select_ms = 1000 / big["bare_select_median"] * 1000
        lines.append(
            f"- The floor under any HTTP server here: httpx receives one {ceiling['page_bytes']:,}"
            f"-byte page from a uvicorn handler returning constant bytes in {per_page:.2f} ms; "
            f"the bare SELECT of 1,000 objects takes {select_ms:.2f} ms, so even a server doing "
            f"no work would reach {select_ms / (select_ms + per_page):.2f} of the SELECT's rate "
            "(before the client decodes anything)."
        )
    lines.append(
        "- medallion's first page costs time that grows with the square of the collection, "
        "so 10,000 objects are paged once and larger collections are not run against it."
    )
    lines += ["", "## TAXII POST (envelopes of 1,000 new indicators)", ""]
    lines += ["| server | objects already stored | objects/s |", "|---|---:|---:|"]
    posts = {(p["server"], p["stored_before"]): p for p in data["post"]}
    for (server, size), entry in sorted(posts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"| {server} | {size:,} | {fmt(entry['rate'])} |")
    ours, theirs = posts.get(("bayanihan", 10_000)), posts.get(("medallion", 10_000))
    lines.append("")
    if ours and theirs:
        ratio = ours["rate"] / theirs["rate"]
        lines.append(
            f"- Goal: at least 5x medallion with 10,000 stored: {ratio:.1f}x, "
            f"{verdict(ratio >= 5)}."
        )
    million = posts.get(("bayanihan", 1_000_000))
    if million:
        lines.append(
            f"- Goal: at least 10,000 objects/s on SQLite with 1,000,000 stored: "
            f"{fmt(million['rate'])}, {verdict(million['rate'] >= 10_000)}."
        )
    return lines


def import_section(data: dict[str, Any]) -> list[str]:
    lines = [
        f"## `bayanihan import` of {data['count']:,} indicators "
        f"({data['bundle_bytes'] / 2**20:,.0f} MiB bundle, whole process)",
        "",
        "| database | seconds | objects/s | peak RSS (MiB, process tree) |",
        "|---|---:|---:|---:|",
    ]
    for name in ("sqlite", "postgresql"):
        entry = data.get(name)
        if entry:
            lines.append(
                f"| {name} | {entry['seconds']:.1f} | {fmt(entry['rate'])} | "
                f"{entry['peak_rss_mib']:.0f} |"
            )
    sqlite = data.get("sqlite")
    if sqlite:
        lines += [
            "",
            f"- Goal: at least 25,000 objects/s on SQLite: {fmt(sqlite['rate'])}, "
            f"{verdict(sqlite['rate'] >= 25_000)}.",
            f"- Goal: peak RSS under 500 MB: {sqlite['peak_rss_mib']:.0f} MiB, "
            f"{verdict(sqlite['peak_rss_mib'] * 1.048576 < 500)}.",
            "- Correlation does not exist yet; this figure is without it.",
        ]
    return lines


def main() -> None:
    today = datetime.date.today().isoformat()
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (scripts in `bench/`), all figures from one run.",
        "",
        f"- Date: {today}",
        f"- Machine: {machine()}",
        "- Baseline: OASIS medallion 3.0.0, memory backend, same generated data "
        "(`bench/datagen.py`), same machine, same HTTP client (httpx).",
        "- Bayanihan: SQLite (WAL), one `bayanihan serve` process.",
        "",
    ]
    taxii = load("taxii.json")
    if taxii:
        lines += taxii_section(taxii) + [""]
    imports = load("import-1000000.json")
    if imports:
        lines += import_section(imports) + [""]
    policy = WORK / "policy.md"
    if policy.exists():
        lines += [policy.read_text().strip(), ""]
    validate = WORK / "validate.txt"
    if validate.exists():
        lines += ["## STIX validation on the write path (one core)", "", "```"]
        lines += validate.read_text().strip().splitlines() + ["```", ""]
    lines += HISTORY
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines))
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
