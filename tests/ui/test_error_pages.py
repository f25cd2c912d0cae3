"""The 404 and 500 pages with DEBUG off: the site's look and a way home, never Django's bare pages."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def test_a_missing_page_with_debug_off_has_the_sites_navigation_and_a_way_home(alice_client, settings):
    settings.DEBUG = False
    response = alice_client.get("/people/999999/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "<title>Page not found · Rapport</title>" in html and 'rel="stylesheet"' in html
    assert '<nav aria-label="Main">' in html and '<main id="main"' in html
    assert "<h1>This page does not exist</h1>" in html and 'href="/">Go to your dashboard</a>' in html


def test_a_missing_page_for_a_visitor_offers_to_log_in(client, settings):
    settings.DEBUG = False
    html = client.get("/accounts/no-such-page/").content.decode()
    assert "<h1>This page does not exist</h1>" in html and ">Log in</a>" in html


def test_the_server_error_page_renders_with_no_request_context_and_no_query(django_assert_num_queries, settings):
    settings.DEBUG = False
    # server_error renders 500.html with an empty Context: no user, no context processor, maybe no database.
    with django_assert_num_queries(0):
        response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "rapport.css" in html and '<main id="main"' in html
    assert "<h1>Something went wrong on the server</h1>" in html and 'href="/">Go to your dashboard</a>' in html
