"""Benchmark ``syndicate subscribers import``: 100,000 rows (1 % invalid) into SQLite.

Target (issue 4): ≤ 10 s. Also reports the peak resident memory of the import process.

    python bench/import_subscribers.py [--rows 100000] [--runs 3]

Each run imports into a fresh site and store through the real CLI in a child process, so
the time includes start-up and the memory figure is the command's own.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMES = "Ada Grace Alan Edsger Barbara Donald Frances Ken Radia Tim Margaret Linus".split()
TOPICS = "trade security energy diplomacy logistics technology".split()


def generate(path: Path, rows: int, seed: int = 11) -> int:
    """A subscriber CSV; every hundredth row has an invalid address. Returns the bad count."""
    rng = random.Random(seed)
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("email,name,topics\n")
        for i in range(rows):
            if i % 100 == 57:
                fh.write(f"not-an-address-{i},Broken Row,\n")
                bad += 1
                continue
            name = f"{rng.choice(NAMES)} {rng.choice(NAMES)}son"
            topics = ";".join(rng.sample(TOPICS, rng.randint(0, 3)))
            fh.write(f"reader{i}@Example{i % 997}.org,{name},{topics}\n")
    return bad


def run_once(rows: int) -> tuple[float, int, str]:
    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    try:
        (root / "syndicate.toml").write_text(
            '[publication]\ntitle = "Bench"\nbase_url = "https://bench.example.org"\n'
            '[lists.weekly]\ntitle = "Weekly"\n',
            encoding="utf-8",
        )
        csv_path = root / "subscribers.csv"
        generate(csv_path, rows)
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "syndicate",
                "--site",
                str(root),
                "subscribers",
                "import",
                "weekly",
                str(csv_path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if done.returncode not in (0, 1):
            raise SystemExit(f"import failed ({done.returncode}):\n{done.stderr[-2000:]}")
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return elapsed, peak_kib, done.stdout.strip().splitlines()[-1]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times, peaks = [], []
    for run in range(1, args.runs + 1):
        elapsed, peak, summary = run_once(args.rows)
        times.append(elapsed)
        peaks.append(peak)
        print(f"run {run}: {elapsed:.2f} s, peak RSS so far {peak / 1024:.0f} MiB — {summary}")
    print(
        f"median of {args.runs}: {statistics.median(times):.2f} s for {args.rows:,} rows "
        f"({args.rows / statistics.median(times):,.0f} rows/s; target <= 10 s); "
        f"peak RSS {max(peaks) / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
