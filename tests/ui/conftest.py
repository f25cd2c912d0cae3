"""Fixtures for the pages: alice's community told through the real ingest service, scored and nudged;
and for the browser tests: one chromium per session, the live server, logged-in pages (see browser.py)."""

from __future__ import annotations

import os
import shutil

import pytest
from django.db.models import F
from django.utils import timezone

from relationships.models import Heartbeat, Interaction
from relationships.platforms import records as r
from relationships.services.scoring import community as dashboard
from relationships.services.scoring import nudges, rapport
from tests.conftest import need_service

# alice's and bob's stories, told through the real ingest service, as in the rapport tests.
from tests.rapport.conftest import alice_source, bob_story, story  # noqa: F401
from tests.rapport.stories import TODAY, Story
from tests.ui.browser import AXE, DESKTOP, PASSWORD, TIMEOUT_MS, session_cookie


def talk_often(story: Story, name: str, days: range, **identity) -> None:
    """A conversation with ``name`` on each of ``days`` (days ago): they reply, the user answers."""
    story.someone(name, **identity)
    for day in days:
        story.said(name, r.REPLY, day, post=f"https://fedi.example/@{name.lower()}/{day}")
        story.answered(name, r.REPLY, day)


def with_permalinks(user) -> None:
    """Stories name posts by URL as their external id; give them the same URL as permalink."""
    Interaction.objects.filter(user=user, permalink="", external_id__startswith="https://").update(
        permalink=F("external_id")
    )


def score(user, today=TODAY) -> None:
    """What the recompute job does: rapport, nudges, then the stored dashboard figures."""
    rapport.recompute(user, today=today)
    nudges.generate(user, today=today)
    dashboard.store_community(user, today=today)


@pytest.fixture
def community(alice, story):
    """Ana and Ben talk with alice often (follow nudges); Cleo is a fan; Dan mentioned alice once."""
    talk_often(story, "Ana", range(1, 7), avatar_url="https://fedi.example/avatars/ana.png")
    talk_often(story, "Ben", range(3, 40, 6))
    story.someone("Cleo")
    for day in (2, 5, 9):
        story.said("Cleo", r.LIKE, day)
    story.someone("Dan").said("Dan", r.MENTION, 20)
    story.save()
    with_permalinks(alice)
    score(alice)
    return story


@pytest.fixture
def pals(alice, story):
    """Eight people who each talked with alice on six days, and a budget that opens a nudge for each."""
    from relationships.models import Preferences

    for i in range(8):
        talk_often(story, f"Pal{i}", range(1, 7))
    story.save()
    Preferences.objects.filter(user=alice).update(daily_nudge_budget=20)
    score(alice)
    return story


@pytest.fixture
def follows(alice, story):
    """Whom alice follows (tests/ui/test_review.py): Ana (talks weekly), Ben (a lot, 14 months ago; she still
    likes his posts), Cleo (a fan never answered), Dan (nothing ever), Eve (one talk this year); not Fay."""
    talk_often(story, "Ana", range(1, 60, 7))
    talk_often(story, "Ben", range(420, 440, 2))
    for day in (3, 30, 90):
        story.answered("Ben", r.LIKE, day)
    story.someone("Cleo")
    for day in (5, 8):
        story.said("Cleo", r.REPLY, day)
    story.someone("Dan")
    talk_often(story, "Eve", range(100, 101))
    talk_often(story, "Fay", range(1, 5))
    for name in ("Ana", "Ben", "Cleo", "Dan", "Eve"):
        story.follow_state(name, i_follow=True)
    story.follow_state("Ana", follows_me=False).follow_state("Cleo", follows_me=True).follow_state("Dan", follows_me=True)
    story.save()
    score(alice)
    return story


def grow(story: Story, count: int, prefix: str = "Friend") -> None:
    """``count`` more people who each talked with the user a few times: for query-count tests."""
    for i in range(count):
        talk_often(story, f"{prefix}{i}", range(1, 6))
    story.save()


# -- The browser (Playwright driving Debian's chromium against pytest-django's live server) --------------


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # The same check as the chromium_path fixture (function-scoped, so not usable here).
    path = shutil.which("chromium") or "/usr/bin/chromium"
    need_service(os.path.exists(path), "Debian's chromium is not installed (apt-get install -y chromium)")
    # Playwright's sync API keeps an event loop running in this thread; the
    # ORM calls the tests make around it are plain synchronous ones.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def live(live_server, chromium_path, settings):
    # The live server runs in this process: settings changed here apply to it.
    settings.DEBUG = False
    return live_server.url


@pytest.fixture
def heartbeats(db):
    # A running worker and beat, so no banner covers the screenshots.
    for name in ("worker", "beat"):
        Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})


@pytest.fixture
def alice_pw(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", PASSWORD)


@pytest.fixture
def open_page(browser, live):
    """open_page(user, path, viewport=..., scheme=...) -> a Playwright page at ``path``, logged in as ``user``
    (``None``: anonymous). ``page.errors`` collects the page's JavaScript errors and console errors."""
    contexts = []

    def open_(user, path: str = "/", *, viewport=DESKTOP, scheme: str = "light"):
        context = browser.new_context(viewport=viewport, color_scheme=scheme)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        if user is not None:
            context.add_cookies([session_cookie(user, live)])
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.errors = errors
        page.goto(live + path)
        return page

    yield open_
    for context in contexts:
        context.close()
