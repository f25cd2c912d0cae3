"""An archive of an account the user already imported from is the same source.

The account is known only once the worker reads the archive, so each upload
starts as a source of its own and its import merges it into the account's
source before linking anything; the Sources page then shows one row per
account and platform, with its files.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from relationships.models import Interaction, InteractionSource, Job, Source
from relationships.services.intake import imports, jobs
from tests.builders import mastodon as mb
from tests.builders import x as xb
from tests.imports.interrupt import kill_after_batches

pytestmark = pytest.mark.django_db

ANA = xb.XUser("1001", "ana", "Ana")
BEN = xb.XUser("1002", "ben", "Ben")
OTHER_ME = xb.XUser("777", "jack_work", "Jack at work")


def x_archive(path, numbers, likes=10, account=xb.ME):
    tweets = [
        xb.reply(f"17{i:05d}", to=[ANA, BEN][i % 2], at=xb.BASE_TIME + dt.timedelta(hours=i)) for i in numbers
    ]
    return xb.build_x_archive(path, tweets=tweets, likes=likes, account=account)


def run(user, path, kind=None) -> Job:
    source = imports.create_source(user, path, imports.detect(path, kind), filename=path.name)
    job = imports.queue_import(user, source, send_task=False)
    jobs.execute(job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
    job.refresh_from_db()
    return job


def rows(user):
    return sorted(Interaction.objects.filter(user=user).values_list("pk", "external_id", "kind", "direction"))


@pytest.fixture
def uploads(settings, tmp_path, monkeypatch):
    from config.celery_app import app

    monkeypatch.setattr(app, "send_task", lambda *a, **kw: None)
    settings.RAPPORT_UPLOAD_DIR = str(tmp_path / "uploads")


def test_uploading_the_same_x_archive_twice_shows_one_source_with_both_files(alice_client, alice, tmp_path, uploads):
    content = x_archive(tmp_path / "x.zip", range(30)).read_bytes()
    for name in ("twitter-2024-05-01.zip", "twitter-2024-05-01 (1).zip"):
        response = alice_client.post(
            reverse("upload_archive"), {"archive": SimpleUploadedFile(name, content), "kind": ""}
        )
        assert response.status_code == 302
        job = Job.objects.filter(user=alice, kind="import").order_by("-pk").first()
        jobs.execute(job.pk, imports.run_import)
    first, second = Job.objects.filter(user=alice, kind="import").order_by("pk")
    assert first.state == second.state == Job.State.DONE, (first.error, second.error)
    assert second.counts["new"] == 0 and second.counts["known"] == 30

    (source,) = Source.objects.filter(user=alice)
    assert source.account_external_id == xb.ME.id
    assert source.label == f"X archive of @{xb.ME.screen}"
    assert set(source.jobs.values_list("pk", flat=True)) == {first.pk, second.pk}
    assert InteractionSource.objects.filter(source=source).count() == 30
    page = alice_client.get(reverse("sources")).content.decode()
    assert page.count(f"X archive of @{xb.ME.screen}") == 1 + page.count(f"Remove X archive of @{xb.ME.screen}")
    assert "twitter-2024-05-01.zip" in page and "twitter-2024-05-01 (1).zip" in page
    assert len(re.findall(r'href="/sources/\d+/remove/"', page)) == 1


def test_a_newer_archive_extends_the_accounts_source(alice, tmp_path):
    run(alice, x_archive(tmp_path / "2023.zip", range(0, 20), likes=10))
    before = rows(alice)
    job = run(alice, x_archive(tmp_path / "2024.zip", range(0, 35), likes=14))
    assert job.state == Job.State.DONE, job.error
    assert job.counts["new"] == 15
    (source,) = Source.objects.filter(user=alice)
    assert set(before) <= set(rows(alice)) and len(rows(alice)) == 35
    assert InteractionSource.objects.filter(source=source).count() == 35
    assert source.counts == {"likes_without_author": 14}
    assert source.archive_path.endswith("2024.zip")
    assert list(source.files.values_list("name", flat=True)) == ["2023.zip", "2024.zip"]


def test_archives_of_two_accounts_of_the_user_stay_two_sources(alice, tmp_path):
    run(alice, x_archive(tmp_path / "me.zip", range(0, 10)))
    run(alice, x_archive(tmp_path / "work.zip", range(10, 20), account=OTHER_ME))
    assert sorted(Source.objects.filter(user=alice).values_list("account_external_id", flat=True)) == sorted(
        [xb.ME.id, OTHER_ME.id]
    )


def test_the_command_line_reads_a_second_archive_of_the_account_into_its_source(alice, tmp_path, capsys):
    old = x_archive(tmp_path / "old.zip", range(0, 12))
    new = x_archive(tmp_path / "new.zip", range(6, 18))
    call_command("import_archive", str(old), user="alice")
    call_command("import_archive", str(new), user="alice")
    (source,) = Source.objects.filter(user=alice)
    assert list(source.files.values_list("name", flat=True)) == ["old.zip", "new.zip"]
    assert InteractionSource.objects.filter(source=source).count() == 18
    # A path given to the command is the user's own: it stays.
    assert old.exists() and new.exists()
    assert "Rapport recomputed for 2 people" in capsys.readouterr().out


def test_a_second_mastodon_following_list_is_read_into_the_first(alice, tmp_path):
    # The CSV names no owner: every following list of the user is one source.
    rows_ = [f"u{n}@example.social,true,false," for n in range(6)]
    first = run(alice, mb.build_following_csv(tmp_path / "following.csv", rows_))
    second = run(alice, mb.build_following_csv(tmp_path / "following (1).csv", rows_ + ["new@example.social,true,false,"]))
    assert first.state == second.state == Job.State.DONE
    (source,) = Source.objects.filter(user=alice)
    assert source.files.count() == 2
    assert alice.identities.filter(i_follow=True).count() == 7


def test_an_interrupted_second_import_resumes_into_the_accounts_source_with_the_same_rows(alice, bob, tmp_path, settings):
    settings.RAPPORT_INGEST_BATCH_SIZE = 5
    path = x_archive(tmp_path / "x.zip", range(40))
    run(bob, path)
    run(alice, x_archive(tmp_path / "first.zip", range(10)))

    source = imports.create_source(alice, path, "x", filename="x.zip")
    job = kill_after_batches(jobs.claim(imports.queue_import(alice, source, send_task=False).pk), 2)
    assert Source.objects.filter(user=alice).count() == 1, "merged as soon as the account was read"
    jobs.execute(job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
    job.refresh_from_db()
    assert job.state == Job.State.DONE, job.error

    (kept,) = Source.objects.filter(user=alice)
    assert job.source_id == kept.pk
    strip = lambda user: sorted(r[1:] for r in rows(user))  # noqa: E731
    assert strip(alice) == strip(bob)
    assert InteractionSource.objects.filter(source=kept).count() == 40
    assert kept.files.get(job=job).name == "x.zip"


def test_a_newer_bluesky_repository_of_the_same_did_extends_its_source(alice, tmp_path):
    from tests.builders import bluesky as bb

    def car(path, n):
        records = {bb.tid_key(bb.LIKE, i): bb.like(bb.post_uri("did:plc:ana", f"3k{i}")) for i in range(n)}
        records.update({bb.tid_key(bb.POST, i): bb.post(f"@ana hi {i}", reply_parent=bb.post_uri("did:plc:ana", f"3p{i}"))
                        for i in range(n)})
        return bb.build_bluesky_car(path, records=records).path

    assert run(alice, car(tmp_path / "repo-march.car", 10)).state == Job.State.DONE
    job = run(alice, car(tmp_path / "repo-may.car", 16))
    assert job.state == Job.State.DONE, job.error
    (source,) = Source.objects.filter(user=alice)
    assert source.account_external_id == bb.ME and source.label == f"Bluesky repository of {bb.ME}"
    assert list(source.files.values_list("name", flat=True)) == ["repo-march.car", "repo-may.car"]
    assert InteractionSource.objects.filter(source=source).count() == Interaction.objects.filter(user=alice).count() > 0


def test_deleting_the_account_deletes_every_uploaded_file_of_a_merged_source(alice_client, alice, tmp_path, uploads):
    from django.conf import settings

    for name, numbers in (("2023.zip", range(10)), ("2024.zip", range(20))):
        content = x_archive(tmp_path / name, numbers).read_bytes()
        alice_client.post(reverse("upload_archive"), {"archive": SimpleUploadedFile(name, content), "kind": ""})
        jobs.execute(Job.objects.filter(user=alice, kind="import").order_by("-pk").first().pk, imports.run_import)
    (source,) = Source.objects.filter(user=alice)
    stored = list(source.files.values_list("path", flat=True))
    assert len(stored) == 2 and all(path.startswith(settings.RAPPORT_UPLOAD_DIR) for path in stored)

    assert alice_client.post(reverse("account_delete"), {"confirm": "alice"}).status_code == 302
    assert not Source.objects.filter(user_id=alice.pk).exists()
    assert not any(Path(path).exists() for path in stored)


def test_damage_before_the_archives_account_is_raised_after_the_records_read_before_it():
    from relationships.platforms import records as r
    from relationships.platforms.archives import ArchiveError

    def damaged():
        yield r.SkipRecord("the archive does not say whose it is (no actor.json, empty outbox)")
        yield r.IdentityRecord(
            platform=r.MASTODON, external_id="https://remote.example/users/ana", handle="ana@remote.example"
        )
        raise ArchiveError("outbox.json is not valid JSON")

    head, rest = imports._until_account(damaged(), r.MASTODON)
    assert [type(record) for record in head] == [r.SkipRecord, r.IdentityRecord]
    with pytest.raises(ArchiveError, match="not valid JSON"):
        next(rest)
