"""Properties that hold for any story: checked on stories hypothesis makes up."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relationships.models import Nudge, Rapport
from relationships.platforms import records as r
from relationships.services.scoring import nudges, rapport
from tests.rapport.stories import TODAY, at

pytestmark = pytest.mark.django_db

PEOPLE = ("Ana", "Ben", "Chloé")
interactions = st.tuples(
    st.sampled_from(PEOPLE),
    st.sampled_from(r.KINDS),
    st.sampled_from(r.DIRECTIONS),
    st.integers(min_value=0, max_value=500),  # days ago
    st.integers(min_value=0, max_value=23),  # hour (UTC): crosses local midnight for tz users
    st.sampled_from([1, 2, 5, 6, 30]),  # people named: around the mass-mention cut
)
stories = st.lists(interactions, max_size=25)
examples = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def tell(story, events, flip=False, rename=None):
    for name, kind, direction, days_ago, hour, named in events:
        if flip:
            direction = r.OUTBOUND if direction == r.INBOUND else r.INBOUND
        who = rename or name
        story.someone(who).did(who, kind, direction, when=at(days_ago, dt.time(hour, tzinfo=dt.UTC)), named_count=named)
    return story.save()


def rows(user) -> dict:
    return {
        row.pop("person_id"): row
        for row in Rapport.objects.filter(user=user).values(
            "person_id", "score", "talks", "reciprocity", "inbound", "outbound", "first_interaction_at",
            "last_interaction_at", "last_talk_on", "tier",
        )
    }


class Rollback(Exception):
    pass


def in_rollback(fn):
    """Run one example in a transaction that is always undone, so examples never meet."""
    try:
        with transaction.atomic():
            fn()
            raise Rollback
    except Rollback:
        pass


@examples
@given(events=stories, extra=interactions, tz=st.sampled_from(["UTC", "America/New_York", "Asia/Tokyo"]))
def test_adding_an_interaction_never_lowers_talks_or_score(alice, story, alice_prefs, events, extra, tz):
    def check():
        alice_prefs.time_zone = tz
        alice_prefs.save()
        tell(story, events)
        rapport.recompute(alice, today=TODAY)
        before = rows(alice)
        tell(story, [extra])
        rapport.recompute(alice, today=TODAY)
        after = rows(alice)
        for person, old in before.items():
            assert after[person]["talks"] >= old["talks"]
            assert after[person]["score"] >= old["score"] - 1e-9

    in_rollback(check)


@examples
@given(events=stories)
def test_reciprocity_is_symmetric(alice, story, events):
    def check():
        tell(story, events, rename="Mirror")
        tell(story, events, flip=True, rename="Flipped")
        rapport.recompute(alice, today=TODAY)
        mirror = Rapport.objects.filter(person=story.person("Mirror")).first() if events else None
        flipped = Rapport.objects.filter(person=story.person("Flipped")).first() if events else None
        if events:
            assert mirror.reciprocity == pytest.approx(flipped.reciprocity)
            assert mirror.score == pytest.approx(flipped.score)
            assert mirror.talks == flipped.talks
            assert (mirror.inbound, mirror.outbound) == (flipped.outbound, flipped.inbound)

    in_rollback(check)


@examples
@given(events=stories)
def test_recomputing_twice_changes_nothing(alice, story, events):
    def check():
        tell(story, events)
        rapport.recompute(alice, today=TODAY)
        first = rows(alice)
        rapport.recompute(alice, today=TODAY)
        assert rows(alice) == first

    in_rollback(check)


@examples
@given(first=stories, then=stories)
def test_an_incremental_recompute_gives_the_rows_of_a_full_one(alice, story, first, then):
    def check():
        tell(story, first)
        rapport.recompute(alice, today=TODAY)
        touched = tell(story, then).people_touched
        rapport.recompute(alice, person_ids=touched, today=TODAY)
        incremental = rows(alice)
        rapport.recompute(alice, today=TODAY)
        assert rows(alice) == incremental

    in_rollback(check)


@examples
@given(events=st.lists(interactions, max_size=40), follows=st.sets(st.sampled_from(PEOPLE)))
def test_generating_nudges_twice_creates_nothing(alice, story, events, follows):
    def check():
        tell(story, events)
        for name in follows:
            story.someone(name).follow_state(name, i_follow=True)
        story.save()
        rapport.recompute(alice, today=TODAY)
        nudges.generate(alice, today=TODAY)
        made = list(Nudge.objects.values("person_id", "kind", "state", "reason", "opened_on").order_by("pk"))
        assert nudges.generate(alice, today=TODAY) == {"follow": 0, "shows_up": 0, "reconnect": 0}
        assert list(Nudge.objects.values("person_id", "kind", "state", "reason", "opened_on").order_by("pk")) == made

    in_rollback(check)
