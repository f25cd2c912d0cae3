"""Connecting accounts: the Mastodon OAuth round trip, a pasted token, Bluesky app passwords, the commands,
and where the secrets end up (encrypted, nowhere else)."""

from __future__ import annotations

import io
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection

from relationships.models import Job, MastodonApp, Source
from relationships.platforms.records import BLUESKY, MASTODON
from relationships.views.connect import OAUTH_SESSION_KEY
from tests.sync.helpers import run_sync

pytestmark = [pytest.mark.django_db]
on_fake_servers = [pytest.mark.services, pytest.mark.postgres_only]

CALLBACK = "http://testserver/connect/mastodon/callback/"


def start_sign_in(client, server) -> str:
    response = client.post("/connect/mastodon/", {"instance": server.url})
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def authorize_on_the_server(location: str) -> str:
    """What the user's browser does on their server: sign in, allow, and get sent back."""
    answer = requests.get(location, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


# ---------------------------------------------------------------- Mastodon OAuth


@pytest.mark.services
@pytest.mark.postgres_only
def test_the_oauth_round_trip_through_the_fake_mastodon_connects_alices_account(
    alice, alice_client, fake_mastodon, django_capture_on_commit_callbacks, sent_tasks
):
    page = alice_client.get("/connect/mastodon/")
    assert page.status_code == 200 and "form-action 'self' https: http:" in page["Content-Security-Policy"]

    location = start_sign_in(alice_client, fake_mastodon)

    query = parse_qs(urlsplit(location).query)
    assert location.startswith(fake_mastodon.url + "/oauth/authorize?")
    assert query["redirect_uri"] == [CALLBACK]
    assert query["state"] == [alice_client.session[OAUTH_SESSION_KEY]["state"]]
    back = authorize_on_the_server(location)
    assert back.startswith(CALLBACK)

    with django_capture_on_commit_callbacks(execute=True):
        done = alice_client.get(back)

    assert done.status_code == 302 and done["Location"] == "/sources/"
    source = Source.objects.get(user=alice, platform=MASTODON)
    assert source.kind == Source.Kind.ACCOUNT and source.state == Source.State.ACTIVE
    assert source.account_external_id == fake_mastodon.me["uri"]
    assert source.handle == f"alice@{fake_mastodon.domain}"
    assert source.get_credentials()["access_token"] in fake_mastodon.tokens
    assert OAUTH_SESSION_KEY not in alice_client.session  # a state is good for one use
    job = Job.objects.get(source=source, kind="sync")
    assert sent_tasks == [("relationships.sync_source", {"job_id": job.pk})]


@pytest.mark.services
@pytest.mark.postgres_only
def test_the_app_is_registered_once_per_instance_and_reused(alice, alice_client, fake_mastodon):
    start_sign_in(alice_client, fake_mastodon)
    start_sign_in(alice_client, fake_mastodon)
    assert len(fake_mastodon.apps) == 1
    app = MastodonApp.objects.get()
    assert app.get_secret() == fake_mastodon.apps[app.client_id]["secret"]


@pytest.mark.services
@pytest.mark.postgres_only
def test_a_callback_with_the_wrong_state_is_refused_and_the_code_never_used(alice, alice_client, fake_mastodon):
    back = authorize_on_the_server(start_sign_in(alice_client, fake_mastodon))
    code = parse_qs(urlsplit(back).query)["code"][0]

    refused = alice_client.get("/connect/mastodon/callback/", {"code": code, "state": "forged"})

    assert refused.status_code == 400 and "did not start here" in refused.content.decode()
    assert not Source.objects.filter(platform=MASTODON).exists()
    assert not fake_mastodon.calls("/oauth/token")
    # The real state is spent too: a forged callback cannot be followed by the genuine one.
    assert alice_client.get(back).status_code == 400


@pytest.mark.services
@pytest.mark.postgres_only
def test_bob_cannot_finish_alices_sign_in(alice_client, bob, client, fake_mastodon):
    back = authorize_on_the_server(start_sign_in(alice_client, fake_mastodon))
    client.force_login(bob)

    refused = client.get(back)

    assert refused.status_code == 400
    assert not Source.objects.exists()


@pytest.mark.services
@pytest.mark.postgres_only
def test_a_refused_authorization_connects_nothing(alice_client, fake_mastodon):
    start_sign_in(alice_client, fake_mastodon)
    state = alice_client.session[OAUTH_SESSION_KEY]["state"]

    refused = alice_client.get("/connect/mastodon/callback/", {"error": "access_denied", "state": state})

    assert refused.status_code == 400 and "did not grant access" in refused.content.decode()
    assert not Source.objects.exists()


# ---------------------------------------------------------------- Mastodon pasted token


@pytest.mark.services
@pytest.mark.postgres_only
def test_a_pasted_token_connects_the_account_and_is_never_shown_back(alice, alice_client, fake_mastodon):
    wrong = "not-the-token-" + "x" * 20
    refused = alice_client.post("/connect/mastodon/", {"instance": fake_mastodon.url, "token": wrong})
    assert refused.status_code == 400
    assert "refused the credentials" in refused.content.decode() and wrong not in refused.content.decode()

    done = alice_client.post("/connect/mastodon/", {"instance": fake_mastodon.url, "token": fake_mastodon.token})

    assert done.status_code == 302
    source = Source.objects.get(user=alice)
    assert source.get_credentials() == {"access_token": fake_mastodon.token}
    page = alice_client.get("/sources/").content.decode()
    assert str(source) in page and fake_mastodon.token not in page


@pytest.mark.services
@pytest.mark.postgres_only
def test_reconnecting_a_source_that_needs_it_keeps_the_source_and_its_cursors(alice, alice_client, fake_mastodon):
    alice_client.post("/connect/mastodon/", {"instance": fake_mastodon.url, "token": fake_mastodon.token})
    source = Source.objects.get(user=alice)
    Source.objects.filter(pk=source.pk).update(state=Source.State.NEEDS_REAUTH, cursors={"statuses": "{}"})
    form = alice_client.get(f"/connect/mastodon/?source={source.pk}")
    assert fake_mastodon.url in form.content.decode()

    alice_client.post("/connect/mastodon/", {"instance": fake_mastodon.url, "token": fake_mastodon.token})

    source.refresh_from_db()
    assert Source.objects.filter(user=alice).count() == 1
    assert source.state == Source.State.ACTIVE and source.cursors == {"statuses": "{}"}


def test_an_instance_on_a_private_address_is_refused_with_a_clear_error(alice_client, settings):
    settings.RAPPORT_ALLOW_PRIVATE_HOSTS = False
    for address in ("127.0.0.1", "http://example.com", "10.1.2.3", "169.254.169.254"):
        refused = alice_client.post("/connect/mastodon/", {"instance": address})
        assert refused.status_code == 400
        assert "This server address cannot be used" in refused.content.decode(), address
    assert not Source.objects.exists() and not MastodonApp.objects.exists()


def test_a_pds_on_a_private_address_is_refused_with_a_clear_error(alice_client, settings):
    settings.RAPPORT_ALLOW_PRIVATE_HOSTS = False
    refused = alice_client.post(
        "/connect/bluesky/", {"handle": "alice.test", "app_password": "abcd-efgh-ijkl-mnop", "service": "https://127.0.0.1"}
    )
    assert refused.status_code == 400 and "This server address cannot be used" in refused.content.decode()


# ---------------------------------------------------------------- Bluesky


@pytest.mark.services
@pytest.mark.postgres_only
def test_bluesky_connects_with_an_app_password_against_the_fake_pds(alice, alice_client, fake_bluesky):
    page = alice_client.get("/connect/bluesky/").content.decode()
    assert "Never your main password" in page and "xxxx-xxxx-xxxx-xxxx" in page

    done = alice_client.post(
        "/connect/bluesky/",
        {"handle": "@Alice.test", "app_password": fake_bluesky.app_password.upper(), "service": fake_bluesky.url},
    )

    assert done.status_code == 302, done.content.decode()[:2000]
    source = Source.objects.get(user=alice, platform=BLUESKY)
    assert source.account_external_id == fake_bluesky.me and source.handle == "alice.test"
    assert source.base_url == fake_bluesky.url
    credentials = source.get_credentials()
    assert credentials["session"].split(":::")[1] == fake_bluesky.me
    assert fake_bluesky.create_session_calls == 1


@pytest.mark.services
@pytest.mark.postgres_only
def test_a_wrong_app_password_is_refused_and_not_shown_back(alice_client, fake_bluesky):
    wrong = "zzzz-zzzz-zzzz-zzzz"
    refused = alice_client.post(
        "/connect/bluesky/", {"handle": "alice.test", "app_password": wrong, "service": fake_bluesky.url}
    )
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "refused" in body and wrong not in body
    assert not Source.objects.exists()


def test_something_that_is_not_an_app_password_is_refused_before_any_request(alice_client):
    refused = alice_client.post("/connect/bluesky/", {"handle": "alice.test", "app_password": "hunter2hunter2"})
    body = refused.content.decode()
    assert refused.status_code == 400 and "Never enter your main password" in body and "hunter2" not in body


# ---------------------------------------------------------------- permissions


@pytest.mark.parametrize("url", ["/connect/mastodon/", "/connect/bluesky/", "/connect/mastodon/callback/"])
def test_anonymous_visitors_are_sent_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("platform", ["mastodon", "bluesky"])
def test_bob_gets_a_404_for_reconnecting_alices_source(alice, bob, client, make_source, platform):
    source = make_source(alice, platform=platform, kind=Source.Kind.ACCOUNT, state=Source.State.NEEDS_REAUTH)
    client.force_login(bob)
    assert client.get(f"/connect/{platform}/?source={source.pk}").status_code == 404
    assert client.post(f"/connect/{platform}/", {"source": source.pk}).status_code == 404


# ---------------------------------------------------------------- commands


@pytest.mark.services
@pytest.mark.postgres_only
def test_connect_mastodon_prints_the_new_sources_id(alice, fake_mastodon, monkeypatch):
    out = io.StringIO()
    call_command("connect_mastodon", user="alice", instance=fake_mastodon.url, token=fake_mastodon.token, stdout=out,
                 stderr=io.StringIO())
    source = Source.objects.get(user=alice)
    assert out.getvalue().strip() == str(source.pk)

    monkeypatch.setenv("RAPPORT_TOKEN", fake_mastodon.token)
    out = io.StringIO()
    call_command("connect_mastodon", user="alice", instance=fake_mastodon.url, stdout=out, stderr=io.StringIO())
    assert out.getvalue().strip() == str(source.pk)  # the same account: the same source


@pytest.mark.services
@pytest.mark.postgres_only
def test_connect_mastodon_fails_with_the_reason(alice, fake_mastodon, monkeypatch):
    with pytest.raises(CommandError, match="refused the credentials"):
        call_command("connect_mastodon", user="alice", instance=fake_mastodon.url, token="wrong", stderr=io.StringIO())
    monkeypatch.delenv("RAPPORT_TOKEN", raising=False)
    with pytest.raises(CommandError, match="RAPPORT_TOKEN"):
        call_command("connect_mastodon", user="alice", instance=fake_mastodon.url, stderr=io.StringIO())
    with pytest.raises(CommandError, match="No user named"):
        call_command("connect_mastodon", user="nobody", instance=fake_mastodon.url, token="x")


@pytest.mark.services
@pytest.mark.postgres_only
def test_connect_bluesky_prints_the_new_sources_id(alice, fake_bluesky, monkeypatch):
    monkeypatch.setenv("RAPPORT_APP_PASSWORD", fake_bluesky.app_password)
    out = io.StringIO()
    call_command("connect_bluesky", user="alice", handle="alice.test", service=fake_bluesky.url, stdout=out,
                 stderr=io.StringIO())
    assert out.getvalue().strip() == str(Source.objects.get(user=alice, platform=BLUESKY).pk)
    with pytest.raises(CommandError, match="not an app password"):
        call_command("connect_bluesky", user="alice", handle="alice.test", app_password="my main password")


# ---------------------------------------------------------------- secrets


@pytest.mark.services
@pytest.mark.postgres_only
def test_credentials_are_stored_only_encrypted_and_never_logged_or_passed_to_tasks(
    alice, alice_client, fake_mastodon, fake_bluesky, caplog, django_capture_on_commit_callbacks, sent_tasks
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post("/connect/mastodon/", {"instance": fake_mastodon.url, "token": fake_mastodon.token})
        alice_client.post("/connect/bluesky/", {"handle": "alice.test", "app_password": fake_bluesky.app_password,
                                                "service": fake_bluesky.url})
        back = authorize_on_the_server(start_sign_in(alice_client, fake_mastodon))
        alice_client.get(back)
    for source in Source.objects.filter(user=alice):
        run_sync(source)
    bluesky = Source.objects.get(platform=BLUESKY).get_credentials()
    app = MastodonApp.objects.get()
    secrets = [fake_mastodon.token, *fake_mastodon.tokens, fake_bluesky.app_password, bluesky["session"],
               bluesky["session"].split(":::")[2], app.get_secret()]

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM relationships_source")
        sources = repr(cursor.fetchall())
        cursor.execute("SELECT * FROM relationships_mastodonapp")
        apps = repr(cursor.fetchall())
        cursor.execute("SELECT task_kwargs, error, summary FROM relationships_job")
        job_rows = repr(cursor.fetchall())
    for secret in secrets:
        for where, text in (("sources", sources), ("apps", apps), ("jobs", job_rows), ("log", caplog.text),
                            ("tasks", repr(sent_tasks))):
            assert secret not in text, f"a secret is readable in {where}"
    # Two sources (the OAuth sign-in reconnected the same Mastodon account, whose sync was already queued).
    assert all(kwargs.keys() == {"job_id"} for _, kwargs in sent_tasks) and len(sent_tasks) == 2
