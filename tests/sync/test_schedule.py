"""When syncs happen: the beat sweep, "Sync now", and `manage.py sync` in the foreground."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from relationships.models import Job, Source
from relationships.services.intake import sync
from relationships.tasks import sync_due_sources
from tests.sync.helpers import talks

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def account(make_source):
    """A connected account as the sweep sees it (credentials present; no server needed to queue)."""

    def make(user, **fields):
        fields = {"platform": "mastodon", "kind": Source.Kind.ACCOUNT, "base_url": "https://m.example", **fields}
        source = make_source(user, **fields)
        source.set_credentials({"access_token": "secret-token"})
        source.save()
        return source

    return make


# ---------------------------------------------------------------- the beat sweep


@pytest.mark.django_db(transaction=True)
def test_the_sweep_queues_one_sync_for_each_due_account_and_nothing_else(alice, bob, account, make_source, sent_tasks):
    never = account(alice)
    stale = account(bob, platform="bluesky", last_synced_at=timezone.now() - dt.timedelta(hours=2))
    account(alice, last_synced_at=timezone.now())  # synced a moment ago
    account(alice, state=Source.State.NEEDS_REAUTH)
    account(alice, state=Source.State.DISABLED)
    make_source(alice, platform="mastodon")  # an archive
    account(alice, platform="x")  # no live connector
    make_source(alice, platform="mastodon", kind=Source.Kind.ACCOUNT)  # no credentials

    summary = sync_due_sources()

    assert summary == {"queued": 2, "already_queued": 0, "failed": 0}
    queued = Job.objects.filter(kind="sync")
    assert {job.source_id for job in queued} == {never.pk, stale.pk}
    assert sorted(name for name, _ in sent_tasks) == ["relationships.sync_source"] * 2
    assert all(kwargs == {"job_id": job.pk} for (_, kwargs), job in zip(sent_tasks, queued.order_by("pk")))


@pytest.mark.django_db(transaction=True)
def test_two_beat_firings_queue_one_sync(alice, account, sent_tasks):
    account(alice)
    assert sync_due_sources()["queued"] == 1
    assert sync_due_sources() == {"queued": 0, "already_queued": 0, "failed": 0}
    assert Job.objects.filter(kind="sync").count() == 1 and len(sent_tasks) == 1


def test_one_source_that_cannot_be_queued_never_stops_the_others(alice, account, monkeypatch, sent_tasks):
    broken, fine = account(alice), account(alice)
    real = sync.queue_sync

    def queue(source, **kw):
        if source.pk == broken.pk:
            raise RuntimeError("boom")
        return real(source, **kw)

    monkeypatch.setattr(sync, "queue_sync", queue)

    assert sync.sync_due_sources() == {"queued": 1, "already_queued": 0, "failed": 1}
    assert Job.objects.get(kind="sync").source_id == fine.pk


def test_a_source_claimed_by_a_running_sync_is_not_due(alice, account):
    source = account(alice)
    sync.claim(source.pk)
    assert source not in sync.due_sources()
    Source.objects.filter(pk=source.pk).update(sync_claimed_until=timezone.now() - dt.timedelta(seconds=1))
    assert source in sync.due_sources()


# ---------------------------------------------------------------- Sync now


def test_sync_now_queues_one_sync_however_often_alice_clicks(alice, alice_client, account):
    source = account(alice)

    first = alice_client.post(f"/sources/{source.pk}/sync/")
    second = alice_client.post(f"/sources/{source.pk}/sync/", HTTP_HX_REQUEST="true")

    assert first.status_code == 302 and first["Location"] == "/sources/"
    job = Job.objects.get(kind="sync", source=source)
    assert second.status_code == 200 and f'id="job-{job.pk}"' in second.content.decode()
    assert job.task_kwargs == {"job_id": job.pk}


def test_sync_now_is_404_for_bob_and_needs_a_login(alice, bob, client, account):
    source = account(alice)
    anonymous = client.post(f"/sources/{source.pk}/sync/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    client.force_login(bob)
    assert client.post(f"/sources/{source.pk}/sync/").status_code == 404
    assert client.post(f"/sources/{source.pk}/sync/", HTTP_HX_REQUEST="true").status_code == 404
    assert not Job.objects.exists()


def test_sync_now_takes_only_posts(alice_client, alice, account):
    assert alice_client.get(f"/sources/{account(alice).pk}/sync/").status_code == 405


def test_a_source_that_needs_reconnecting_shows_why_and_a_reconnect_button_instead_of_syncing(alice, alice_client, account):
    source = account(alice, state=Source.State.NEEDS_REAUTH, state_reason="Mastodon no longer accepts Rapport's access.")

    refused = alice_client.post(f"/sources/{source.pk}/sync/", HTTP_HX_REQUEST="true")
    page = alice_client.get("/sources/").content.decode()

    assert "needs reconnecting" in refused.content.decode() and not Job.objects.exists()
    assert "no longer accepts" in page and f"/connect/mastodon/?source={source.pk}" in page
    assert "Connect Mastodon" in page and "Connect Bluesky" in page


# ---------------------------------------------------------------- manage.py sync


@pytest.mark.services
@pytest.mark.postgres_only
def test_the_sync_command_syncs_in_the_foreground_and_prints_a_summary(alice, fake_mastodon, ana, mastodon_source):
    talks(fake_mastodon, fake_mastodon.me, ana, days=5)
    out, err = io.StringIO(), io.StringIO()

    call_command("sync", user="alice", stdout=out, stderr=err)

    assert "10 new interactions (1 person)" in out.getvalue() and "1 new nudge" in out.getvalue()
    assert "notifications:" in err.getvalue()  # progress
    assert Job.objects.get(kind="sync").state == Job.State.DONE


@pytest.mark.services
@pytest.mark.postgres_only
def test_the_sync_command_exits_non_zero_with_the_reason(alice, bob, fake_mastodon, mastodon_source):
    fake_mastodon.revoke()
    with pytest.raises(CommandError, match="reconnect"):
        call_command("sync", user="alice", source=mastodon_source.pk, stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="no connected account with id"):
        call_command("sync", user="bob", source=mastodon_source.pk)
    with pytest.raises(CommandError, match="no connected account to sync"):
        call_command("sync", user="alice")  # the only account now needs reconnecting


@pytest.mark.services
@pytest.mark.postgres_only
def test_the_sync_command_reports_a_rate_limit_and_leaves_no_job_running(alice, fake_mastodon, ana, mastodon_source):
    for n in range(100):
        fake_mastodon.add_status(ana, f"hi {n}", mentions=[fake_mastodon.me])
    fake_mastodon.fail_next(429, after=1, path="/api/v1/notifications", reset_in=3600)
    with pytest.raises(CommandError, match="rate limit"):
        call_command("sync", user="alice", stdout=io.StringIO(), stderr=io.StringIO())
    assert not Job.objects.running().exists()
