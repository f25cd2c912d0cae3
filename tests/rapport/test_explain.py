"""Every figure in words: the sentences under a person's numbers."""

from __future__ import annotations

import pytest

from relationships.models import Person, Preferences, Rapport
from relationships.platforms import records as r
from relationships.services.scoring import rapport, sentences
from tests.rapport.stories import TODAY

pytestmark = pytest.mark.django_db


def explained(user, story, name) -> list[str]:
    rapport.recompute(user, today=TODAY)
    person = story.person(name)
    return sentences.rapport_sentences(Rapport.objects.get(person=person), person, today=TODAY)


def test_ana_is_explained_in_the_words_of_the_design(alice, story):
    story.someone("Ana")
    for day in (2, 4, 6):
        story.said("Ana", r.REPLY, day)
    for day in (3, 5):
        story.answered("Ana", r.REPLY, day)
    for day in range(10, 22):
        story.said("Ana", r.LIKE, day)
    story.save()
    assert explained(alice, story, "Ana") == [
        "You've talked with Ana on 5 different days — 5 posts: 3 replies from Ana, 2 from you.",
        "Ana liked 12 of your posts.",
        "Last talked 2 days ago.",
    ]


def test_mixed_kinds_are_named_each(alice, story):
    story.someone("Ben").said("Ben", r.REPLY, 0).said("Ben", r.MENTION, 1).answered("Ben", r.DM, 1)
    story.said("Ben", r.REPOST, 3).answered("Ben", r.LIKE, 3).answered("Ben", r.QUOTE, 1)
    story.save()
    assert explained(alice, story, "Ben") == [
        "You've talked with Ben on 2 different days — 4 posts: 1 reply and 1 mention from Ben, 1 quote and 1 DM from you.",
        "Ben shared 1 of your posts.",
        "You liked 1 of Ben's posts.",
        "Last talked today.",
    ]


def test_someone_without_a_name_is_they_and_them(alice, story):
    story.someone("Ana").said("Ana", r.REPLY, 1).said("Ana", r.LIKE, 1).answered("Ana", r.LIKE, 1)
    story.answered("Ana", r.REPLY, 1).save()
    Person.objects.filter(name="Ana").update(name="")
    assert explained(alice, story, "Ana") == [
        "You've talked with them on one day — 2 posts: 1 reply from them, 1 from you.",
        "They liked 1 of your posts.",
        "You liked 1 of their posts.",
        "Last talked yesterday.",
    ]


def test_mass_mentions_are_explained_as_not_talks(alice, story):
    story.someone("Bot").said("Bot", r.MENTION, 40, named_count=20).said("Bot", r.MENTION, 41, named_count=20).save()
    assert explained(alice, story, "Bot") == [
        "Bot mentioned you twice in posts naming more than 5 people; those count like likes, not as talks.",
        "Last interaction 40 days ago; no talk yet.",
    ]


def test_a_bought_follower_has_nothing_to_explain(alice, story):
    story.someone("Bought").follow_state("Bought", follows_me=True).save()
    assert explained(alice, story, "Bought") == ["No interactions with Bought yet."]


def test_the_score_is_explained_with_the_users_settings(alice, story):
    story.someone("Ana").said("Ana", r.REPLY, 0).answered("Ana", r.REPLY, 0).save()
    rapport.recompute(alice, today=TODAY)
    row = Rapport.objects.get()
    assert sentences.explain_score(row, Preferences.for_user(alice)) == (
        "Score 12.00: a reply weighs 3, a DM 3, a quote 2, a mention 2, a share 1 and a like 0.5, "
        "each halving every 90 days; attention from each side to the other (likes included) raises it by 100%."
    )
