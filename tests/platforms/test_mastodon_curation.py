"""Mastodon lists, Quieter, private notes and familiar followers, against the fake over real loopback HTTP.

Personas: alice is the user; bob (another server) is who she lists, notes
and asks about; carol (her server) and fay follow bob; dave approves
followers by hand.
"""

from __future__ import annotations

import pytest

from relationships.platforms.base import FAILED, FOLLOWING, LISTED, REQUESTED, PlatformList
from relationships.platforms.errors import AuthError, MissingScope, NotFound, PlatformError, RateLimited
from relationships.platforms.http import make_session
from relationships.platforms.mastodon.connector import SCOPES, MastodonConnector
from tests.fakes.fixtures import _plain_static_storage, clock, fake_mastodon  # noqa: F401

OLD_SCOPES = "read:accounts read:notifications read:statuses read:favourites read:follows read:search write:follows"


@pytest.fixture
def server(fake_mastodon):
    fake_mastodon.bob = fake_mastodon.add_account("bob", "remote.example", display_name="Bob")
    fake_mastodon.carol = fake_mastodon.add_account("carol", display_name="Carol")
    fake_mastodon.dave = fake_mastodon.add_account("dave", "locked.example", display_name="Dave", locked=True)
    fake_mastodon.fay = fake_mastodon.add_account("fay", "far.example", display_name="Fay")
    return fake_mastodon


@pytest.fixture
def connect(server, clock):
    def make(token=None):
        session = make_session(True, sleep=clock.sleep, clock=clock.time)
        return MastodonConnector(server.url, {"access_token": token or server.token}, session=session)

    return make


def old_token(server) -> str:
    """A token granted before Rapport asked for lists and notes."""
    token = "old-token"
    server.tokens.add(token)
    server.grant(token, OLD_SCOPES)
    return token


def rel(server, account):
    return server.relationship(account)


def test_the_connector_says_what_mastodon_can_do():
    assert MastodonConnector.supports_notes and MastodonConnector.supports_quieter
    assert MastodonConnector.lists_need_follow
    assert {"read:lists", "write:lists", "write:accounts"} <= set(SCOPES.split())


# ---------------------------------------------------------------- lists


def test_lists_are_read_from_the_server_with_their_exclusive_flag(server, connect):
    server.add_list("Friends")
    quiet = server.add_list("Quiet ones", exclusive=True)

    found = connect().lists()

    assert found == [PlatformList(id=found[0].id, name="Friends"), PlatformList(quiet["id"], "Quiet ones", True)]


def test_a_new_exclusive_list_is_made_and_a_second_ask_reuses_it(server, connect):
    made = connect().create_list("  Close   friends ", exclusive=True)

    assert made.name == "Close friends" and made.exclusive
    assert server.lists[made.id]["exclusive"] is True
    assert connect().create_list("close FRIENDS") == made
    assert len(server.lists) == 1


def test_a_server_before_exclusive_lists_makes_an_ordinary_one(server, connect):
    server.exclusive_lists = False

    made = connect().create_list("Close friends", exclusive=True)

    assert not made.exclusive
    assert server.calls("/api/v1/lists", "POST")[0].form["exclusive"] == "true"


def test_the_list_limit_is_a_sentence(server, connect):
    server.list_limit = 1
    server.add_list("Friends")

    with pytest.raises(PlatformError) as caught:
        connect().create_list("Another")

    assert caught.value.permanent and caught.value.status == 422
    assert "maximum number of lists" in str(caught.value) and "one of your lists instead" in str(caught.value)


def test_follow_into_a_list_follows_first_then_lists(server, connect):
    friends = server.add_list("Friends")

    outcome = connect().add_to_list(friends["id"], server.bob["uri"], "bob@remote.example")

    assert (outcome.state, outcome.reason, outcome.followed) == (LISTED, "Followed and listed.", True)
    assert rel(server, server.bob)["following"]
    assert server.list_members[friends["id"]] == [server.bob["id"]]
    follow = server.calls(f"/api/v1/accounts/{server.bob['id']}/follow", "POST")
    listing = server.calls(f"/api/v1/lists/{friends['id']}/accounts", "POST")
    assert len(follow) == 1 and server.requests.index(follow[0]) < server.requests.index(listing[0])


def test_listing_someone_already_followed_and_listed_again_changes_nothing(server, connect):
    friends = server.add_list("Friends")
    rel(server, server.bob)["following"] = True

    first = connect().add_to_list(friends["id"], server.bob["uri"], None)
    again = connect().add_to_list(friends["id"], server.bob["uri"], None)

    assert (first.state, first.reason, first.followed) == (LISTED, "Listed.", False)
    assert again.state == LISTED
    assert server.follow_calls == [] and server.list_members[friends["id"]] == [server.bob["id"]]


def test_an_account_that_approves_followers_is_listed_with_its_request_waiting(server, connect):
    friends = server.add_list("Friends")

    outcome = connect().add_to_list(friends["id"], server.dave["uri"], None)

    assert outcome.state == REQUESTED and outcome.followed
    assert "waiting" in outcome.reason
    assert server.list_members[friends["id"]] == [server.dave["id"]]


def test_a_server_before_4_3_cannot_list_a_pending_request_and_says_so(server, connect):
    server.lists_take_requested = False
    friends = server.add_list("Friends")

    outcome = connect().add_to_list(friends["id"], server.dave["uri"], None)

    assert outcome.state == FAILED and outcome.followed
    assert "once they accept" in outcome.reason and rel(server, server.dave)["requested"]


def test_a_list_gone_and_an_account_gone_are_failures_with_sentences(server, connect):
    friends = server.add_list("Friends")
    rel(server, server.bob)["following"] = True

    gone_list = connect().add_to_list("999", server.bob["uri"], None)
    gone_account = connect().add_to_list(friends["id"], "https://gone.example/users/nobody", "nobody@gone.example")

    own = connect().add_to_list(friends["id"], server.me["uri"], None)

    assert (gone_list.state, gone_list.reason) == (FAILED, "This list is not on your Mastodon server any more.")
    assert (own.state, own.reason) == (FAILED, "This is your own account.")
    assert (gone_account.state, gone_account.reason) == (
        FAILED, "This account could not be found from your Mastodon server.")


def test_a_blocked_follow_into_a_list_lists_nothing(server, connect):
    friends = server.add_list("Friends")
    rel(server, server.bob)["blocked_by"] = True

    outcome = connect().add_to_list(friends["id"], server.bob["uri"], None)

    assert outcome.state == FAILED and "refused the follow" in outcome.reason
    assert server.list_members[friends["id"]] == []


def test_a_token_from_before_lists_is_asked_to_re_authorize(server, connect):
    friends = server.add_list("Friends")
    token = old_token(server)

    for call in (lambda c: c.lists(), lambda c: c.create_list("New"),
                 lambda c: c.add_to_list(friends["id"], server.bob["uri"], None)):
        with pytest.raises(MissingScope) as caught:
            call(connect(token))
        assert "re-authorize" in str(caught.value) and caught.value.permanent
        assert not isinstance(caught.value, AuthError)  # syncing goes on with this token
    assert server.list_members[friends["id"]] == []


def test_a_rate_limit_on_the_list_call_is_the_connectors_rate_limited(server, connect, clock):
    friends = server.add_list("Friends")
    rel(server, server.bob)["following"] = True
    server.fail_next(429, times=5, path=f"/api/v1/lists/{friends['id']}/accounts", reset_in=3600)

    with pytest.raises(RateLimited):
        connect().add_to_list(friends["id"], server.bob["uri"], None)


# ---------------------------------------------------------------- quieter, notes, familiar followers


def test_quieter_follows_without_boosts_and_keeps_a_follow(server, connect):
    rel(server, server.bob)["following"] = True

    outcome = connect().follow_quietly(server.bob["uri"], None)

    assert (outcome.state, outcome.reason) == (FOLLOWING, "Following, without their boosts.")
    assert rel(server, server.bob) | {"following": True, "showing_reblogs": False} == rel(server, server.bob)
    assert server.calls(f"/api/v1/accounts/{server.bob['id']}/follow", "POST")[0].form["reblogs"] in ("0", "False", "false")


def test_a_private_note_is_written_and_read_back(server, connect):
    connect().set_note(server.bob["uri"], None, "You talked on 6 days since March: replies and DMs")

    assert server.notes[server.bob["id"]] == "You talked on 6 days since March: replies and DMs"


def test_a_note_goes_after_what_the_note_holds_and_is_never_written_twice(server, connect):
    server.notes[server.bob["id"]] = "Met at the conference"

    connect().set_note(server.bob["uri"], None, "You talked on 6 days since March: replies and DMs")
    connect().set_note(server.bob["uri"], None, "You talked on 6 days since March: replies and DMs")

    assert server.notes[server.bob["id"]] == "Met at the conference\n\nYou talked on 6 days since March: replies and DMs"
    assert len(server.calls(f"/api/v1/accounts/{server.bob['id']}/note", "POST")) == 1


def test_taking_bob_out_of_a_list_keeps_the_follow_and_a_list_gone_is_no_error(server, connect):
    friends = server.add_list("Friends")
    connect().add_to_list(friends["id"], server.bob["uri"], None)

    connect().remove_from_list(friends["id"], server.bob["uri"], None)
    connect().remove_from_list("424242", server.bob["uri"], None)

    assert server.list_members[friends["id"]] == [] and rel(server, server.bob)["following"] is True
    with pytest.raises(MissingScope):
        connect(old_token(server)).remove_from_list(friends["id"], server.bob["uri"], None)


def test_quieter_on_an_account_gone_or_ones_own_is_a_failure_with_a_sentence(server, connect):
    gone = connect().follow_quietly("https://gone.example/users/nobody", "nobody@gone.example")
    own = connect().follow_quietly(server.me["uri"], None)

    assert (gone.state, own.state) == (FAILED, FAILED) and own.reason == "This is your own account."
    assert server.follow_calls == []


def test_a_note_too_long_or_on_an_account_gone_is_refused(server, connect):
    with pytest.raises(PlatformError, match="up to 2000 characters"):
        connect().set_note(server.bob["uri"], None, "x" * 2001)
    with pytest.raises(NotFound):
        connect().set_note("https://gone.example/users/nobody", "nobody@gone.example", "hi")
    assert server.notes == {}


def test_a_note_needs_write_accounts(server, connect):
    with pytest.raises(MissingScope) as caught:
        connect(old_token(server)).set_note(server.bob["uri"], None, "hi")
    assert caught.value.scope == "write:accounts" and "private notes" in str(caught.value)


def test_familiar_followers_are_identities_never_counts(server, connect):
    for follower in (server.carol, server.fay, server.dave):
        server.follows(follower, server.bob)
    rel(server, server.carol)["following"] = True
    rel(server, server.fay)["following"] = True

    found = connect().known_followers(server.bob["uri"], None)

    assert [(i.external_id, i.handle, i.display_name) for i in found] == [
        (server.carol["uri"], f"carol@{server.domain}", "Carol"),
        (server.fay["uri"], "fay@far.example", "Fay"),
    ]
    call = server.calls("/api/v1/accounts/familiar_followers")[0]
    assert call.query["id[]"] == [server.bob["id"]]
