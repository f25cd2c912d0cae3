"""Add to a list, Quieter, notes that travel and known followers, through the services and the fakes.

Personas: alice talks with ana (Mastodon, another server) and ben (Bluesky);
cleo follows ana and talks with alice both ways; gus follows ana too, but
alice never talked with him.
"""

from __future__ import annotations

import datetime as dt

import pytest

from relationships.models import FollowAttempt, Identity, MastodonApp, Nudge, Person, Source
from relationships.platforms.mastodon.oauth import SCOPES
from relationships.platforms import records as r
from relationships.services import follow, lists
from relationships.services.intake.ingest import ingest
from tests.sync.conftest import OLD_SCOPES
from tests.sync.helpers import follow_nudge, run_sync, talks

pytestmark = [pytest.mark.django_db, pytest.mark.services, pytest.mark.postgres_only]



def test_follow_into_a_new_exclusive_list_on_mastodon_records_why_and_acts_on_the_nudge(
    alice, fake_mastodon, ana, ana_nudge
):
    result = lists.list_person(ana_nudge, alice, new_list="Close friends", exclusive=True)

    assert (result.state, result.reason) == ("listed", "Followed and listed.") and result.succeeded
    made = next(iter(fake_mastodon.lists.values()))
    assert made["title"] == "Close friends" and made["exclusive"] is True
    assert fake_mastodon.list_members[made["id"]] == [ana["id"]] and fake_mastodon.relationship(ana)["following"]
    attempt = FollowAttempt.objects.get()
    assert (attempt.action, attempt.state, attempt.list_id, attempt.list_name) == (
        "list", "listed", made["id"], "Close friends")
    assert attempt.evidence and attempt.finished_at  # "why you listed them"
    ana_nudge.refresh_from_db()
    assert (ana_nudge.state, ana_nudge.outcome) == (Nudge.State.ACTED, "listed")
    assert ana_nudge.evidence == attempt.evidence
    assert Identity.objects.get(user=alice, external_id=ana["uri"]).i_follow is True
    # A second click never reaches the platform again.
    calls = len(fake_mastodon.requests)
    assert lists.list_person(ana_nudge, alice, new_list="Close friends").state == "listed"
    assert len(fake_mastodon.requests) == calls


def test_an_existing_list_is_picked_by_its_id_and_a_server_without_exclusive_lists_says_so(
    alice, fake_mastodon, ana, ana_nudge
):
    friends = fake_mastodon.add_list("Friends")
    found, error = lists.platform_lists(alice, "mastodon")
    assert error == "" and [(pl.id, pl.name) for pl in found] == [(friends["id"], "Friends")]

    result = lists.list_person(ana_nudge.person, alice, list_id=friends["id"])

    assert result.state == "listed" and FollowAttempt.objects.get().list_name == "Friends"
    fake_mastodon.exclusive_lists = False
    other = fake_mastodon.add_account("ola", "remote.example", display_name="Ola")
    talks(fake_mastodon, fake_mastodon.me, other, days=1, start=dt.datetime(2026, 8, 1, 12, tzinfo=dt.UTC))
    run_sync(Source.objects.get(platform="mastodon"))
    ola = Identity.objects.get(user=alice, external_id=other["uri"]).person
    quiet = lists.list_person(ola, alice, new_list="Quiet", exclusive=True)
    assert "no exclusive lists" in quiet.reason


def test_a_token_from_before_lists_asks_to_re_authorize_and_nothing_is_marked_done(
    alice, fake_mastodon, ana, ana_nudge, mastodon_source
):
    fake_mastodon.grant(fake_mastodon.token, OLD_SCOPES)

    result = lists.list_person(ana_nudge, alice, new_list="Friends")

    assert result.state == "failed" and "re-authorize" in result.reason
    assert fake_mastodon.lists == {} and fake_mastodon.follow_calls == []
    ana_nudge.refresh_from_db()
    assert (ana_nudge.state, ana_nudge.outcome) == (Nudge.State.OPEN, "failed") and "re-authorize" in ana_nudge.outcome_reason
    assert FollowAttempt.objects.get().state == "failed"
    mastodon_source.refresh_from_db()
    assert mastodon_source.state == Source.State.ACTIVE  # syncing goes on
    found, error = lists.platform_lists(alice, "mastodon")
    assert found == [] and "re-authorize" in error


def test_the_list_limit_and_a_list_gone_are_sentences_on_the_nudge(alice, fake_mastodon, ana, ana_nudge):
    fake_mastodon.list_limit = 0

    full = lists.list_person(ana_nudge, alice, new_list="Friends")
    gone = lists.list_person(ana_nudge, alice, list_id="424242")

    assert full.state == "failed" and "maximum number of lists" in full.reason
    assert gone.state == "failed" and "not in your account any more" in gone.reason
    ana_nudge.refresh_from_db()
    assert ana_nudge.state == Nudge.State.OPEN


def test_a_rate_limit_is_a_sentence_with_the_time_to_try_again(alice, fake_mastodon, ana, ana_nudge):
    fake_mastodon.fail_next(429, times=5, path="/api/v1/lists", reset_in=3600)

    result = lists.list_person(ana_nudge, alice, new_list="Friends")

    assert result.state == "failed" and "asks Rapport to slow down; try again after" in result.reason
    assert fake_mastodon.lists == {}
    ana_nudge.refresh_from_db()
    assert ana_nudge.state == Nudge.State.OPEN


def test_listing_asks_for_exactly_one_list_and_a_connected_account(alice, ana_nudge, x_person):
    for kwargs in ({}, {"list_id": "1", "new_list": "Two"}, {"new_list": "   "}):
        with pytest.raises(follow.FollowRefused, match="Pick one of your lists"):
            lists.list_person(ana_nudge, alice, **kwargs)
    with pytest.raises(follow.FollowRefused, match="only through a connected"):
        lists.list_person(x_person, alice, new_list="Friends")
    assert not FollowAttempt.objects.exists()


def test_another_users_nudge_is_refused(bob, ana_nudge):
    with pytest.raises(follow.FollowRefused):
        lists.list_person(ana_nudge, bob, new_list="Friends")


def test_bluesky_listing_writes_a_list_item_and_no_follow(alice, fake_bluesky, ben, ben_person):
    nudge = follow_nudge(alice, ben_person.identities.get())

    result = lists.list_person(nudge, alice, new_list="People I learn from")

    items = [x for x in fake_bluesky.records.values() if x["value"]["$type"] == "app.bsky.graph.listitem"]
    assert [x["value"]["subject"] for x in items] == [ben] and fake_bluesky.follow_records(fake_bluesky.me) == []
    attempt = FollowAttempt.objects.get()
    assert (attempt.action, attempt.state, attempt.record_uri) == ("list", "listed", items[0]["uri"])
    assert attempt.list_id == items[0]["value"]["list"] and attempt.list_name == "People I learn from"
    assert Identity.objects.get(user=alice, external_id=ben).i_follow is not True
    nudge.refresh_from_db()
    assert (nudge.state, nudge.outcome) == (Nudge.State.ACTED, "listed")


def test_quieter_keeps_following_without_boosts_on_mastodon_only(alice, fake_mastodon, ana, ana_nudge, ben_person):
    fake_mastodon.relationship(ana)["following"] = True

    result = lists.follow_quietly(ana_nudge.person, alice)

    assert (result.state, result.reason) == ("following", "Following, without their boosts.")
    assert fake_mastodon.relationship(ana)["showing_reblogs"] is False
    assert FollowAttempt.objects.get().action == "quieter"
    with pytest.raises(follow.FollowRefused, match="on Bluesky, add them to a list instead"):
        lists.follow_quietly(ben_person, alice)


def test_a_note_travels_to_mastodon_and_stays_in_rapport_on_bluesky(alice, fake_mastodon, ana, ana_nudge, ben_person):
    written = lists.push_note(ana_nudge.person, alice, "You talked on 6 days since March: replies and DMs")
    kept = lists.push_note(ben_person, alice, "Met at the meetup")

    assert written.written and "every Mastodon app shows it" in written.reason
    assert fake_mastodon.notes == {ana["id"]: "You talked on 6 days since March: replies and DMs"}
    assert (kept.written, kept.reason) == (False, "Bluesky has no private notes: this note stays in Rapport.")
    assert not FollowAttempt.objects.exists()  # a note is not a follow


def test_a_note_without_write_accounts_asks_to_re_authorize(alice, fake_mastodon, ana, ana_nudge):
    fake_mastodon.grant(fake_mastodon.token, OLD_SCOPES)

    result = lists.push_note(ana_nudge.person, alice, "hello")

    assert not result.written and "re-authorize" in result.reason and fake_mastodon.notes == {}


def test_known_followers_are_the_people_alice_talks_with_both_ways(alice, ana_nudge, ana_followers):
    known = lists.known_followers(ana_nudge.person, alice)

    assert [p.display_name for p in known.people] == ["Cleo"] and known.problems == []


@pytest.fixture
def x_person(alice, make_source) -> Person:
    source = make_source(alice, platform=r.X)
    ingest(alice, source, [r.IdentityRecord(platform=r.X, external_id="1234567890123456789", handle="xana")])
    return Identity.objects.get(user=alice, platform=r.X).person


def test_an_app_registered_before_lists_is_registered_again_and_its_token_can_list(alice, alice_client, fake_mastodon, ana):
    from tests.sync.test_connect import authorize_on_the_server, start_sign_in

    authorize_on_the_server(start_sign_in(alice_client, fake_mastodon))
    old = MastodonApp.objects.get()
    # As the upgrade leaves it: registered on the server with the scopes of the time.
    MastodonApp.objects.filter(pk=old.pk).update(scopes=OLD_SCOPES)
    fake_mastodon.apps[old.client_id]["scopes"] = OLD_SCOPES.split()

    back = authorize_on_the_server(start_sign_in(alice_client, fake_mastodon))
    assert alice_client.get(back).status_code == 302

    app = MastodonApp.objects.get()
    assert app.client_id != old.client_id and app.scopes == SCOPES and len(fake_mastodon.apps) == 2
    source = Source.objects.get(user=alice, platform="mastodon")
    token = source.get_credentials()["access_token"]
    assert fake_mastodon.token_scopes[token] == set(SCOPES.split())
    ana_person = Person.objects.create(user=alice, name="Ana")
    Identity.objects.create(user=alice, person=ana_person, platform="mastodon", external_id=ana["uri"],
                            handle="ana@remote.example")
    assert lists.list_person(ana_person, alice, new_list="Friends").state == "listed"


def test_quieter_on_bluesky_lists_ben_then_unfollows_him(alice, fake_bluesky, ben, ben_person):
    fake_bluesky.add_follow(fake_bluesky.me, ben)
    Identity.objects.filter(external_id=ben).update(i_follow=True)

    result = lists.move_to_list(ben_person, alice, new_list="Quiet ones")

    assert (result.state, result.reason) == ("listed", "In the list, and no longer followed.")
    items = [x for x in fake_bluesky.records.values() if x["value"]["$type"] == "app.bsky.graph.listitem"]
    assert [x["value"]["subject"] for x in items] == [ben] and fake_bluesky.follow_records(fake_bluesky.me) == []
    attempt = FollowAttempt.objects.get()
    assert (attempt.action, attempt.state, attempt.list_name, attempt.record_uri) == (
        "quieter", "listed", "Quiet ones", items[0]["uri"])
    assert Identity.objects.get(external_id=ben).i_follow is False


def test_quieter_on_bluesky_keeps_the_follow_when_the_list_refused(alice, fake_bluesky, ben, ben_person, ana_nudge):
    fake_bluesky.add_follow(fake_bluesky.me, ben)

    result = lists.move_to_list(ben_person, alice, list_id=f"at://{fake_bluesky.me}/app.bsky.graph.list/3kgone")

    assert result.state == "failed" and "not in your account any more" in result.reason
    assert fake_bluesky.follow_records(fake_bluesky.me) != []
    with pytest.raises(follow.FollowRefused, match="on Mastodon, use Quieter instead"):
        lists.move_to_list(ana_nudge.person, alice, new_list="Quiet ones")
