"""Throughput of STIX validation on the write path.

Run: python bench/bench_validate.py
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

try:
    import bayanihan  # noqa: F401
except ImportError:  # running from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from stix2patterns.validator import validate as reference_validate

from bayanihan.stix.pattern import pattern_error
from bayanihan.stix.timestamps import format_timestamp
from bayanihan.stix.validate import validate_object

OBJECTS = 100_000
PATTERNS = 100_000
REFERENCE_PATTERNS = 2_000
BASE_MICROS = 1_600_000_000 * 1_000_000
IDENTITY = "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"
TLP_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"


def simple_pattern(i: int) -> str:
    return f"[ipv4-addr:value = '198.51.{i // 256 % 256}.{i % 256}']"


def compound_pattern(i: int) -> str:
    return f"[domain-name:value = 'scam{i}.example.com'] OR [url:value = 'http://x{i}.example/a']"


def hash_pattern(i: int) -> str:
    return f"[file:hashes.'SHA-256' = '{i:064x}']"


def indicator(i: int, same_instant: int = 1) -> dict[str, object]:
    """An indicator; ``same_instant`` consecutive ones share their timestamps."""
    stamp = format_timestamp(BASE_MICROS + i // same_instant * 1_000)
    patterns = (simple_pattern, compound_pattern, hash_pattern)
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created_by_ref": IDENTITY,
        "created": stamp,
        "modified": stamp,
        "name": f"indicator {i}",
        "indicator_types": ["malicious-activity"],
        "pattern": patterns[i % 3](i),
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": stamp,
        "labels": ["phishing"],
        "confidence": 80,
        "object_marking_refs": [TLP_GREEN],
    }


Item = TypeVar("Item")


def rate(function: Callable[[Item], object], items: Sequence[Item]) -> float:
    started = time.perf_counter()
    for item in items:
        function(item)
    return len(items) / (time.perf_counter() - started)


def reference(pattern: str) -> object:
    return reference_validate(pattern, ret_errs=True, stix_version="2.1")


def main() -> None:
    objects = [indicator(i) for i in range(OBJECTS)]
    invalid = [o for o in objects if validate_object(o)]
    if invalid:
        raise SystemExit(f"generated objects rejected: {validate_object(invalid[0])}")
    objects = [indicator(i + OBJECTS) for i in range(OBJECTS)]  # fresh timestamps
    rows: list[tuple[str, str, float]] = [
        ("validate_object", f"{OBJECTS:,} indicators", rate(validate_object, objects))
    ]
    batched = [indicator(i, same_instant=100) for i in range(OBJECTS)]
    rows.append(("validate_object batched", "100 per timestamp", rate(validate_object, batched)))
    for label, make in (
        ("simple", simple_pattern),
        ("compound", compound_pattern),
        ("hash", hash_pattern),
    ):
        patterns = [make(i) for i in range(PATTERNS)]
        if any(pattern_error(p) is not None for p in patterns[:1000]):
            raise SystemExit(f"{label} patterns rejected")
        fast = rate(pattern_error, [make(i + PATTERNS) for i in range(PATTERNS)])
        slow = rate(reference, patterns[:REFERENCE_PATTERNS])
        rows.append((f"pattern_error {label}", f"{PATTERNS:,} patterns", fast))
        rows.append((f"stix2patterns {label}", f"{REFERENCE_PATTERNS:,} patterns", slow))

    print(f"{'what':<26} {'sample':>20} {'per second':>12}")
    for what, sample, per_second in rows:
        print(f"{what:<26} {sample:>20} {per_second:>12,.0f}")


if __name__ == "__main__":
    main()
