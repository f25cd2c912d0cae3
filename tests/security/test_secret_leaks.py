"""Tokens and app passwords never leave the encrypted column: not into logs, task arguments, error pages,
pages, exports or the admin; and a ciphertext that cannot be decrypted any more is a source to reconnect,
never a 500.

(What the database holds, the keys and rotation: tests/security/test_secrets.py. A successful connect
and sync on the fake platforms, checked for secrets in rows, logs and tasks: tests/sync/test_connect.py.
Here: the failures.)
"""

from __future__ import annotations

import inspect
import io
import json
import logging

import pytest
import requests
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from config.celery_app import app as celery_app
from relationships.models import Job, Source
from relationships.platforms.records import BLUESKY, MASTODON
from relationships.services.intake import connect, imports, jobs, runs, sync
from tests.fakes.fixtures import clock, fake_bluesky, fake_mastodon  # noqa: F401
from tests.security.conftest import ALICE_APP_PASSWORD, ALICE_TOKEN
from tests.security.walk import path_for, query_for, walked_routes

pytestmark = pytest.mark.django_db
on_fake_servers = [pytest.mark.services, pytest.mark.postgres_only]

WRONG_TOKEN = "wrong-token-" + "q" * 24
WRONG_APP_PASSWORD = "zzzz-yyyy-xxxx-wwww"


def ciphertexts() -> list[str]:
    found = [bytes(c).decode() for c in Source.objects.exclude(credentials_ciphertext=b"")
             .values_list("credentials_ciphertext", flat=True)]
    return found + [c[:32] for c in found]


def found_in(text: str, secrets: list[str]) -> list[str]:
    return [s[:12] + "…" for s in secrets if s and s in text]


def run_sync(source: Source) -> Job:
    job, _ = sync.queue_sync(source, send_task=False)
    jobs.execute(job.pk, sync.run_sync)
    job.refresh_from_db()
    return job


@pytest.fixture
def fake_time(monkeypatch, clock):  # noqa: F811
    monkeypatch.setattr(connect, "SESSION_OPTIONS", {"sleep": clock.sleep, "clock": clock.time})


# ---------------------------------------------------------------- logs


@pytest.mark.services
@pytest.mark.postgres_only
def test_refused_connects_and_failing_syncs_log_no_token_and_no_app_password(
    alice, alice_client, fake_mastodon, fake_bluesky, fake_time, caplog, monkeypatch  # noqa: F811
):
    caplog.set_level(logging.DEBUG)
    ana = fake_mastodon.add_account("ana", "remote.example", display_name="Ana")
    for n in range(3):
        fake_mastodon.add_status(ana, f"hi alice {n}", mentions=[fake_mastodon.me])

    # Refused, then accepted.
    alice_client.post("/connect/mastodon/", {"instance": fake_mastodon.url, "token": WRONG_TOKEN})
    alice_client.post("/connect/bluesky/", {"handle": "alice.test", "app_password": WRONG_APP_PASSWORD,
                                            "service": fake_bluesky.url})
    alice_client.post("/connect/mastodon/", {"instance": fake_mastodon.url, "token": fake_mastodon.token})
    alice_client.post("/connect/bluesky/", {"handle": "alice.test", "app_password": fake_bluesky.app_password,
                                            "service": fake_bluesky.url})
    mastodon = Source.objects.get(user=alice, platform=MASTODON)
    bluesky = Source.objects.get(user=alice, platform=BLUESKY)
    session = bluesky.get_credentials()["session"].split(":::")
    secrets = [fake_mastodon.token, WRONG_TOKEN, fake_bluesky.app_password, WRONG_APP_PASSWORD, session[2],
               session[3], *ciphertexts()]

    # A bug while the records stream in: logged with its traceback by the job runner.
    def bug(*args, **kwargs):
        raise RuntimeError("unexpected")

    with monkeypatch.context() as patch:
        patch.setattr(sync, "ingest", bug)
        assert run_sync(mastodon).state == Job.State.FAILED
    # The server failing (every retry of the first call), then answering nonsense, then the access revoked.
    fake_mastodon.fail_next(503, times=4)
    assert run_sync(mastodon).state == Job.State.QUEUED  # to be retried later
    Job.objects.filter(source=mastodon).update(state=Job.State.FAILED)
    fake_mastodon.truncate_next()
    assert run_sync(mastodon).state == Job.State.FAILED
    fake_mastodon.revoke()
    assert run_sync(mastodon).state == Job.State.FAILED
    # Bluesky: the session expires, cannot be refreshed, and the app password was revoked.
    fake_bluesky.expire_access_tokens()
    fake_bluesky.revoke_refresh_tokens()
    fake_bluesky.app_password = "new0-new0-new0-new0"
    assert run_sync(bluesky).state == Job.State.FAILED

    mastodon.refresh_from_db(), bluesky.refresh_from_db()
    assert mastodon.state == bluesky.state == Source.State.NEEDS_REAUTH
    assert "Traceback" in caplog.text  # the bug's traceback was logged...
    assert not found_in(caplog.text, secrets)  # ...and nothing secret with it
    for record in caplog.records:
        assert not found_in(repr(record.args) + repr(record.msg), secrets), record.name
    shown = repr(list(Job.objects.values("error", "summary", "task_kwargs")))
    shown += repr(list(Source.objects.values("state_reason", "notices", "label", "cursors")))
    shown += alice_client.get("/sources/").content.decode()
    assert not found_in(shown, secrets)


# ---------------------------------------------------------------- task arguments


def test_every_task_of_the_app_takes_ids_and_nothing_else():
    """A task that took a token, a URL or a path would put it in the broker; ids only."""
    import relationships.tasks  # noqa: F401 - registers the tasks, as the worker's autodiscovery does

    allowed = {"job_id", "person_ids"}
    tasks = {name: task for name, task in celery_app.tasks.items() if name.startswith("relationships.")}
    assert {"relationships.sync_source", "relationships.import_archive", "relationships.recompute"} <= set(tasks)
    for name, task in tasks.items():
        parameters = inspect.signature(task.run).parameters.values()
        named = {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        assert named <= allowed, f"{name} takes {named - allowed}"


def test_jobs_record_and_send_only_ids(alice_world, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sync.queue_sync(alice_world.bluesky)
        imports.queue_import(alice_world.user, alice_world.archive)
        runs.queue_recompute(alice_world.user, [alice_world.person.pk])
        jobs.create(alice_world.user, kind="seed", task_name="relationships.seed_demo")
    # The stale-job sweep sends the stored arguments again.
    Job.objects.update(state=Job.State.RUNNING, heartbeat_at="2000-01-01T00:00:00Z")
    jobs.sweep_stale()

    assert len(sent_tasks) == 2 * 4 + 1  # four queued, and the sweep re-sent them and the finished sync job
    secrets = [ALICE_TOKEN, ALICE_APP_PASSWORD, *ciphertexts(), alice_world.archive.archive_path]
    for name, args, kwargs in sent_tasks:
        assert not args and set(kwargs) <= {"job_id", "person_ids"}, (name, kwargs)
        assert all(isinstance(v, int) or all(isinstance(i, int) for i in v) for v in kwargs.values())
        assert not found_in(json.dumps(kwargs), secrets)
    for job in Job.objects.all():
        assert set(job.task_kwargs) <= {"job_id", "person_ids"}


# ---------------------------------------------------------------- error pages


def _connect_posts():
    """(view name, POST body, the secret in it, its field)."""
    return [
        ("connect_bluesky", {"handle": "alice.test", "app_password": "abcd-efgh-ijkl-mnop",
                             "service": "https://127.0.0.1:1"}, "abcd-efgh-ijkl-mnop", "app_password"),
        ("connect_mastodon", {"instance": "https://127.0.0.1:1", "token": "tok-SECRET-" + "t" * 20},
         "tok-SECRET-" + "t" * 20, "token"),
    ]


def _break(monkeypatch, depth: str):
    """An unexpected exception in the connect path: in the service, or deep in the HTTP layer."""
    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    if depth == "service":
        monkeypatch.setattr(connect, "connector_for", boom)
    else:
        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", boom)


@pytest.mark.parametrize("depth", ["service", "http layer"])
def test_the_500_page_with_debug_off_shows_no_secret(alice, settings, monkeypatch, depth):
    settings.DEBUG = False
    _break(monkeypatch, depth)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    for name, data, secret, _field in _connect_posts():
        response = client.post(reverse(name), data)
        assert response.status_code in (400, 500), name
        assert secret not in response.content.decode(), name


@pytest.mark.parametrize("depth", ["service", "http layer"])
def test_the_debug_500_page_masks_posted_secrets_and_their_copies_in_every_frame(alice, settings, monkeypatch, depth):
    settings.DEBUG = True
    _break(monkeypatch, depth)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    for name, data, secret, field in _connect_posts():
        response = client.post(reverse(name), data)
        body = response.content.decode()
        if response.status_code == 400:
            continue  # the platform layer turned it into a form error: no debug page at all
        assert response.status_code == 500, name
        assert "Traceback" in body or "traceback" in body, name
        assert secret not in body, f"{name} ({depth}): the debug page shows the {field}"
        assert field in body and "********************" in body, name
        for key in (*settings.RAPPORT_ENCRYPTION_KEYS, settings.SECRET_KEY):
            assert key not in body, name


def test_error_reports_hide_secret_named_values_in_any_frame_and_survive_cycles(rf, settings):
    """Values never posted (a decrypted token on its way out) are hidden by name, in dicts and header maps too."""
    import secrets as random
    import sys

    from django.views.debug import ExceptionReporter

    settings.DEBUG = True
    # Made at run time: the page also shows source lines, where a literal would be found.
    auth_value, session_value, token_value = (random.token_hex(12) for _ in range(3))

    def follow_someone():
        headers = requests.structures.CaseInsensitiveDict({"Authorization": f"Bearer {auth_value}"})
        credentials = {"session": session_value, "handle": "alice.test"}
        access_token = token_value
        loop: dict = {"note": "fine"}
        loop["self"] = loop
        raise RuntimeError(f"boom {len(headers) + len(credentials) + len(access_token) + len(loop)}")

    try:
        follow_someone()
    except RuntimeError:
        html = ExceptionReporter(rf.get("/"), *sys.exc_info()).get_traceback_html()
    assert "boom" in html and "follow_someone" in html and "alice.test" in html
    for secret in (auth_value, session_value, token_value):
        assert secret not in html


# ---------------------------------------------------------------- pages, exports, admin


def test_no_page_shows_the_owner_her_own_stored_credentials(client, alice_world, no_platform_calls):
    client.force_login(alice_world.user)
    secrets = [ALICE_TOKEN, ALICE_APP_PASSWORD, *ciphertexts()]
    for route in walked_routes():
        path = path_for(route, alice_world)
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(path, query_for(route, alice_world), **headers)
            content = b"".join(response.streaming_content) if response.streaming else response.content
            assert not found_in(content.decode(), secrets), path
    page = client.get(reverse("connect_bluesky"), {"source": alice_world.bluesky.pk}).content.decode()
    assert alice_world.bluesky.handle in page and not found_in(page, secrets)  # the reconnect form


@pytest.mark.parametrize("what, fmt", [("people", "csv"), ("people", "json"), ("interactions", "csv"),
                                       ("interactions", "json"), ("everything", "json")])
def test_exports_never_carry_credentials(client, alice_world, what, fmt):
    client.force_login(alice_world.user)
    response = client.get(reverse("settings_export"), {"what": what, "format": fmt})
    text = b"".join(response.streaming_content).decode()
    assert response.status_code == 200 and text
    assert not found_in(text, [ALICE_TOKEN, ALICE_APP_PASSWORD, *ciphertexts()])
    assert "credentials" not in text and "ciphertext" not in text
    if what == "everything":
        sources = json.loads(text)["sources"]
        assert {s["handle"] for s in sources} >= {alice_world.bluesky.handle}  # the source is there, its secret not


def test_the_export_command_carries_no_credentials(alice_world):
    for fmt in ("json", "csv"):
        out = io.StringIO()
        call_command("export_people", user="alice", fmt=fmt, stdout=out)
        assert not found_in(out.getvalue(), [ALICE_TOKEN, ALICE_APP_PASSWORD, *ciphertexts()])


# ---------------------------------------------------------------- unreadable ciphertext


@pytest.fixture
def unreadable(alice_world):
    """Alice's Mastodon account, connected, with credentials no configured key can decrypt (keys replaced)."""
    source = alice_world.account
    Source.objects.filter(pk=source.pk).update(credentials_ciphertext=b"gAAAAABnot-a-fernet-token-at-all==")
    return source


def test_an_undecryptable_source_is_synced_into_needs_reauth_not_an_error(client, alice_world, unreadable,
                                                                          no_platform_calls, sent_tasks):
    client.force_login(alice_world.user)
    assert client.get(reverse("sources")).status_code == 200
    assert client.post(reverse("source_sync", args=[unreadable.pk])).status_code == 302

    job = Job.objects.filter(source=unreadable, kind=sync.KIND).latest("pk")
    jobs.execute(job.pk, sync.run_sync)

    job.refresh_from_db(), unreadable.refresh_from_db()
    assert job.state == Job.State.FAILED and "cannot be decrypted" in job.error
    assert unreadable.state == Source.State.NEEDS_REAUTH and "reconnect" in unreadable.state_reason.lower()
    assert not no_platform_calls
    # Every page that shows or acts on the source still answers.
    assert "needs reconnecting" in client.get(reverse("sources")).content.decode()
    response = client.post(reverse("source_sync", args=[unreadable.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "needs reconnecting" in response.content.decode()
    assert client.get(reverse("connect_mastodon"), {"source": unreadable.pk}).status_code == 200
    assert unreadable not in sync.due_sources()


def test_following_through_an_undecryptable_source_asks_to_reconnect_instead_of_failing(
    client, alice_world, unreadable, no_platform_calls
):
    client.force_login(alice_world.user)
    response = client.post(reverse("nudge_follow", args=[alice_world.nudge.pk]),
                           {"identity": alice_world.identity.pk}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "needs reconnecting" in response.content.decode()
    unreadable.refresh_from_db()
    assert unreadable.state == Source.State.NEEDS_REAUTH
    assert not no_platform_calls


def test_rotate_keys_names_an_undecryptable_row_and_still_rotates_the_others(alice_world, unreadable, settings):
    from cryptography.fernet import Fernet

    old = settings.RAPPORT_ENCRYPTION_KEYS[0]
    settings.RAPPORT_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    err = io.StringIO()
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("rotate_keys", stdout=io.StringIO(), stderr=err)
    assert f"Source {unreadable.pk}" in err.getvalue()
    settings.RAPPORT_ENCRYPTION_KEYS = settings.RAPPORT_ENCRYPTION_KEYS[:1]
    assert Source.objects.get(pk=alice_world.bluesky.pk).get_credentials()["app_password"] == ALICE_APP_PASSWORD
