"""Run the benchmark rows and print a table.

    python -m bench                 # every row
    python -m bench --only ingest   # one row (ONLY=ingest with make)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR = ROOT / "var" / "bench"
PG_ADMIN_URL = os.environ.get("RAPPORT_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")

# row name -> (module, list of (label, database kind, extra args))
ROWS = {
    "ingest": ("bench.ingest_bench", [("sqlite", "sqlite", {}), ("postgres", "postgres", {})]),
    "ingest-memory": ("bench.ingest_memory", [("100k", "sqlite", {"n": 100_000}), ("1M", "sqlite", {"n": 1_000_000})]),
    "sync": ("bench.sync_bench", [("mastodon-20k", "sqlite", {"n": 20_000, "limit": 30, "window": 10})]),
    "rapport": ("bench.rapport_bench", [("sqlite", "sqlite", {}), ("postgres", "postgres", {})]),
    "pages": ("bench.pages_bench", [("sqlite", "sqlite", {}), ("postgres", "postgres", {})]),
    "car-memory": (
        "bench.car_memory",
        [
            ("repository-200k", "sqlite", {"shape": "repository", "n": 200_000}),
            ("tiny-blocks-1.5M", "sqlite", {"shape": "tiny", "n": 1_500_000}),
        ],
    ),
    "import": (
        "bench.import_bench",
        [
            ("100k", "sqlite", {"n": 100_000, "mode": "import"}),
            ("100k-floor", "sqlite", {"n": 100_000, "mode": "floor"}),
            ("1M", "sqlite", {"n": 1_000_000, "mode": "import"}),
            ("1M-floor", "sqlite", {"n": 1_000_000, "mode": "floor"}),
        ],
    ),
}


def database_url(kind: str, name: str) -> str:
    if kind == "sqlite":
        path = BENCH_VAR / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    dbname = f"rapport_bench_{name}".replace("-", "_")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{dbname}"


def run_row(row: str) -> list[dict]:
    module, variants = ROWS[row]
    results = []
    for label, kind, extra in variants:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url(kind, f"{row}-{label}"),
            SECRET_KEY="bench",
            RAPPORT_ENCRYPTION_KEYS=env.get("RAPPORT_ENCRYPTION_KEYS", "uXGhBz3wq2m4SJN3Zt1V1mY3HQ2Hn3n1o0xGq4H1u2E="),
            RAPPORT_VAR_DIR=str(BENCH_VAR / "var"),
            DJANGO_SETTINGS_MODULE="config.settings",
        )
        env.pop("REDIS_URL", None)
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", module, json.dumps({"label": label, "db": kind, **extra})],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"bench row {row} ({label}) failed")
        for line in proc.stdout.splitlines():
            if line.startswith("BENCH "):
                results.append(json.loads(line[6:]))
        print(f"  … {row} {label} took {time.monotonic() - started:.0f}s", file=sys.stderr)
    return results


def print_table(results: list[dict]) -> None:
    headers = ["row", "variant", "measure", "value", "floor", "ratio", "target", "ok"]
    lines = [headers]
    for res in results:
        ratio = res.get("ratio")
        lines.append(
            [
                res["row"], res["variant"], res["measure"], res["value"], res.get("floor", ""),
                f"{ratio:.2f}x" if isinstance(ratio, (int, float)) else "",
                res.get("target", ""), {True: "yes", False: "NO"}.get(res.get("ok"), ""),
            ]
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(headers))]
    for n, line in enumerate(lines):
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=sorted(ROWS), help="run one row")
    args = parser.parse_args()
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    results = []
    for row in [args.only] if args.only else list(ROWS):
        results.extend(run_row(row))
    # Rows that compare two variants (e.g. 100k vs 1M memory) add a summary line.
    from bench import common

    results.extend(common.cross_variant_summaries(results))
    print()
    print_table(results)


if __name__ == "__main__":
    main()
