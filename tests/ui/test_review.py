"""Review your follows: the order, the card in words, Keep for six months, Next, progress and resuming, the
view's guards (bob gets 404, CSRF), and the page without JavaScript. Unfollow, Undo and Quieter against the
platform fakes are in tests/sync/test_review.py; the keyboard in a browser in test_browser_review.py.

alice follows (on Mastodon, from her archive source) Ana, with whom she talks every week; Ben, with whom she
talked a lot 14 months ago and whose posts she still likes; Cleo, a fan she never answered; Dan, who never
interacted at all; and Eve, who once replied and got an answer this year. She does not follow Fay, who talks with
her. Dan and Cleo follow alice back and Ana does not: the review must not care.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from relationships.models import FollowReview, Identity, Person
from relationships.platforms import records as r
from relationships.selectors import review as selectors
from relationships.services import review
from relationships.services.scoring.sentences import review_sentence
from tests.rapport.stories import TODAY, at

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
NOW = at(0)


def _names(user, now=NOW) -> list[str]:
    return [p.name for p in selectors.queue(user, now)]


def test_the_queue_walks_the_people_alice_follows_least_conversation_this_year_first(alice, follows):
    # Dan (nothing ever), Ben (last year: nothing; long ago a lot), Cleo (wrote to her, never answered: no
    # two-way day), Eve (one two-way day), Ana (two-way every week). Fay is not followed.
    assert _names(alice) == ["Dan", "Ben", "Cleo", "Eve", "Ana"]


def test_the_order_never_depends_on_who_follows_back(alice, follows):
    before = _names(alice)
    Identity.objects.filter(user=alice).update(follows_me=True)
    assert _names(alice) == before
    Identity.objects.filter(user=alice).update(follows_me=False)
    assert _names(alice) == before


def test_keep_holds_six_months_then_the_person_comes_back(alice, follows):
    dan = follows.person("Dan")
    result = review.keep(dan, alice, now=NOW)

    assert result.done and "Kept Dan: not shown again before" in result.message
    kept = FollowReview.objects.get(person=dan)
    assert kept.decision == "kept" and kept.show_again_at == NOW + dt.timedelta(days=183)
    assert "Dan" not in _names(alice, NOW + dt.timedelta(days=182))
    assert _names(alice, NOW + dt.timedelta(days=184))[0] == "Dan"
    assert selectors.progress(alice, NOW) == selectors.Progress(1, 5, 4)
    assert selectors.progress(alice, NOW + dt.timedelta(days=184)) == selectors.Progress(0, 5, 5)


def test_next_puts_the_person_at_the_end_and_counts_nothing_as_reviewed(alice, follows):
    review.skip(follows.person("Dan"), alice, now=NOW)
    review.skip(follows.person("Ben"), alice, now=NOW + dt.timedelta(seconds=1))
    assert _names(alice) == ["Cleo", "Eve", "Ana", "Dan", "Ben"]
    assert selectors.progress(alice, NOW).reviewed == 0
    review.skip(follows.person("Dan"), alice, now=NOW + dt.timedelta(seconds=2))
    assert _names(alice)[-2:] == ["Ben", "Dan"]


def test_the_card_says_in_words_what_happened_since_when_and_why(alice, follows):
    ben = follows.person("Ben")
    ben.notes = "Met at the 2024 meetup."
    ben.save()
    card = selectors.card(ben)
    assert review_sentence(card.rapport, ben, TODAY) == "No conversation in 14 months; you liked 3 of Ben's posts."
    assert review_sentence(selectors.card(follows.person("Dan")).rapport, follows.person("Dan"), TODAY) == (
        "No conversation yet.")
    assert review_sentence(selectors.card(follows.person("Ana")).rapport, follows.person("Ana"), TODAY) == (
        "Last talked yesterday.")
    # Rapport noted the follow when the import first saw it.
    assert card.since is not None and card.since_how == "the first sync or import that saw it"
    assert card.last_talk.day == TODAY - dt.timedelta(days=420) and card.last_talk.direction == r.OUTBOUND
    assert card.followed == list(Identity.objects.filter(person=ben)) and card.why_followed == []


def test_an_import_that_sees_the_follow_notes_when_and_one_that_sees_it_gone_forgets(alice, follows):
    dan = Identity.objects.get(person=follows.person("Dan"))
    first = dan.following_seen_at
    assert first is not None
    follows.follow_state("Dan", i_follow=True).save()
    dan.refresh_from_db()
    assert dan.following_seen_at == first  # the first that saw it, not the last
    follows.follow_state("Dan", i_follow=False).save()
    dan.refresh_from_db()
    assert dan.following_seen_at is None


def test_the_page_shows_the_first_card_with_its_keys_and_progress_and_never_follows_back(alice, alice_client, follows):
    html = alice_client.get(reverse("review")).content.decode()
    assert "<strong>0 of 5</strong> reviewed" in html
    assert 'id="review-name"><a href="%s">Dan</a>' % reverse("person", args=[follows.person("Dan").pk]) in html
    for key in ("K", "Q", "U", "J"):
        assert f"<kbd>{key}</kbd>" in html
    assert 'aria-current="page">Review follows</a>' in html
    for word in ("follows you", "followers", "follow back", "Follows you"):
        assert word not in html


def test_keep_through_htmx_answers_the_next_card_in_place(alice, alice_client, follows):
    dan = follows.person("Dan")
    response = alice_client.post(reverse("review_keep", args=[dan.pk]), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and html.lstrip().startswith('<section id="review"')
    assert "Kept Dan: not shown again before" in html and "<strong>1 of 5</strong> reviewed" in html
    assert '>Ben</a></h2>' in html


def test_without_javascript_every_button_posts_and_redirects_back_to_the_page(alice, alice_client, follows):
    dan = follows.person("Dan")
    response = alice_client.post(reverse("review_keep", args=[dan.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("review")
    html = alice_client.get(response["Location"]).content.decode()
    assert "Kept Dan" in html and ">Ben</a></h2>" in html
    response = alice_client.post(reverse("review_skip", args=[follows.person("Ben").pk]))
    assert response.status_code == 302
    assert ">Cleo</a></h2>" in alice_client.get(reverse("review")).content.decode()


def test_unfollow_asks_first_and_without_javascript_the_question_is_a_page(alice, alice_client, follows):
    dan = follows.person("Dan")
    asked = alice_client.post(reverse("review_unfollow", args=[dan.pk]), **HTMX).content.decode()
    assert "Unfollow Dan on Mastodon? You can undo it for a few seconds." in asked
    assert 'name="confirmed" value="on"' in asked and "Yes, unfollow" in asked
    response = alice_client.post(reverse("review_unfollow", args=[dan.pk]))
    assert response["Location"] == f"{reverse('review')}?person={dan.pk}&ask=unfollow"
    assert "Yes, unfollow" in alice_client.get(response["Location"]).content.decode()
    assert Identity.objects.get(person=dan).i_follow is True


def test_unfollow_where_no_account_is_connected_says_where_to_do_it_and_changes_nothing(alice, alice_client, follows):
    dan = follows.person("Dan")
    html = alice_client.post(reverse("review_unfollow", args=[dan.pk]), {"confirmed": "on"}, **HTMX).content.decode()
    assert "No Mastodon account is connected: unfollow Dan on Mastodon yourself" in html
    assert Identity.objects.get(person=dan).i_follow is True and not FollowReview.objects.exists()
    html = alice_client.post(reverse("review_quieter", args=[dan.pk]), **HTMX).content.decode()
    assert "Quieter needs a connected Mastodon or Bluesky account that follows Dan." in html
    assert not FollowReview.objects.exists()


@pytest.mark.parametrize("action", ["review_keep", "review_quieter", "review_unfollow", "review_undo", "review_skip"])
def test_every_action_is_404_for_bob_and_needs_a_login_and_a_post(alice, bob, client, follows, action):
    dan = follows.person("Dan")
    url = reverse(action, args=[dan.pk])
    assert client.post(url)["Location"].startswith(reverse("login"))
    client.force_login(bob)
    assert client.post(url, {"confirmed": "on"}).status_code == 404
    assert client.get(f"{reverse('review')}?person={dan.pk}").status_code == 404
    client.force_login(alice)
    assert client.get(url).status_code == 405
    assert not FollowReview.objects.exists() and Identity.objects.get(person=dan).i_follow is True


def test_a_post_without_the_csrf_token_is_refused(alice, follows):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    dan = follows.person("Dan")
    assert client.post(reverse("review_keep", args=[dan.pk])).status_code == 403
    assert not FollowReview.objects.exists()


def test_bobs_review_is_his_own(alice, bob, client, follows):
    client.force_login(bob)
    html = client.get(reverse("review")).content.decode()
    assert "<strong>0 of 0</strong> reviewed" in html and "Rapport does not know anyone you follow yet" in html


def test_when_everyone_is_reviewed_the_page_says_so(alice, alice_client, follows):
    for person in Person.objects.filter(user=alice, identities__i_follow=True):
        review.keep(person, alice)
    html = alice_client.get(reverse("review")).content.decode()
    assert "<strong>5 of 5</strong> reviewed" in html and "You have reviewed everyone you follow" in html
