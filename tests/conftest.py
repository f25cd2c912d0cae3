"""Shared fixtures. Personas: alice owns the data; bob is another user who must see none of it."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

REQUIRE_SERVICES = os.environ.get("RAPPORT_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes", "on"}
REDIS_TEST_URL = os.environ.get("RAPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def need_service(available: bool, reason: str) -> None:
    """Skip when a service is missing on a laptop; fail in CI (RAPPORT_REQUIRE_SERVICES=1)."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (RAPPORT_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url():
    from urllib.parse import urlparse

    parsed = urlparse(REDIS_TEST_URL)
    need_service(port_open(parsed.hostname or "127.0.0.1", parsed.port or 6379), f"Redis is not running at {REDIS_TEST_URL}")
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()


@pytest.fixture
def chromium_path():
    path = shutil.which("chromium") or "/usr/bin/chromium"
    need_service(os.path.exists(path), "Debian's chromium is not installed (apt-get install -y chromium)")
    return path


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users are made in almost every test; PBKDF2's deliberate slowness (about
    1 s a user on this suite's machines) was most of the run. Production keeps
    Django's default, which tests/test_settings.py checks."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _long_running_web_process(monkeypatch):
    """Pages rendered in tests come from a web process long past its boot, so
    the banner judges heartbeats as it would in steady state (see
    relationships.web.context_processors.STARTING_GRACE); tests of the boot set
    PROCESS_STARTED themselves."""
    import datetime as dt

    from django.utils import timezone

    from relationships.web import context_processors

    monkeypatch.setattr(context_processors, "PROCESS_STARTED", timezone.now() - dt.timedelta(days=1))


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache. The embedded mode's file cache
    culls a random third of its entries past 300, so pages cached by earlier
    tests made a repeat view of this test's page miss at random."""
    from django.conf import settings
    from django.core.cache import caches

    for name in settings.CACHES:
        caches[name].clear()


@pytest.fixture(autouse=True)
def _fresh_rate_budgets(request):
    """Each test starts with no rate-limit budget known: the install's budgets
    live as long as the process, and fake servers reuse ports and clocks."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    from relationships.services.intake import connect

    connect._budgets.cache_clear()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "correct horse battery staple")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "another long password 42")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def make_source():
    from relationships.models import Source

    def make(user, platform="mastodon", kind=Source.Kind.ARCHIVE, **fields):
        return Source.objects.create(user=user, platform=platform, kind=kind, **fields)

    return make


@pytest.fixture(autouse=True)
def _plain_static_storage(request):
    # Production hashes static names via a manifest built by collectstatic;
    # tests render templates without running it. (Skipped when pytest-django
    # is disabled, as for the pure platform tests.)
    if not request.config.pluginmanager.hasplugin("django"):
        return
    settings = request.getfixturevalue("settings")
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
