"""Fixtures for rapport and nudge tests: alice's story, told through the real ingest service."""

from __future__ import annotations

import pytest

from relationships.models import Preferences
from relationships.platforms import records as r
from tests.rapport.stories import Story


@pytest.fixture
def alice_source(alice, make_source):
    return make_source(alice, platform=r.MASTODON, handle="alice@home.example")


@pytest.fixture
def story(alice, alice_source):
    return Story(alice, alice_source)


@pytest.fixture
def bluesky_story(alice, make_source):
    return Story(alice, make_source(alice, platform=r.BLUESKY), platform=r.BLUESKY)


@pytest.fixture
def bob_story(bob, make_source):
    return Story(bob, make_source(bob, platform=r.MASTODON))


@pytest.fixture
def alice_prefs(alice):
    return Preferences.for_user(alice)
