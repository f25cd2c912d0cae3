"""Helpers shared by the benchmark rows (each row runs as `python -m bench.<row> '<json args>'`)."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import random
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench" / "data"


def setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def args() -> dict:
    return json.loads(sys.argv[1])


def emit(**row) -> None:
    if "floor_s" in row and "value_s" in row:
        row["ratio"] = row["value_s"] / row["floor_s"] if row["floor_s"] else None
        row["value"] = duration(row["value_s"])
        row["floor"] = duration(row["floor_s"])
        if "target_ratio" in row:
            row["ok"] = row["ratio"] is not None and row["ratio"] <= row["target_ratio"]
            row["target"] = f"<= {row['target_ratio']}x"
    print("BENCH " + json.dumps(row, default=str), flush=True)


def duration(seconds: float) -> str:
    """Seconds as the table shows them: "1.23s", or milliseconds below a tenth of a second."""
    return f"{seconds:.2f}s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_child_rss_mb() -> float:
    """The peak RSS of the largest finished child process (an import's archive reader)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def synthetic_records(n: int, identities: int = 5000, seed: int = 1):
    """n interaction records across `identities` accounts, plus their identity records (a generator)."""
    from relationships.platforms import records as r

    rng = random.Random(seed)
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for i in range(identities):
        yield r.IdentityRecord(
            platform=r.MASTODON, external_id=f"https://h{i % 50}.example/users/u{i}", handle=f"u{i}@h{i % 50}.example",
            display_name=f"User {i}",
        )
    kinds = r.KINDS
    for i in range(n):
        who = rng.randrange(identities)
        yield r.InteractionRecord(
            platform=r.MASTODON,
            external_id=f"https://h{who % 50}.example/users/u{who}/statuses/{i}",
            identity_id=f"https://h{who % 50}.example/users/u{who}",
            kind=kinds[i % len(kinds)],
            direction=r.INBOUND if i % 3 else r.OUTBOUND,
            occurred_at=base + dt.timedelta(minutes=i),
            permalink=f"https://h{who % 50}.example/@u{who}/{i}",
            excerpt="a short excerpt of the post",
            thread_id=f"t{i // 5}",
        )


def cached_records(n: int, identities: int = 5000) -> list:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"records-{n}-{identities}.pickle"
    if path.exists():
        with path.open("rb") as fh:
            return pickle.load(fh)
    data = list(synthetic_records(n, identities))
    with path.open("wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return data


def cross_variant_summaries(results: list[dict]) -> list[dict]:
    out = []
    mem = {r["variant"]: r for r in results if r["row"] == "ingest-memory"}
    if "100k" in mem and "1M" in mem:
        ratio = mem["1M"]["rss_mb"] / mem["100k"]["rss_mb"]
        out.append(
            {"row": "ingest-memory", "variant": "1M vs 100k", "measure": "peak RSS ratio",
             "value": f"{mem['1M']['rss_mb']:.0f} MB", "floor": f"{mem['100k']['rss_mb']:.0f} MB",
             "ratio": ratio, "target": "<= 1.2x", "ok": ratio <= 1.2}
        )
    imp = {r["variant"]: r for r in results if r["row"] == "import"}
    for size in ("100k", "1M"):
        if size in imp and f"{size}-floor" in imp:
            ratio = imp[size]["seconds"] / imp[f"{size}-floor"]["seconds"]
            out.append(
                {"row": "import", "variant": f"{size} vs floor", "measure": "whole import time",
                 "value": imp[size]["value"], "floor": imp[f"{size}-floor"]["value"], "ratio": ratio,
                 "target": "<= 3x", "ok": ratio <= 3}
            )
    if "100k" in imp and "1M" in imp:
        ratio = imp["1M"]["rss_mb"] / imp["100k"]["rss_mb"]
        out.append(
            {"row": "import", "variant": "1M vs 100k", "measure": "peak RSS",
             "value": f"{imp['1M']['rss_mb']:.0f} MB", "floor": f"{imp['100k']['rss_mb']:.0f} MB", "ratio": ratio,
             "target": "<= 1.2x and < 300 MB", "ok": ratio <= 1.2 and imp["1M"]["rss_mb"] < 300}
        )
    return out
