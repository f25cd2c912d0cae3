"""The scale test's figures: the CPU read during a phase, and the table that judges a run.

``report(found, args)`` turns what a run measured (``__main__.scenario``) into
the printed rows: a measure, its value, its aim, and whether the value meets
it; ``make scaletest`` exits non-zero when any row says NO.
"""

from __future__ import annotations

import argparse


def cpu_times() -> tuple[int, int, int]:
    """(busy, stolen, all) clock ticks of every core since boot, from /proc/stat.

    Stolen: the time a hypervisor gave this machine's cores to another, which no process here could use.
    """
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


def table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ok(good: bool) -> str:
    return "yes" if good else "NO"


def throughput_rows(found: dict) -> list[tuple]:
    phases = found["phases"]
    base = phases[0]["per_minute"]
    # A limit bound the phases only if it refused something before the faults.
    bound_by_limit = any(lim["throttled"] for s in found["farms_before_faults"].values() for lim in s["limits"].values())
    rows = []
    for p in phases:
        ratio = p["per_minute"] / base if base else 0.0
        aim = {1: 1.0, 2: 1.6, 3: 2.2}[p["machines"]]
        ok = p["per_minute"] > 0 and (p["machines"] == 1 or ratio >= aim or bound_by_limit)
        cpu = f", CPU busy {p['cpu_busy']:.0%}, stolen {p['cpu_stolen']:.0%}" if "cpu_busy" in p else ""
        rows.append((f"throughput, {p['machines']} worker machine(s)", f"{p['per_minute']:.1f} syncs/min ({ratio:.2f}x){cpu}",
                     f">= {aim:.1f}x" if p["machines"] > 1 else "> 0", _ok(ok)))
    return rows


def limit_rows(found: dict) -> list[tuple]:
    rows = []
    for host, s in found["farms"].items():
        for name, limit in s["limits"].items():
            ok = limit["most_attempted_in_a_window"] <= limit["limit"] and limit["throttled"] <= 1
            rows.append((f"{host}: {name} limit, most requests in one window; 429s",
                         f"{limit['most_attempted_in_a_window']:,}; {limit['throttled']}{_refused(limit)}",
                         f"<= {limit['limit']:,} per {limit['window']:.0f}s; <= 1", _ok(ok)))
    return rows


def _refused(limit: dict) -> str:
    """Whom the 429s went to (a client address, or the start of a token), when any did."""
    refused = limit.get("refused") or {}
    return f" (to {', '.join(f'{key[:15]}: {n}' for key, n in sorted(refused.items()))})" if refused else ""


def outcome_rows(found: dict, args: argparse.Namespace) -> list[tuple]:
    faults, audit, claimed = found["faults"], found["audit"], found["claimed"]
    return [
        ("accounts whose first sync after the faults came late", f"{faults['over_bound']}", "0",
         _ok(faults["over_bound"] == 0)),
        ("recovery after the faults", f"{faults['recovered_in']:.0f}s" if faults["recovered_in"] else "never",
         f"<= {args.recovery_seconds}s", _ok(faults["recovered_in"] is not None)),
        ("interactions lost (audit)", f"{audit['lost']}", "0", _ok(audit["lost"] == 0)),
        ("interactions duplicated or extra (audit)", f"{audit['extra']}", "0", _ok(audit["extra"] == 0)),
        ("interactions checked", f"{audit['checked']:,} in {audit['accounts']:,} accounts", "", ""),
        ("jobs or sources left claimed", f"{claimed}", "0", _ok(claimed == 0)),
    ]


def report(found: dict, args: argparse.Namespace) -> list[tuple]:
    """The table's rows: a measure, its value, its aim, and whether the value meets it."""
    first_round = found["first_round"]
    return [
        ("measure", "value", "aim", "ok"),
        ("first round (every account's first sync, 3 machines)",
         f"{first_round:.0f}s" if first_round is not None else "did not finish", "", ""),
        *throughput_rows(found),
        *limit_rows(found),
        *outcome_rows(found, args),
    ]
