"""Accounts: sign-up when open, log in and out, password change and reset, login everywhere else."""

import re

import pytest
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_the_login_page_from_every_app_page(client):
    for name in ("dashboard", "people"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_login_page_is_public_and_a_correct_password_logs_in(client, alice):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "alice", "password": "correct horse battery staple"})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200


def test_the_session_key_rotates_at_login(client, alice):
    client.get(reverse("login"))
    client.cookies["sessionid"] = "attacker-chosen"
    client.post(reverse("login"), {"username": "alice", "password": "correct horse battery staple"})
    assert client.cookies["sessionid"].value != "attacker-chosen"


def test_a_wrong_password_is_refused(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(alice_client):
    alice_client.post(reverse("logout"))
    assert alice_client.get(reverse("dashboard")).status_code == 302


def test_sign_up_is_closed_by_default(client, settings):
    settings.RAPPORT_OPEN_SIGNUP = False
    assert client.get(reverse("signup")).status_code == 404
    assert client.post(reverse("signup"), {"username": "mallory"}).status_code == 404


def test_when_sign_up_is_open_a_new_user_can_create_an_account_and_lands_on_the_dashboard(client, settings, django_user_model):
    settings.RAPPORT_OPEN_SIGNUP = True
    response = client.post(
        reverse("signup"),
        {"username": "carol", "email": "carol@example.com", "password1": "a long passphrase 9!", "password2": "a long passphrase 9!"},
    )
    assert response.status_code == 302
    carol = django_user_model.objects.get(username="carol")
    assert carol.preferences.time_zone == "UTC"
    assert client.get(reverse("dashboard")).status_code == 200


def test_sign_up_refuses_a_weak_password(client, settings, django_user_model):
    settings.RAPPORT_OPEN_SIGNUP = True
    response = client.post(reverse("signup"), {"username": "dave", "password1": "123", "password2": "123"})
    assert response.status_code == 200
    assert not django_user_model.objects.filter(username="dave").exists()



def _field(html: str, name: str) -> tuple[str, str]:
    """(the <input> tag of field ``name``, the text of the element its aria-describedby names for errors)."""
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
    described = re.search(r'aria-describedby="([^"]*)"', tag)
    ids = described.group(1).split() if described else []
    error_id = next((i for i in ids if i.endswith("_error")), None)
    if error_id is None:
        return tag, ""
    block = re.search(rf'<(\w+)[^>]*id="{error_id}"[^>]*>(.*?)</\1>', html, re.S)
    return tag, re.sub(r"<[^>]+>", " ", block.group(2)) if block else ""


def test_sign_up_shows_a_weak_passwords_errors_beside_the_password_field(client, settings):
    settings.RAPPORT_OPEN_SIGNUP = True
    html = client.post(reverse("signup"), {"username": "dave", "password1": "123", "password2": "123"}).content.decode()
    password, errors = _field(html, "password1")
    assert 'aria-invalid="true"' in password
    assert "too short" in errors and "too common" in errors and "entirely numeric" in errors
    confirmation, errors = _field(html, "password2")
    assert errors == "" and "aria-invalid" not in confirmation  # the confirmation matched: nothing to say there


def test_sign_up_says_beside_the_confirmation_that_the_two_passwords_differ(client, settings):
    settings.RAPPORT_OPEN_SIGNUP = True
    html = client.post(reverse("signup"), {"username": "dave", "password1": "a long passphrase 9!",
                                           "password2": "a long passphrase 8!"}).content.decode()
    assert _field(html, "password1")[1] == ""
    assert "didn’t match" in _field(html, "password2")[1]


def test_settings_lead_to_changing_the_password_and_back(alice_client, alice):
    settings_page = alice_client.get(reverse("settings")).content.decode()
    assert f'<a href="{reverse("password_change")}">Change your password</a>' in settings_page
    assert 'name="old_password"' in alice_client.get(reverse("password_change")).content.decode()
    done = alice_client.post(reverse("password_change"), {
        "old_password": "correct horse battery staple",
        "new_password1": "brand new secret 77", "new_password2": "brand new secret 77",
    }, follow=True)
    assert "Password changed" in done.content.decode()
    assert f'<a href="{reverse("settings")}">Back to Settings</a>' in done.content.decode()
    alice.refresh_from_db()
    assert alice.check_password("brand new secret 77")
    assert alice_client.get(reverse("settings")).status_code == 200  # still logged in here


def test_password_change_requires_the_old_password(alice_client, alice):
    url = reverse("password_change")
    assert alice_client.get(url).status_code == 200
    alice_client.post(url, {"old_password": "wrong", "new_password1": "brand new secret 77", "new_password2": "brand new secret 77"})
    alice.refresh_from_db()
    assert alice.check_password("correct horse battery staple")
    response = alice_client.post(
        url,
        {"old_password": "correct horse battery staple", "new_password1": "brand new secret 77", "new_password2": "brand new secret 77"},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("brand new secret 77")


def test_password_reset_mails_a_link_that_sets_a_new_password(client, alice):
    client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "reset passphrase 31", "new_password2": "reset passphrase 31"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("reset passphrase 31")



def test_changing_or_resetting_to_a_weak_password_says_why_beside_the_new_password(alice_client, client, alice):
    html = alice_client.post(reverse("password_change"), {
        "old_password": "correct horse battery staple", "new_password1": "alice", "new_password2": "alice",
    }).content.decode()
    assert "too short" in _field(html, "new_password1")[1] and _field(html, "new_password2")[1] == ""

    client.post(reverse("password_reset"), {"email": "alice@example.com"})
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[-1].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    html = client.post(form_url, {"new_password1": "12345678", "new_password2": "12345678"}).content.decode()
    assert "too common" in _field(html, "new_password1")[1] and _field(html, "new_password2")[1] == ""
    alice.refresh_from_db()
    assert alice.check_password("correct horse battery staple")  # nothing changed


def test_repeated_failed_logins_lock_the_account_even_against_the_right_password(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "alice", "password": "correct horse battery staple"})
    assert response.status_code == 429
    assert b"Too many failed log-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_healthz_answers_200_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_healthz_answers_503_when_the_database_does_not(client, monkeypatch):
    from django.db.backends.utils import CursorWrapper

    def broken(*args, **kwargs):
        raise __import__("django.db").db.OperationalError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 503


def test_every_response_carries_the_security_headers(client):
    response = client.get(reverse("login"))
    csp = response["Content-Security-Policy"]
    assert "unsafe-eval" not in csp and "default-src 'self'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_an_htmx_post_without_a_csrf_token_asks_htmx_to_refresh(alice, django_user_model):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(alice)
    response = csrf_client.post(reverse("logout"), HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert response["HX-Refresh"] == "true"
