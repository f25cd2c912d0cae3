"""The Bluesky side end to end, against a real local AT Protocol network (PLC, PDS, AppView).

People: alice.test connects her account to Rapport with an app password;
bob.test follows her and replies to, mentions, quotes, likes and reposts
her posts over the last days (without her ever answering: a ``shows_up``
nudge); carol.test replies further down one of alice's threads (a reply
notification that is not addressed to alice) and gets a reply, a quote, a
like and a repost from alice. dave.test gets three likes at the same time.

The story is written once per module over plain XRPC; every test connects a
fresh Rapport user to the same alice account, so a test asserts on the
records it knows of (:class:`Story`), not on counts that other tests' writes
would change. The follow test writes alice's follow of bob: it runs last but
one; the undo test after it deletes that follow again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from relationships.models import FollowAttempt, Identity, Interaction, Job, Nudge, Source
from relationships.platforms.bluesky import connector as bluesky
from relationships.platforms.bluesky.classify import ANCESTOR_ONLY, CHAT_UNREACHABLE
from relationships.services import follow
from relationships.services.intake import connect, jobs, sync
from tests.bluesky_network.network import Account, Pds, Ref
from tests.workers import WorkerProcess, sending_to, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]

FOLLOW = "app.bsky.graph.follow"


@dataclass
class Story:
    alice: Account
    bob: Account
    carol: Account
    app_password: str
    #: alice's posts, by their text.
    posts: dict[str, Ref] = field(default_factory=dict)
    #: (record URI, other DID, kind, direction) of every interaction a sync of alice must find.
    expected: set[tuple[str, str, str, str]] = field(default_factory=set)
    #: URIs of notifications a sync must skip as not addressed to alice.
    not_for_alice: set[str] = field(default_factory=set)

    def expect(self, ref: Ref, other: Account, kind: str, direction: str) -> Ref:
        self.expected.add((ref.uri, other.did, kind, direction))
        return ref


def ago(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


@pytest.fixture(scope="module")
def story(pds: Pds) -> Story:
    alice, bob, carol = (pds.create_account(h) for h in ("alice.test", "bob.test", "carol.test"))
    s = Story(alice, bob, carol, pds.create_app_password(alice, "Rapport"))

    first = s.posts["first"] = pds.post(alice, "first light", created_at=ago(6))
    second = s.posts["second"] = pds.post(alice, "second thoughts", created_at=ago(5))
    third = s.posts["third"] = pds.post(alice, "third time", created_at=ago(5))
    pds.wait_for_posts(alice, [first, second, third])
    pds.follow(bob, alice)
    reply = s.expect(pds.post(bob, "nice one", reply_to=first, created_at=ago(4)), bob, "reply", "in")
    s.expect(pds.post(bob, "look @alice.test", mention=alice, created_at=ago(3)), bob, "mention", "in")
    s.expect(pds.post(bob, "this!", quote=second, created_at=ago(2)), bob, "quote", "in")
    # A reply that also @-mentions alice arrives as a "mention" notification: it is a reply.
    both = pds.post(bob, "@alice.test and more", reply_to=second, mention=alice, created_at=ago(2))
    s.expect(both, bob, "reply", "in")
    s.expect(pds.like(bob, first, created_at=ago(2)), bob, "like", "in")
    s.expect(pds.repost(bob, third, created_at=ago(1)), bob, "repost", "in")
    # carol answers bob in alice's thread: alice gets a "reply" notification, but nobody talked to her.
    pds.wait_for_posts(alice, [reply])
    s.not_for_alice.add(pds.post(carol, "agreed, bob", reply_to=reply, created_at=ago(1)).uri)

    # alice's own side, read from her author feed and her likes.
    carols = pds.post(carol, "carol's news", created_at=ago(3))
    pds.wait_for_posts(alice, [carols])
    s.expect(pds.post(alice, "congrats!", reply_to=carols, created_at=ago(2)), carol, "reply", "out")
    s.expect(pds.post(alice, "read this", quote=carols, created_at=ago(2)), carol, "quote", "out")
    s.expect(pds.like(alice, carols, created_at=ago(2)), carol, "like", "out")
    s.expect(pds.repost(alice, carols, created_at=ago(1)), carol, "repost", "out")

    inbound = {uri for uri, _, _, direction in s.expected if direction == "in"}
    pds.wait_for_notifications(alice, inbound | s.not_for_alice)
    pds.wait_until(lambda: pds.call("app.bsky.feed.getActorLikes", token=alice.access_jwt,
                                    params={"actor": alice.did})["feed"], message="alice's like to be indexed")
    return s


# ---------------------------------------------------------------- helpers


def connect_alice(client, bluesky_network, story: Story) -> Source:
    """Through the real connect form: handle, app password, and the PDS address."""
    response = client.post("/connect/bluesky/", {
        "handle": story.alice.handle, "app_password": story.app_password, "service": bluesky_network.pds_url,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    return Source.objects.get(platform="bluesky", kind=Source.Kind.ACCOUNT)


def sync_here(source: Source) -> Job:
    """Run the queued (or a new) sync job in this process, as a worker would."""
    job, _ = sync.queue_sync(source, send_task=False)
    jobs.execute(job.pk, sync.run_sync)
    job.refresh_from_db()
    return job


def stored(user) -> set[tuple[str, str, str, str]]:
    return set(Interaction.objects.filter(user=user, platform="bluesky")
               .values_list("external_id", "identity__external_id", "kind", "direction"))


def finished(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.is_finished else None


def newest_sync(source: Source) -> Job:
    return Job.objects.filter(source=source, kind="sync").latest("pk")


# ---------------------------------------------------------------- tests


def test_connect_backfill_and_incremental_sync_through_the_services(
    alice, alice_client, bluesky_network, pds, story
):
    source = connect_alice(alice_client, bluesky_network, story)
    assert source.account_external_id == story.alice.did and source.handle == "alice.test"
    assert source.base_url == bluesky_network.pds_url

    job = sync_here(source)

    assert job.state == Job.State.DONE, job.error
    assert story.expected <= stored(alice)
    assert not {key for key in stored(alice) if key[0] in story.not_for_alice}
    assert ANCESTOR_ONLY in job.summary
    # This PDS has no chat service to proxy to: DMs are skipped with a note, the rest syncs.
    assert CHAT_UNREACHABLE in job.summary
    bob = Identity.objects.get(user=alice, platform="bluesky", external_id=story.bob.did)
    assert bob.handle == "bob.test" and bob.follows_me
    carol = Identity.objects.get(user=alice, platform="bluesky", external_id=story.carol.did)
    assert not carol.follows_me and not carol.i_follow
    source.refresh_from_db()
    session = source.get_credentials()["session"]  # kept, encrypted, for the next syncs
    assert set(source.cursors) >= {"notifications", "posts", "likes"}

    # Incremental: a new reply from bob, and only it, is picked up.
    before = stored(alice)
    fresh = pds.post(story.bob, "one more thing", reply_to=story.posts["third"])
    story.expect(fresh, story.bob, "reply", "in")
    pds.wait_for_notifications(story.alice, [fresh])

    again = sync_here(source)

    assert again.state == Job.State.DONE, again.error
    assert stored(alice) - before == {(fresh.uri, story.bob.did, "reply", "in")}
    assert "1 new interaction" in again.summary, again.summary
    # The stored session was reused: no new login (createSession is rate-limited), no refresh.
    source.refresh_from_db()
    assert source.get_credentials()["session"] == session


def test_connect_and_syncs_run_by_a_real_celery_worker_on_redis(
    alice, alice_client, bluesky_network, pds, story, redis_url
):
    worker = WorkerProcess(worker_env(REDIS_URL=redis_url)).start()
    try:
        with sending_to(redis_url, {"visibility_timeout": 3600}):
            # Connecting queues the first sync; the worker runs it.
            source = connect_alice(alice_client, bluesky_network, story)
            first = wait_for(lambda: finished(newest_sync(source).pk), timeout=120,
                             message=f"the backfill\n{worker.log()[-3000:]}")
            assert first.state == Job.State.DONE, first.error
            assert story.expected <= stored(alice)

            fresh = pds.post(story.bob, "and another thing", reply_to=story.posts["first"])
            story.expect(fresh, story.bob, "reply", "in")
            pds.wait_for_notifications(story.alice, [fresh])
            before = stored(alice)
            assert alice_client.post(f"/sources/{source.pk}/sync/").status_code == 302
            second = wait_for(
                lambda: finished(newest_sync(source).pk) if newest_sync(source).pk != first.pk else None,
                timeout=120, message=f"the incremental sync\n{worker.log()[-3000:]}",
            )
    finally:
        worker.stop()

    assert second.state == Job.State.DONE, second.error
    assert stored(alice) - before == {(fresh.uri, story.bob.did, "reply", "in")}
    assert "1 new interaction" in second.summary, second.summary
    assert "relationships.sync_source" in worker.log()


def test_notifications_sharing_a_time_across_a_page_boundary_are_all_read(
    alice, bluesky_network, pds, story, monkeypatch
):
    """The AppView's notification cursor is a bare time, and the next page starts strictly below it."""
    dave = pds.create_account("dave.test")
    post = pds.post(dave, "a post to like")
    pds.wait_for_posts(dave, [post])
    tied = ago(0.5)
    likes = {pds.like(who, post, created_at=tied).uri for who in (story.alice, story.bob, story.carol)}
    newest = pds.follow(story.carol, dave)
    pds.wait_for_notifications(dave, likes | {newest.uri})
    # Read plainly in pages of three, [follow, like, like] and then nothing: a like is lost.
    first = pds.call("app.bsky.notification.listNotifications", token=dave.access_jwt, params={"limit": 3})
    rest = pds.call("app.bsky.notification.listNotifications", token=dave.access_jwt,
                    params={"limit": 3, "cursor": first["cursor"]})
    assert len(first["notifications"]) == 3 and rest["notifications"] == []
    monkeypatch.setattr(bluesky, "_PAGE", 3)
    source = connect.connect_bluesky(alice, "dave.test", pds.create_app_password(dave), bluesky_network.pds_url)

    job = sync_here(source)

    assert job.state == Job.State.DONE, job.error
    assert {uri for uri, _, kind, _ in stored(alice) if kind == "like"} == likes
    assert "3 new interactions" in job.summary, job.summary


def follows_of(pds: Pds, actor: Account, subject: Account) -> list[dict]:
    return [r for r in pds.list_records(actor.did, FOLLOW) if r["value"].get("subject") == subject.did]


# Last: it writes alice's follow of bob, which the tests above must not see.
def test_follow_from_a_nudge_writes_one_follow_record_in_alices_repository(
    alice, alice_client, bluesky_network, pds, story
):
    source = connect.connect_bluesky(alice, "alice.test", story.app_password, bluesky_network.pds_url)
    assert sync_here(source).state == Job.State.DONE
    # bob replied, mentioned, quoted and reposted on four days, alice never answered nor followed.
    nudge = Nudge.objects.get(user=alice, person__identities__external_id=story.bob.did)
    assert nudge.kind == Nudge.Kind.SHOWS_UP and nudge.state == Nudge.State.OPEN
    assert follows_of(pds, story.alice, story.bob) == []

    response = alice_client.post(f"/nudges/{nudge.pk}/follow/")

    assert response.status_code == 200 and f'action="/nudges/{nudge.pk}/undo/"' in response.content.decode()
    records = follows_of(pds, story.alice, story.bob)
    assert len(records) == 1
    attempt = FollowAttempt.objects.get(user=alice, nudge=nudge)
    assert attempt.state == FollowAttempt.State.FOLLOWING and attempt.record_uri == records[0]["uri"]
    assert attempt.evidence  # "why I followed": the interactions that led to it
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.ACTED and nudge.outcome == "following"
    bob = Identity.objects.get(user=alice, platform="bluesky", external_id=story.bob.did)
    assert bob.i_follow

    # A second click on the nudge never reaches Bluesky...
    alice_client.post(f"/nudges/{nudge.pk}/follow/")
    assert FollowAttempt.objects.filter(user=alice).count() == 1
    # ...and following bob again right away (from his page: no nudge), before the AppView has
    # indexed the follow, finds it in the repository: no second record, and the first is kept
    # (this PDS would replace it with a new one, under a new URI).
    again = follow.follow_person(bob.person, alice)
    assert again.state == "following" and again.reason == "Already following."
    # Once indexed, viewer.following answers the same.
    pds.wait_until(lambda: pds.call("app.bsky.actor.getProfile", token=story.alice.access_jwt,
                                    params={"actor": story.bob.did})["viewer"].get("following"),
                   message="the AppView to index alice's follow")
    third = follow.follow_person(bob.person, alice)

    assert third.state == "following" and third.reason == "Already following."
    assert [r["uri"] for r in follows_of(pds, story.alice, story.bob)] == [attempt.record_uri]


def appview_says_alice_follows_bob(pds: Pds, story: Story) -> bool:
    return bool(pds.call("app.bsky.actor.getProfile", token=story.alice.access_jwt,
                         params={"actor": story.bob.did})["viewer"].get("following"))


# Last: it undoes the follow the test above wrote.
def test_undo_of_a_follow_deletes_the_follow_record_from_alices_repository(
    alice, alice_client, bluesky_network, pds, story
):
    # Left by the test above: alice follows bob. Rapport did not make that follow for this user and
    # keeps no URI of it: unfollow finds the record in the repository, by its subject.
    assert len(follows_of(pds, story.alice, story.bob)) == 1
    source = connect.connect_bluesky(alice, "alice.test", story.app_password, bluesky_network.pds_url)
    connector = connect.connector_for("bluesky", bluesky_network.pds_url, source.get_credentials())
    connector.unfollow(story.bob.did, "bob.test")
    assert follows_of(pds, story.alice, story.bob) == []
    pds.wait_until(lambda: not appview_says_alice_follows_bob(pds, story), message="the AppView to index the unfollow")
    assert sync_here(source).state == Job.State.DONE
    nudge = Nudge.objects.get(user=alice, person__identities__external_id=story.bob.did)
    assert nudge.state == Nudge.State.OPEN

    alice_client.post(f"/nudges/{nudge.pk}/follow/")
    records = follows_of(pds, story.alice, story.bob)
    assert len(records) == 1
    attempt = FollowAttempt.objects.get(user=alice, nudge=nudge)
    assert attempt.record_uri == records[0]["uri"] and attempt.source == source

    card = alice_client.post(f"/nudges/{nudge.pk}/undo/", HTTP_HX_REQUEST="true").content.decode()

    assert "Undone: Unfollowed on Bluesky." in card and "data-nudge-open" in card
    assert follows_of(pds, story.alice, story.bob) == []
    attempt.refresh_from_db()
    nudge.refresh_from_db()
    bob = Identity.objects.get(user=alice, platform="bluesky", external_id=story.bob.did)
    assert attempt.state == FollowAttempt.State.UNDONE and bob.i_follow is False
    assert (nudge.state, nudge.outcome, nudge.evidence) == (Nudge.State.OPEN, "", [])
    # Unfollowing again is a success: nothing is left to delete.
    connector.unfollow(story.bob.did, "bob.test", attempt.record_uri)

    # Follow again at once: even while the AppView still names the deleted record, a new one is written.
    alice_client.post(f"/nudges/{nudge.pk}/follow/")
    again = follows_of(pds, story.alice, story.bob)
    assert len(again) == 1 and again[0]["uri"] != attempt.record_uri
