"""The Mastodon connector against a fake Mastodon over real loopback HTTP.

Personas: alice is the user; bob (on another server) talks with her a lot;
carol is on alice's server; dave approves followers by hand; erin blocked alice.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from relationships.platforms.base import get_connector
from relationships.platforms.errors import AuthError, MalformedResponse, PlatformError, RateLimited, TransientError
from relationships.platforms.http import make_session
from relationships.platforms.mastodon.connector import (
    SCOPES,
    MastodonConnector,
    authorize_url,
    exchange_code,
    register_app,
)
from relationships.platforms.records import FollowRecord, IdentityRecord, SkipRecord
from tests.fakes.fixtures import _plain_static_storage, clock, fake_mastodon  # noqa: F401
from tests.fakes.sync import run_sync

STREAM_PATHS = ["/api/v1/notifications", "/api/v1/favourites", "/api/v1/conversations"]


@pytest.fixture
def server(fake_mastodon):
    fake_mastodon.bob = fake_mastodon.add_account("bob", "remote.example", display_name="Bob")
    fake_mastodon.carol = fake_mastodon.add_account("carol", display_name="Carol")
    return fake_mastodon


@pytest.fixture
def connect(server, clock):
    def make(token=None, **options):
        session = make_session(True, sleep=clock.sleep, clock=clock.time, **options)
        return MastodonConnector(server.url, {"access_token": token or server.token}, session=session)

    return make


def uri(account):
    return account["uri"]


def kinds(run, status):
    """(identity, kind, direction) of the interactions carried by ``status``."""
    return {(i, k, d) for (e, i, k, d) in run.interactions() if e == status["uri"]}


def test_the_registry_hands_out_the_mastodon_connector():
    assert get_connector("mastodon") is MastodonConnector
    with pytest.raises(KeyError):
        get_connector("x")


def test_verify_returns_alices_own_account(server, connect):
    me = connect().verify()
    assert me.is_self and me.external_id == uri(server.me)
    assert me.handle == f"alice@{server.domain}" and me.display_name == "Alice"


def test_a_revoked_token_fails_verify_with_an_auth_error(server, connect):
    server.revoke()
    with pytest.raises(AuthError) as caught:
        connect().verify()
    assert caught.value.permanent


def test_the_first_sync_backfills_every_stream_across_pages(server, connect):
    mentions = [server.add_status(server.bob, f"hi {n}", mentions=[server.me]) for n in range(170)]
    mine = [server.add_status(server.me, f"@bob {n}", mentions=[server.bob]) for n in range(45)]
    for status in mentions[:45]:
        server.favourite(status)

    run = run_sync(connect())

    assert run.error is None
    assert all((uri(server.bob), "mention", "in") in kinds(run, s) for s in mentions)
    assert all(kinds(run, s) == {(uri(server.bob), "mention", "out")} for s in mine)
    assert all((uri(server.bob), "like", "out") in kinds(run, s) for s in mentions[:45])
    assert [c.stream for c in run.checkpoints].count("notifications") == 3  # 80 + 80 + 10
    assert [c.stream for c in run.checkpoints].count("statuses") == 2
    assert json.loads(run.cursors["notifications"]) == {"head": "170"}


def test_the_backfill_stops_at_the_backfill_date(server, connect):
    old = server.add_status(server.bob, "old", mentions=[server.me], created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    new = server.add_status(server.bob, "new", mentions=[server.me], created_at=dt.datetime(2026, 7, 1, tzinfo=dt.UTC))
    run = run_sync(connect(), since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert kinds(run, new) and not kinds(run, old)


def test_an_incremental_sync_with_nothing_new_makes_one_request_per_stream(server, connect):
    server.add_status(server.bob, "hi", mentions=[server.me])
    server.favourite(server.add_status(server.bob, "like me"))
    server.add_status(server.me, "@bob psst", mentions=[server.bob], visibility="direct")
    first = run_sync(connect())
    before = len(server.requests)

    second = run_sync(connect(), first.cursors)

    paths = [s.path for s in server.requests[before:]]
    statuses_path = f"/api/v1/accounts/{server.me['id']}/statuses"
    assert sorted(paths) == sorted(["/api/v1/accounts/verify_credentials", statuses_path, *STREAM_PATHS])
    assert second.interactions() == set() and second.cursors == first.cursors


def test_an_incremental_sync_reads_only_what_is_new(server, connect):
    seen = server.add_status(server.bob, "seen", mentions=[server.me])
    first = run_sync(connect())
    fresh = [server.add_status(server.bob, f"new {n}", mentions=[server.me]) for n in range(100)]

    second = run_sync(connect(), first.cursors)

    assert not kinds(second, seen)
    assert all(kinds(second, s) for s in fresh)
    forward = [s for s in server.calls("/api/v1/notifications") if "min_id" in s.query]
    assert [s.query["min_id"] for s in forward] == [["1"], ["81"]]  # oldest page first, no gap


def test_an_interrupted_backfill_resumes_where_it_stopped_and_ends_on_the_newest_item(server, connect):
    statuses = [server.add_status(server.bob, f"hi {n}", mentions=[server.me]) for n in range(200)]
    server.fail_next(500, after=1, path="/api/v1/notifications")

    first = run_sync(connect(retries=0))
    assert isinstance(first.error, TransientError)
    assert json.loads(first.cursors["notifications"]) == {"head": "200", "next": "121"}
    later = [server.add_status(server.bob, f"meanwhile {n}", mentions=[server.me]) for n in range(3)]

    second = run_sync(connect(), first.cursors)

    assert second.error is None
    assert first.interactions() | second.interactions() == {
        (s["uri"], uri(server.bob), "mention", "in") for s in statuses + later
    }
    assert not first.interactions() & second.interactions()  # nothing read twice
    assert json.loads(second.cursors["notifications"]) == {"head": "203"}


def test_a_429_mid_backfill_waits_for_the_reset_and_yields_the_same_ids(server, connect, clock):
    for n in range(200):
        server.add_status(server.bob, f"hi {n}", mentions=[server.me])
    undisturbed = run_sync(connect())
    requests_before = len(server.requests)
    server.fail_next(429, after=1, path="/api/v1/notifications", reset_in=300)
    started = clock.time()

    disturbed = run_sync(connect())

    assert disturbed.error is None and disturbed.interactions() == undisturbed.interactions()
    assert clock.time() - started >= 300
    pages = [(s.path, str(sorted(s.query.items()))) for s in server.requests[requests_before:] if s.status == 200]
    assert len(pages) == len(set(pages))  # nothing fetched twice


def test_a_long_rate_limit_raises_and_the_next_run_resumes_from_the_checkpoint(server, connect, clock):
    for n in range(200):
        server.add_status(server.bob, f"hi {n}", mentions=[server.me])
    undisturbed = run_sync(connect())
    server.fail_next(429, after=1, path="/api/v1/notifications", reset_in=3600)

    first = run_sync(connect())
    assert isinstance(first.error, RateLimited)
    assert first.error.reset_at >= clock.now() + dt.timedelta(minutes=59)
    clock.advance(3600)
    mark = len(server.requests)
    second = run_sync(connect(), first.cursors)

    assert first.interactions() | second.interactions() == undisturbed.interactions()
    resumed = [s for s in server.requests[mark:] if s.path == "/api/v1/notifications"]
    assert resumed[0].query["max_id"] == ["121"]


def test_a_token_revoked_mid_sync_raises_auth_error_without_further_calls(server, connect):
    for n in range(100):
        server.add_status(server.bob, f"hi {n}", mentions=[server.me])
    server.fail_next(401, after=1, path="/api/v1/notifications", body={"error": "The access token was revoked"})

    run = run_sync(connect())

    assert isinstance(run.error, AuthError) and run.error.permanent
    refused = next(i for i, s in enumerate(server.requests) if s.status == 401)
    assert len(server.requests) - refused - 1 <= 1


def test_truncated_json_raises_malformed_response(server, connect):
    server.add_status(server.bob, "hi", mentions=[server.me])
    server.truncate_next(path="/api/v1/notifications")
    run = run_sync(connect())
    assert isinstance(run.error, MalformedResponse) and run.error.permanent


def test_filtered_notifications_are_read_too(server, connect):
    status = server.add_status(server.bob, "hello stranger", mentions=[server.me], notify=False)
    server.add_notification("mention", server.bob, status, filtered=True)
    run = run_sync(connect())
    assert kinds(run, status) == {(uri(server.bob), "mention", "in")}
    assert all(s.query.get("include_filtered") == ["true"] for s in server.calls("/api/v1/notifications"))


# ---------------------------------------------------------------- classification


def test_a_reply_to_alice_that_also_mentions_her_is_one_reply(server, connect):
    post = server.add_status(server.me, "thoughts?")
    reply = server.add_status(server.bob, "@alice yes!", mentions=[server.me], in_reply_to=post)
    assert kinds(run_sync(connect()), reply) == {(uri(server.bob), "reply", "in")}


def test_bobs_self_reply_chain_under_alices_post_is_a_mention_not_a_reply(server, connect):
    post = server.add_status(server.me, "A")
    b = server.add_status(server.bob, "@alice B", mentions=[server.me], in_reply_to=post)
    c = server.add_status(server.bob, "@alice C", mentions=[server.me], in_reply_to=b)
    assert c["in_reply_to_account_id"] == server.me["id"]  # Mastodon's documented caveat
    run = run_sync(connect())
    assert kinds(run, b) == {(uri(server.bob), "reply", "in")}
    assert kinds(run, c) == {(uri(server.bob), "mention", "in")}


def test_alices_reply_in_her_own_chain_is_not_a_reply_to_the_thread_starter(server, connect):
    post = server.add_status(server.bob, "A")
    first = server.add_status(server.me, "@bob B", mentions=[server.bob], in_reply_to=post)
    second = server.add_status(server.me, "@bob C", mentions=[server.bob], in_reply_to=first)
    run = run_sync(connect())
    assert kinds(run, first) == {(uri(server.bob), "reply", "out")}
    assert kinds(run, second) == {(uri(server.bob), "mention", "out")}


def test_bobs_reply_to_a_post_alice_deleted_is_still_a_reply_to_her(server, connect):
    post = server.add_status(server.me, "thoughts?")
    reply = server.add_status(server.bob, "@alice yes!", mentions=[server.me], in_reply_to=post)
    server.delete_status(post)
    # The shape real servers answer with: the parent's id is gone, its author's is not.
    assert reply["in_reply_to_id"] is None and reply["in_reply_to_account_id"] == server.me["id"]

    assert kinds(run_sync(connect()), reply) == {(uri(server.bob), "reply", "in")}


def test_alices_replies_to_a_post_bob_deleted_are_replies_to_bob_mentioned_or_not(server, connect):
    post = server.add_status(server.bob, "A question")
    named = server.add_status(server.me, "@bob an answer", mentions=[server.bob], in_reply_to=post)
    unnamed = server.add_status(server.me, "and another", in_reply_to=post)
    server.delete_status(post)

    run = run_sync(connect())

    assert kinds(run, named) == {(uri(server.bob), "reply", "out")}
    assert kinds(run, unnamed) == {(uri(server.bob), "reply", "out")}
    bob = next(i for i in run.of(IdentityRecord) if i.external_id == uri(server.bob))
    assert bob.handle == "bob@remote.example"


def test_a_direct_message_is_a_dm_in_both_directions(server, connect):
    inbound = server.add_status(server.bob, "@alice secret", mentions=[server.me], visibility="direct")
    outbound = server.add_status(server.me, "@bob secret too", mentions=[server.bob], in_reply_to=inbound,
                                 visibility="direct")
    run = run_sync(connect())
    assert kinds(run, inbound) == {(uri(server.bob), "dm", "in")}
    assert kinds(run, outbound) == {(uri(server.bob), "dm", "out")}


def test_a_quote_is_a_quote_in_both_directions(server, connect):
    mine = server.add_status(server.me, "quotable")
    quoting = server.add_status(server.bob, "look at this", quote=mine)
    bobs = server.add_status(server.bob, "also quotable")
    alice_quotes = server.add_status(server.me, "so true", quote=bobs)
    run = run_sync(connect())
    assert kinds(run, quoting) == {(uri(server.bob), "quote", "in")}
    assert kinds(run, alice_quotes) == {(uri(server.bob), "quote", "out")}


def test_a_post_naming_several_people_gives_one_interaction_each_with_the_named_count(server, connect):
    post = server.add_status(server.bob, "A")
    reply = server.add_status(server.me, "@bob @carol hi both", mentions=[server.bob, server.carol], in_reply_to=post)
    run = run_sync(connect())
    assert kinds(run, reply) == {(uri(server.bob), "reply", "out"), (uri(server.carol), "mention", "out")}
    assert {r.named_count for r in run.records if getattr(r, "external_id", None) == reply["uri"]
            and hasattr(r, "named_count")} == {2}


def test_likes_and_boosts_in_both_directions(server, connect):
    mine = server.add_status(server.me, "like me")
    server.favourite_by(server.bob, mine)
    server.add_status(server.bob, "", reblog=mine)
    bobs = server.add_status(server.bob, "boost me")
    server.favourite(bobs)
    boost = server.add_status(server.me, "", reblog=bobs)
    run = run_sync(connect())
    assert kinds(run, mine) == {(uri(server.bob), "like", "in"), (uri(server.bob), "repost", "in")}
    assert kinds(run, bobs) == {(uri(server.bob), "like", "out")}
    assert kinds(run, boost) == {(uri(server.bob), "repost", "out")}


def test_follows_and_relationships_become_follow_records(server, connect):
    server.follow_alice(server.carol)
    server.relationship(server.bob).update(following=True, muting=True)
    server.add_status(server.bob, "hi", mentions=[server.me])
    run = run_sync(connect())
    states = {(f.identity_id, f.i_follow, f.follows_me, f.muted) for f in run.of(FollowRecord) if f.i_follow is not None}
    assert (uri(server.carol), False, True, False) in states
    assert (uri(server.bob), True, False, True) in states
    assert any(f.follows_me and f.since for f in run.of(FollowRecord) if f.identity_id == uri(server.carol))


def test_other_notification_types_are_skipped_with_a_reason(server, connect):
    server.add_notification("poll", server.bob, server.add_status(server.bob, "poll"))
    server.add_notification("admin.sign_up", server.carol)
    run = run_sync(connect())
    assert {s.reason for s in run.of(SkipRecord)} >= {
        "Mastodon notification of type 'poll' is not an interaction",
        "Mastodon notification of type 'admin.sign_up' is not an interaction",
    }


def test_an_account_without_a_uri_gets_a_provisional_conventional_key(server, connect):
    old = server.add_account("olduser", "old.example", with_uri=False)
    server.add_status(old, "hi", mentions=[server.me])
    run = run_sync(connect())
    guessed = next(r for r in run.of(IdentityRecord) if r.handle == "olduser@old.example")
    assert guessed.external_id == "https://old.example/users/olduser" and guessed.provisional


# ---------------------------------------------------------------- follow


def test_following_an_open_account_ends_following(server, connect):
    outcome = connect().follow(uri(server.bob), "bob@remote.example")
    assert outcome.state == "following" and server.follow_calls == [server.bob["id"]]


def test_following_an_account_that_approves_followers_ends_requested(server, connect):
    dave = server.add_account("dave", "locked.example", locked=True)
    assert connect().follow(uri(dave), "dave@locked.example").state == "requested"


def test_following_someone_who_blocked_alice_fails_with_the_reason(server, connect):
    erin = server.add_account("erin", "remote.example")
    server.relationship(erin)["blocked_by"] = True
    outcome = connect().follow(uri(erin), "erin@remote.example")
    assert outcome.state == "failed" and "not allowed" in outcome.reason


def test_following_an_account_the_server_never_saw_resolves_it_first(server, connect):
    frank = server.add_account("frank", "far.example", known=False)
    outcome = connect().follow(uri(frank), None)
    assert outcome.state == "following"
    assert server.calls("/api/v2/search")[0].query["resolve"] == ["1"]


def test_following_an_account_that_cannot_be_found_fails(server, connect):
    assert connect().follow("https://nowhere.example/users/ghost", "ghost@nowhere.example").state == "failed"


# ---------------------------------------------------------------- OAuth


def test_the_oauth_round_trip_gives_a_working_token(server):
    session = make_session(True)
    callback = "https://rapport.example/connect/mastodon/callback"
    client_id, secret = register_app(server.url, callback, session)
    assert server.apps[client_id]["scopes"] == SCOPES.split()

    answer = session.get(authorize_url(server.url, client_id, callback, "state-123"), allow_redirects=False)
    location = urlsplit(answer.headers["Location"])
    query = parse_qs(location.query)
    assert answer.status_code == 302 and location.path == "/connect/mastodon/callback"
    assert query["state"] == ["state-123"]

    token = exchange_code(server.url, client_id, secret, callback, query["code"][0], session)
    connector = MastodonConnector(server.url, {"access_token": token}, session=session)
    assert connector.verify().external_id == uri(server.me)
    with pytest.raises(AuthError):
        exchange_code(server.url, client_id, secret, callback, query["code"][0], session)


def test_an_app_registration_the_server_refuses_is_a_permanent_error(server):
    with pytest.raises(PlatformError) as caught:
        register_app(server.url, "not a url", make_session(True))
    assert caught.value.permanent and caught.value.status == 422
