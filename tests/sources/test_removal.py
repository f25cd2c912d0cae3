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
from relationships.services import sources
from relationships.services.imports import create_source
from relationships.services.ingest import ingest
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


def test_removing_one_of_two_sources_that_read_the_same_archive_keeps_every_interaction(alice, tmp_path):
    path = x_archive(tmp_path / "x.zip", n=40)
    first = read_into(alice, path)
    second = read_into(alice, path)
    before = keys(alice)
    assert len(before) == 40

    removal = sources.preview_removal(second)
    assert (removal.only_here, removal.also_elsewhere) == (0, 40)
    summary = sources.remove_source(second)

    assert keys(alice) == before
    assert InteractionSource.objects.filter(source=first).count() == 40
    assert not Source.objects.filter(pk=second.pk).exists()
    assert "the 0 interactions only it had seen; 40 also seen by other sources stay" in summary


def test_removing_the_older_of_two_overlapping_archives_keeps_all_the_newer_one_saw(alice, tmp_path):
    # Tweets 0-29 in the old archive, 10-49 in the new one: 20 shared.
    old = xb.build_x_archive(tmp_path / "old.zip", tweets=_tweets(range(0, 30)))
    new = xb.build_x_archive(tmp_path / "new.zip", tweets=_tweets(range(10, 50)))
    old_source = read_into(alice, old)
    new_source = read_into(alice, new)
    assert len(keys(alice)) == 50

    removal = sources.preview_removal(old_source)
    assert (removal.only_here, removal.also_elsewhere) == (10, 20)
    sources.remove_source(old_source)

    assert {ext for ext, *_ in keys(alice)} == {f"17{i:05d}" for i in range(10, 50)}
    # And the other way round: the new archive alone saw 30, which go with it.
    removal = sources.preview_removal(new_source)
    assert (removal.only_here, removal.also_elsewhere) == (40, 0)
    sources.remove_source(new_source)
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


def test_remove_asks_for_confirmation_saying_what_goes_and_what_stays(alice_client, alice, tmp_path):
    path = x_archive(tmp_path / "x.zip", n=30)
    first = read_into(alice, path)
    newer = read_into(alice, x_archive(tmp_path / "newer.zip", n=34))

    page = alice_client.get(reverse("source_remove", args=[newer.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "4 interactions only this source saw; 30 also seen by other sources stay." in body
    assert Source.objects.filter(pk=newer.pk).exists(), "showing the question removes nothing"

    # A POST that did not come from the confirmation (no confirm field) only asks again.
    response = alice_client.post(reverse("source_remove", args=[newer.pk]))
    assert response.status_code == 400
    assert Source.objects.filter(pk=newer.pk).exists()

    response = alice_client.post(reverse("source_remove", args=[newer.pk]), {"confirm": "True"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("sources")
    assert "the 4 interactions only it had seen; 30 also seen by other sources stay" in response.content.decode()
    assert not Source.objects.filter(pk=newer.pk).exists()
    assert Interaction.objects.filter(user=alice).count() == 30
    assert "30 interactions" in alice_client.get(reverse("sources")).content.decode()
    assert first.pk in set(Source.objects.filter(user=alice).values_list("pk", flat=True))


def test_another_user_cannot_see_or_remove_my_source(alice, bob, client, tmp_path):
    source = read_into(alice, x_archive(tmp_path / "x.zip", n=4))
    client.force_login(bob)
    assert client.get(reverse("source_remove", args=[source.pk])).status_code == 404
    assert client.post(reverse("source_remove", args=[source.pk]), {"confirm": "True"}).status_code == 404
    assert Interaction.objects.filter(user=alice).count() == 4
