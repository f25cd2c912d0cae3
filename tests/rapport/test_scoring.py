"""Hand-computed figures on small cases: talks, score, reciprocity, decay, tiers, the day boundary."""

from __future__ import annotations

import datetime as dt

import pytest

from relationships.models import Identity, Person, Preferences, Rapport
from relationships.platforms import records as r
from relationships.services.scoring import rapport
from tests.rapport.stories import TODAY, at

pytestmark = pytest.mark.django_db

IN, OUT = r.INBOUND, r.OUTBOUND


def figures(story, name) -> Rapport:
    return Rapport.objects.get(person=story.person(name))


def recompute(user, **kw):
    return rapport.recompute(user, today=TODAY, **kw)


def test_a_long_thread_on_one_day_is_one_talk(alice, story):
    story.someone("Ana").said("Ana", r.REPLY, 3).answered("Ana", r.REPLY, 3).said("Ana", r.REPLY, 3).save()
    recompute(alice)
    assert figures(story, "Ana").talks == 1


def test_talks_are_days_with_a_direct_exchange_in_either_direction(alice, story):
    story.someone("Ana")
    story.said("Ana", r.REPLY, 1).answered("Ana", r.MENTION, 2).said("Ana", r.DM, 3).answered("Ana", r.QUOTE, 3)
    story.said("Ana", r.LIKE, 4).said("Ana", r.REPOST, 5).answered("Ana", r.LIKE, 6)
    story.save()
    recompute(alice)
    ana = figures(story, "Ana")
    assert ana.talks == 3
    assert ana.last_talk_on == TODAY - dt.timedelta(days=1)
    assert ana.inbound == {"dm": 1, "like": 1, "reply": 1, "repost": 1}
    assert ana.outbound == {"like": 1, "mention": 1, "quote": 1}
    assert ana.first_interaction_at == at(6)
    assert ana.last_interaction_at == at(1)


def test_a_reply_and_a_like_today_score_by_their_weights_and_reciprocity(alice, story):
    # in = 3 (a reply), out = 0.5 (a like): reciprocity 0.5/3, score 3.5 x (1 + 1/6).
    story.someone("Ana").said("Ana", r.REPLY, 0).answered("Ana", r.LIKE, 0).save()
    recompute(alice)
    ana = figures(story, "Ana")
    assert ana.reciprocity == pytest.approx(1 / 6)
    assert ana.score == pytest.approx(3.5 * (1 + 1 / 6))


def test_an_even_exchange_doubles_the_score(alice, story):
    story.someone("Ana").said("Ana", r.REPLY, 0).answered("Ana", r.DM, 0).save()
    recompute(alice)
    ana = figures(story, "Ana")
    assert ana.reciprocity == 1.0
    assert ana.score == pytest.approx((3 + 3) * 2)


def test_weight_halves_every_ninety_days(alice, story):
    story.someone("Ana").said("Ana", r.REPLY, 90).someone("Ben").said("Ben", r.QUOTE, 180)
    story.someone("Chloé").said("Chloé", r.LIKE, 45)
    story.save()
    recompute(alice)
    assert figures(story, "Ana").score == pytest.approx(3 * 0.5)
    assert figures(story, "Ben").score == pytest.approx(2 * 0.25)
    assert figures(story, "Chloé").score == pytest.approx(0.5 * 0.5**0.5)
    assert figures(story, "Ana").reciprocity == 0.0


def test_the_users_own_half_life_and_weights_are_used(alice, story, alice_prefs):
    alice_prefs.half_life_days = 30
    alice_prefs.weights = {"reply": 10}
    alice_prefs.save()
    story.someone("Ana").said("Ana", r.REPLY, 30).said("Ana", r.LIKE, 60).save()
    recompute(alice)
    assert figures(story, "Ana").score == pytest.approx(10 * 0.5 + 0.5 * 0.25)


def test_a_mention_among_many_names_is_no_talk_and_weighs_like_a_like(alice, story):
    story.someone("Ana").said("Ana", r.MENTION, 0, named_count=6).save()
    story.someone("Ben").said("Ben", r.MENTION, 0, named_count=5).save()
    recompute(alice)
    ana, ben = figures(story, "Ana"), figures(story, "Ben")
    assert (ana.talks, ana.score, ana.inbound) == (0, 0.5, {"mention": 1, "mass_mention": 1})
    assert (ben.talks, ben.score, ben.inbound) == (1, 2.0, {"mention": 1})


def test_a_reply_naming_many_people_still_counts_for_its_target(alice, story):
    story.someone("Ana").said("Ana", r.REPLY, 0, named_count=40).save()
    recompute(alice)
    ana = figures(story, "Ana")
    assert (ana.talks, ana.score) == (1, 3.0)


def test_the_mass_mention_cut_is_the_users_setting(alice, story, alice_prefs):
    alice_prefs.mass_mention_cut = 2
    alice_prefs.save()
    story.someone("Ana").said("Ana", r.MENTION, 0, named_count=3).save()
    recompute(alice)
    assert figures(story, "Ana").talks == 0


def test_a_talk_belongs_to_the_day_in_the_users_time_zone(alice, bob, story, bob_story):
    # 02:00 and 03:30 UTC on June 15 are the evening of June 14 in New York;
    # 04:30 UTC is half past midnight on June 15 there.
    Preferences.objects.filter(user=alice).update(time_zone="America/New_York")
    moments = [dt.datetime(2026, 6, 15, h, m, tzinfo=dt.UTC) for h, m in ((2, 0), (3, 30), (4, 30))]
    for s in (story, bob_story):
        s.someone("Ana")
        for when in moments:
            s.said("Ana", r.REPLY, when=when)
        s.save()
    recompute(alice)
    rapport.recompute(bob, today=TODAY)
    assert figures(story, "Ana").talks == 2
    assert figures(story, "Ana").last_talk_on == dt.date(2026, 6, 15)
    assert figures(bob_story, "Ana").talks == 1


def test_decay_counts_whole_days_in_the_users_time_zone(alice, story):
    # 23:59 the day before TODAY is one day old; 00:00 on TODAY is zero days old.
    Preferences.objects.filter(user=alice).update(time_zone="Asia/Tokyo")
    tokyo = dt.timezone(dt.timedelta(hours=9))
    story.someone("Ana").said("Ana", r.REPLY, when=dt.datetime(2026, 6, 14, 23, 59, tzinfo=tokyo))
    story.someone("Ben").said("Ben", r.REPLY, when=dt.datetime(2026, 6, 15, 0, 0, tzinfo=tokyo))
    story.save()
    recompute(alice)
    assert figures(story, "Ana").score == pytest.approx(3 * 0.5 ** (1 / 90))
    assert figures(story, "Ben").score == pytest.approx(3.0)


def test_one_day_on_two_platforms_is_one_talk_for_a_merged_person(alice, story, bluesky_story):
    story.someone("Ana").said("Ana", r.REPLY, 2).said("Ana", r.REPLY, 3).save()
    bluesky_story.someone("Ana").answered("Ana", r.REPLY, 2).answered("Ana", r.REPLY, 4).save()
    ana, twin = story.person("Ana"), bluesky_story.person("Ana")
    Identity.objects.filter(person=twin).update(person=ana)
    twin.delete()
    assert recompute(alice, person_ids=[ana.pk]) == 1
    incremental = snapshot(alice)
    recompute(alice)
    assert snapshot(alice) == incremental
    assert figures(story, "Ana").talks == 3
    assert figures(story, "Ana").reciprocity == pytest.approx(
        (3 * 0.5 ** (2 / 90) + 3 * 0.5 ** (4 / 90)) / (3 * 0.5 ** (2 / 90) + 3 * 0.5 ** (3 / 90))
    )


def test_every_person_gets_a_row_and_bought_followers_are_silent(alice, story):
    story.someone("Bot farm 1").follow_state("Bot farm 1", follows_me=True).save()
    assert recompute(alice) == 1
    row = figures(story, "Bot farm 1")
    assert (row.tier, row.score, row.talks, row.inbound, row.first_interaction_at) == ("silent", 0.0, 0, {}, None)


@pytest.mark.parametrize(
    ("build", "tier"),
    [
        (lambda s: [s.said("P", r.REPLY, d).answered("P", r.REPLY, d) for d in range(1, 11)], "close"),
        (lambda s: [s.said("P", r.REPLY, d).answered("P", r.REPLY, d) for d in range(100, 110)], "regular"),
        (lambda s: [s.said("P", r.REPLY, d).answered("P", r.REPLY, d) for d in range(40, 45)], "regular"),
        (lambda s: [s.said("P", r.REPLY, d).answered("P", r.REPLY, d) for d in range(40, 44)], "acquaintance"),
        (lambda s: s.said("P", r.LIKE, 30), "new"),
        (lambda s: s.said("P", r.REPLY, 31).said("P", r.LIKE, 31), "fan"),
        (lambda s: s.answered("P", r.REPLY, 500), "one_way"),
        (lambda s: s.said("P", r.REPLY, 366).answered("P", r.LIKE, 366), "quiet"),
        (lambda s: s.said("P", r.REPLY, 100).answered("P", r.LIKE, 100), "acquaintance"),
        # Ten talks, but the other side only liked: never "both ways".
        (lambda s: [s.said("P", r.REPLY, d).answered("P", r.LIKE, d) for d in range(40, 50)], "acquaintance"),
        # Mass mentions from the user are no direct exchange either.
        (lambda s: [s.said("P", r.REPLY, d).answered("P", r.MENTION, d, named_count=9) for d in range(40, 50)],
         "acquaintance"),
    ],
)
def test_the_first_tier_that_applies_wins(alice, story, build, tier):
    story.someone("P")
    build(story)
    story.save()
    recompute(alice)
    assert figures(story, "P").tier == tier


def test_incremental_recompute_gives_the_rows_a_full_recompute_gives(alice, story):
    for i, name in enumerate(["Ana", "Ben", "Chloé", "Dmitri"]):
        story.someone(name)
        for d in range(i, 200, 7 + i):
            story.said(name, [r.REPLY, r.LIKE, r.MENTION][d % 3], d, named_count=1 + d % 8).answered(name, r.DM, d + i)
    story.someone("Esi").save()
    recompute(alice)
    touched = story.said("Ben", r.REPLY, 0).answered("Esi", r.QUOTE, 2).said("Farid", r.LIKE, 1).save().people_touched
    assert len(touched) == 3
    assert recompute(alice, person_ids=touched) == 3
    incremental = snapshot(alice)
    recompute(alice)
    assert snapshot(alice) == incremental


def test_recompute_ignores_other_users_people_and_unknown_ids(alice, bob, story, bob_story):
    bob_story.someone("Zoe").said("Zoe", r.REPLY, 1).save()
    story.someone("Ana").said("Ana", r.REPLY, 1).save()
    bobs = [p.pk for p in Person.objects.filter(user=bob)]
    assert recompute(alice, person_ids=[*bobs, 10**9]) == 0
    assert not Rapport.objects.exists()
    assert recompute(alice, person_ids=[]) == 0
    assert recompute(alice) == 1
    assert list(Rapport.objects.values_list("user", flat=True)) == [alice.pk]


def test_recomputing_twice_changes_nothing(alice, story):
    story.someone("Ana").said("Ana", r.REPLY, 3).answered("Ana", r.LIKE, 40).save()
    recompute(alice)
    first = snapshot(alice)
    recompute(alice)
    assert snapshot(alice) == first


def snapshot(user) -> dict:
    return {
        row["person_id"]: row
        for row in Rapport.objects.filter(user=user).values(
            "person_id", "score", "talks", "reciprocity", "inbound", "outbound", "first_interaction_at",
            "last_interaction_at", "last_talk_on", "tier",
        )
    }
