"""The scale test's farms count what Rapport's workers send, and only that.

The audit runs on the farms' own host and reaches every farm from that
host's first address, whichever address the farm listens on: the farm must
take all of them as its own, or the audit's requests are counted (and
refused) as if a worker had sent them.
"""

from __future__ import annotations

import argparse

from bench.scaletest import __main__ as harness
from bench.scaletest import net
from bench.scaletest.farm import BLUESKY, BLUESKY_LIMITS, MASTODON, Farm, Ledger, arguments, own_addresses
from bench.scaletest.report import report
from tests.fakes.base import Seen


def farm(own: set[str]) -> Farm:
    return Farm(BLUESKY, "http://10.77.0.30:8000", range(0, 1), seed=1, latency=0.0, own=own)


def get(pds: Farm, client: str) -> int:
    seen = Seen("GET", "/xrpc/app.bsky.feed.getTimeline", {}, {"authorization": "Bearer nobody"}, b"")
    return pds.answer(seen, client).status


def test_requests_from_any_of_the_hosts_own_addresses_are_neither_counted_nor_limited():
    pds = farm({"10.77.0.30", "10.77.0.21", "127.0.0.1"})
    for _ in range(3005):
        assert get(pds, "10.77.0.21") != 429
    global_ip = pds.ledger.stats()["limits"]["global-ip"]
    assert global_ip["most_attempted_in_a_window"] == 0
    assert global_ip["throttled"] == 0


def test_the_harness_gives_every_farm_the_address_the_audit_comes_from(monkeypatch):
    started = []
    monkeypatch.setattr(net, "spawn", lambda ns, argv, *rest: started.append((ns, argv)))
    run = harness.Run.__new__(harness.Run)
    run.args = argparse.Namespace(seed=1, latency=0.1, activity_every=0.5)
    run.procs, run.env = {}, {}
    for platform, host in [(MASTODON, "10.77.0.22"), (BLUESKY, "10.77.0.30")]:
        run._farm(platform, platform, host, 0, 10)
    for ns, argv in started:
        assert ns == "rs-plat"
        own = own_addresses(arguments(argv[argv.index("bench.scaletest.farm") + 1:]))
        # A connection from rs-plat to any of its addresses leaves from its first one.
        assert net.HOSTS["rs-plat"][0] in own


def test_a_worker_over_the_limit_is_refused_and_named():
    ledger = Ledger(BLUESKY_LIMITS)
    now = 1_800_000_000.0  # the start of a window: every request below falls in it
    allowed = [ledger.spend([("global-ip", "10.77.0.11")], now + i * 0.01)[0] for i in range(3002)]
    assert ledger.spend([("global-ip", "10.77.0.12")], now)[0]  # another address has a window of its own
    assert allowed.count(False) == 2
    assert ledger.spend([("global-ip", "10.77.0.11")], now + 300)[0]  # and the next window starts afresh
    assert ledger.stats()["limits"]["global-ip"]["refused"] == {"10.77.0.11": 2}

    found = {
        "first_round": 1.0,
        "phases": [{"machines": 1, "per_minute": 10.0}],
        "farms_before_faults": {},
        "farms": {"pds": ledger.stats()},
        "faults": {"late": 0, "over_bound": 0, "recovered_in": 1.0},
        "audit": {"lost": 0, "extra": 0, "checked": 1, "accounts": 1},
        "claimed": 0,
    }
    row = next(r for r in report(found, argparse.Namespace(recovery_seconds=900)) if "global-ip" in r[0])
    assert row[1] == "3,002; 2 (to 10.77.0.11: 2)"
    assert row[3] == "NO"
