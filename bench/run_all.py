"""Run every benchmark, then write docs/benchmarks.md (`make bench`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(*args: str, capture: Path | None = None) -> None:
    print("$", " ".join(args), flush=True)
    if capture is None:
        subprocess.run([sys.executable, *args], check=True)
    else:
        result = subprocess.run([sys.executable, *args], check=True, capture_output=True, text=True)
        capture.write_text(result.stdout)
        print(result.stdout)


def main() -> None:
    quick = "--quick" in sys.argv
    (HERE / ".work").mkdir(exist_ok=True)
    run(str(HERE / "bench_validate.py"), capture=HERE / ".work" / "validate.txt")
    if quick:
        run(str(HERE / "bench_taxii.py"), "--quick")
        run(str(HERE / "bench_import.py"), "--count", "100000")
        run(str(HERE / "bench_policy.py"), "--count", "100000")
        run(str(HERE / "bench_correlate.py"), "--quick")
        run(str(HERE / "bench_federation.py"), "--quick")
        return
    run(str(HERE / "bench_import.py"))
    run(str(HERE / "bench_taxii.py"))
    policy = [str(HERE / "bench_policy.py"), "--count", "1000000"]
    pg = os.environ.get("BAYANIHAN_BENCH_PG") or os.environ.get("BAYANIHAN_TEST_PG")
    run(*policy, *(["--pg", pg] if pg else []))
    run(str(HERE / "bench_correlate.py"), *(["--pg", pg] if pg else []))
    run(str(HERE / "bench_federation.py"))
    run(str(HERE / "report.py"))


if __name__ == "__main__":
    main()
