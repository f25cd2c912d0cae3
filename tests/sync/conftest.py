"""Fixtures of the live-sync tests.

Personas: alice owns the connected accounts and the data; bob is another
Rapport user who must get a 404 for every one of alice's things. On the fake
platforms, "ana" (on a remote Mastodon server) and "ben" (on Bluesky) are
the people alice talks with.
"""

from __future__ import annotations

import pytest

from relationships.models import Source
from relationships.services.intake import connect
from tests.fakes.fixtures import clock, fake_bluesky, fake_mastodon  # noqa: F401


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
