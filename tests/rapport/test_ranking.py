"""The ranking keeps the promise: people you talk with both ways come before anyone whose attention went one way.

The issue's community: Faye, a fan, likes a post of alice's every day (a high score, no talk); Reggie talked
with alice on 7 days, both ways, half a year ago (a lower score by now); alice wrote to Pal 13 times and Pal
never answered. Each story also comes in twice (the same archive imported again) and through a second source
(a sync of the same account), as real installs see it.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core import mail
from django.core.management import call_command

from relationships.models import Nudge, Preferences, Rapport, Source
from relationships.platforms import records as r
from relationships.services import digest
from relationships.services.scoring import nudges, rapport
from relationships.services.scoring.sentences import rank_reason
from tests.rapport.stories import TODAY, Story, issue_community

pytestmark = pytest.mark.django_db


def told_twice_and_synced(alice, story: Story, make_source) -> None:
    """The same records from the archive, again from the archive, and from a sync of the same account."""
    records = list(issue_community(story).pending)
    story.save()
    story.pending = list(records)
    story.save()
    story.source = make_source(alice, platform=r.MASTODON, handle="alice@home.example", kind=Source.Kind.ACCOUNT)
    story.pending = list(records)
    story.save()


def ranked(user) -> list[str]:
    return list(
        Rapport.objects.filter(user=user).order_by(*rapport.RANK_ORDER, "person_id").values_list("person__name", flat=True)
    )


def test_a_regular_ranks_above_a_fan_and_a_one_way_history_whatever_their_scores(alice, story, make_source):
    told_twice_and_synced(alice, story, make_source)
    rapport.recompute(alice, today=TODAY)
    rows = {row.person.name: row for row in Rapport.objects.filter(user=alice).select_related("person")}
    faye, reggie, pal = rows["Faye"], rows["Reggie"], rows["Pal"]
    # Each interaction counted once, however many times it came in.
    assert (reggie.talks, faye.talks, pal.talks) == (7, 0, 13)
    assert (faye.inbound, reggie.inbound, pal.outbound) == ({"like": 60}, {"reply": 7}, {"reply": 13})
    # The issue's numbers: the fan's likes outscore the regular's older talks...
    assert faye.score > reggie.score and pal.score > reggie.score
    # ...and the regular still comes first: the group decides, the score orders within it.
    assert (reggie.two_way, faye.two_way, pal.two_way) == (True, False, False)
    assert ranked(alice) == ["Reggie", "Faye", "Pal"]


def test_a_fan_who_answers_once_joins_the_two_way_group(alice, story):
    issue_community(story).save()
    rapport.recompute(alice, today=TODAY)
    assert ranked(alice)[0] == "Reggie"
    story.said("Pal", r.REPLY, 3).save()
    rapport.recompute(alice, today=TODAY)
    pal = Rapport.objects.get(user=alice, person__name="Pal")
    assert pal.two_way and ranked(alice) == ["Pal", "Reggie", "Faye"]


def test_each_row_says_why_it_stands_there_and_never_calls_one_sided_attention_a_talk(alice, story):
    issue_community(story).save()
    rapport.recompute(alice, today=TODAY)
    rows = {row.person.name: row for row in Rapport.objects.filter(user=alice).select_related("person")}
    assert rank_reason(rows["Reggie"]) == f"Two-way: both of you take part · score {rows['Reggie'].score:.2f}"
    assert rank_reason(rows["Faye"]) == f"One-sided, from them: 60 likes · score {rows['Faye'].score:.2f}"
    assert rank_reason(rows["Pal"]) == f"One-sided, from you: 13 replies · score {rows['Pal'].score:.2f}"
    assert "talk" not in rank_reason(rows["Pal"]) and "talk" not in rank_reason(rows["Faye"])
    assert rank_reason(None) == "No interactions yet"


def test_the_rapport_command_lists_in_the_same_order(alice, story):
    issue_community(story).save()
    rapport.recompute(alice)
    out = io.StringIO()
    call_command("rapport", "--user", "alice", stdout=out)
    assert [line.split("\t")[0] for line in out.getvalue().splitlines()[1:]] == ranked(alice) == [
        "Reggie", "Faye", "Pal",
    ]


# -- Reconnect: only a conversation can be resumed --------------------------------------------------------

def test_a_one_way_history_never_gets_a_reconnect_nudge(alice, story):
    issue_community(story).save()
    rapport.recompute(alice, today=TODAY)
    nudges.generate(alice, today=TODAY)
    assert not Nudge.objects.filter(user=alice, person__name="Pal").exists()
    assert not any("Pal" in c.reason for c in nudges.candidates(alice, today=TODAY))


@pytest.mark.parametrize("state,kept", [("open", False), ("snoozed", False), ("dismissed", True), ("acted", True)])
def test_a_reconnect_nudge_made_of_a_one_way_history_is_withdrawn_unless_the_user_decided(alice, story, state, kept):
    issue_community(story).save()
    rapport.recompute(alice, today=TODAY)
    pal = story.person("Pal")
    # As the previous version opened it.
    Nudge.objects.create(user=alice, person=pal, kind="reconnect", state=state, strength=21.04, opened_on=TODAY,
                         reason="You've talked with Pal 13 times, but not in the last 70 days — say hello?")
    nudges.generate(alice, today=TODAY)
    assert Nudge.objects.filter(person=pal, kind="reconnect", state=state).exists() is kept
    assert not Nudge.objects.filter(person=pal, state__in=["open", "snoozed"]).exists()


def test_an_old_two_way_friend_still_gets_a_reconnect_nudge(alice, story):
    story.someone("Dmitri").follow_state("Dmitri", i_follow=True)
    for n, day in enumerate(range(70, 100, 3)):
        (story.said if n % 2 else story.answered)("Dmitri", r.REPLY, day)
    story.save()
    rapport.recompute(alice, today=TODAY)
    assert nudges.generate(alice, today=TODAY) == {"follow": 0, "shows_up": 0, "reconnect": 1}


# -- The daily budget: follow nudges first, then shows_up, then reconnect, each by score --------------------

def budget_community(story: Story) -> Story:
    """4 people who qualify for a follow nudge, 2 who show up, 3 old friends to reconnect with.

    The old friends talked far more than the follow candidates, so every reconnect outscores every follow.
    """
    for i in range(4):  # 5 to 8 talks, both ways, recently; not followed
        story.someone(f"Follow{i}")
        for day in range(1, 6 + i):
            (story.said if day % 2 else story.answered)(f"Follow{i}", r.REPLY, day)
    for i in range(2):  # replies and shares on 3 days, never answered
        story.someone(f"Shows{i}")
        for day in (1, 2, 3):
            story.said(f"Shows{i}", r.REPLY, day)
            story.said(f"Shows{i}", r.REPOST, day)
    for i in range(3):  # 40 talks both ways, the last 61 days ago; followed
        story.someone(f"Reconnect{i}").follow_state(f"Reconnect{i}", i_follow=True)
        for day in range(61 + i, 101 + i):
            story.said(f"Reconnect{i}", r.REPLY, day)
            story.answered(f"Reconnect{i}", r.REPLY, day)
    return story


@pytest.mark.parametrize("budget", [2, 3, 5, 9])
def test_the_budget_serves_follow_nudges_first_then_shows_up_then_reconnect(alice, story, alice_prefs, budget):
    budget_community(story).save()
    story.save()  # the same archive twice
    Preferences.objects.filter(pk=alice_prefs.pk).update(daily_nudge_budget=budget)
    rapport.recompute(alice, today=TODAY)
    strength = dict(Rapport.objects.filter(user=alice).values_list("person__name", "score"))
    assert min(strength[f"Reconnect{i}"] for i in range(3)) > max(strength[f"Follow{i}"] for i in range(4))

    served: list[str] = []
    day = TODAY
    while len(served) < 9:
        opened = nudges.generate(alice, today=day)
        assert sum(opened.values()) == min(budget, 9 - len(served))
        served += [
            n.person.name
            for n in Nudge.objects.filter(user=alice, opened_on=day).order_by(*nudges.serve_order())
        ]
        day += dt.timedelta(days=1)
    follow = sorted((f"Follow{i}" for i in range(4)), key=lambda name: -strength[name])
    shows = sorted((f"Shows{i}" for i in range(2)), key=lambda name: -strength[name])
    again = sorted((f"Reconnect{i}" for i in range(3)), key=lambda name: -strength[name])
    assert served == follow + shows + again


def test_the_dashboard_and_the_digest_list_nudges_in_the_order_they_are_served(alice, story, alice_client):
    budget_community(story).save()
    Preferences.objects.filter(user=alice).update(daily_nudge_budget=20, digest_opt_in=True)
    rapport.recompute(alice, today=TODAY)
    nudges.generate(alice, today=TODAY)
    expected = [n.reason for n in Nudge.objects.filter(user=alice).order_by(*nudges.serve_order())]
    assert [n.kind for n in Nudge.objects.filter(user=alice).order_by(*nudges.serve_order())] == (
        ["follow"] * 4 + ["shows_up"] * 2 + ["reconnect"] * 3
    )
    assert digest.send_digest(Preferences.for_user(alice), dt.datetime.now(dt.UTC)) == "sent"
    body = mail.outbox[0].body
    positions = [body.index(reason) for reason in expected]
    assert positions == sorted(positions)
    page = alice_client.get("/?all=1").content.decode()
    names = [n.person.name for n in Nudge.objects.filter(user=alice).order_by(*nudges.serve_order())]
    first_card = [page.index(f">{name}<") for name in names]
    assert first_card == sorted(first_card)
