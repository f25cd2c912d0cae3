"""The web request only streams an upload to disk and checks what is cheap.

A tar.gz lists its members only along its whole decompressed stream
(gigabytes of media): reading it through belongs to the worker. These tests
prove the web request stops at the first header: a tar.gz damaged near its
end is accepted by the request and refused, with its reason, by the import.
"""

from __future__ import annotations

import gzip
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from relationships.models import Interaction, Job, Source
from relationships.services.intake import imports, jobs
from tests.builders import mastodon as mb

pytestmark = pytest.mark.django_db

BOB = mb.Account("https://social.lol/users/mcg", "@mcg@social.lol")


@pytest.fixture(autouse=True)
def _uploads(settings, tmp_path, sent_tasks):
    settings.RAPPORT_UPLOAD_DIR = str(tmp_path / "uploads")


def mastodon_tar_gz(path, n=12):
    posts = [mb.note(100 + i, mentions=[BOB], in_reply_to=BOB.status(i)) for i in range(n)]
    # A big, incompressible media file after the outbox, as real archives have.
    media = {f"media_attachments/files/{i}/original/photo.jpeg": b"\xff\xd8\xff\xe0" + os.urandom(100_000)
             for i in range(8)}
    return mb.build_mastodon_archive(path, posts=posts, fmt="tar.gz", extra=media)


def upload(client, content, name="archive.tar.gz", kind=""):
    return client.post(reverse("upload_archive"), {"archive": SimpleUploadedFile(name, content), "kind": kind})


def run_worker(job):
    jobs.execute(job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
    job.refresh_from_db()
    return job


def test_a_tar_gz_damaged_near_its_end_is_accepted_by_the_request_and_refused_by_the_import(
    alice_client, alice, tmp_path
):
    good = mastodon_tar_gz(tmp_path / "good.tar.gz")
    assert upload(alice_client, good.read_bytes()).status_code == 302
    stored = run_worker(Job.objects.get(user=alice, kind="import"))
    assert stored.state == Job.State.DONE, stored.error
    before = set(Interaction.objects.filter(user=alice).values_list("pk", flat=True))
    assert len(before) == 12

    content = good.read_bytes()
    damaged = content[: len(content) - 20_000]  # cut inside the last media file
    response = upload(alice_client, damaged)
    # The request did not read far enough to see the damage: it queued the import.
    assert response.status_code == 302, response.content.decode()
    job = Job.objects.filter(user=alice, kind="import").order_by("-pk").first()
    assert job.state == Job.State.QUEUED

    job = run_worker(job)
    assert job.state == Job.State.FAILED
    assert "tar.gz is truncated or damaged" in job.error
    source = job.source
    assert source.state == Source.State.ERROR and "truncated or damaged" in source.state_reason
    assert set(Interaction.objects.filter(user=alice).values_list("pk", flat=True)) == before
    page = alice_client.get(reverse("sources")).content.decode()
    assert "tar.gz is truncated or damaged" in page


def test_a_gzip_that_holds_no_tar_is_refused_by_the_request_with_nothing_stored(alice_client, alice):
    response = upload(alice_client, gzip.compress(b"Account address,Show boosts\n" * 100), name="following.csv.gz")
    assert response.status_code == 400
    assert "This .gz file holds no tar archive" in response.content.decode()
    assert not Source.objects.filter(user=alice).exists()
    assert not list(imports.upload_dir().glob("*.upload"))


def test_a_tar_gz_uploaded_as_an_x_archive_is_refused_by_the_import_not_by_the_request(
    alice_client, alice, tmp_path
):
    path = mastodon_tar_gz(tmp_path / "m.tar.gz", n=3)
    assert upload(alice_client, path.read_bytes(), kind="x").status_code == 302
    job = run_worker(Job.objects.get(user=alice, kind="import"))
    assert job.state == Job.State.FAILED
    assert "This looks like a Mastodon archive, not an X archive" in job.error
    assert not Interaction.objects.filter(user=alice).exists()
