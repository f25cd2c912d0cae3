"""Text from imported posts is inert wherever it is shown: escaped on every page and htmx partial,
plain text in the digest, and data (never markup) in the exports.

An imported excerpt carries markup and an htmx attribute that would, if it
were ever rendered as HTML, delete the account on load; a display name tries
to close an attribute and open a script; profile, avatar and post links use
the javascript: scheme.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from relationships.models import Interaction, Nudge, Preferences
from relationships.platforms import records as r
from relationships.services import digest
from relationships.services.intake import ingest
from tests.security.conftest import build_world
from tests.security.walk import path_for, query_for, walked_routes

pytestmark = pytest.mark.django_db

PAYLOAD = '<img src=x onerror=alert(1)><a hx-get="/settings/delete/" hx-trigger="load">x</a>'
NAME = '<script>alert("dn")</script> Eve" onmouseover="alert(2)'
ESCAPED_PAYLOAD = "&lt;img src=x onerror=alert(1)&gt;&lt;a hx-get=&quot;/settings/delete/&quot;"
ESCAPED_NAME = "&lt;script&gt;alert(&quot;dn&quot;)&lt;/script&gt;"
RAW = ("<img src=x", "<script>alert", '<a hx-get="/settings/delete/"', 'hx-trigger="load"', 'onmouseover="alert')


class Markup(HTMLParser):
    """Elements and their attributes as a browser would build them, and the scripts' text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self._script: list | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if tag == "script":
            self._script = [attributes, ""]

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data):
        if self._script is not None:
            self._script[1] += data

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append(tuple(self._script))
            self._script = None


def _planted() -> set[tuple[str, str]]:
    """Every (attribute, value) the hostile text would create if parsed as markup."""
    return {pair for text in (PAYLOAD, NAME) for _tag, attributes in Markup(text).elements
            for pair in attributes.items()}


PLANTED = _planted()


def assert_inert(html: str, where: str) -> None:
    for raw in RAW:
        assert raw not in html, f"{where}: {raw!r} is in the page unescaped"
    page = Markup(html)
    for tag, attributes in page.elements:
        for name, value in attributes.items():
            assert not name.startswith("on"), f"{where}: <{tag} {name}=...>"
            # No attribute of the page (hx-get, hx-trigger...) is one the imported text carries.
            assert (name, value) not in PLANTED, f"{where}: <{tag} {name}={value!r}> comes from imported text"
            if name in ("href", "src", "action", "formaction", "hx-get", "hx-post"):
                assert not value.strip().lower().startswith(("javascript:", "data:text")), f"{where}: {name}={value!r}"
        assert not (tag == "img" and attributes.get("src") == "x"), where
    for attributes, text in page.scripts:
        assert attributes.get("src") and not text.strip(), f"{where}: an inline script {text[:80]!r}"


@pytest.fixture
def hostile(alice):
    """Alice's world, with imported text that would act if it were ever treated as markup."""
    world = build_world(
        alice, person=NAME, other="Otto Plain", handle="eve@fedi.example", source="alice-src", excerpt=PAYLOAD,
        note="notes", tag="tag", reason="", job="job", token="token", app_password="abcd-abcd-abcd-abcd",
        identity={"profile_url": "javascript:alert(3)", "avatar_url": "javascript:alert(4)"},
    )
    ingest.ingest(alice, world.account, [r.InteractionRecord(
        platform=r.MASTODON, external_id="https://fedi.example/users/eve/statuses/js", identity_id=world.identity.external_id,
        kind=r.MENTION, direction=r.INBOUND, occurred_at=timezone.now() - dt.timedelta(hours=2),
        permalink="javascript:alert(5)", excerpt=PAYLOAD,
    )])
    assert Nudge.objects.filter(person=world.person, state=Nudge.State.OPEN).exists()
    return world


def pages(world):
    """(where, path, query, headers) of every page and partial alice can GET."""
    htmx = {"HTTP_HX_REQUEST": "true"}
    for route in walked_routes():
        if route.name == "settings_export":
            continue  # files, checked below
        path = path_for(route, world)
        for headers in ({}, htmx):
            yield route.qualified, path, query_for(route, world), headers
    person = reverse("person", args=[world.person.pk])
    for target in ("timeline", "merge-candidates", "about"):
        yield f"person #{target}", person, {"merge_q": "eve"}, {**htmx, "HTTP_HX_TARGET": target}
    other = reverse("person", args=[world.other.pk])
    # The hostile person found from another person's merge search, full page and partial.
    yield "merge search", other, {"merge_q": "script"}, {}
    yield "merge search (htmx)", other, {"merge_q": "script"}, {**htmx, "HTTP_HX_TARGET": "merge-candidates"}
    yield "dashboard, all nudges", reverse("dashboard"), {"all": "on"}, {}
    yield "people list", reverse("people"), {}, {}
    yield "people search", reverse("people"), {"q": "eve"}, htmx


def test_imported_text_is_escaped_on_every_page_and_partial(client, hostile, no_platform_calls):
    client.force_login(hostile.user)
    shown_on = set()
    for where, path, query, headers in pages(hostile):
        response = client.get(path, query, **headers)
        assert response.status_code < 500 and response.status_code not in (403, 404), where
        html = response.content.decode()
        assert_inert(html, f"{where} {path}")
        if ESCAPED_PAYLOAD in html:
            shown_on.add(("excerpt", where))
        if ESCAPED_NAME in html:
            shown_on.add(("name", where))
    # Not vacuous: the hostile text is on the pages, as text.
    assert {("excerpt", "person"), ("excerpt", "dashboard"), ("name", "people list"),
            ("name", "people search"), ("name", "person")} <= shown_on


def test_nudge_cards_answered_to_htmx_escape_the_name_and_the_excerpts(client, hostile, no_platform_calls):
    client.force_login(hostile.user)
    nudge = Nudge.objects.filter(person=hostile.person, state=Nudge.State.OPEN).first()
    for name, data in (("nudge_follow", {"identity": hostile.identity.pk}), ("nudge_snooze", {"days": 3}),
                       ("nudge_dismiss", {})):
        response = client.post(reverse(name, args=[nudge.pk]), data, HTTP_HX_REQUEST="true")
        assert response.status_code == 200, name
        assert_inert(response.content.decode(), name)
        Nudge.objects.filter(pk=nudge.pk).update(state=Nudge.State.OPEN, snoozed_until=None)
    assert ESCAPED_NAME in response.content.decode()


def test_the_digest_is_plain_text_only_so_imported_markup_is_inert(hostile):
    hostile.user.email = "alice@example.com"
    hostile.user.save()
    prefs = Preferences.for_user(hostile.user)
    Preferences.objects.filter(pk=prefs.pk).update(digest_opt_in=True)
    prefs.refresh_from_db()

    assert digest.send_digest(prefs, timezone.now()) == "sent"

    (message,) = mail.outbox
    assert message.content_subtype == "plain" and not getattr(message, "alternatives", [])
    assert message.message().get_content_type() == "text/plain"
    assert NAME in message.body  # shown as the text it is, in a part no mail client renders as HTML
    assert "\n" not in message.subject and NAME not in message.subject


EXPORTS = [("people", "csv"), ("people", "json"), ("interactions", "csv"), ("interactions", "json"),
           ("everything", "json")]


@pytest.mark.parametrize("what, fmt", EXPORTS)
def test_exports_carry_imported_text_as_data_and_are_downloads_not_pages(client, hostile, what, fmt):
    client.force_login(hostile.user)
    response = client.get(reverse("settings_export"), {"what": what, "format": fmt})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] in ("text/csv; charset=utf-8", "application/json")
    assert response["X-Content-Type-Options"] == "nosniff"  # never sniffed into HTML
    text = b"".join(response.streaming_content).decode()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        if what == "people":
            assert NAME in [row["name"] for row in rows]
            assert len(rows) == 2  # the name's quotes did not break a row
        else:
            excerpts = [row["excerpt"] for row in rows]
            assert len(rows) == Interaction.objects.filter(user=hostile.user).count()
            assert any(e.startswith(PAYLOAD) for e in excerpts)
            assert all(not row["permalink"].startswith("javascript:") for row in rows)
        return
    data = json.loads(text)
    people = data["people"] if what == "everything" else data if what == "people" else []
    interactions = data["interactions"] if what == "everything" else data if what == "interactions" else []
    if people:
        assert NAME in [p["name"] for p in people]
    if interactions:
        assert any(i["excerpt"].startswith(PAYLOAD) for i in interactions)
        assert all(not i["permalink"].startswith("javascript:") for i in interactions)
