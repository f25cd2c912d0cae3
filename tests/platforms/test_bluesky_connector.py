"""The Bluesky connector against a fake PDS over real loopback HTTP.

Personas: alice is the user; bob talks with her; carol replies deep in
alice's threads and is a labelled bot.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from relationships.platforms.base import get_connector
from relationships.platforms.bluesky.classify import ANCESTOR_ONLY, CHAT_NOT_ALLOWED, CHAT_UNREACHABLE
from relationships.platforms.bluesky.connector import BlueskyConnector
from relationships.platforms.errors import AuthError, MalformedResponse, UnsafeURL
from relationships.platforms.http import make_session
from relationships.platforms.records import FollowRecord, IdentityRecord, InteractionRecord, SkipRecord
from tests.fakes.fixtures import _plain_static_storage, clock, fake_bluesky  # noqa: F401
from tests.fakes.sync import run_sync

XRPC = "/xrpc/"
STREAMS = ["app.bsky.actor.getProfile", "app.bsky.notification.listNotifications", "app.bsky.feed.getAuthorFeed",
           "app.bsky.feed.getActorLikes", "chat.bsky.convo.listConvos"]


@pytest.fixture
def server(fake_bluesky):
    fake_bluesky.bob = fake_bluesky.add_account("bob.test", display_name="Bob")
    fake_bluesky.carol = fake_bluesky.add_account("carol.test", labels=["bot"])
    return fake_bluesky


@pytest.fixture
def connect(server, clock):
    def make(credentials=None, **options):
        session = make_session(True, sleep=clock.sleep, clock=clock.time, **options)
        credentials = credentials or {"handle": server.handle, "app_password": server.app_password}
        return BlueskyConnector(server.url, credentials, session=session)

    return make


def logged_in(connect):
    """Credentials with a stored session, as the sync service keeps them after the first login."""
    first = connect()
    first.verify()
    return first.updated_credentials


def kinds(run, uri):
    return {(i, k, d) for (e, i, k, d) in run.interactions() if e == uri}


def methods(server, since=0):
    return [s.path.removeprefix(XRPC) for s in server.requests[since:]]


def test_the_registry_hands_out_the_bluesky_connector():
    assert get_connector("bluesky") is BlueskyConnector


# ---------------------------------------------------------------- session


def test_the_first_login_uses_the_app_password_once_and_hands_back_a_session(server, connect):
    connector = connect()
    me = connector.verify()
    assert me.is_self and me.external_id == server.me and me.profile_url == "https://bsky.app/profile/alice.test"
    assert server.create_session_calls == 1
    assert connector.updated_credentials["session"].split(":::")[1] == server.me


def test_a_stored_session_is_reused_without_logging_in_again(server, connect):
    credentials = logged_in(connect)
    connector = connect(credentials)
    connector.verify()
    assert server.create_session_calls == 1 and connector.updated_credentials is None


def test_an_expired_access_token_is_refreshed_once_and_the_new_session_handed_back(server, connect):
    credentials = logged_in(connect)
    server.expire_access_tokens()
    connector = connect(credentials)
    assert connector.verify().external_id == server.me
    assert methods(server).count("com.atproto.server.refreshSession") == 1
    assert server.create_session_calls == 1
    assert connector.updated_credentials["session"] != credentials["session"]


def test_a_stored_session_with_an_unreadable_access_token_is_refreshed(server, connect):
    credentials = logged_in(connect)
    handle, did, _, refresh, pds = credentials["session"].split(":::")
    connector = connect({**credentials, "session": ":::".join([handle, did, "garbage", refresh, pds])})
    assert connector.verify().external_id == server.me
    assert server.create_session_calls == 1 and connector.updated_credentials


def test_a_token_expiring_mid_sync_is_refreshed_and_the_sync_goes_on(server, connect):
    for n in range(150):
        server.add_post(server.bob, f"hey {n}", mentions=[server.me])
    server.fail_next(400, after=1, path=XRPC + "app.bsky.notification.listNotifications",
                     body={"error": "ExpiredToken", "message": "Token has expired"})
    run = run_sync(connect(logged_in(connect)))
    assert run.error is None and len(run.interactions()) == 150
    assert methods(server).count("com.atproto.server.refreshSession") == 1


def test_a_refused_refresh_without_an_app_password_raises_auth_error(server, connect):
    credentials = logged_in(connect)
    server.expire_access_tokens()
    server.revoke_refresh_tokens()
    mark = len(server.requests)
    with pytest.raises(AuthError) as caught:
        connect({"handle": server.handle, "session": credentials["session"]}).verify()
    assert caught.value.permanent
    assert methods(server, mark) == ["app.bsky.actor.getProfile", "com.atproto.server.refreshSession"]


def test_a_refused_refresh_falls_back_to_the_app_password_once(server, connect):
    credentials = logged_in(connect)
    server.expire_access_tokens()
    server.revoke_refresh_tokens()
    connector = connect(credentials)
    assert connector.verify().external_id == server.me
    assert server.create_session_calls == 2 and connector.updated_credentials


def test_a_wrong_app_password_is_an_auth_error(server, connect):
    with pytest.raises(AuthError):
        connect({"handle": server.handle, "app_password": "wrong-pass-word-here"}).verify()
    assert server.create_session_calls == 1


def test_the_pds_named_in_the_did_document_is_used_when_safe_and_refused_when_not(server, connect):
    server.pds_in_did_doc = server.url
    assert connect().verify().external_id == server.me
    server.pds_in_did_doc = "http://169.254.169.254"
    with pytest.raises(UnsafeURL):
        connect().verify()


# ---------------------------------------------------------------- sync


def test_the_first_sync_backfills_every_stream_across_pages(server, connect):
    post = server.add_post(server.me, "hello")
    likes = [server.add_like(server.add_account(f"fan{n}.test"), post) for n in range(130)]
    bobs = [server.add_post(server.bob, f"post {n}") for n in range(120)]
    alice_likes = [server.add_like(server.me, p) for p in bobs]
    replies = [server.add_post(server.me, f"reply {n}", reply_to=p) for n, p in enumerate(bobs[:110])]

    run = run_sync(connect())

    assert run.error is None
    assert all(len(kinds(run, uri)) == 1 for uri in likes + alice_likes + replies)
    assert {(c.stream) for c in run.checkpoints} == {"notifications", "posts", "likes", "chats"}
    assert [c.stream for c in run.checkpoints].count("notifications") == 2
    assert [c.stream for c in run.checkpoints].count("likes") == 2


def test_the_backfill_stops_at_the_backfill_date(server, connect):
    old = server.add_post(server.bob, "old", mentions=[server.me], at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    new = server.add_post(server.bob, "new", mentions=[server.me], at=dt.datetime(2026, 7, 1, tzinfo=dt.UTC))
    run = run_sync(connect(), since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert kinds(run, new) and not kinds(run, old)


def test_an_incremental_sync_with_nothing_new_makes_one_request_per_stream(server, connect):
    post = server.add_post(server.me, "hello")
    server.add_like(server.bob, post)
    server.add_like(server.me, server.add_post(server.bob, "likeable"))
    server.add_message(server.add_convo(server.bob), server.bob, "hi")
    first = run_sync(connect())
    credentials = logged_in(connect)
    mark = len(server.requests)

    second = run_sync(connect(credentials), first.cursors)

    assert sorted(methods(server, mark)) == sorted(STREAMS)
    assert second.interactions() == set() and second.cursors == first.cursors


def test_an_interrupted_backfill_resumes_where_it_stopped_and_ends_on_the_newest_item(server, connect):
    posts = [server.add_post(server.bob, f"hey {n}", mentions=[server.me]) for n in range(250)]
    server.fail_next(500, after=1, path=XRPC + "app.bsky.notification.listNotifications")
    credentials = logged_in(connect)

    first = run_sync(connect(credentials, retries=0))
    assert first.error is not None and len(first.interactions()) == 100
    assert "top" in json.loads(first.cursors["notifications"])
    later = [server.add_post(server.bob, f"meanwhile {n}", mentions=[server.me]) for n in range(3)]

    second = run_sync(connect(credentials), first.cursors)

    assert second.error is None
    assert first.interactions() | second.interactions() == {(p, server.bob, "mention", "in") for p in posts + later}
    assert not first.interactions() & second.interactions()
    state = json.loads(second.cursors["notifications"])
    assert set(state) == {"head"} and state["head"]["ids"] == [f"{later[-1]}#mention"]


def test_a_429_mid_backfill_waits_for_the_reset_and_yields_the_same_ids(server, connect, clock):
    for n in range(250):
        server.add_post(server.bob, f"hey {n}", mentions=[server.me])
    credentials = logged_in(connect)
    undisturbed = run_sync(connect(credentials))
    mark = len(server.requests)
    server.fail_next(429, after=1, path=XRPC + "app.bsky.notification.listNotifications", reset_in=200)
    started = clock.time()

    disturbed = run_sync(connect(credentials))

    assert disturbed.error is None and disturbed.interactions() == undisturbed.interactions()
    assert clock.time() - started >= 200
    pages = [(s.path, str(sorted(s.query.items()))) for s in server.requests[mark:] if s.status == 200]
    assert len(pages) == len(set(pages))


def test_truncated_json_raises_malformed_response(server, connect):
    server.add_post(server.bob, "hey", mentions=[server.me])
    server.truncate_next(path=XRPC + "app.bsky.notification.listNotifications")
    run = run_sync(connect())
    assert isinstance(run.error, MalformedResponse)


def test_chat_refused_for_the_app_password_is_skipped_and_the_rest_syncs(server, connect):
    server.chat_allowed = False
    mention = server.add_post(server.bob, "hey", mentions=[server.me])
    run = run_sync(connect())
    assert run.error is None and kinds(run, mention)
    assert [s.reason for s in run.of(SkipRecord)] == [CHAT_NOT_ALLOWED]
    assert "com.atproto.server.refreshSession" not in methods(server)
    assert "chats" not in run.cursors


def test_a_pds_without_a_chat_service_is_skipped_too(server, connect):
    server.chat_available = False
    run = run_sync(connect())
    assert run.error is None
    assert [s.reason for s in run.of(SkipRecord)] == ["Bluesky chat is not available on this server"]


@pytest.mark.parametrize("answer, reason", [
    # The reference PDS, when fetching the chat service's DID document fails (a real local network).
    ((500, {"error": "InternalServerError", "message": "Internal Server Error"}), CHAT_UNREACHABLE),
    # ... and when it gets no DID document, or one without a chat endpoint.
    ((400, {"error": "InvalidRequest", "message": "could not resolve proxy did"}),
     "Bluesky chat is not available on this server"),
])
def test_a_pds_whose_chat_proxy_fails_is_skipped_and_the_rest_syncs(server, connect, answer, reason):
    # The sync must not fail (and be retried, forever) for the sake of the DMs.
    server.chat_error = answer
    mention = server.add_post(server.bob, "hey", mentions=[server.me])
    run = run_sync(connect())
    assert run.error is None and kinds(run, mention)
    assert [s.reason for s in run.of(SkipRecord)] == [reason]
    assert "chats" not in run.cursors  # read from where it was, next time


def test_an_account_the_appview_has_not_indexed_yet_still_connects(server, connect):
    # A brand-new account: the AppView answers 400 "Profile not found" for a few moments.
    del server.accounts[server.me]
    me = connect().verify()
    assert me.is_self and me.external_id == server.me and me.handle == "alice.test"


# ---------------------------------------------------------------- classification


def test_a_reply_to_alice_arriving_as_a_mention_is_a_reply(server, connect):
    post = server.add_post(server.me, "thoughts?")
    reply = server.add_post(server.bob, "@alice yes", reply_to=post, mentions=[server.me])
    assert kinds(run_sync(connect()), reply) == {(server.bob, "reply", "in")}


def test_a_reply_deeper_in_alices_thread_is_skipped_not_counted(server, connect):
    post = server.add_post(server.me, "A")
    bobs = server.add_post(server.bob, "B", reply_to=post)
    carols = server.add_post(server.carol, "C", reply_to=bobs)
    run = run_sync(connect())
    assert kinds(run, bobs) == {(server.bob, "reply", "in")}
    assert not kinds(run, carols)
    assert SkipRecord(ANCESTOR_ONLY, carols) in run.of(SkipRecord)


def test_quotes_replies_and_mentions_by_alice_are_outbound(server, connect):
    bobs = server.add_post(server.bob, "quotable")
    quote = server.add_post(server.me, "so true", quote=bobs)
    reply = server.add_post(server.me, "@carol look", reply_to=bobs, mentions=[server.carol])
    run = run_sync(connect())
    assert kinds(run, quote) == {(server.bob, "quote", "out")}
    assert kinds(run, reply) == {(server.bob, "reply", "out"), (server.carol, "mention", "out")}
    assert {r.named_count for r in run.of(InteractionRecord) if r.external_id == reply} == {2}


def test_a_quote_of_alices_post_is_an_inbound_quote(server, connect):
    quoting = server.add_post(server.bob, "look", quote=server.add_post(server.me, "mine"))
    assert kinds(run_sync(connect()), quoting) == {(server.bob, "quote", "in")}


def test_likes_and_reposts_are_keyed_by_their_own_records(server, connect):
    mine = server.add_post(server.me, "like me")
    like = server.add_like(server.bob, mine)
    repost = server.add_repost(server.bob, mine)
    bobs = server.add_post(server.bob, "boost me")
    liked_at = dt.datetime(2026, 7, 20, 8, 30, tzinfo=dt.UTC)
    alice_like = server.add_like(server.me, bobs, at=liked_at)
    alice_repost = server.add_repost(server.me, bobs)
    run = run_sync(connect())
    assert kinds(run, like) == {(server.bob, "like", "in")}
    assert kinds(run, repost) == {(server.bob, "repost", "in")}
    assert kinds(run, alice_repost) == {(server.bob, "repost", "out")}
    outbound = next(r for r in run.of(InteractionRecord) if r.external_id == alice_like)
    assert (outbound.kind, outbound.direction, outbound.occurred_at) == ("like", "out", liked_at)


def test_follows_profiles_and_bot_labels_become_identity_and_follow_records(server, connect):
    server.add_follow(server.carol, server.me)
    server.add_follow(server.me, server.bob)
    server.add_post(server.bob, "hi", mentions=[server.me])
    run = run_sync(connect())
    carol = next(r for r in run.of(IdentityRecord) if r.external_id == server.carol)
    assert carol.is_bot and carol.handle == "carol.test"
    states = {(f.identity_id, f.i_follow, f.follows_me) for f in run.of(FollowRecord) if f.i_follow is not None}
    assert states == {(server.carol, False, True), (server.bob, True, False)}


def test_direct_messages_are_dms_in_both_directions(server, connect):
    convo = server.add_convo(server.bob)
    hello = server.add_message(convo, server.bob, "hi alice")
    answer = server.add_message(convo, server.me, "hi bob")
    run = run_sync(connect())
    assert kinds(run, f"chat:{convo}/{hello['id']}") == {(server.bob, "dm", "in")}
    assert kinds(run, f"chat:{convo}/{answer['id']}") == {(server.bob, "dm", "out")}
    assert all(s.headers.get("atproto-proxy") == "did:web:api.bsky.chat#bsky_chat"
               for s in server.calls(XRPC + "chat.*"))


def test_new_messages_in_an_old_conversation_are_read_incrementally(server, connect):
    convo = server.add_convo(server.bob)
    server.add_message(convo, server.bob, "first")
    first = run_sync(connect())
    later = server.add_message(convo, server.bob, "second")
    second = run_sync(connect(), first.cursors)
    assert second.interactions() == {(f"chat:{convo}/{later['id']}", server.bob, "dm", "in")}


# ---------------------------------------------------------------- follow


def test_following_creates_one_follow_record_and_never_a_second(server, connect):
    connector = connect()
    first = connector.follow(server.bob, "bob.test")
    second = connector.follow(server.bob, "bob.test")
    assert first.state == second.state == "following"
    assert first.record_uri == second.record_uri == server.follows[(server.me, server.bob)]
    assert len(server.calls(XRPC + "com.atproto.repo.createRecord")) == 1


def test_a_second_follow_before_the_appview_indexed_the_first_writes_no_second_record(server, connect):
    # viewer.following lags the PDS: the repository itself shows the follow just written.
    server.appview_lags = True
    first = connect().follow(server.bob, "bob.test")
    second = connect().follow(server.bob, "bob.test")
    assert (first.reason, second.reason) == ("Followed.", "Already following.")
    assert first.record_uri == second.record_uri
    assert len(server.calls(XRPC + "com.atproto.repo.createRecord")) == 1


def test_following_someone_who_blocked_alice_fails(server, connect):
    server.blocks.add((server.bob, server.me))
    assert connect().follow(server.bob, "bob.test").state == "failed"
    assert not server.calls(XRPC + "com.atproto.repo.createRecord")


def test_following_an_unknown_account_fails(server, connect):
    assert connect().follow("did:plc:nobody", None).state == "failed"
