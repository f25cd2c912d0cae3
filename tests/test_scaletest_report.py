"""`make scaletest` judges its own figures: the table's "ok" column and its exit status come from report()."""

from __future__ import annotations

import argparse

from bench.scaletest.report import report


def measured(**changes) -> dict:
    """Figures as a full run gathers them (run 2 of docs/SCALING.md, shortened), with ``changes``."""
    pds = {"limits": {"per address": {"limit": 3000, "window": 300.0, "most_attempted_in_a_window": 1600, "throttled": 0}}}
    found = {
        "first_round": 410.0,
        "phases": [{"machines": 1, "per_minute": 160.0}, {"machines": 2, "per_minute": 280.0},
                   {"machines": 3, "per_minute": 360.0}],
        "farms_before_faults": {"pds": pds},
        "farms": {"pds": pds},
        "faults": {"late": 0, "over_bound": 0, "recovered_in": 300.0},
        "audit": {"lost": 0, "extra": 0, "checked": 60876, "accounts": 2000},
        "claimed": 0,
    }
    found.update(changes)
    return found


def off(found: dict) -> list[str]:
    return [row[0] for row in report(found, argparse.Namespace(recovery_seconds=900))[1:] if row[3] == "NO"]


def test_a_run_that_meets_every_aim_is_off_nowhere():
    assert off(measured()) == []


def test_each_aim_missed_is_named():
    late = {"late": 3, "over_bound": 3, "recovered_in": None}
    spent = {"pds": {"limits": {"per address": {"limit": 3000, "window": 300.0, "most_attempted_in_a_window": 3006,
                                                "throttled": 6}}}}
    slow = [{"machines": 1, "per_minute": 160.0}, {"machines": 2, "per_minute": 200.0}, {"machines": 3, "per_minute": 330.0}]
    found = measured(faults=late, farms=spent, phases=slow, audit={"lost": 1, "extra": 2, "checked": 9, "accounts": 1},
                     claimed=4)
    assert off(found) == [
        "throughput, 2 worker machine(s)",
        "throughput, 3 worker machine(s)",
        "pds: per address limit, most requests in one window; 429s",
        "accounts whose first sync after the faults came late",
        "recovery after the faults",
        "interactions lost (audit)",
        "interactions duplicated or extra (audit)",
        "jobs or sources left claimed",
    ]


def test_a_platform_limit_that_refused_requests_before_the_faults_excuses_the_ratios():
    bound = {"pds": {"limits": {"per address": {"limit": 3000, "window": 300.0, "most_attempted_in_a_window": 3000,
                                                "throttled": 1}}}}
    slow = [{"machines": 1, "per_minute": 160.0}, {"machines": 2, "per_minute": 200.0}, {"machines": 3, "per_minute": 210.0}]
    assert off(measured(phases=slow, farms_before_faults=bound, farms=bound)) == []
