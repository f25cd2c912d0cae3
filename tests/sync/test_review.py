"""Review your follows against the platform fakes: Unfollow and its Undo, Quieter, and every refusal a
sentence on the card with nothing recorded as done.

alice follows ana on Mastodon (a sync saw it) and ben on Bluesky; she talked with neither this year.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from relationships.models import FollowReview, Identity, Person
from relationships.platforms import records as r
from relationships.selectors import review as selectors
from relationships.services import review
from relationships.services.follow import FollowRefused
from relationships.services.intake.ingest import ingest
from tests.sync.helpers import run_sync, talks

pytestmark = [pytest.mark.django_db, pytest.mark.services, pytest.mark.postgres_only]

HTMX = {"HTTP_HX_REQUEST": "true"}
WITHOUT_FOLLOWS = "read write:lists write:accounts"


@pytest.fixture
def ana_followed(alice, fake_mastodon, ana, mastodon_source) -> Person:
    fake_mastodon.relationship(ana)["following"] = True
    talks(fake_mastodon, fake_mastodon.me, ana, days=1)
    assert run_sync(mastodon_source).state == "done"
    identity = Identity.objects.get(user=alice, external_id=ana["uri"])
    assert identity.i_follow is True and identity.following_seen_at is not None  # the sync saw the follow
    return identity.person


@pytest.fixture
def ben_followed(alice, fake_bluesky, ben, bluesky_source) -> Person:
    fake_bluesky.add_follow(fake_bluesky.me, ben)
    ingest(alice, bluesky_source, [
        r.IdentityRecord(platform=r.BLUESKY, external_id=ben, handle="ben.test", display_name="Ben"),
        r.FollowRecord(platform=r.BLUESKY, identity_id=ben, i_follow=True),
    ])
    return Identity.objects.get(user=alice, external_id=ben).person


def test_unfollow_then_undo_on_mastodon_through_the_card(alice, alice_client, fake_mastodon, ana, ana_followed):
    identity = ana_followed.identities.get()
    seen = identity.following_seen_at

    html = alice_client.post(reverse("review_unfollow", args=[ana_followed.pk]),
                             {"confirmed": "on", "identity": identity.pk}, **HTMX).content.decode()

    assert "Unfollowed Ana on Mastodon." in html and "Undo: follow again" in html
    assert fake_mastodon.unfollow_calls == [ana["id"]] and fake_mastodon.relationship(ana)["following"] is False
    identity.refresh_from_db()
    assert identity.i_follow is False
    assert FollowReview.objects.get(person=ana_followed).decision == "unfollowed"
    assert selectors.progress(alice) == selectors.Progress(1, 1, 0)

    html = alice_client.post(reverse("review_undo", args=[ana_followed.pk]), **HTMX).content.decode()

    assert "Undone: following Ana again on Mastodon." in html and ">Keep <kbd>K</kbd>" in html
    assert fake_mastodon.follow_calls == [ana["id"]] and fake_mastodon.relationship(ana)["following"] is True
    identity.refresh_from_db()
    assert identity.i_follow is True and identity.following_seen_at == seen  # "since" as it was
    assert not FollowReview.objects.exists()
    assert [p.pk for p in selectors.queue(alice)] == [ana_followed.pk]


def test_undo_after_the_few_seconds_is_refused_and_the_unfollow_stands(alice, fake_mastodon, ana, ana_followed):
    done = review.unfollow(ana_followed, alice)
    assert done.done
    with pytest.raises(FollowRefused, match="too late to undo"):
        review.undo_unfollow(ana_followed, alice, now=timezone.now() + review.UNDO_WINDOW + dt.timedelta(seconds=1))
    assert fake_mastodon.follow_calls == [] and fake_mastodon.relationship(ana)["following"] is False


def test_a_429_on_unfollow_is_a_sentence_and_nothing_is_recorded(alice, alice_client, fake_mastodon, ana, ana_followed):
    fake_mastodon.fail_next(429, times=5, path=f"/api/v1/accounts/{ana['id']}/unfollow", reset_in=3600)

    html = alice_client.post(reverse("review_unfollow", args=[ana_followed.pk]), {"confirmed": "on"},
                             **HTMX).content.decode()

    assert "Mastodon asks Rapport to slow down; try again after" in html and ">Keep <kbd>K</kbd>" in html
    assert fake_mastodon.relationship(ana)["following"] is True
    assert Identity.objects.get(person=ana_followed).i_follow is True and not FollowReview.objects.exists()


def test_a_token_without_write_follows_asks_to_re_authorize(alice, fake_mastodon, ana, ana_followed, mastodon_source):
    fake_mastodon.grant(fake_mastodon.token, WITHOUT_FOLLOWS)

    result = review.unfollow(ana_followed, alice)

    assert not result.done and "re-authorize Rapport on Mastodon" in result.message
    assert "follow or unfollow anyone" in result.message
    assert fake_mastodon.relationship(ana)["following"] is True and not FollowReview.objects.exists()
    mastodon_source.refresh_from_db()
    assert mastodon_source.state == "active"  # syncing goes on


def test_an_account_gone_is_a_sentence_and_nothing_is_recorded(alice, fake_mastodon, ana, ana_followed):
    del fake_mastodon.accounts[ana["id"]]

    result = review.unfollow(ana_followed, alice)

    assert not result.done and "Mastodon refused the unfollow: This account could not be found" in result.message
    assert Identity.objects.get(person=ana_followed).i_follow is True and not FollowReview.objects.exists()


def test_quieter_on_mastodon_keeps_following_without_boosts_for_six_months(alice, alice_client, fake_mastodon, ana,
                                                                           ana_followed):
    html = alice_client.post(reverse("review_quieter", args=[ana_followed.pk]), **HTMX).content.decode()

    assert "Ana stays followed on Mastodon, without their boosts." in html
    assert fake_mastodon.relationship(ana)["showing_reblogs"] is False and fake_mastodon.relationship(ana)["following"]
    decided = FollowReview.objects.get(person=ana_followed)
    assert decided.decision == "quieter" and decided.show_again_at > timezone.now() + dt.timedelta(days=180)
    assert "You have reviewed everyone you follow" in html


def test_unfollow_then_undo_on_bluesky_deletes_and_writes_the_follow_record(alice, fake_bluesky, ben, ben_followed):
    assert len(fake_bluesky.follow_records(fake_bluesky.me)) == 1

    assert review.unfollow(ben_followed, alice).message == "Unfollowed Ben on Bluesky."
    assert fake_bluesky.follow_records(fake_bluesky.me) == []
    assert Identity.objects.get(person=ben_followed).i_follow is False

    undone = review.undo_unfollow(ben_followed, alice)

    assert undone.done and undone.message == "Undone: following Ben again on Bluesky."
    again = fake_bluesky.follow_records(fake_bluesky.me)
    assert len(again) == 1 and fake_bluesky.records[again[0]]["value"]["subject"] == ben
    assert Identity.objects.get(person=ben_followed).i_follow is True


def test_quieter_on_bluesky_moves_ben_into_the_named_list_and_unfollows(alice, alice_client, fake_bluesky, ben,
                                                                        ben_followed):
    page = alice_client.get(f"{reverse('review')}?person={ben_followed.pk}").content.decode()
    assert 'name="list_name" value="Quieter"' in page

    html = alice_client.post(reverse("review_quieter", args=[ben_followed.pk]), {"list_name": "Later"},
                             **HTMX).content.decode()

    assert "Ben is in your list “Later” on Bluesky and no longer followed." in html
    items = [x for x in fake_bluesky.records.values() if x["value"]["$type"] == "app.bsky.graph.listitem"]
    assert [x["value"]["subject"] for x in items] == [ben] and fake_bluesky.follow_records(fake_bluesky.me) == []
    assert FollowReview.objects.get(person=ben_followed).decision == "quieter"


def test_a_refused_bluesky_unfollow_leaves_ben_followed(alice, fake_bluesky, ben, ben_followed):
    fake_bluesky.fail_next(503, times=10, path="/xrpc/com.atproto.repo.deleteRecord")

    result = review.unfollow(ben_followed, alice)

    assert not result.done and "Bluesky could not be reached" in result.message
    assert len(fake_bluesky.follow_records(fake_bluesky.me)) == 1
    assert Identity.objects.get(person=ben_followed).i_follow is True and not FollowReview.objects.exists()
