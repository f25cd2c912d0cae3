"""Security headers on every response, and production mode: `check --deploy` and HSTS."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse

from tests.security.walk import DUMMY, PUBLIC, path_for, query_for, routes, walked_routes

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]


def directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_security_headers(response, where: str) -> None:
    csp = response.get("Content-Security-Policy", "")
    assert csp, f"{where}: no Content-Security-Policy"
    policy = directives(csp)
    assert "'unsafe-eval'" not in csp, where
    scripts = policy.get("script-src", policy.get("default-src"))
    assert scripts == ["'self'"], f"{where}: script-src {scripts}"  # no inline, no eval, no other origin
    assert policy.get("default-src") == ["'self'"], where
    assert "'unsafe-inline'" not in policy.get("style-src", []), where
    assert policy.get("object-src") == ["'none'"] and policy.get("frame-ancestors") == ["'none'"], where
    assert policy.get("base-uri") == ["'self'"], where
    assert response.get("X-Frame-Options") == "DENY", where
    assert response.get("X-Content-Type-Options") == "nosniff", where
    assert response.get("Referrer-Policy") == "same-origin", where


def test_every_page_of_the_walk_carries_the_security_headers(client, alice_world, no_platform_calls):
    client.force_login(alice_world.user)
    for route in walked_routes():
        path = path_for(route, alice_world)
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(path, query_for(route, alice_world), **headers)
            assert_security_headers(response, f"GET {path} {headers}")


def test_public_pages_errors_and_redirects_carry_them_too(client, settings):
    settings.RAPPORT_OPEN_SIGNUP = True
    for route in routes():
        if route.name in PUBLIC:
            path = reverse(route.name, kwargs={a: DUMMY[a] for a in route.arguments})
            assert_security_headers(client.get(path), path)
    assert_security_headers(client.get("/people/"), "an anonymous redirect to log in")
    assert_security_headers(client.get("/no/such/page/"), "a 404")
    csrf = Client(enforce_csrf_checks=True).post(reverse("login"), {})
    assert csrf.status_code == 403
    assert_security_headers(csrf, "the CSRF failure page")


def test_the_mastodon_connect_page_widens_only_form_action_and_only_to_https(client, alice, settings):
    settings.RAPPORT_ALLOW_PRIVATE_HOSTS = False
    client.force_login(alice)
    response = client.get(reverse("connect_mastodon"))
    assert_security_headers(response, "connect_mastodon")
    assert directives(response["Content-Security-Policy"])["form-action"] == ["'self'", "https:"]


def test_static_files_are_served_with_nosniff(settings):
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    response = Client().get("/static/rapport.css")
    assert response.status_code == 200 and response["X-Content-Type-Options"] == "nosniff"
    assert not response.get("Location")


def test_hsts_is_sent_on_https_responses_with_the_production_values(settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    response = Client().get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    # Over plain HTTP the header means nothing to a browser, and Django leaves it out.
    assert "Strict-Transport-Security" not in Client().get(reverse("login"))


PRODUCTION_PROBE = """
import json, django
django.setup()
from django.core.management import call_command
call_command("check", deploy=True, fail_level="WARNING")
from django.test import Client
client = Client(HTTP_HOST="rapport.example")
secure = client.get("/healthz", secure=True)
plain_page = client.get("/accounts/login/")
plain_health = client.get("/healthz")
print(json.dumps({
    "secure": dict(secure.items()), "secure_status": secure.status_code,
    "plain_page_status": plain_page.status_code, "plain_page_location": plain_page.get("Location", ""),
    "plain_health_status": plain_health.status_code,
}))
"""


def test_production_mode_passes_check_deploy_and_sends_hsts(tmp_path):
    """settings.py with DEBUG off and none of the test suite's overrides: the defaults are the production ones."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "rapport.example",
        "RAPPORT_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "RAPPORT_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run([sys.executable, "-c", PRODUCTION_PROBE], cwd=BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "System check identified no issues" in done.stderr + done.stdout
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["secure_status"] == 200
    assert seen["secure"]["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["secure"]["X-Content-Type-Options"] == "nosniff"
    assert seen["secure"]["Referrer-Policy"] == "same-origin"
    assert seen["secure"]["X-Frame-Options"] == "DENY"
    assert "'unsafe-eval'" not in seen["secure"]["Content-Security-Policy"]
    # Plain HTTP is sent to HTTPS, except the health probe of load balancers.
    assert seen["plain_page_status"] == 301 and seen["plain_page_location"].startswith("https://rapport.example/")
    assert seen["plain_health_status"] == 200
