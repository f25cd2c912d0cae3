"""The sync service against the fake Mastodon and Bluesky servers: backfill, incremental, errors, one at a time."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from relationships.crypto import decrypt_json
from relationships.models import Interaction, Job, Source
from relationships.platforms.bluesky.classify import CHAT_NOT_ALLOWED
from relationships.services.intake import connect, jobs, sync
from tests.sync.helpers import interaction_keys, rerun, run_sync, talks

pytestmark = [pytest.mark.django_db, pytest.mark.services, pytest.mark.postgres_only]

NOTIFICATIONS = "/api/v1/notifications"
MASTODON_STREAMS = ["/api/v1/notifications", "/api/v1/favourites", "/api/v1/conversations"]


def paths(server, since: int = 0) -> list[str]:
    return [s.path for s in server.requests[since:]]


# ---------------------------------------------------------------- backfill and incremental


def test_the_first_sync_backfills_and_the_next_makes_at_most_one_request_per_stream(
    alice, fake_mastodon, ana, mastodon_source
):
    talks(fake_mastodon, fake_mastodon.me, ana, days=3)

    job = run_sync(mastodon_source)

    assert job.state == Job.State.DONE, job.error
    assert Interaction.objects.filter(user=alice).count() == 6
    assert "6 new interactions (1 person)" in job.summary
    mastodon_source.refresh_from_db()
    assert set(mastodon_source.cursors) == {"statuses", "notifications", "favourites", "conversations"}
    assert mastodon_source.last_synced_at is not None and mastodon_source.sync_claimed_until is None

    mark = len(fake_mastodon.requests)
    again = run_sync(mastodon_source)

    assert again.state == Job.State.DONE and "0 new interactions" in again.summary
    statuses = f"/api/v1/accounts/{fake_mastodon.me['id']}/statuses"
    seen = paths(fake_mastodon, mark)
    assert sorted(seen) == sorted(["/api/v1/accounts/verify_credentials", statuses, *MASTODON_STREAMS])


def test_an_incremental_sync_stores_only_what_is_new(alice, fake_mastodon, ana, mastodon_source):
    talks(fake_mastodon, fake_mastodon.me, ana, days=2)
    run_sync(mastodon_source)
    fresh = fake_mastodon.add_status(ana, "one more", mentions=[fake_mastodon.me])

    job = run_sync(mastodon_source)

    assert "1 new interaction (1 person)" in job.summary
    assert Interaction.objects.filter(user=alice, external_id=fresh["uri"]).exists()
    assert Interaction.objects.filter(user=alice).count() == 5


def test_a_bluesky_account_syncs_against_the_fake_pds_and_reuses_its_session(
    alice, fake_bluesky, ben, bluesky_source
):
    posts = [fake_bluesky.add_post(ben, f"hey alice {n}", mentions=[fake_bluesky.me]) for n in range(3)]
    mine = fake_bluesky.add_post(fake_bluesky.me, "hey ben", mentions=[ben])

    job = run_sync(bluesky_source)

    assert job.state == Job.State.DONE, job.error
    stored = set(Interaction.objects.filter(user=alice).values_list("external_id", "direction"))
    assert stored == {*((p, "in") for p in posts), (mine, "out")}
    mark = len(fake_bluesky.requests)

    again = run_sync(bluesky_source)

    assert again.state == Job.State.DONE
    seen = [p.removeprefix("/xrpc/") for p in paths(fake_bluesky, mark)]
    streams = ["app.bsky.notification.listNotifications", "app.bsky.feed.getAuthorFeed",
               "app.bsky.feed.getActorLikes", "chat.bsky.convo.listConvos"]
    assert all(seen.count(method) <= 1 for method in streams), seen
    assert fake_bluesky.create_session_calls == 1  # connecting logged in once; syncs reuse the session


def test_a_reply_deep_in_alices_thread_is_skipped_and_counted_in_the_summary(alice, fake_bluesky, ben, bluesky_source):
    carol = fake_bluesky.add_account("carol.test")
    root = fake_bluesky.add_post(fake_bluesky.me, "a thread")
    middle = fake_bluesky.add_post(ben, "a reply", reply_to=root)
    fake_bluesky.add_post(carol, "replying to ben, not alice", reply_to=middle)

    job = run_sync(bluesky_source)

    assert job.state == Job.State.DONE
    assert "reply further down a thread you started, not to you (1)" in job.summary


def test_bluesky_chat_refused_for_the_app_password_becomes_a_note_on_the_source(
    alice, alice_client, fake_bluesky, ben, bluesky_source
):
    fake_bluesky.chat_allowed = False
    fake_bluesky.add_post(ben, "hi", mentions=[fake_bluesky.me])

    job = run_sync(bluesky_source)

    assert job.state == Job.State.DONE, job.error
    bluesky_source.refresh_from_db()
    assert bluesky_source.notices and "not allowed for this app password" in bluesky_source.notices[0]
    assert CHAT_NOT_ALLOWED in job.summary
    page = alice_client.get("/sources/").content.decode()
    assert "Bluesky chat is not allowed for this app password" in page

    fake_bluesky.chat_allowed = True
    run_sync(bluesky_source)
    bluesky_source.refresh_from_db()
    assert bluesky_source.notices == []


# ---------------------------------------------------------------- rate limits


def test_a_429_mid_backfill_retries_the_job_later_and_ends_with_the_same_interactions_as_an_undisturbed_run(
    alice, django_user_model, fake_mastodon, ana, clock, mastodon_source
):
    for n in range(200):
        fake_mastodon.add_status(ana, f"hi {n}", mentions=[fake_mastodon.me])
    carol = django_user_model.objects.create_user("carol")
    undisturbed = run_sync(connect.connect_mastodon_token(carol, fake_mastodon.url, fake_mastodon.token))
    assert undisturbed.state == Job.State.DONE
    fake_mastodon.fail_next(429, after=1, path=NOTIFICATIONS, reset_in=3600)

    first = run_sync(mastodon_source)

    assert first.state == Job.State.QUEUED and "rate limit" in first.error
    mastodon_source.refresh_from_db()
    assert '"next"' in mastodon_source.cursors["notifications"]  # where the retry resumes
    assert mastodon_source.sync_claimed_until is None
    kept = Interaction.objects.filter(user=alice).count()
    assert 0 < kept < 200
    clock.advance(3600)
    mark = len(fake_mastodon.requests)

    second = rerun(first)

    assert second.state == Job.State.DONE, second.error
    assert second.attempts == 1  # waiting for a rate limit used up no attempt
    assert interaction_keys(alice) == interaction_keys(carol)
    resumed = [s for s in fake_mastodon.requests[mark:] if s.path == NOTIFICATIONS]
    assert "max_id" in resumed[0].query  # continued from the cursor, not from the top


def test_a_short_rate_limit_is_waited_for_in_process(alice, fake_mastodon, ana, clock, mastodon_source):
    for n in range(100):
        fake_mastodon.add_status(ana, f"hi {n}", mentions=[fake_mastodon.me])
    fake_mastodon.fail_next(429, after=1, path=NOTIFICATIONS, reset_in=10)

    job = run_sync(mastodon_source)

    assert job.state == Job.State.DONE and job.attempts == 1
    assert Interaction.objects.filter(user=alice).count() == 100
    assert sum(clock.sleeps) >= 10


# ---------------------------------------------------------------- credentials refused


def test_revoked_credentials_make_the_source_need_reauth_without_retry_and_at_most_one_call_after_the_401(
    alice, fake_mastodon, ana, mastodon_source
):
    for n in range(100):
        fake_mastodon.add_status(ana, f"hi {n}", mentions=[fake_mastodon.me])
    fake_mastodon.fail_next(401, after=1, path=NOTIFICATIONS, body={"error": "The access token was revoked"})

    job = run_sync(mastodon_source)

    assert job.state == Job.State.FAILED and "reconnect" in job.error
    mastodon_source.refresh_from_db()
    assert mastodon_source.state == Source.State.NEEDS_REAUTH and "reconnect" in mastodon_source.state_reason
    refused = next(i for i, s in enumerate(fake_mastodon.requests) if s.status == 401)
    assert len(fake_mastodon.requests) - refused - 1 <= 1
    assert mastodon_source not in sync.due_sources()
    mark = len(fake_mastodon.requests)

    again = run_sync(mastodon_source)

    assert again.state == Job.State.FAILED and "needs reconnecting" in again.error
    assert len(fake_mastodon.requests) == mark  # no call at all until reconnected


def test_credentials_that_cannot_be_decrypted_make_the_source_need_reauth(alice, fake_mastodon, mastodon_source):
    Source.objects.filter(pk=mastodon_source.pk).update(credentials_ciphertext=b"not a fernet token")
    mark = len(fake_mastodon.requests)

    job = run_sync(mastodon_source)

    mastodon_source.refresh_from_db()
    assert job.state == Job.State.FAILED and mastodon_source.state == Source.State.NEEDS_REAUTH
    assert len(fake_mastodon.requests) == mark


def test_a_bluesky_session_that_cannot_be_refreshed_nor_recreated_needs_reauth(alice, fake_bluesky, bluesky_source):
    fake_bluesky.expire_access_tokens()
    fake_bluesky.revoke_refresh_tokens()
    fake_bluesky.app_password = "new0-new0-new0-new0"  # alice revoked the app password Rapport had

    job = run_sync(bluesky_source)

    bluesky_source.refresh_from_db()
    assert job.state == Job.State.FAILED and bluesky_source.state == Source.State.NEEDS_REAUTH


def test_an_expired_bluesky_access_token_is_refreshed_not_a_reason_to_reconnect(alice, fake_bluesky, bluesky_source):
    fake_bluesky.expire_access_tokens()

    job = run_sync(bluesky_source)

    bluesky_source.refresh_from_db()
    assert job.state == Job.State.DONE and bluesky_source.state == Source.State.ACTIVE
    assert fake_bluesky.create_session_calls == 1


def test_a_refreshed_bluesky_session_is_stored_even_when_the_sync_then_fails(alice, fake_bluesky, ben, bluesky_source):
    fake_bluesky.add_post(ben, "hi", mentions=[fake_bluesky.me])
    before = decrypt_json(bytes(Source.objects.get(pk=bluesky_source.pk).credentials_ciphertext))["session"]
    fake_bluesky.expire_access_tokens()
    fake_bluesky.truncate_next(path="/xrpc/app.bsky.notification.listNotifications")

    failed = run_sync(bluesky_source)

    assert failed.state == Job.State.FAILED
    after = decrypt_json(bytes(Source.objects.get(pk=bluesky_source.pk).credentials_ciphertext))["session"]
    assert after != before  # the rotated refresh token was kept: the old one no longer works

    job = run_sync(bluesky_source)

    assert job.state == Job.State.DONE, job.error
    assert fake_bluesky.create_session_calls == 1  # never had to log in with the app password again


# ---------------------------------------------------------------- server errors


def test_503s_retry_the_job_with_backoff_and_a_later_attempt_finishes(alice, fake_mastodon, ana, mastodon_source):
    talks(fake_mastodon, fake_mastodon.me, ana, days=2)
    fake_mastodon.fail_next(503, times=4, path=NOTIFICATIONS)  # the first call and its 3 in-session retries
    job, _ = sync.queue_sync(mastodon_source, send_task=False)

    outcome = jobs.execute(job.pk, sync.run_sync)

    job.refresh_from_db()
    assert outcome.state == "retry" and outcome.retry_in > 0
    assert job.state == Job.State.QUEUED and "could not be reached" in job.error
    assert rerun(job).state == Job.State.DONE
    assert Interaction.objects.filter(user=alice).count() == 4


def test_a_server_that_keeps_failing_fails_the_job_after_the_last_attempt(
    alice, fake_mastodon, ana, mastodon_source, settings
):
    fake_mastodon.fail_next(503, times=1000, path=NOTIFICATIONS)
    job = run_sync(mastodon_source)
    for _ in range(settings.RAPPORT_JOB_MAX_ATTEMPTS - 1):
        job = rerun(job)

    assert job.state == Job.State.FAILED and job.error.startswith("Gave up after")
    mastodon_source.refresh_from_db()
    assert mastodon_source.state == Source.State.ACTIVE  # the next sweep tries again


def test_malformed_json_fails_the_job_with_a_clear_error_and_keeps_the_batches_before_it(
    alice, fake_mastodon, ana, mastodon_source
):
    mine = [fake_mastodon.add_status(fake_mastodon.me, f"hi ana {n}", mentions=[ana]) for n in range(5)]
    fake_mastodon.add_status(ana, "hi alice", mentions=[fake_mastodon.me])
    fake_mastodon.truncate_next(path=NOTIFICATIONS)

    job = run_sync(mastodon_source)

    assert job.state == Job.State.FAILED
    assert "unreadable" in job.error and "was kept" in job.error
    kept = set(Interaction.objects.filter(user=alice).values_list("external_id", flat=True))
    assert kept == {s["uri"] for s in mine}
    mastodon_source.refresh_from_db()
    assert "statuses" in mastodon_source.cursors and mastodon_source.state == Source.State.ACTIVE


# ---------------------------------------------------------------- one at a time


def test_a_sync_of_a_source_claimed_by_another_sync_does_nothing(alice, fake_mastodon, mastodon_source):
    assert sync.claim(mastodon_source.pk) is not None
    mark = len(fake_mastodon.requests)

    job = run_sync(mastodon_source)

    assert job.state == Job.State.DONE and "already running" in job.summary
    assert len(fake_mastodon.requests) == mark


def test_an_expired_claim_can_be_taken_over(alice, mastodon_source):
    Source.objects.filter(pk=mastodon_source.pk).update(sync_claimed_until=timezone.now() - dt.timedelta(seconds=1))
    assert sync.claim(mastodon_source.pk) is not None
    assert sync.claim(mastodon_source.pk) is None


@pytest.mark.django_db(transaction=True)
def test_two_syncs_of_one_source_at_once_run_once(alice, fake_mastodon, ana, mastodon_source):
    talks(fake_mastodon, fake_mastodon.me, ana, days=2)
    fake_mastodon.delay = 0.2  # long enough for the two to overlap
    # Two jobs, as a worker and `manage.py sync` would each hold one.
    pair = [Job.objects.create(user=alice, source=mastodon_source, kind="sync", task_name=sync.TASK_NAME) for _ in range(2)]
    start = threading.Barrier(2)
    mark = len(fake_mastodon.requests)

    def work(job):
        try:
            start.wait()
            jobs.execute(job.pk, sync.run_sync)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(job,)) for job in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    summaries = sorted(Job.objects.get(pk=job.pk).summary for job in pair)
    assert sum("already running" in s for s in summaries) == 1, summaries
    assert paths(fake_mastodon, mark).count("/api/v1/accounts/verify_credentials") == 1
    assert Interaction.objects.filter(user=alice).count() == 4
