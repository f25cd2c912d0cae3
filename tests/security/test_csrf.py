"""CSRF on every POST: every URL of the URLconf, found by the walk, refuses a POST without the token or
with a wrong one, through the CSRF failure view, which tells htmx to reload the page rather than swap
an error page into the target."""

from __future__ import annotations

import pytest
from django.middleware.csrf import CSRF_SECRET_LENGTH, get_random_string
from django.test import Client

from tests.security.walk import Route, path_for, payload, routes, sample_path, walked_routes

pytestmark = pytest.mark.django_db

# Named routes only: reverse() builds them. The admin's two unnamed ones (a
# redirect and its catch-all) answer POST like their named neighbours.
ALL = [r for r in routes() if r.name]
HTMX = {"HTTP_HX_REQUEST": "true"}


def _secret() -> str:
    return get_random_string(CSRF_SECRET_LENGTH)


def refusals(client: Client, path: str):
    """(what was wrong, response) for: no token at all, a cookie but no token, a token that does not match."""
    client.cookies.pop("csrftoken", None)
    yield "no token", client.post(path, {}, **HTMX)
    client.cookies["csrftoken"] = _secret()
    yield "cookie but no token", client.post(path, {}, **HTMX)
    yield "wrong token in the header", client.post(path, {}, HTTP_X_CSRFTOKEN=_secret(), **HTMX)
    yield "wrong token in the form", client.post(path, {"csrfmiddlewaretoken": _secret()}, **HTMX)


@pytest.fixture
def csrf_client(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


@pytest.mark.parametrize("route", ALL, ids=[r.qualified for r in ALL])
def test_an_htmx_post_without_the_right_token_is_refused_and_htmx_told_to_refresh(csrf_client, route: Route):
    path = sample_path(route)
    for wrong, response in refusals(csrf_client, path):
        assert response.status_code == 403, f"{path}: {wrong}"
        assert response["HX-Refresh"] == "true", f"{path}: {wrong}"
        assert b"This form has expired" in response.content, f"{path}: {wrong} (not the CSRF failure view)"


def test_anonymous_posts_to_the_public_pages_need_the_token_too(alice):
    client = Client(enforce_csrf_checks=True)
    for name in ("login", "signup", "password_reset"):
        route = next(r for r in ALL if r.name == name)
        for wrong, response in refusals(client, sample_path(route)):
            assert response.status_code == 403 and response["HX-Refresh"] == "true", f"{name}: {wrong}"


def test_a_plain_post_is_refused_with_the_page_and_no_htmx_header(csrf_client):
    response = csrf_client.post("/people/", {})
    assert response.status_code == 403 and "HX-Refresh" not in response
    assert b"This form has expired" in response.content and b"Reload the page" in response.content


WALKED = walked_routes()


@pytest.mark.parametrize("route", WALKED, ids=[r.qualified for r in WALKED])
def test_the_right_token_gets_through(alice_world, route: Route, no_platform_calls, sent_tasks):
    """The control: the 403s above come from the token, not from something else refusing the POST."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice_world.user)
    secret = _secret()
    client.cookies["csrftoken"] = secret
    response = client.post(path_for(route, alice_world), payload(alice_world), HTTP_X_CSRFTOKEN=secret, **HTMX)
    assert response.status_code != 403
