"""Live sync against the fake Mastodon server under a scaled-down rate limit.

Row "sync": a first sync backfilling ``n`` notifications (default 20,000)
from the fake server limited to ``limit`` requests per ``window`` seconds;
then an incremental sync with nothing new. Measures:

* notification requests made against the minimum (items / page size);
* all requests against the minimum (one per page of every stream, plus verify);
* time spent waiting for the rate limit against what the limit makes
  necessary: (windows needed - 1) x window. The fake server's limit and the
  client's pacing share a fake clock, so waiting costs no real time and the
  figure is exact;
* the incremental sync: requests per stream (at most one).
"""

import math
import os
import time
from collections import Counter

from bench import common

opts = common.args()
# The fake server listens on loopback; this bench is the only place that talks to it.
os.environ.setdefault("RAPPORT_ALLOW_PRIVATE_HOSTS", "1")
common.setup_django()

from django.contrib.auth import get_user_model  # noqa: E402

from relationships.models import Interaction  # noqa: E402
from relationships.services.intake import (
    connect,  # noqa: E402
    jobs,
    sync,
)
from tests.fakes.base import FakeClock  # noqa: E402
from tests.fakes.mastodon_server import FakeMastodon  # noqa: E402

N = int(opts.get("n", 20_000))
LIMIT = int(opts.get("limit", 30))
WINDOW = float(opts.get("window", 10))
AUTHORS = int(opts.get("authors", 200))
PAGE = 80  # /api/v1/notifications maximum
VARIANT = opts["label"]

clock = FakeClock()
server = FakeMastodon(clock).start()
connect.SESSION_OPTIONS = {"sleep": clock.sleep, "clock": clock.time}
try:
    people = [server.add_account(f"p{i}", f"h{i % 20}.example", display_name=f"Person {i}") for i in range(AUTHORS)]
    for i in range(N):
        server.add_status(people[i % AUTHORS], f"hello {i}", mentions=[server.me])

    user = get_user_model().objects.create_user("bench")
    source = connect.connect_mastodon_token(user, server.url, server.token)
    server.rate_limit(LIMIT, WINDOW)

    def run() -> tuple[jobs.Outcome, list]:
        mark = len(server.requests)
        job, _ = sync.queue_sync(source, send_task=False)
        outcome = jobs.execute(job.pk, sync.run_sync)
        job.refresh_from_db()
        assert job.state == "done", job.error
        return outcome, server.requests[mark:]

    slept_before = sum(clock.sleeps)
    started = time.perf_counter()
    _, backfill = run()
    elapsed = time.perf_counter() - started
    waited = sum(clock.sleeps) - slept_before
    assert Interaction.objects.filter(user=user).count() == N

    answered = [s for s in backfill if s.status != 429]
    refused = len(backfill) - len(answered)
    notification_pages = sum(1 for s in answered if s.path == "/api/v1/notifications")
    minimum_pages = math.ceil(N / PAGE)
    # verify_credentials, the notification pages, one page each of statuses, favourites, conversations.
    minimum_all = 1 + minimum_pages + 3
    necessary_wait = (math.ceil(len(answered) / LIMIT) - 1) * WINDOW

    common.emit(row="sync", variant=VARIANT, measure="notification requests", value=notification_pages,
                floor=minimum_pages, ratio=notification_pages / minimum_pages, target="<= 1.01x",
                ok=notification_pages <= minimum_pages * 1.01 + 1,
                note=f"{N:,} notifications, {PAGE} a page")
    extra = Counter(s.path.split("/")[-1] for s in answered if s.path != "/api/v1/notifications")
    common.emit(row="sync", variant=VARIANT, measure="all requests", value=len(backfill), floor=minimum_all,
                ratio=len(backfill) / minimum_all, target="<= 1.1x", ok=len(backfill) <= minimum_all * 1.1,
                note=f"{refused} answered 429; beyond the pages: {dict(extra)}")
    common.emit(row="sync", variant=VARIANT, measure=f"rate-limit wait ({LIMIT}/{WINDOW:g}s)", value_s=waited,
                floor_s=necessary_wait, target_ratio=1.1, note=f"wall time {elapsed:.1f}s (waits on a fake clock)")

    _, incremental = run()
    per_stream = Counter(s.path for s in incremental)
    worst = max(per_stream.values())
    common.emit(row="sync", variant=f"{VARIANT} incremental", measure="requests per stream (max)", value=worst,
                floor=1, ratio=float(worst), target="<= 1", ok=worst <= 1,
                note=f"{len(incremental)} requests in all, nothing new")
finally:
    server.stop()
