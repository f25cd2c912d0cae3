"""Fixtures for the pages: alice's community told through the real ingest service, scored and nudged."""

from __future__ import annotations

import pytest
from django.db.models import F

from relationships.models import Interaction
from relationships.platforms import records as r
from relationships.services import dashboard, nudges, rapport
from tests.rapport.stories import TODAY, Story


@pytest.fixture
def alice_source(alice, make_source):
    return make_source(alice, platform=r.MASTODON, handle="alice@home.example")


@pytest.fixture
def story(alice, alice_source):
    return Story(alice, alice_source)


@pytest.fixture
def bob_story(bob, make_source):
    return Story(bob, make_source(bob, platform=r.MASTODON))


def talk_often(story: Story, name: str, days: range, **identity) -> None:
    """A conversation with ``name`` on each of ``days`` (days ago): they reply, the user answers."""
    story.someone(name, **identity)
    for day in days:
        story.said(name, r.REPLY, day, post=f"https://fedi.example/@{name.lower()}/{day}")
        story.answered(name, r.REPLY, day)


def with_permalinks(user) -> None:
    """Stories name posts by URL as their external id; give them the same URL as permalink."""
    Interaction.objects.filter(user=user, permalink="", external_id__startswith="https://").update(
        permalink=F("external_id")
    )


def score(user, today=TODAY) -> None:
    """What the recompute job does: rapport, nudges, then the stored dashboard figures."""
    rapport.recompute(user, today=today)
    nudges.generate(user, today=today)
    dashboard.store_community(user, today=today)


@pytest.fixture
def community(alice, story):
    """Ana and Ben talk with alice often (follow nudges); Cleo is a fan; Dan mentioned alice once."""
    talk_often(story, "Ana", range(1, 7), avatar_url="https://fedi.example/avatars/ana.png")
    talk_often(story, "Ben", range(3, 40, 6))
    story.someone("Cleo")
    for day in (2, 5, 9):
        story.said("Cleo", r.LIKE, day)
    story.someone("Dan").said("Dan", r.MENTION, 20)
    story.save()
    with_permalinks(alice)
    score(alice)
    return story


def grow(story: Story, count: int, prefix: str = "Friend") -> None:
    """``count`` more people who each talked with the user a few times: for query-count tests."""
    for i in range(count):
        talk_often(story, f"{prefix}{i}", range(1, 6))
    story.save()
