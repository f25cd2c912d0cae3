"""Bluesky curated lists and known followers, against the fake PDS over real loopback HTTP.

Personas: alice is the user; bob is whom she lists; carol and dan follow
bob, and alice follows carol only.
"""

from __future__ import annotations

import pytest

from relationships.platforms.base import FAILED, LISTED, PlatformList
from relationships.platforms.bluesky.connector import BlueskyConnector
from relationships.platforms.bluesky.curation import CURATELIST, LIST, LISTITEM
from relationships.platforms.errors import PlatformError, RateLimited
from relationships.platforms.http import make_session
from tests.fakes.fixtures import _plain_static_storage, clock, fake_bluesky  # noqa: F401

XRPC = "/xrpc/"


@pytest.fixture
def server(fake_bluesky):
    fake_bluesky.bob = fake_bluesky.add_account("bob.test", display_name="Bob")
    fake_bluesky.carol = fake_bluesky.add_account("carol.test", display_name="Carol")
    fake_bluesky.dan = fake_bluesky.add_account("dan.test")
    return fake_bluesky


@pytest.fixture
def connect(server, clock):
    def make():
        session = make_session(True, sleep=clock.sleep, clock=clock.time)
        return BlueskyConnector(server.url, {"handle": server.handle, "app_password": server.app_password},
                                session=session)

    return make


def records(server, collection):
    return [r for r in server.records.values() if r["value"]["$type"] == collection]


def curated(server, name="Friends"):
    return server._write(server.me, LIST, {"name": name, "purpose": CURATELIST}, None)


def test_bluesky_keeps_no_private_notes_and_says_so_before_any_call():
    assert BlueskyConnector.supports_notes is False
    assert BlueskyConnector.supports_quieter is False and BlueskyConnector.lists_need_follow is False


def test_only_curated_lists_are_offered(server, connect):
    friends = curated(server)
    server._write(server.me, LIST, {"name": "Muted", "purpose": "app.bsky.graph.defs#modlist"}, None)

    assert connect().lists() == [PlatformList(friends, "Friends")]


def test_a_new_curated_list_is_a_list_record_and_a_second_ask_reuses_it(server, connect):
    made = connect().create_list("  People   I learn from ", exclusive=True)

    written = records(server, LIST)
    assert [(r["uri"], r["value"]["name"], r["value"]["purpose"]) for r in written] == [
        (made.id, "People I learn from", CURATELIST)]
    assert made.exclusive is False
    assert connect().create_list("people i learn from") == made and len(records(server, LIST)) == 1


def test_a_list_name_too_long_or_empty_is_refused_before_any_write(server, connect):
    for name in ("x" * 65, "   "):
        with pytest.raises(PlatformError):
            connect().create_list(name)
    assert records(server, LIST) == []


def test_adding_someone_writes_one_list_item_without_following(server, connect):
    friends = curated(server)

    outcome = connect().add_to_list(friends, server.bob, "bob.test")
    again = connect().add_to_list(friends, server.bob, "bob.test")

    items = records(server, LISTITEM)
    assert [(r["value"]["list"], r["value"]["subject"]) for r in items] == [(friends, server.bob)]
    assert (outcome.state, outcome.reason, outcome.record_uri) == (LISTED, "Listed.", items[0]["uri"])
    assert (again.state, again.reason, again.record_uri) == (LISTED, "Already in this list.", items[0]["uri"])
    assert server.follow_records(server.me) == [] and not outcome.followed


def test_taking_bob_out_of_a_list_deletes_his_list_item_and_only_his(server, connect):
    friends = curated(server)
    added = connect().add_to_list(friends, server.bob, "bob.test")
    connect().add_to_list(friends, server.carol, "carol.test")

    connect().remove_from_list(friends, server.bob, "bob.test", added.record_uri)
    connect().remove_from_list(friends, server.bob, "bob.test", added.record_uri)  # again: nothing left, no error

    assert [r["value"]["subject"] for r in records(server, LISTITEM)] == [server.carol]
    with pytest.raises(PlatformError, match="not one of the connected Bluesky account's"):
        connect().remove_from_list(f"at://{server.bob}/{LIST}/3kbobs", server.carol, None)


def test_refusals_come_back_as_sentences(server, connect):
    friends = curated(server)

    gone = connect().add_to_list(friends, "did:plc:nobody00000000000000000", None)
    own = connect().add_to_list(friends, server.me, None)
    removed = connect().add_to_list(f"at://{server.me}/{LIST}/3kgone", server.bob, None)

    assert (gone.state, gone.reason) == (FAILED, "This Bluesky account could not be found.")
    assert (own.state, own.reason) == (FAILED, "This is your own account.")
    assert (removed.state, removed.reason) == (FAILED, "This list is not in your Bluesky account any more.")
    assert records(server, LISTITEM) == []


def test_a_list_of_another_account_is_never_written_to(server, connect):
    with pytest.raises(PlatformError, match="not one of the connected Bluesky account's"):
        connect().add_to_list(f"at://{server.bob}/{LIST}/3kbobs", server.carol, None)


def test_a_rate_limit_is_the_connectors_rate_limited(server, connect):
    friends = curated(server)
    server.fail_next(429, times=5, path=XRPC + "com.atproto.repo.createRecord", reset_in=3600)

    with pytest.raises(RateLimited):
        connect().add_to_list(friends, server.bob, None)
    assert records(server, LISTITEM) == []


def test_known_followers_are_the_followers_alice_follows_as_identities(server, connect):
    server.add_follow(server.carol, server.bob)
    server.add_follow(server.dan, server.bob)
    server.add_follow(server.me, server.carol)

    found = connect().known_followers(server.bob, "bob.test")

    assert [(i.external_id, i.handle, i.display_name) for i in found] == [(server.carol, "carol.test", "Carol")]
