"""Removing a source removes exactly the interactions no other source of the user saw.

alice's data reaches Rapport through overlapping sources: the same archive
read twice, an archive and a live sync of the same account, an older and a
newer archive. Removing one of them must leave everything another one saw.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from relationships.models import Interaction, InteractionSource, Job, Source
from relationships.platforms.archives import open_archive
from relationships.services.intake import imports, jobs, sources
from relationships.services.intake.imports import create_source
from relationships.services.intake.ingest import ingest
from tests.builders import mastodon as mb
from tests.builders import x as xb
from tests.sync.helpers import run_sync, talks

pytestmark = pytest.mark.django_db

ANA = xb.XUser("1001", "ana", "Ana")
BEN = xb.XUser("1002", "ben", "Ben")


def x_archive(path, n):
    """alice's X archive: ``n`` tweets, alternately replies to and mentions of Ana and Ben."""
    tweets = []
    for i in range(n):
        who = [ANA, BEN][i % 2]
        at = xb.BASE_TIME + dt.timedelta(hours=i)
        if i % 2:
            tweets.append(xb.reply(f"17{i:05d}", to=who, at=at))
        else:
            tweets.append(xb.tweet(f"17{i:05d}", text=f"hello @{who.screen}", mentions=[who], at=at))
    return xb.build_x_archive(path, tweets=tweets, likes=3)


def read_into(user, path, source=None) -> Source:
    """The archive read into ``source`` (a new archive source by default), as the worker's ingest does."""
    with open_archive(path) as importer:
        source = source or create_source(user, path, importer.kind, filename=path.name)
        ingest(user, source, importer)
    return source


def keys(user) -> set[tuple]:
    return set(Interaction.objects.filter(user=user).values_list("external_id", "identity__external_id", "kind", "direction"))


def run_import(user, path) -> Job:
    """An import through the path an upload takes: a new source and a job, run as the worker runs it."""
    source = imports.create_source(user, path, imports.detect(path), filename=path.name)
    job = imports.queue_import(user, source, send_task=False)
    jobs.execute(job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
    job.refresh_from_db()
    assert job.state == Job.State.DONE, job.error
    return job


def test_two_x_archives_overlapping_in_part_are_one_source_and_removing_it_removes_what_only_they_saw(
    alice, tmp_path
):
    # Tweets 0-29 in the old archive, 10-49 in the new one: 20 shared.
    old = xb.build_x_archive(tmp_path / "old.zip", tweets=_tweets(range(0, 30)))
    new = xb.build_x_archive(tmp_path / "new.zip", tweets=_tweets(range(10, 50)))
    run_import(alice, old)
    run_import(alice, new)
    assert len(keys(alice)) == 50
    (source,) = Source.objects.filter(user=alice)
    assert sorted(source.files.values_list("name", flat=True)) == ["new.zip", "old.zip"]

    removal = sources.preview_removal(source)
    assert (removal.only_here, removal.also_elsewhere) == (50, 0)
    sources.remove_source(source)
    assert keys(alice) == set()


def _tweets(numbers):
    return [
        xb.reply(f"17{i:05d}", to=[ANA, BEN][i % 2], at=xb.BASE_TIME + dt.timedelta(hours=i)) for i in numbers
    ]


def mastodon_archive_of(server, path, statuses) -> object:
    """alice's Mastodon archive holding her own posts among ``statuses``, as her server exports them."""
    me = server.me
    posts = []
    for status in statuses:
        if status["account"]["id"] != me["id"]:
            continue
        mentioned = [mb.Account(server.accounts[m["id"]]["uri"], "@" + m["acct"]) for m in status["mentions"]]
        at = dt.datetime.fromisoformat(status["created_at"].replace("Z", "+00:00"))
        posts.append(mb.note(status["id"], "hi", mentions=mentioned, at=at, actor=me["uri"]))
    actor = mb.actor_document(me["uri"], username=me["username"], name="Alice")
    return mb.build_mastodon_archive(path, posts=posts, actor=actor)


def test_the_same_archive_imported_twice_is_one_source_and_removing_it_keeps_what_the_sync_also_saw(
    alice, fake_mastodon, ana, mastodon_source, tmp_path
):
    statuses = talks(fake_mastodon, fake_mastodon.me, ana, days=10)
    assert run_sync(mastodon_source).state == Job.State.DONE
    synced = keys(alice)
    path = mastodon_archive_of(fake_mastodon, tmp_path / "archive.zip", statuses)
    run_import(alice, path)
    run_import(alice, path)
    assert keys(alice) == synced
    (archive,) = Source.objects.filter(user=alice, kind=Source.Kind.ARCHIVE)
    assert archive.files.count() == 2 and archive.jobs.filter(kind="import").count() == 2

    removal = sources.preview_removal(archive)
    assert (removal.only_here, removal.also_elsewhere) == (0, 10)
    sources.remove_source(archive)
    assert keys(alice) == synced
    assert InteractionSource.objects.filter(source=mastodon_source).count() == 20


def test_removing_an_archive_keeps_what_the_live_sync_of_the_same_account_also_saw(
    alice, fake_mastodon, ana, mastodon_source, tmp_path
):
    # Ten days of talks with Ana: her mentions reach alice by the sync only,
    # alice's own posts are in the sync and in her archive.
    statuses = talks(fake_mastodon, fake_mastodon.me, ana, days=10)
    job = run_sync(mastodon_source)
    assert job.state == Job.State.DONE, job.error
    synced = keys(alice)
    archive = read_into(alice, mastodon_archive_of(fake_mastodon, tmp_path / "archive.zip", statuses))
    assert keys(alice) == synced, "the archive and the sync must agree on alice's own posts"
    assert archive.account_external_id == mastodon_source.account_external_id
    shared = InteractionSource.objects.filter(source=archive).count()
    assert shared == 10

    removal = sources.preview_removal(archive)
    assert (removal.only_here, removal.also_elsewhere) == (0, 10)
    sources.remove_source(archive)
    assert keys(alice) == synced

    # Removing the connected account then removes only what it alone saw.
    removal = sources.preview_removal(mastodon_source)
    assert (removal.only_here, removal.also_elsewhere) == (20, 0)
    sources.remove_source(mastodon_source)
    assert keys(alice) == set()


# --- The confirmation page -----------------------------------------------------------------------


def test_remove_asks_for_confirmation_saying_what_goes_and_what_stays(
    alice_client, alice, fake_mastodon, ana, mastodon_source, tmp_path
):
    statuses = talks(fake_mastodon, fake_mastodon.me, ana, days=12)
    assert run_sync(mastodon_source).state == Job.State.DONE
    # The archive also holds four posts the sync never saw (older than its backfill, say).
    extra = [fake_mastodon.add_status(fake_mastodon.me, f"old {n}", mentions=[ana], notify=False) for n in range(4)]
    archive = read_into(alice, mastodon_archive_of(fake_mastodon, tmp_path / "a.zip", statuses + extra))
    assert Interaction.objects.filter(user=alice).count() == 28

    page = alice_client.get(reverse("source_remove", args=[mastodon_source.pk]))
    assert page.status_code == 200
    assert "12 interactions only this source saw; 12 also seen by other sources stay." in page.content.decode()
    page = alice_client.get(reverse("source_remove", args=[archive.pk]))
    assert "4 interactions only this source saw; 12 also seen by other sources stay." in page.content.decode()
    assert Source.objects.filter(pk=archive.pk).exists(), "showing the question removes nothing"

    # A POST that did not come from the confirmation (no confirm field) only asks again.
    response = alice_client.post(reverse("source_remove", args=[archive.pk]))
    assert response.status_code == 400
    assert Source.objects.filter(pk=archive.pk).exists()

    response = alice_client.post(reverse("source_remove", args=[archive.pk]), {"confirm": "True"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("sources")
    assert "the 4 interactions only it had seen; 12 also seen by other sources stay" in response.content.decode()
    assert not Source.objects.filter(pk=archive.pk).exists()
    assert Interaction.objects.filter(user=alice).count() == 24
    assert "24 interactions" in alice_client.get(reverse("sources")).content.decode()


def test_another_user_cannot_see_or_remove_my_source(alice, bob, client, tmp_path):
    source = read_into(alice, x_archive(tmp_path / "x.zip", n=4))
    client.force_login(bob)
    assert client.get(reverse("source_remove", args=[source.pk])).status_code == 404
    assert client.post(reverse("source_remove", args=[source.pk]), {"confirm": "True"}).status_code == 404
    assert Interaction.objects.filter(user=alice).count() == 4
