"""Nudge stories: who gets "follow them?", who never does, and what the user's answers do."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from relationships.models import Identity, Nudge, Person, Preferences
from relationships.platforms import records as r
from relationships.services.scoring import nudges, rapport
from tests.rapport.stories import TODAY

pytestmark = pytest.mark.django_db


def later(days: int) -> dt.date:
    return TODAY + dt.timedelta(days=days)


def refresh(user, today=TODAY) -> dict:
    """What the worker does after an ingest and nightly: recompute, then generate."""
    rapport.recompute(user, today=today)
    return nudges.generate(user, today=today)


def friend(story, name, talks=5, first=1, every=1):
    """``talks`` days of replies, theirs and the user's in turn, from ``first`` days ago back."""
    story.someone(name)
    for n in range(talks):
        day = first + n * every
        (story.said if n % 2 == 0 else story.answered)(name, r.REPLY, day)
    return story


def open_nudges(user):
    return list(Nudge.objects.filter(user=user, state=Nudge.State.OPEN).order_by("-strength"))


def test_bought_followers_never_get_a_nudge(alice, story):
    for n in range(30):
        story.someone(f"Bought {n}").follow_state(f"Bought {n}", follows_me=True)
    story.save()
    assert refresh(alice) == {"follow": 0, "shows_up": 0, "reconnect": 0}
    assert not Nudge.objects.exists()


def test_a_mass_mention_account_never_gets_a_follow_nudge_however_often_it_mentions_the_user(alice, story):
    story.someone("F4F Bot")
    for day in range(1, 60):
        story.said("F4F Bot", r.MENTION, day, named_count=30)
    for day in range(1, 8):  # alice even answered it, on seven days
        story.answered("F4F Bot", r.REPLY, day)
    story.save()
    refresh(alice)
    assert rapport.recompute(alice, today=TODAY) == 1
    assert not Nudge.objects.exists()


def test_a_friend_with_five_talks_from_both_sides_gets_exactly_one_follow_nudge(alice, story):
    friend(story, "Ana").save()
    assert refresh(alice) == {"follow": 1, "shows_up": 0, "reconnect": 0}
    [nudge] = Nudge.objects.all()
    assert (nudge.kind, nudge.state, nudge.person.name) == ("follow", "open", "Ana")
    assert nudge.reason == "You've talked with Ana on 5 different days — follow them?"
    assert nudge.opened_on == TODAY


def test_four_talks_are_not_enough_unless_the_user_says_so(alice, story, alice_prefs):
    friend(story, "Ana", talks=4).save()
    refresh(alice)
    assert not Nudge.objects.exists()
    alice_prefs.follow_threshold = 4
    alice_prefs.save()
    assert nudges.generate(alice, today=TODAY)["follow"] == 1


def test_talks_from_one_side_only_never_make_a_follow_nudge(alice, story):
    story.someone("Ana")
    for day in range(1, 12):
        story.said("Ana", r.REPLY, day).answered("Ana", r.LIKE, day)
    story.save()
    refresh(alice)
    assert not Nudge.objects.filter(kind="follow").exists()


def test_generating_twice_creates_nothing(alice, story):
    friend(story, "Ana").save()
    friend(story, "Ben", talks=7).save()
    first = refresh(alice)
    assert sum(first.values()) == 2
    assert refresh(alice) == {"follow": 0, "shows_up": 0, "reconnect": 0}
    assert refresh(alice, today=later(1)) == {"follow": 0, "shows_up": 0, "reconnect": 0}
    assert Nudge.objects.count() == 2


def test_following_them_marks_the_nudge_acted_with_the_talks_as_evidence(alice, story):
    friend(story, "Ana").save()
    refresh(alice)
    story.follow_state("Ana", i_follow=True).save()
    assert refresh(alice) == {"follow": 0, "shows_up": 0, "reconnect": 0}
    nudge = Nudge.objects.get()
    assert (nudge.state, nudge.outcome) == ("acted", "following")
    assert [e["kind"] for e in nudge.evidence] == ["reply"] * 5


def test_marking_acted_needs_no_recompute(alice, story):
    friend(story, "Ana").save()
    refresh(alice)
    Identity.objects.filter(person=story.person("Ana")).update(i_follow=True)
    assert nudges.mark_acted(alice) == 1
    assert Nudge.objects.get().state == "acted"


def test_a_dismissed_nudge_never_comes_back_until_reset(alice, story):
    friend(story, "Ana").save()
    refresh(alice)
    nudges.dismiss(Nudge.objects.get())
    friend(story, "Ana", talks=6, first=10).save()  # more talks later on
    for day in (1, 40, 400):
        refresh(alice, today=later(day))
    nudge = Nudge.objects.get()
    assert nudge.state == "dismissed"
    nudges.reset(nudge)
    assert refresh(alice, today=later(401))["follow"] == 1
    assert Nudge.objects.get().state == "open"


def test_an_expired_snooze_comes_back_once_within_the_budget(alice, story, alice_prefs):
    alice_prefs.daily_nudge_budget = 1
    alice_prefs.save()
    friend(story, "Ana", talks=7).save()
    friend(story, "Ben", talks=5, first=20).save()
    assert refresh(alice) == {"follow": 1, "shows_up": 0, "reconnect": 0}
    ana = Nudge.objects.get(person__name="Ana")  # the stronger one goes first
    nudges.snooze(ana, days=30, today=TODAY)
    assert refresh(alice)["follow"] == 0  # today's budget is spent
    assert refresh(alice, today=later(1))["follow"] == 1
    assert Nudge.objects.get(person__name="Ben").opened_on == later(1)
    assert refresh(alice, today=later(29)) == {"follow": 0, "shows_up": 0, "reconnect": 0}
    # Chloé, stronger than Ana, turns up the day Ana's snooze ends: she takes that day's place.
    friend(story, "Chloé", talks=12, first=-30).save()
    refresh(alice, today=later(30))
    assert Nudge.objects.get(person__name="Chloé").opened_on == later(30)
    assert Nudge.objects.get(person__name="Ana").state == "snoozed"
    assert refresh(alice, today=later(31))["follow"] == 1
    ana.refresh_from_db()
    assert (ana.state, ana.opened_on, ana.snoozed_until) == ("open", later(31), None)
    assert sum(refresh(alice, today=later(32)).values()) == 0
    ana.refresh_from_db()
    assert ana.opened_on == later(31)


def test_at_most_the_budget_opens_each_day_strongest_first(alice, story):
    for n in range(8):
        friend(story, f"Friend {n}", talks=5 + n)
    story.save()
    assert refresh(alice)["follow"] == 5
    assert [n.person.name for n in open_nudges(alice)] == [f"Friend {n}" for n in (7, 6, 5, 4, 3)]
    assert refresh(alice, today=later(1))["follow"] == 3


def test_someone_who_keeps_showing_up_gets_a_thank_you_nudge(alice, story):
    story.someone("Ben")
    for day in (1, 2, 3, 4, 5, 6):
        story.said("Ben", r.REPLY, day)
    for day in (2, 3, 7, 8):
        story.said("Ben", r.REPOST, day)
    story.answered("Ben", r.LIKE, 3)  # a like is no answer
    story.save()
    assert refresh(alice) == {"follow": 0, "shows_up": 1, "reconnect": 0}
    nudge = Nudge.objects.get()
    assert nudge.reason == "Ben replied to you 6 times and shared 4 of your posts — say thanks, or follow?"


@pytest.mark.parametrize(
    "twist",
    ["two days only", "four events", "alice answered", "alice follows", "mass mentions"],
)
def test_showing_up_needs_three_days_five_events_and_no_answer(alice, story, twist):
    story.someone("Ben")
    days = (1, 1, 1, 2, 2) if twist == "two days only" else (1, 2, 3, 4) if twist == "four events" else (1, 2, 3, 4, 5)
    for day in days:
        if twist == "mass mentions":
            story.said("Ben", r.MENTION, day, named_count=12)
        else:
            story.said("Ben", r.MENTION, day)
    if twist == "alice answered":
        story.answered("Ben", r.MENTION, 9)
    if twist == "alice follows":
        story.follow_state("Ben", i_follow=True)
    story.save()
    refresh(alice)
    assert not Nudge.objects.filter(kind="shows_up").exists()


def test_answering_marks_a_shows_up_nudge_acted(alice, story):
    story.someone("Ben")
    for day in (1, 2, 3, 4, 5):
        story.said("Ben", r.REPLY, day)
    story.save()
    refresh(alice)
    story.answered("Ben", r.REPLY, when=timezone.now()).save()
    nudges.generate(alice, today=TODAY)
    nudge = Nudge.objects.get(kind="shows_up")
    assert (nudge.state, nudge.outcome) == ("acted", "replied")


def test_an_old_friend_gone_quiet_gets_a_reconnect_nudge(alice, story):
    friend(story, "Dmitri", talks=10, first=61, every=3).follow_state("Dmitri", i_follow=True).save()
    assert refresh(alice) == {"follow": 0, "shows_up": 0, "reconnect": 1}
    assert Nudge.objects.get().reason == (
        "You've talked with Dmitri on 10 different days, but not in the last 61 days — say hello?"
    )


def test_no_reconnect_after_a_recent_talk_or_without_following(alice, story):
    friend(story, "Dmitri", talks=10, first=60, every=3).follow_state("Dmitri", i_follow=True).save()
    friend(story, "Esi", talks=10, first=100, every=3).save()
    refresh(alice)
    assert not Nudge.objects.filter(kind="reconnect").exists()


@pytest.mark.parametrize(
    "flags",
    [{"is_bot": True}, {"discoverable": False}],
)
def test_never_a_nudge_toward_a_bot_or_an_undiscoverable_account(alice, story, flags):
    story.someone("Ana", **flags)
    friend(story, "Ana").save()
    refresh(alice)
    assert not Nudge.objects.exists()


@pytest.mark.parametrize("state", [{"blocked": True}, {"muted": True}])
def test_never_a_nudge_toward_someone_blocked_or_muted(alice, story, state):
    friend(story, "Ana").follow_state("Ana", **state).save()
    refresh(alice)
    assert not Nudge.objects.exists()


def test_a_hidden_person_gets_no_nudge(alice, story):
    friend(story, "Ana").save()
    Person.objects.filter(name="Ana").update(hidden=True)
    refresh(alice)
    assert not Nudge.objects.exists()


def test_a_person_without_a_name_is_them_never_a_guessed_pronoun(alice, story):
    friend(story, "Ana").save()
    Person.objects.filter(name="Ana").update(name="")
    refresh(alice)
    assert Nudge.objects.get().reason == "You've talked with them on 5 different days — follow them?"


def test_an_open_nudge_keeps_its_sentence_current(alice, story):
    friend(story, "Ana").save()
    refresh(alice)
    story.said("Ana", r.REPLY, 0).save()
    refresh(alice)
    assert Nudge.objects.get().reason == "You've talked with Ana on 6 different days — follow them?"


def test_actions_refuse_a_nudge_in_the_wrong_state(alice, story):
    friend(story, "Ana").save()
    refresh(alice)
    nudge = Nudge.objects.get()
    with pytest.raises(nudges.NudgeStateError):
        nudges.reset(nudge)
    nudges.act(nudge, "requested", reason="Locked account: follow requested.")
    assert (nudge.state, nudge.outcome) == ("acted", "requested")
    for action in (nudges.snooze, nudges.dismiss, nudges.reset):
        with pytest.raises(nudges.NudgeStateError):
            action(nudge)
    with pytest.raises(nudges.NudgeStateError):
        nudges.act(nudge, Nudge.Outcome.FOLLOWING)


def test_nudges_stay_with_their_owner(alice, bob, story, bob_story):
    friend(story, "Ana").save()
    friend(bob_story, "Zoe").save()
    refresh(alice)
    assert list(Nudge.objects.values_list("user", flat=True)) == [alice.pk]
    refresh(bob)
    assert Nudge.objects.filter(user=bob).get().person.name == "Zoe"


@pytest.mark.django_db(transaction=True)
def test_workers_generating_at_once_open_each_nudge_once_and_raise_nothing(alice, story):
    # Threads share the test database: config/settings.py names a file for SQLite's test database.
    assert not str(connection.settings_dict["NAME"]).startswith(":memory:")
    friend(story, "Ana").save()
    friend(story, "Ben", talks=6).save()
    rapport.recompute(alice, today=TODAY)
    errors, results = [], []
    start = threading.Barrier(4)

    def worker():
        try:
            start.wait()
            results.append(nudges.generate(alice, today=TODAY))
        except Exception as exc:  # noqa: BLE001 - the test reports any error
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(sum(r.values()) for r in results) == 2
    assert Nudge.objects.count() == 2
    assert Preferences.objects.count() == 1
