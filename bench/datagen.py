"""Generated STIX data for the benchmarks: realistic indicators, written as bundles.

Values come from documentation ranges and example domains; ids and timestamps are
derived from a seed so every run measures the same data.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"


def indicators(count: int, *, seed: int = 1, start: int = 0) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed * 1_000_003 + start)
    kinds = ("domain", "ipv4", "url", "sha256")
    for i in range(start, start + count):
        object_id = f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        day = 1 + i % 28
        stamp = f"2026-10-{day:02d}T{i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}.{i % 1000:03d}Z"
        kind = kinds[i % 4]
        if kind == "domain":
            pattern = f"[domain-name:value = 'login-{i}.bank-verify.example.com']"
        elif kind == "ipv4":
            pattern = f"[ipv4-addr:value = '198.51.{(i // 250) % 250}.{i % 250}']"
        elif kind == "url":
            pattern = f"[url:value = 'https://parcel-{i}.example.net/track?id={i}']"
        else:
            digest = f"{rng.getrandbits(256):064x}"
            pattern = f"[file:hashes.'SHA-256' = '{digest}']"
        yield {
            "type": "indicator",
            "spec_version": "2.1",
            "id": object_id,
            "created": stamp,
            "modified": stamp,
            "name": f"Scam infrastructure {i}",
            "description": "Seen in a parcel-delivery smishing wave targeting bank customers.",
            "indicator_types": ["malicious-activity"],
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": stamp,
            "confidence": 50 + i % 50,
            "labels": ["smishing", "banking"],
            "object_marking_refs": [GREEN if i % 3 else AMBER],
        }


def write_bundle(path: Path, count: int, *, seed: int = 1) -> Path:
    """Write a bundle of ``count`` indicators to ``path`` (streamed), unless it exists."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        out.write(b'{"type": "bundle", "id": "bundle--' + str(uuid.UUID(int=seed)).encode())
        out.write(b'", "objects": [\n')
        for n, obj in enumerate(indicators(count, seed=seed)):
            if n:
                out.write(b",\n")
            out.write(orjson.dumps(obj))
        out.write(b"\n]}\n")
    partial.rename(path)
    return path
