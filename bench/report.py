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
            "- Correlation is on (the default), so this figure includes extracting and indexing "
            "the observables of every object; all objects come from one organisation, so no "
            "hits are raised (see the correlation section for six organisations).",
        ]
    return lines


def mib(value: float) -> str:
    return f"{value / 2**20:,.1f}"


def ms(value: float) -> str:
    return f"{value:.2f}"


_BACKENDS = (("sqlite", "SQLite"), ("postgresql", "PostgreSQL"))


def _latency_rows(name: str, label: str, stats: dict[str, Any]) -> list[str]:
    rows = [
        f"| {name} | {label}, all | {stats['n']:,} | {ms(stats['p50_ms'])} | "
        f"{ms(stats['p95_ms'])} | {ms(stats['p99_ms'])} | {ms(stats['max_ms'])} | |"
    ]
    for kind, entry in stats.get("by_class", {}).items():
        rows.append(
            f"| {name} | {label}, {kind} | {entry['n']:,} | {ms(entry['p50_ms'])} | "
            f"{ms(entry['p95_ms'])} | {ms(entry['p99_ms'])} | {ms(entry['max_ms'])} | "
            f"{entry['mean_found']:.1f} |"
        )
    return rows


def correlate_section(data: dict[str, Any]) -> list[str]:
    dataset = data["dataset"]
    backends = [(key, name) for key, name in _BACKENDS if key in data]
    countries = ", ".join(f["country"] for f in dataset["files"])
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(dataset["values_by_kind"].items()))
    listed = dataset["warning_listed"]
    by_kind = ", ".join(f"{k} {v:.1%}" for k, v in listed["share_by_kind"].items() if v) or "none"
    lines = [
        f"## Correlation: index size, ingest, lookups"
        f"{' (quick smoke sizes)' if data.get('quick') else ''}",
        "",
        f"Data: {dataset['objects']:,} generated indicators (seeded) from six organisations "
        f"({countries}), one value each, {dataset['distinct_values']:,} distinct values "
        f"({kinds}); each value is carried by {dataset['multiplicity']['min']} to "
        f"{dataset['multiplicity']['max']} objects (uniform draw, mean "
        f"{dataset['multiplicity']['mean']:.1f}), about a fifth of the objects write it "
        "differently (upper case) so that normalisation is exercised. Raw observable bytes "
        f"(each value as written in its pattern, summed over all indicators): "
        f"{dataset['raw_observable_bytes']:,}. {listed['share']:.1%} of the distinct values "
        f"are on a MISP warning-list ({by_kind}).",
        "",
        "What is timed:",
        "",
    ]
    labels = {
        "size": "Index size",
        "ingest": "Ingest",
        "probe": "Lookup, index probe",
        "search": "Lookup, search service",
        "cidr": "CIDR containment",
    }
    for key, text in data["timed"].items():
        lines.append(f"- {labels.get(key, key)}: {text}.")
    lines += [
        "",
        "### Index size",
        "",
        "| database | observables | postings | ip_prefixes | index total (MiB) | "
        "index / raw bytes | hits rows | hits (MiB) | database (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, name in backends:
        size = data[key]["size"]
        variants = [(name + ", after import", size)]
        for variant, label in (("after_vacuum", "VACUUM"), ("after_vacuum_full", "VACUUM FULL")):
            if size.get(variant):
                variants.append((f"{name}, after {label}", size[variant]))
        for label, entry in variants:
            t = entry["tables"]
            lines.append(
                f"| {label} | {mib(t['observables']['bytes'])} MiB, "
                f"{t['observables']['rows']:,} rows | {mib(t['postings']['bytes'])} MiB, "
                f"{t['postings']['rows']:,} rows | {mib(t['ip_prefixes']['bytes'])} MiB | "
                f"{mib(entry['index_bytes'])} | {entry['ratio']:.2f}x | "
                f"{t['hits']['rows']:,} | {mib(t['hits']['bytes'])} | "
                f"{mib(entry['database_bytes'])} |"
            )
    lines += [
        "",
        "Sizes include every index of each table (SQLite: `dbstat`; PostgreSQL: "
        "`pg_total_relation_size`, where the counts updated at every write leave dead rows "
        "that VACUUM makes reusable and only VACUUM FULL gives back). The hits table is not "
        "part of the index: it holds one row per pair of current objects of different "
        "organisations sharing a value that is not noise (noise: on a warning-list, or carried "
        f"by more than {data.get('max_objects', 20)} objects).",
        "",
        "### Ingest with correlation off and on",
        "",
        "| database | run | correlation | seconds | objects/s | peak RSS (MiB) | "
        "seconds per organisation file |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for key, name in backends:
        for number, run in enumerate(data[key]["ingest"]["runs"], 1):
            lines.append(
                f"| {name} | {number} | {run['correlation']} | {run['seconds']:.1f} | "
                f"{fmt(run['rate'])} | {run['peak_rss_mib']:.0f} | "
                + ", ".join(f"{f['seconds']:.0f}" for f in run["files"])
                + " |"
            )
    lines += [
        "",
        "### Lookup of one value",
        "",
    ]
    for key, name in backends:
        lookup = data[key]["lookup"]
        rows = lookup["rows"]
        lines.append(
            f"- {name}: {rows['observables']:,} observables, {rows['postings']:,} postings, "
            f"{rows['hits']:,} hits; fixture built in {lookup['build_seconds']:.0f} s "
            f"(database {mib(lookup['database_bytes'])} MiB)."
        )
    lines += [
        "",
        "Queries: a third are values of the imported objects as an organisation wrote them, a "
        "third filler values of the index (a tenth of which have a posting), a third values "
        "absent from the index; the database is in the OS page cache and each test starts "
        f"with {data['warmup']:,} untimed lookups. The search service writes an audit entry "
        "whenever its answer names objects other than TLP:CLEAR.",
        "",
        "| database | lookup | n | p50 ms | p95 ms | p99 ms | max ms | mean objects found |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, name in backends:
        lookup = data[key]["lookup"]
        lines += _latency_rows(name, "index probe", lookup["probe"])
        lines += _latency_rows(name, "search service", lookup["search"])
    lines += [
        "",
        "### CIDR containment",
        "",
    ]
    for key, name in backends:
        cidr = data[key]["cidr"]
        families = ", ".join(f"{k} {v:,}" for k, v in cidr["by_kind"].items())
        lines.append(
            f"- {name}: {cidr['ranges']:,} networks ({families}), built in "
            f"{cidr['build_seconds']:.0f} s (database {mib(cidr['database_bytes'])} MiB)."
        )
    lines += [
        "",
        "| database | lookup | n | p50 ms | p95 ms | p99 ms | max ms | mean observables found |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, name in backends:
        lines += _latency_rows(name, "containment", data[key]["cidr"])
    phases = data.get("cpu_by_phase", {})
    busy = [
        f"{name} {entry['other_share_of_machine']:.0%}"
        for name, entry in phases.items()
        if entry.get("wall", 0) > 1
    ]
    if busy:
        lines += [
            "",
            "Other processes on the machine (neither this benchmark nor PostgreSQL) used this "
            "share of its CPU time during each phase: " + ", ".join(busy) + ".",
        ]
    changed = data.get("code", {}).get("changed")
    if changed:
        lines += [
            "",
            f"The package source changed during the run (noticed after: {', '.join(changed)}); "
            "parts of these figures may come from different versions of the code.",
        ]
    goals = data["goals"]
    lines += ["", "### Goals", ""]
    for key, name in backends:
        ratio = data[key]["size"]["ratio"]
        lines.append(
            f"- Goal: index under {goals['size_ratio']:.0f}x the raw observable bytes, {name}: "
            f"{ratio:.2f}x, {verdict(ratio < goals['size_ratio'])}."
        )
    for key, name in backends:
        ingest = data[key]["ingest"]
        if "ratio" in ingest:
            lines.append(
                f"- Goal: ingest with correlation at least {goals['ingest_ratio']:.0%} of the rate "
                f"without, {name}: {fmt(ingest['on_rate'])} vs {fmt(ingest['off_rate'])} "
                f"objects/s (medians) = {ingest['ratio']:.0%}, "
                f"{verdict(ingest['ratio'] >= goals['ingest_ratio'])}."
            )
    for key, name in backends:
        lookup = data[key]["lookup"]
        rows = lookup["rows"]["observables"]
        for label, stats in (
            ("index probe", lookup["probe"]),
            ("search service", lookup["search"]),
        ):
            lines.append(
                f"- Goal: lookup p99 under {goals['lookup_p99_ms']:.0f} ms with {rows:,} "
                f"observables, {name}, {label}: {ms(stats['p99_ms'])} ms, "
                f"{verdict(stats['p99_ms'] < goals['lookup_p99_ms'])}."
            )
    for key, name in backends:
        cidr = data[key]["cidr"]
        lines.append(
            f"- Goal: CIDR containment p99 under {goals['cidr_p99_ms']:.0f} ms against "
            f"{cidr['ranges']:,} ranges, {name}: {ms(cidr['p99_ms'])} ms, "
            f"{verdict(cidr['p99_ms'] < goals['cidr_p99_ms'])}."
        )
    return lines


def federation_section(data: dict[str, Any]) -> list[str]:
    goals = data["goals"]
    lines = [
        "## Federation (loopback, SQLite, real `bayanihan` processes)",
        "",
        f"### A new node's first pull (`bayanihan sync --peer B`, pages of {data['page_size']:,})",
        "",
        "| objects | sync seconds (whole process) | objects/s | peak RSS | bare paging objects/s "
        "| `bayanihan import` objects/s | import peak RSS | sync / import |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in data.get("pull", []):
        sync, bare, imp = run["sync"], run["bare_paging"]["second"], run["import"]
        lines.append(
            f"| {run['count']:,} | {sync['seconds']:.1f} | {fmt(sync['rate'])} | "
            f"{sync['peak_rss_mib']:.0f} MiB | {fmt(bare['rate'])} | {fmt(imp['rate'])} | "
            f"{imp['peak_rss_mib']:.0f} MiB | {sync['rate'] / imp['rate']:.2f}x |"
        )
    lines.append("")
    for run in data.get("pull", []):
        if run["count"] == 1_000_000:
            seconds = run["sync"]["seconds"]
            lines.append(
                f"- Goal: a new node pulls 1,000,000 objects in under "
                f"{goals['pull_1m_seconds']:.0f} s: {seconds:.1f} s, "
                f"{verdict(seconds < goals['pull_1m_seconds'])}."
            )
    lines += [
        "- Baselines of the same run: a bare httpx client paging the same collection with "
        "the same key and page size, discarding each page (the transport's limit), and "
        "`bayanihan import` of the same bundle into a fresh node (the store's limit). The "
        "sync process starts, discovers the peer, validates, applies TLP and audience, "
        "correlates and commits each page with its cursor.",
    ]
    latency = data.get("latency")
    if latency:
        remote, local = latency["remote"], latency["local"]
        settings = ", ".join(f"{k}={v}" for k, v in latency["settings"].items())
        lines += [
            "",
            "### Write on A to visible on B (push on)",
            "",
            "| path | samples | time-outs | p50 ms | p95 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, stats in (("POST on A, GET on B", remote), ("POST on A, GET on A", local)):
            lines.append(
                f"| {name} | {stats['n']} | {stats['timeouts']} | {ms(stats['p50_s'] * 1000)} | "
                f"{ms(stats['p95_s'] * 1000)} | {ms(stats['p99_s'] * 1000)} | "
                f"{ms(stats['max_s'] * 1000)} |"
            )
        lines += [
            "",
            f"- Goal: p95 under {goals['p95_seconds']:.0f} s: "
            f"{remote['p95_s']:.2f} s, {verdict(remote['p95_s'] < goals['p95_seconds'])}.",
            f"- Two `bayanihan serve` processes peered both ways, {settings}; one GREEN "
            f"indicator POSTed to A, then B asked for it by id every "
            f"{latency['poll_ms']:.0f} ms; samples spaced randomly 0-500 ms apart.",
        ]
    ring = data.get("ring")
    if ring:
        lines += [
            "",
            f"### {ring['nodes']} nodes in a ring, a partition healing",
            "",
            "| phase | converged | seconds | bytes on the wire | bytes / least possible |",
            "|---|---|---:|---:|---:|",
        ]
        least = ring["heal"].get("least_bytes")
        for phase in ("settle", "partition", "heal"):
            item = ring[phase]
            seconds = "-" if item["seconds"] is None else f"{item['seconds']:.1f}"
            ratio = f"{item['bytes'] / least:.1f}x" if phase == "heal" and least else ""
            lines.append(
                f"| {phase} | {'yes' if item['converged'] else '**no**'} | {seconds} | "
                f"{item['bytes']:,} | {ratio} |"
            )
        heal = ring["heal"]
        down = " and ".join(str(n) for n in ring["down"])
        lines += [
            "",
            f"- Each node peered both ways with its two neighbours, background sync every "
            f"{ring['settings']['BAYANIHAN_SYNC_INTERVAL']} s; a counting TCP proxy in front "
            "of every node counts federation traffic only (headers and bodies, both ways).",
            f"- Settle: {ring['seed_per_node']} objects per node. Partition: nodes {down} "
            f"stopped, every node writes {ring['per_node']:,} GREEN indicators (the stopped "
            "ones into their database), the running side converges among itself. Heal: the "
            f"two start again ({heal['restart_s']:.1f} s until both answer), then every "
            f"node holds every object {heal['seconds_after_up']:.1f} s later."
            if heal["seconds_after_up"] is not None
            else "- Heal did not converge within the time-out.",
        ]
        if least:
            lines.append(
                f"- Least possible for the heal: each new object's JSON once to each other "
                f"node, {least:,} bytes ({heal['payload_bytes']:,} bytes of objects x "
                f"{ring['nodes'] - 1})."
            )
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
    correlate = load("correlate.json")
    if correlate:
        lines += correlate_section(correlate) + [""]
    federation = load("federation.json")
    if federation:
        lines += federation_section(federation) + [""]
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
