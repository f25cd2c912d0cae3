"""Syncs spend from the install's shared rate-limit budgets: in Redis when REDIS_URL is set.

Needs a real Redis (``RAPPORT_TEST_REDIS_URL``): skipped on a laptop without
one, a failure under ``RAPPORT_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import pytest

from relationships.models import Job
from relationships.platforms.ratelimit import LocalBudgets, RatePacer
from relationships.platforms.shared_budget import RedisBudgets
from relationships.services.intake import connect
from tests.sync.helpers import run_sync

pytestmark = [pytest.mark.django_db]


def test_without_redis_the_budgets_are_this_processs_and_shared_by_its_sessions(settings):
    settings.REDIS_URL = ""
    assert isinstance(connect.session().pacer.budgets, LocalBudgets)
    assert connect.session().pacer.budgets is connect.session().pacer.budgets


def test_a_sync_learns_the_pds_budget_into_redis_for_every_worker(redis_url, settings, fake_bluesky, bluesky_source, ben):
    settings.REDIS_URL = redis_url
    fake_bluesky.rate_limit(3000, window=300)
    fake_bluesky.add_post(ben, "hi alice", mentions=[fake_bluesky.me])

    assert run_sync(bluesky_source).state == Job.State.DONE

    seen = RedisBudgets(redis_url).peek(RatePacer.key(fake_bluesky.url))
    assert seen is not None and 0 < seen.remaining < 3000 and seen.limit == 3000


def test_a_pds_budget_another_machine_spent_holds_the_sync_back_without_a_request(
    redis_url, settings, clock, fake_bluesky, bluesky_source
):
    settings.REDIS_URL = redis_url
    elsewhere = RedisBudgets(redis_url)
    elsewhere.observe(RatePacer.key(fake_bluesky.url), 0, 3000, clock.time() + 3600, clock.time())
    mark = len(fake_bluesky.requests)

    job = run_sync(bluesky_source)

    assert job.state == Job.State.QUEUED and "rate limit" in job.error
    assert len(fake_bluesky.requests) == mark  # not one request, so no 429 either


def test_a_429_one_worker_got_pauses_the_pds_for_the_next_sync(redis_url, settings, clock, fake_bluesky, bluesky_source):
    settings.REDIS_URL = redis_url
    fake_bluesky.fail_next(429, path="/xrpc/app.bsky.actor.getProfile", reset_in=600)

    first = run_sync(bluesky_source)
    mark = len(fake_bluesky.requests)
    assert RedisBudgets(redis_url).peek(RatePacer.key(fake_bluesky.url)).paused_until > clock.time() + 590
    again = run_sync(bluesky_source)

    assert first.state == again.state == Job.State.QUEUED
    assert len(fake_bluesky.requests) == mark
