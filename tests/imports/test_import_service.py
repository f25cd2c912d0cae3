"""Archive imports end to end: file -> importer -> ingest, resumable, with clear refusals."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from django.urls import reverse

from relationships.models import Identity, Interaction, Job, Person, Source
from relationships.services.intake import imports, jobs
from tests.builders import x as xb
from tests.imports.interrupt import kill_after_batches

pytestmark = pytest.mark.django_db

ANA = xb.XUser("1001", "ana", "Ana")
BEN = xb.XUser("1002", "ben", "Ben")
CARA = xb.XUser("1003", "cara", "Cara")


def x_archive(path, n=30, likes=41):
    tweets = []
    for i in range(n):
        who = [ANA, BEN, CARA][i % 3]
        at = xb.BASE_TIME + dt.timedelta(hours=i)
        if i % 2:
            tweets.append(xb.reply(f"17{i:05d}", to=who, at=at))
        else:
            tweets.append(xb.tweet(f"17{i:05d}", text=f"hello @{who.screen}", mentions=[who], at=at))
    dms = [xb.conversation(xb.dm("9001", sender=ANA, recipient=xb.ME), xb.dm("9002", sender=xb.ME, recipient=ANA))]
    return xb.build_x_archive(path, tweets=tweets, dms=dms, likes=likes, followers=[ANA, xb.XUser("5555", "bought")])


def run(user, path, kind=None):
    kind = imports.detect(path, kind)
    source = imports.create_source(user, path, kind, filename=path.name)
    job = imports.queue_import(user, source, send_task=False)
    outcome = jobs.execute(job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
    job.refresh_from_db()
    return job, outcome


def rows(user):
    return sorted(
        Interaction.objects.filter(user=user).values_list("platform", "external_id", "identity__external_id", "kind", "direction")
    )


def test_an_x_archive_becomes_people_and_interactions_with_a_readable_summary(alice, tmp_path):
    job, _ = run(alice, x_archive(tmp_path / "x.zip"))
    assert job.state == Job.State.DONE, job.error
    # 30 tweets (one interaction each) and 2 DMs.
    assert Interaction.objects.filter(user=alice).count() == 32
    assert "32 new interactions with 3 people" in job.summary
    assert "41 likes without an author counted" in job.summary
    assert Source.objects.get(user=alice).counts == {"likes_without_author": 41}
    # The follower known only by id is kept, and the user's own account is nobody.
    assert Identity.objects.filter(user=alice, external_id="5555", follows_me=True).exists()
    assert not Identity.objects.filter(user=alice, external_id=xb.ME.id).exists()


def test_importing_the_same_archive_twice_adds_nothing(alice, tmp_path):
    path = x_archive(tmp_path / "x.zip")
    run(alice, path)
    before = rows(alice)
    job, _ = run(alice, path)
    assert rows(alice) == before
    assert job.counts["new"] == 0 and job.counts["known"] == 32
    assert Person.objects.filter(user=alice).count() == 4


def test_a_newer_archive_adds_only_what_is_new(alice, tmp_path):
    run(alice, x_archive(tmp_path / "old.zip", n=20))
    job, _ = run(alice, x_archive(tmp_path / "new.zip", n=30))
    assert job.counts["new"] == 10
    assert Interaction.objects.filter(user=alice).count() == 32


def test_an_interrupted_import_resumes_after_its_last_committed_batch_with_the_same_result(
    alice, bob, tmp_path, settings
):
    settings.RAPPORT_INGEST_BATCH_SIZE = 5
    path = x_archive(tmp_path / "x.zip", n=60)
    # bob's import runs undisturbed: the reference.
    reference_job, _ = run(bob, path)

    source = imports.create_source(alice, path, "x")
    job = imports.queue_import(alice, source, send_task=False)
    job = kill_after_batches(jobs.claim(job.pk), 3)
    assert job.checkpoint["position"] > 0
    partial = Interaction.objects.filter(user=alice).count()
    assert 0 < partial < 62

    # Redelivered: the same job runs again and resumes from its checkpoint.
    outcome = jobs.execute(job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
    job.refresh_from_db()
    assert outcome.state == Job.State.DONE, job.error
    strip = lambda rs: sorted((p, e, i, k, d) for p, e, i, k, d in rs)  # noqa: E731
    assert strip(rows(alice)) == strip(rows(bob))
    assert job.counts["new"] == reference_job.counts["new"] == 62
    assert job.counts["known"] == reference_job.counts["known"]


def test_a_damaged_archive_fails_with_a_clear_message_and_keeps_what_was_stored(alice, tmp_path):
    run(alice, x_archive(tmp_path / "good.zip"))
    before = rows(alice)
    broken = tmp_path / "broken.zip"
    good = [xb.tweet(f"18{i:05d}", text=f"hi @{ANA.screen}", mentions=[ANA]) for i in range(3)]
    xb.build_x_archive(broken, tweets=good, extra={"data/tweets.js": "window.YTD.tweets.part0 = [{\"tweet\": {\"id_str\": "})
    job, outcome = run(alice, broken)
    assert outcome.state == Job.State.FAILED
    assert "tweets.js" in job.error and "Everything read before this point was kept" in job.error
    assert set(before) <= set(rows(alice))


# --- Uploads through the web ------------------------------------------------------------------


@pytest.fixture
def sent(monkeypatch):
    from config.celery_app import app

    calls = []
    monkeypatch.setattr(app, "send_task", lambda name, kwargs=None, **kw: calls.append((name, kwargs)))
    return calls


def upload(client, name, content, kind="", htmx=False):
    from django.core.files.uploadedfile import SimpleUploadedFile

    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(
        reverse("upload_archive"), {"archive": SimpleUploadedFile(name, content), "kind": kind}, **extra
    )


def test_an_upload_queues_an_import_job_for_the_worker_and_shows_its_progress(alice_client, alice, tmp_path, sent, django_capture_on_commit_callbacks):
    content = x_archive(tmp_path / "x.zip").read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(alice_client, "twitter-archive.zip", content, htmx=True)
    assert response.status_code == 200
    job = Job.objects.get(user=alice, kind="import")
    assert sent == [("relationships.import_archive", {"job_id": job.pk})]
    assert f'id="job-{job.pk}"' in response.content.decode()
    assert 'hx-trigger="every 1s"' in response.content.decode()
    # The worker's run, then the progress endpoint says done and stops the polling (286).
    jobs.execute(job.pk, imports.run_import)
    response = alice_client.get(reverse("job_progress", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    assert "32 new interactions" in response.content.decode()


def test_another_user_cannot_see_the_progress_of_my_import(alice, bob, client, tmp_path):
    source = imports.create_source(alice, x_archive(tmp_path / "x.zip"), "x")
    job = imports.queue_import(alice, source, send_task=False)
    client.force_login(bob)
    assert client.get(reverse("job_progress", args=[job.pk])).status_code == 404
    assert client.get(reverse("job", args=[job.pk])).status_code == 404


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


BAD_FILES = {
    "not an archive": (bytes(range(256)) * 4, "not a zip, tar.gz, CSV or CAR"),
    "a text file": (b"hello, this is a text file\n" * 3, "not a Mastodon following list"),
    "zero bytes": (b"", "The submitted file is empty"),
    "truncated zip": (None, "truncated or damaged"),
    "zip bomb": (
        _zip({
            "data/account.js": b'window.YTD.account.part0 = [{"account": {"accountId": "1", "username": "me"}}]',
            "data/tweets.js": b"window.YTD.tweets.part0 = [" + b" " * 50_000_000 + b"]",
        }),
        "zip bomb",
    ),
    "path traversal": (_zip({"../../etc/passwd": b"x", "data/tweets.js": b"window.YTD.tweets.part0 = []"}), ""),
    "empty zip": (_zip({}), ""),
    "broken wrapper": (_zip({"data/tweets.js": b"alert(1); window.YTD.tweets.part0 = []"}), ""),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_upload_is_refused_with_a_clear_message_and_nothing_stored_is_lost(alice_client, alice, tmp_path, case, settings, sent):
    run(alice, x_archive(tmp_path / "x.zip"))
    before = (rows(alice), Source.objects.filter(user=alice).count())
    stored_files = set(imports.upload_dir().glob("*.upload"))
    content, message = BAD_FILES[case]
    if content is None:
        content = x_archive(tmp_path / "t.zip").read_bytes()[:400]
    response = upload(alice_client, "archive.zip", content)
    if response.status_code == 302:
        # Refused only once the importer reads the damaged member: the job says why.
        job = Job.objects.get(user=alice, kind="import", state=Job.State.QUEUED)
        jobs.execute(job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
        job.refresh_from_db()
        assert job.state == Job.State.FAILED
        assert message in job.error and len(job.error) > 20
        assert rows(alice) == before[0]
        return
    assert response.status_code == 400
    body = response.content.decode()
    assert "Nothing was stored" in body or case == "zero bytes"
    if message:
        assert message in body
    assert (rows(alice), Source.objects.filter(user=alice).count()) == before
    assert set(imports.upload_dir().glob("*.upload")) == stored_files, "a refused upload must not stay on disk"


def test_the_wrong_kind_is_refused_when_a_kind_is_chosen(alice_client, tmp_path, sent):
    content = x_archive(tmp_path / "x.zip").read_bytes()
    response = upload(alice_client, "archive.zip", content, kind="mastodon")
    assert response.status_code == 400
    assert "not a Mastodon archive" in response.content.decode() or "looks like an X archive" in response.content.decode()


def test_a_file_over_the_upload_limit_is_refused_while_it_streams_and_its_temporary_file_removed(alice_client, alice, settings, sent):
    settings.RAPPORT_UPLOAD_MAX_BYTES = 100_000
    response = upload(alice_client, "huge.zip", b"PK\x03\x04" + b"\0" * 300_000)
    assert response.status_code == 413
    assert "larger than this server accepts" in response.content.decode()
    assert not Source.objects.filter(user=alice).exists()
    incoming = imports.upload_dir() / "incoming"
    assert not any(incoming.iterdir()) if incoming.exists() else True


def test_an_uploaded_archive_is_deleted_once_its_import_has_ended_and_a_given_path_is_kept(alice, tmp_path, settings):
    from relationships import tasks

    settings.RAPPORT_UPLOAD_DIR = str(tmp_path / "uploads")
    uploaded = x_archive(imports.upload_dir() / "upload-1.zip")
    broken = imports.upload_dir() / "upload-2.zip"
    broken.write_bytes(uploaded.read_bytes()[:4000])  # cut short: refused for good
    given = x_archive(tmp_path / "mine.zip")  # a path given to `manage.py import_archive`
    states = {}
    for path in (uploaded, broken, given):
        source = imports.create_source(alice, path, "x")
        job = imports.queue_import(alice, source, send_task=False)
        states[path] = tasks.import_archive.run(job.pk)

    assert states == {uploaded: Job.State.DONE, broken: Job.State.FAILED, given: Job.State.DONE}
    assert not uploaded.exists() and not broken.exists()
    assert given.exists()
    assert Interaction.objects.filter(user=alice).count() > 0  # what the upload gave stays


def test_an_import_that_will_be_retried_keeps_its_file(alice, tmp_path, settings, monkeypatch):
    from celery.exceptions import Retry

    from relationships import tasks

    settings.RAPPORT_UPLOAD_DIR = str(tmp_path / "uploads")
    uploaded = x_archive(imports.upload_dir() / "upload-1.zip")
    job = imports.queue_import(alice, imports.create_source(alice, uploaded, "x"), send_task=False)

    def away(job, progress):
        raise jobs.TransientJobError("The database is restarting", retry_in=5)

    monkeypatch.setattr(imports, "run_import", away)
    with pytest.raises(Retry):
        tasks.import_archive.run(job.pk)
    assert uploaded.exists()
    assert Job.objects.get(pk=job.pk).state == Job.State.QUEUED
