"""Login throttling and passwords, beyond tests/test_accounts.py (which covers the lockout after N failures,
the correct password refused during it, the session key rotating at login, and a weak sign-up password)."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.password_validation import get_default_password_validators
from django.urls import reverse

pytestmark = pytest.mark.django_db

RIGHT = "correct horse battery staple"
ALMOST = "correct horse battery stapler"


def fail(client, settings, username="alice", times=None):
    for _ in range(times or settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": username, "password": ALMOST})


def log_in(client, username="alice", password=RIGHT):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_the_lockout_page_says_what_happened_and_where_to_go(client, alice, settings):
    fail(client, settings)
    response = log_in(client)
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed log-ins" in body and reverse("password_reset") in body
    assert response["X-Frame-Options"] == "DENY"


def test_one_failure_short_of_the_limit_does_not_lock(client, alice, settings):
    fail(client, settings, times=settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client).status_code == 302


def test_the_lock_lifts_when_the_cool_off_has_passed(client, alice, settings):
    fail(client, settings)
    assert log_in(client).status_code == 429
    # The cool-off passes: move the recorded failures back by its length, and a minute.
    elapsed = dt.timedelta(hours=settings.AXES_COOLOFF_TIME, minutes=1)
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - elapsed)
        expiration = getattr(attempt, "expiration", None)
        if expiration is not None:
            type(expiration).objects.filter(pk=expiration.pk).update(expires_at=expiration.expires_at - elapsed)

    response = log_in(client)

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_the_cool_off_is_the_configured_fifteen_minutes(settings):
    assert settings.AXES_COOLOFF_TIME * 60 == pytest.approx(15)
    assert settings.AXES_FAILURE_LIMIT == 5


def test_a_lock_on_alice_does_not_lock_bob_out_from_the_same_address(client, alice, bob, settings):
    fail(client, settings)
    assert log_in(client).status_code == 429
    assert log_in(client, "bob", "another long password 42").status_code == 302


def test_failed_passwords_are_kept_neither_in_the_lockout_records_nor_in_the_log(client, alice, settings, caplog):
    caplog.set_level(logging.DEBUG)
    fail(client, settings)
    log_in(client)
    stored = repr(list(AccessAttempt.objects.values())) + repr(list(AccessFailureLog.objects.values()))
    stored += repr(list(AccessLog.objects.values()))
    assert AccessAttempt.objects.exists()
    for password in (ALMOST, RIGHT):
        assert password not in stored, "a password typed at login is stored"
        assert password not in caplog.text, "a password typed at login is logged"


def test_sign_up_refuses_password123_and_names_why(client, settings, django_user_model):
    settings.RAPPORT_OPEN_SIGNUP = True
    response = client.post(reverse("signup"), {"username": "dave", "password1": "password123", "password2": "password123"})
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    assert not django_user_model.objects.filter(username="dave").exists()


def test_changing_the_password_goes_through_the_same_validators(client, alice):
    client.force_login(alice)
    response = client.post(reverse("password_change"), {
        "old_password": RIGHT, "new_password1": "password123", "new_password2": "password123",
    })
    assert response.status_code == 200 and "too common" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(RIGHT)


def test_all_four_password_validators_are_on():
    names = {type(v).__name__ for v in get_default_password_validators()}
    assert names == {"UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator",
                     "NumericPasswordValidator"}
