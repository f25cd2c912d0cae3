"""Fixtures of the live-sync tests.

Personas: alice owns the connected accounts and the data; bob is another
Rapport user who must get a 404 for every one of alice's things. On the fake
platforms, "ana" (on a remote Mastodon server) and "ben" (on Bluesky) are
the people alice talks with.
"""

from __future__ import annotations

import datetime as dt

import pytest

from relationships.models import Identity, Nudge, Person, Source
from relationships.platforms import records as r
from relationships.services.intake import connect
from relationships.services.intake.ingest import ingest
from tests.fakes.fixtures import clock, fake_bluesky, fake_mastodon  # noqa: F401
from tests.sync.helpers import run_sync, talks

#: The scopes of a Mastodon token granted before Rapport asked for lists and notes.
OLD_SCOPES = "read:accounts read:notifications read:statuses read:favourites read:follows read:search write:follows"


@pytest.fixture(autouse=True)
def _fake_time_for_platform_sessions(monkeypatch, clock):
    """Every session the services make shares the fake clock: rate-limit waits take no real time."""
    monkeypatch.setattr(connect, "SESSION_OPTIONS", {"sleep": clock.sleep, "clock": clock.time})


@pytest.fixture
def sent_tasks(monkeypatch):
    """Tasks sent to the broker, recorded instead of sent (no worker runs in these tests)."""
    from config.celery_app import app

    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, *a, **kw: sent.append((name, kw.get("kwargs") or {})))
    return sent


@pytest.fixture
def ana(fake_mastodon):
    """Someone on another server who talks with alice."""
    return fake_mastodon.add_account("ana", "remote.example", display_name="Ana")


@pytest.fixture
def ben(fake_bluesky):
    return fake_bluesky.add_account("ben.test", display_name="Ben")


@pytest.fixture
def mastodon_source(alice, fake_mastodon) -> Source:
    return connect.connect_mastodon_token(alice, fake_mastodon.url, fake_mastodon.token)


@pytest.fixture
def bluesky_source(alice, fake_bluesky) -> Source:
    return connect.connect_bluesky(alice, fake_bluesky.handle, fake_bluesky.app_password, fake_bluesky.url)


@pytest.fixture
def ana_nudge(alice, fake_mastodon, ana, mastodon_source) -> Nudge:
    """Alice and Ana talked on five days: the sync opens a follow nudge."""
    talks(fake_mastodon, fake_mastodon.me, ana, days=5)
    assert run_sync(mastodon_source).state == "done"
    return Nudge.objects.get(user=alice, kind=Nudge.Kind.FOLLOW, person__identities__external_id=ana["uri"])


@pytest.fixture
def ben_person(alice, fake_bluesky, ben, bluesky_source) -> Person:
    """Ben, known from alice's Bluesky account."""
    ingest(alice, bluesky_source, [r.IdentityRecord(platform=r.BLUESKY, external_id=ben, handle="ben.test",
                                                    display_name="Ben")])
    return Identity.objects.get(user=alice, external_id=ben).person


@pytest.fixture
def ana_followers(fake_mastodon, ana, mastodon_source):
    """cleo (talks with alice both ways) and gus (mentioned alice once, never answered) follow ana."""
    # After the first sync's newest item: the next sync reads forward from there.
    later = dt.datetime(2026, 8, 1, 12, tzinfo=dt.UTC)
    cleo = fake_mastodon.add_account("cleo", "remote.example", display_name="Cleo")
    gus = fake_mastodon.add_account("gus", "remote.example", display_name="Gus")
    talks(fake_mastodon, fake_mastodon.me, cleo, days=3, start=later)
    fake_mastodon.add_status(gus, "hi alice", mentions=[fake_mastodon.me], created_at=later)
    assert run_sync(mastodon_source).state == "done"
    for follower in (cleo, gus):
        fake_mastodon.follows(follower, ana)
        fake_mastodon.relationship(follower)["following"] = True
    return cleo, gus
