"""Follow, for real, from a nudge: Mastodon and Bluesky through the fakes, X by hand; snooze, dismiss, permissions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from relationships.models import FollowAttempt, Identity, Nudge, Source
from relationships.platforms import records as r
from relationships.services import follow
from relationships.services.intake import connect
from relationships.services.intake.ingest import ingest
from relationships.services.scoring import nudges
from tests.sync.helpers import follow_nudge, run_sync, talks

pytestmark = [pytest.mark.django_db]
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ana_nudge(alice, fake_mastodon, ana, mastodon_source) -> Nudge:
    """Alice and Ana talked on five days: the sync opens a follow nudge."""
    talks(fake_mastodon, fake_mastodon.me, ana, days=5)
    job = run_sync(mastodon_source)
    assert "1 new nudge" in job.summary, job.summary
    return Nudge.objects.get(user=alice, kind=Nudge.Kind.FOLLOW, person__identities__external_id=ana["uri"])


@pytest.fixture
def x_nudge(alice, make_source) -> Nudge:
    """Someone alice knows only from her X archive."""
    source = make_source(alice, platform=r.X)
    when = timezone.now() - dt.timedelta(days=3)
    ingest(alice, source, [
        r.IdentityRecord(platform=r.X, external_id="1234567890123456789", handle="xana", display_name="Xana"),
        r.InteractionRecord(platform=r.X, external_id="99", identity_id="1234567890123456789", kind=r.REPLY,
                            direction=r.OUTBOUND, occurred_at=when, permalink="https://x.com/alice/status/99"),
    ])
    return follow_nudge(alice, Identity.objects.get(user=alice, platform=r.X))


# ---------------------------------------------------------------- Mastodon


@pytest.mark.services
@pytest.mark.postgres_only
def test_follow_from_a_nudge_follows_ana_on_mastodon_and_keeps_why(alice, alice_client, fake_mastodon, ana, ana_nudge):
    card = alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", **HTMX)

    assert card.status_code == 200 and card["HX-Trigger-After-Settle"] == "nudge-changed"
    assert f'id="nudge-{ana_nudge.pk}"' in card.content.decode() and "You follow Ana now" in card.content.decode()
    assert fake_mastodon.follow_calls == [ana["id"]]
    ana_nudge.refresh_from_db()
    assert ana_nudge.state == Nudge.State.ACTED and ana_nudge.outcome == "following"
    assert len(ana_nudge.evidence) == 10
    assert {e["kind"] for e in ana_nudge.evidence} == {"mention"}
    assert all(e["permalink"] and e["occurred_at"] and e["id"] for e in ana_nudge.evidence)
    identity = Identity.objects.get(user=alice, external_id=ana["uri"])
    assert identity.i_follow is True
    attempt = FollowAttempt.objects.get()
    assert attempt.state == "following" and attempt.evidence == ana_nudge.evidence and attempt.nudge == ana_nudge


@pytest.mark.services
@pytest.mark.postgres_only
def test_a_second_click_never_follows_twice(alice_client, fake_mastodon, ana, ana_nudge):
    alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", **HTMX)
    again = alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", **HTMX)
    assert again.status_code == 200 and "You follow Ana now" in again.content.decode()
    assert fake_mastodon.follow_calls == [ana["id"]]


@pytest.mark.services
@pytest.mark.postgres_only
def test_following_an_account_that_approves_followers_ends_requested(alice, alice_client, fake_mastodon, ana, ana_nudge):
    ana["locked"] = True

    card = alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", **HTMX)

    assert "Follow requested" in card.content.decode()
    ana_nudge.refresh_from_db()
    assert ana_nudge.state == Nudge.State.ACTED and ana_nudge.outcome == "requested"
    assert Identity.objects.get(user=alice, external_id=ana["uri"]).i_follow is not True


@pytest.mark.services
@pytest.mark.postgres_only
def test_a_refused_follow_leaves_the_nudge_open_with_the_reason(alice, alice_client, fake_mastodon, ana, ana_nudge):
    fake_mastodon.relationship(ana)["blocked_by"] = True

    card = alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", **HTMX)

    body = card.content.decode()
    assert "The last follow did not work" in body and "refused the follow" in body
    assert f'action="/nudges/{ana_nudge.pk}/follow/"' in body  # the button is still there
    ana_nudge.refresh_from_db()
    assert ana_nudge.state == Nudge.State.OPEN and ana_nudge.outcome == "failed"
    assert "refused the follow" in ana_nudge.outcome_reason
    assert FollowAttempt.objects.get().state == "failed"


@pytest.mark.services
@pytest.mark.postgres_only
def test_a_revoked_token_fails_the_follow_and_asks_to_reconnect(alice, alice_client, fake_mastodon, ana_nudge, mastodon_source):
    fake_mastodon.revoke()

    card = alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", **HTMX)

    assert "needs reconnecting" in card.content.decode()
    mastodon_source.refresh_from_db()
    ana_nudge.refresh_from_db()
    assert mastodon_source.state == Source.State.NEEDS_REAUTH and ana_nudge.state == Nudge.State.OPEN


@pytest.mark.services
@pytest.mark.postgres_only
def test_a_full_page_follow_answers_with_the_card_its_undo_and_the_way_back(alice_client, fake_mastodon, ana, ana_nudge):
    response = alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", {"next": "/people/"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body and "You follow Ana now" in body
    assert f'action="/nudges/{ana_nudge.pk}/undo/"' in body and '<a href="/people/">Back</a>' in body
    assert fake_mastodon.follow_calls == [ana["id"]]


def test_a_full_page_action_never_redirects_to_another_site(alice, alice_client, x_nudge):
    evil = {"next": "https://evil.example/", "HTTP_REFERER": "https://evil.example/"}
    response = alice_client.post(f"/nudges/{x_nudge.pk}/dismiss/", {"next": evil["next"]},
                                 HTTP_REFERER=evil["HTTP_REFERER"])
    # The card's page: neither its Back link nor its Undo form's "next" leads off the site.
    body = response.content.decode()
    assert response.status_code == 200 and "evil.example" not in body and '<a href="/">Back</a>' in body
    response = alice_client.post(f"/nudges/{x_nudge.pk}/undo/", {"next": evil["next"]},
                                 HTTP_REFERER=evil["HTTP_REFERER"])
    assert response.status_code == 302 and response["Location"] == "/"


def test_the_hourly_follow_budget_refuses_bulk_following(alice, alice_client, ana_identity_for_budget):
    identity = ana_identity_for_budget
    nudge = follow_nudge(alice, identity)
    FollowAttempt.objects.bulk_create([
        FollowAttempt(user=alice, person=identity.person, identity=identity, platform=r.MASTODON, state="failed")
        for _ in range(follow.FOLLOWS_PER_HOUR)
    ])
    card = alice_client.post(f"/nudges/{nudge.pk}/follow/", **HTMX)
    assert "one person at a time" in card.content.decode()
    assert FollowAttempt.objects.count() == follow.FOLLOWS_PER_HOUR


@pytest.fixture
def ana_identity_for_budget(alice, make_source):
    make_source(alice, platform=r.MASTODON, kind=Source.Kind.ACCOUNT, credentials_ciphertext=b"x", base_url="https://m.example")
    ingest(alice, make_source(alice), [r.IdentityRecord(platform=r.MASTODON, external_id="https://r.example/users/ana")])
    return Identity.objects.get(user=alice)


# ---------------------------------------------------------------- Bluesky


@pytest.fixture
def ben_nudge(alice, fake_bluesky, ben, bluesky_source) -> Nudge:
    """Ben mentioned alice on Bluesky; a follow nudge about him."""
    fake_bluesky.add_post(ben, "hey alice", mentions=[fake_bluesky.me])
    run_sync(bluesky_source)
    return follow_nudge(alice, Identity.objects.get(user=alice, external_id=ben))


@pytest.mark.services
@pytest.mark.postgres_only
def test_follow_from_a_nudge_writes_one_bluesky_follow_record(alice, alice_client, fake_bluesky, ben_nudge):
    nudge = ben_nudge
    card = alice_client.post(f"/nudges/{nudge.pk}/follow/", **HTMX)

    assert "You follow" in card.content.decode()
    records = fake_bluesky.follow_records(fake_bluesky.me)
    assert len(records) == 1
    assert FollowAttempt.objects.get().record_uri == records[0]
    # Following again through the person (say, from another nudge) sees viewer.following: no second record.
    follow.follow_person(nudge.person, alice)
    assert len(fake_bluesky.follow_records(fake_bluesky.me)) == 1


@pytest.mark.services
@pytest.mark.postgres_only
def test_undo_of_a_bluesky_follow_deletes_the_follow_record(alice, alice_client, fake_bluesky, ben, ben_nudge):
    nudge = ben_nudge
    alice_client.post(f"/nudges/{nudge.pk}/follow/", **HTMX)
    assert len(fake_bluesky.follow_records(fake_bluesky.me)) == 1

    card = alice_client.post(f"/nudges/{nudge.pk}/undo/", **HTMX).content.decode()

    assert "Undone: Unfollowed on Bluesky." in card
    assert fake_bluesky.follow_records(fake_bluesky.me) == []
    assert fake_bluesky.calls("/xrpc/com.atproto.repo.deleteRecord", "POST")
    nudge.refresh_from_db()
    undone = FollowAttempt.objects.get()
    assert nudge.state == Nudge.State.OPEN and undone.state == "undone"

    # Follow again at once, while the AppView still says viewer.following with the deleted record:
    # the repository has no such record, so a new one is written (not "Already following").
    fake_bluesky.follows[(fake_bluesky.me, ben)] = undone.record_uri
    again = alice_client.post(f"/nudges/{nudge.pk}/follow/", **HTMX).content.decode()
    assert "You follow Ben now" in again
    latest = FollowAttempt.objects.latest("pk")
    assert latest.record_uri != undone.record_uri and latest.record_uri in fake_bluesky.records


# ---------------------------------------------------------------- X, by hand


def test_x_follow_opens_the_profile_and_waits_for_confirmation(alice, alice_client, x_nudge):
    card = alice_client.post(f"/nudges/{x_nudge.pk}/follow/", **HTMX)

    body = card.content.decode()
    assert 'href="https://x.com/xana" target="_blank" rel="noopener noreferrer"' in body
    assert f'action="/nudges/{x_nudge.pk}/follow/confirm/"' in body and "I followed them" in body
    x_nudge.refresh_from_db()
    assert x_nudge.state == Nudge.State.OPEN and not FollowAttempt.objects.exists()

    identity = Identity.objects.get(user=alice, platform=r.X)
    confirmed = alice_client.post(f"/nudges/{x_nudge.pk}/follow/confirm/", {"identity": identity.pk}, **HTMX)

    assert "You follow Xana now" in confirmed.content.decode()
    x_nudge.refresh_from_db()
    identity.refresh_from_db()
    assert x_nudge.state == Nudge.State.ACTED and x_nudge.outcome == "following" and identity.i_follow is True
    assert x_nudge.evidence[0]["permalink"] == "https://x.com/alice/status/99"
    assert FollowAttempt.objects.get().manual is True


def test_without_htmx_the_x_follow_is_a_page_with_the_profile_and_the_confirm_button(alice_client, x_nudge):
    page = alice_client.post(f"/nudges/{x_nudge.pk}/follow/")
    body = page.content.decode()
    assert page.status_code == 200 and "https://x.com/xana" in body and "I followed them" in body


def test_confirming_an_account_of_someone_else_is_refused(alice, alice_client, x_nudge, make_source):
    ingest(alice, make_source(alice, platform=r.X), [r.IdentityRecord(platform=r.X, external_id="42", handle="other")])
    other = Identity.objects.get(user=alice, external_id="42")
    card = alice_client.post(f"/nudges/{x_nudge.pk}/follow/confirm/", {"identity": other.pk}, **HTMX)
    assert "not one of this person" in card.content.decode()
    x_nudge.refresh_from_db()
    assert x_nudge.state == Nudge.State.OPEN


# ---------------------------------------------------------------- snooze and dismiss


def test_snooze_and_dismiss_answer_with_the_card(alice_client, x_nudge):
    snoozed = alice_client.post(f"/nudges/{x_nudge.pk}/snooze/", {"days": 7}, **HTMX)
    assert "Not now: Xana comes back on" in snoozed.content.decode()
    x_nudge.refresh_from_db()
    assert x_nudge.state == Nudge.State.SNOOZED

    dismissed = alice_client.post(f"/nudges/{x_nudge.pk}/dismiss/", **HTMX)
    assert "you will not see this suggestion again" in dismissed.content.decode()
    again = alice_client.post(f"/nudges/{x_nudge.pk}/snooze/", **HTMX)
    assert "cannot be snoozed" in again.content.decode()
    x_nudge.refresh_from_db()
    assert x_nudge.state == Nudge.State.DISMISSED


def test_a_reconnect_nudge_cannot_be_followed(alice, alice_client, x_nudge):
    Nudge.objects.filter(pk=x_nudge.pk).update(kind=Nudge.Kind.RECONNECT)
    card = alice_client.post(f"/nudges/{x_nudge.pk}/follow/", **HTMX)
    assert "not about following" in card.content.decode()


# ---------------------------------------------------------------- permissions


ACTIONS = ["follow", "follow/confirm", "snooze", "dismiss", "undo"]


@pytest.mark.parametrize("action", ACTIONS)
def test_every_nudge_action_is_404_for_bob_and_needs_a_login(alice, bob, client, x_nudge, action):
    url = f"/nudges/{x_nudge.pk}/{action}/"
    identity = Identity.objects.get(user=alice, platform=r.X)
    anonymous = client.post(url, {"identity": identity.pk})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    client.force_login(bob)
    assert client.post(url, {"identity": identity.pk}).status_code == 404
    assert client.post(url, {"identity": identity.pk}, **HTMX).status_code == 404
    x_nudge.refresh_from_db()
    assert x_nudge.state == Nudge.State.OPEN


@pytest.mark.parametrize("action", ACTIONS)
def test_nudge_actions_take_only_posts(alice_client, x_nudge, action):
    assert alice_client.get(f"/nudges/{x_nudge.pk}/{action}/").status_code == 405


# ---------------------------------------------------------------- Undo of a follow


def _undo(client, nudge, **extra):
    return client.post(f"/nudges/{nudge.pk}/undo/", **extra)


@pytest.mark.services
@pytest.mark.postgres_only
def test_undo_right_after_a_follow_unfollows_ana_on_mastodon_and_opens_the_nudge_again(
    alice, alice_client, fake_mastodon, ana, ana_nudge
):
    followed = alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", **HTMX).content.decode()
    assert "You follow Ana now" in followed and f'action="/nudges/{ana_nudge.pk}/undo/"' in followed

    card = _undo(alice_client, ana_nudge, **HTMX)

    body = card.content.decode()
    assert card.status_code == 200 and card["HX-Trigger-After-Settle"] == "nudge-changed"
    assert "data-nudge-open" in body and "Undone: Unfollowed on Mastodon." in body
    assert f'action="/nudges/{ana_nudge.pk}/follow/"' in body and "Why you followed" not in body
    assert fake_mastodon.unfollow_calls == [ana["id"]]
    assert fake_mastodon.relationship(ana)["following"] is False
    assert Identity.objects.get(user=alice, external_id=ana["uri"]).i_follow is False
    ana_nudge.refresh_from_db()
    assert (ana_nudge.state, ana_nudge.outcome, ana_nudge.outcome_reason, ana_nudge.evidence) == ("open", "", "", [])
    attempt = FollowAttempt.objects.get()
    assert attempt.state == "undone" and attempt.reason == "Unfollowed on Mastodon."
    # Open again for real: Follow follows again (and a sync does not mark it acted).
    again = alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", **HTMX).content.decode()
    assert "You follow Ana now" in again and fake_mastodon.follow_calls == [ana["id"], ana["id"]]


@pytest.mark.services
@pytest.mark.postgres_only
def test_undo_of_a_follow_request_withdraws_it(alice, alice_client, fake_mastodon, ana, ana_nudge):
    ana["locked"] = True
    alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", **HTMX)
    assert fake_mastodon.relationship(ana)["requested"] is True

    _undo(alice_client, ana_nudge, **HTMX)

    assert fake_mastodon.relationship(ana)["requested"] is False and fake_mastodon.unfollow_calls == [ana["id"]]
    ana_nudge.refresh_from_db()
    assert ana_nudge.state == Nudge.State.OPEN and FollowAttempt.objects.get().state == "undone"


@pytest.mark.services
@pytest.mark.postgres_only
def test_without_javascript_undo_of_a_follow_unfollows_and_goes_back_with_a_message(
    alice, alice_client, fake_mastodon, ana, ana_nudge
):
    alice_client.post(f"/nudges/{ana_nudge.pk}/follow/", {"next": "/people/"})

    response = _undo(alice_client, ana_nudge, data={"next": "/people/"}, follow=False)

    assert response.status_code == 302 and response["Location"] == "/people/"
    page = alice_client.get("/people/").content.decode()
    assert "Undone: Ana is back among your nudges. Unfollowed on Mastodon." in page
    assert fake_mastodon.unfollow_calls == [ana["id"]]


@pytest.mark.services
@pytest.mark.postgres_only
def test_bob_cannot_undo_alices_follow(alice, bob, client, fake_mastodon, ana, ana_nudge):
    follow.follow_person(ana_nudge, alice)
    client.force_login(bob)

    assert _undo(client, ana_nudge, **HTMX).status_code == 404
    assert _undo(client, ana_nudge).status_code == 404
    with pytest.raises(follow.FollowRefused):
        follow.undo_follow(ana_nudge, bob)
    assert fake_mastodon.unfollow_calls == []
    ana_nudge.refresh_from_db()
    assert ana_nudge.state == Nudge.State.ACTED and Identity.objects.get(user=alice, external_id=ana["uri"]).i_follow


def _as_it_was(alice, fake_mastodon, ana, nudge):
    nudge.refresh_from_db()
    assert (nudge.state, nudge.outcome) == (Nudge.State.ACTED, "following") and len(nudge.evidence) == 10
    assert Identity.objects.get(user=alice, external_id=ana["uri"]).i_follow is True
    assert FollowAttempt.objects.get().state == "following"
    assert fake_mastodon.relationship(ana)["following"] is True


@pytest.mark.services
@pytest.mark.postgres_only
def test_undo_past_the_moment_is_refused_and_nothing_changes(alice, alice_client, fake_mastodon, ana, ana_nudge):
    follow.follow_person(ana_nudge, alice)
    Nudge.objects.filter(pk=ana_nudge.pk).update(updated_at=timezone.now() - nudges.UNDO_WINDOW - dt.timedelta(seconds=1))

    card = _undo(alice_client, ana_nudge, **HTMX).content.decode()

    assert "too late to undo this here: unfollow Ana on Mastodon" in card
    assert f'action="/nudges/{ana_nudge.pk}/undo/"' not in card
    assert fake_mastodon.unfollow_calls == []
    _as_it_was(alice, fake_mastodon, ana, ana_nudge)


@pytest.mark.services
@pytest.mark.postgres_only
def test_a_server_error_on_unfollow_leaves_everything_as_it_was(alice, alice_client, fake_mastodon, ana, ana_nudge):
    follow.follow_person(ana_nudge, alice)
    fake_mastodon.fail_next(503, times=20, path=f"/api/v1/accounts/{ana['id']}/unfollow")

    card = _undo(alice_client, ana_nudge, **HTMX).content.decode()

    assert "Mastodon could not be reached" in card and "try again in a moment" in card
    assert f'action="/nudges/{ana_nudge.pk}/undo/"' in card  # still within the moment: Undo stays
    assert fake_mastodon.calls(f"/api/v1/accounts/{ana['id']}/unfollow")
    _as_it_was(alice, fake_mastodon, ana, ana_nudge)


@pytest.mark.services
@pytest.mark.postgres_only
def test_a_revoked_token_refuses_the_undo_and_asks_to_reconnect(alice, alice_client, fake_mastodon, ana, ana_nudge,
                                                               mastodon_source):
    follow.follow_person(ana_nudge, alice)
    fake_mastodon.revoke()

    card = _undo(alice_client, ana_nudge, **HTMX).content.decode()

    assert "needs reconnecting before Rapport can unfollow anyone" in card
    mastodon_source.refresh_from_db()
    assert mastodon_source.state == Source.State.NEEDS_REAUTH
    ana_nudge.refresh_from_db()
    assert ana_nudge.state == Nudge.State.ACTED and FollowAttempt.objects.get().state == "following"


@pytest.mark.services
@pytest.mark.postgres_only
def test_unfollowing_someone_not_followed_is_a_success(alice, fake_mastodon, ana, mastodon_source):
    connector = connect.connector_for(r.MASTODON, mastodon_source.base_url, mastodon_source.get_credentials())

    connector.unfollow(ana["uri"], None)

    assert fake_mastodon.unfollow_calls == [ana["id"]] and fake_mastodon.relationship(ana)["following"] is False


def test_a_follow_a_sync_saw_is_not_undone_by_rapport(alice, alice_client, x_nudge):
    nudges.act(x_nudge, Nudge.Outcome.FOLLOWING, reason="Seen on the platform.")
    assert not follow.undo_offered(x_nudge)

    card = _undo(alice_client, x_nudge, **HTMX).content.decode()

    assert "Rapport did not make this follow" in card
    x_nudge.refresh_from_db()
    assert x_nudge.state == Nudge.State.ACTED


def test_undo_of_a_follow_by_hand_on_x_takes_back_the_claim_and_says_to_unfollow_on_x(alice, alice_client, x_nudge):
    identity = Identity.objects.get(user=alice, platform=r.X)
    confirmed = alice_client.post(f"/nudges/{x_nudge.pk}/follow/confirm/", {"identity": identity.pk}, **HTMX)
    assert f'action="/nudges/{x_nudge.pk}/undo/"' in confirmed.content.decode()

    card = _undo(alice_client, x_nudge, **HTMX).content.decode()

    assert "Rapport no longer counts this follow. You followed on X yourself: unfollow Xana there too." in card
    identity.refresh_from_db()
    x_nudge.refresh_from_db()
    assert identity.i_follow is False and (x_nudge.state, x_nudge.evidence) == (Nudge.State.OPEN, [])
    assert FollowAttempt.objects.get().state == "undone"
