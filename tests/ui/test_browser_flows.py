"""The user's journeys in a real browser, end to end: sign up; connect the fake Mastodon server and sync;
Follow from a nudge; upload an archive and watch it import.

Syncs and imports run where they run in production: in a real Celery worker
process (tests/workers.py, on the embedded filesystem broker). The tests are
transactional, so what the live server commits is what the worker reads, and
the worker's writes are what the pages show. Platforms are the fake servers of
tests/fakes/ (RAPPORT_ALLOW_PRIVATE_HOSTS is on in tests, so 127.0.0.1 is allowed).
Fixtures (browser, live, open_page, alice_pw, heartbeats) are in tests/ui/conftest.py.
"""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.db import connection
from django.utils import timezone

from relationships.models import Identity, Interaction, Job, Nudge, Person, Source
from relationships.platforms import records as r
from tests.builders import x as xb
from tests.fakes.fixtures import clock, fake_mastodon  # noqa: F401
from tests.sync.helpers import run_sync, talks
from tests.ui.browser import PASSWORD, PHONE, axe, no_overflow, screenshot
from tests.workers import WorkerProcess, worker_env

pytestmark = [pytest.mark.services, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

#: A sync or import in the worker: the worker polls the broker every second, then works.
JOB_TIMEOUT_S = 180  # a loaded CI machine once took over 90 s


@pytest.fixture
def worker(transactional_db, live):
    """A real Celery worker process on this test's database (committed rows only: transactional tests)."""
    # Small ingest batches: the import flushes (and reports progress) often enough, and lasts long enough
    # (a few of the page's one-second polls), to be watched. SQLite commits a batch far faster.
    batch = "1" if connection.vendor == "sqlite" else "5"
    process = WorkerProcess(worker_env(RAPPORT_INGEST_BATCH_SIZE=batch)).start()
    yield process
    process.stop()


def _look(page, selector: str) -> dict | None:
    """What the job element at ``selector`` shows right now."""
    return page.evaluate(
        """(selector) => {
            const job = document.querySelector(selector);
            if (!job) return null;
            const bar = job.querySelector('progress');
            const text = (sel) => { const el = job.querySelector(sel); return el ? el.innerText.trim() : ''; };
            return {
                state: text('.state'),
                bar: !!bar,
                value: bar && bar.hasAttribute('value') ? Number(bar.value) : null,
                max: bar && bar.hasAttribute('max') ? Number(bar.max) : null,
                polling: job.hasAttribute('hx-get'),
                summary: text('.summary'),
                error: text('.error'),
            };
        }""",
        selector,
    )


def watch_job(page, selector: str, worker: WorkerProcess, timeout: float = JOB_TIMEOUT_S) -> list[dict]:
    """Watch the job element the page polls (htmx, every second) until it shows the outcome.

    Returns every distinct state the page showed, first to last. The page is
    sampled far more often than htmx swaps, so no state it shows is missed.
    """
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _look(page, selector)
        if now is not None and (not seen or now != seen[-1]):
            seen.append(now)
        if now and (now["summary"] or now["error"]) and not now["polling"]:
            return seen
        page.wait_for_timeout(100)
    raise AssertionError(f"{selector} never finished; the page showed {seen}\n{worker.log()[-3000:]}")


def errors_besides_fake_images(page, server) -> list[str]:
    """The page's errors, less the fake server's avatars: served over http, which img-src (https:) blocks."""
    return [e for e in page.errors if not (server.url in e and "img-src" in e)]


def _job_id(page, container: str) -> int:
    """The pk of the job element the page just swapped into ``container``."""
    job = page.locator(f"{container} .job").first
    job.wait_for()
    return int(job.get_attribute("id").removeprefix("job-"))


# -- Sign up ------------------------------------------------------------------------------------------------

def test_signing_up_lands_on_the_dashboard_that_says_what_to_do_first(open_page, live, settings, heartbeats,
                                                                      django_user_model):
    settings.RAPPORT_OPEN_SIGNUP = True
    page = open_page(None, "/")
    assert "/accounts/login/" in page.url
    page.get_by_role("link", name="Create an account").click()
    page.wait_for_url(live + "/accounts/signup/")
    axe(page, "sign-up page")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Email").fill("carol@example.com")
    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    screenshot(page, "flow-signup")
    page.get_by_role("button", name="Sign up").click()

    page.wait_for_url(live + "/")
    assert page.get_by_role("heading", name="Your community").is_visible()
    # The empty state: nothing connected yet, and where to start.
    assert page.get_by_role("heading", name="Let's find the people you really talk with").is_visible()
    connect = page.get_by_role("link", name="Connect your Mastodon or Bluesky account")
    assert connect.is_visible() and connect.get_attribute("href") == "/sources/"
    assert page.get_by_role("link", name="import an archive").get_attribute("href") == "/sources/#upload"
    axe(page, "empty dashboard")
    screenshot(page, "flow-dashboard-empty")
    carol = django_user_model.objects.get(username="carol")
    assert carol.email == "carol@example.com" and carol.check_password(PASSWORD)
    assert not Person.objects.filter(user=carol).exists()
    assert not page.errors


def test_a_closed_server_offers_no_sign_up(open_page, live, settings):
    settings.RAPPORT_OPEN_SIGNUP = False
    page = open_page(None, "/accounts/login/")
    assert page.get_by_role("link", name="Create an account").count() == 0
    page.goto(live + "/accounts/signup/")
    assert page.get_by_label("Password confirmation").count() == 0


# -- Connect the fake Mastodon server, sync, see people ----------------------------------------------------

def test_connecting_mastodon_in_the_browser_syncs_in_the_worker_and_people_appear(
    open_page, alice_pw, heartbeats, live, fake_mastodon, worker
):
    recently = timezone.now() - dt.timedelta(days=10)
    ana = fake_mastodon.add_account("ana", "remote.example", display_name="Ana")
    talks(fake_mastodon, fake_mastodon.me, ana, days=5, start=recently)

    page = open_page(alice_pw, "/sources/")
    page.get_by_role("link", name="Connect Mastodon").click()
    page.get_by_label("Your Mastodon server").fill(fake_mastodon.url)
    # Continue -> the fake's /oauth/authorize, which sends the browser back with code and state.
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(live + "/sources/")
    assert fake_mastodon.calls("/oauth/authorize") and fake_mastodon.calls("/oauth/token", "POST")
    source = Source.objects.get(user=alice_pw, platform=r.MASTODON)
    assert source.kind == Source.Kind.ACCOUNT and source.state == Source.State.ACTIVE
    assert page.get_by_text(f"Connected {source}").is_visible()

    # Connecting queued the first sync; its row under "Background work" polls until the worker is done.
    first = Job.objects.get(source=source, kind="sync")
    states = watch_job(page, f"#job-{first.pk}", worker)
    assert states[0]["polling"] and states[0]["bar"], states  # shown while queued or running
    assert states[-1]["state"] == "done" and "10 new interactions" in states[-1]["summary"], states
    assert not states[-1]["bar"]

    # Someone new writes; "Sync now" queues a second sync, and its progress replaces the button's slot.
    cleo = fake_mastodon.add_account("cleo", "elsewhere.example", display_name="Cleo")
    fake_mastodon.add_status(cleo, "hello alice", mentions=[fake_mastodon.me], created_at=timezone.now() - dt.timedelta(hours=2))
    fake_mastodon.delay = 0.15  # a sync that lasts a little while, so its progress can be seen
    page.evaluate("() => { window.stillHere = true; }")
    page.get_by_role("button", name=f"Sync {source} now").click()
    second = _job_id(page, f"#sync-{source.pk}")
    assert second != first.pk
    # Another job ending reloads the lists (sources-changed), as the first sync's end may just have done:
    # the slot keeps this sync's progress.
    page.evaluate("() => { document.getElementById('source-lists').dataset.before = 'reload'; }")
    page.evaluate("() => htmx.trigger(document.body, 'sources-changed')")
    page.wait_for_function("() => !document.getElementById('source-lists').dataset.before")
    assert page.locator(f"#sync-{source.pk} #job-{second}").count() == 1
    states = watch_job(page, f"#sync-{source.pk} #job-{second}", worker)
    screenshot(page, "flow-sources-synced")
    assert states[0]["polling"] and states[0]["bar"] and states[0]["state"] in ("queued", "running"), states
    assert [s["state"] for s in states if s["state"] != states[0]["state"]][-1] == "done", states
    assert "1 new interaction" in states[-1]["summary"], states
    assert page.evaluate("() => window.stillHere") is True  # no reload: polled in place
    assert Job.objects.get(pk=second).state == Job.State.DONE

    page.get_by_role("link", name="People", exact=True).click()
    page.wait_for_url(live + "/people/")
    names = page.locator(".pr-name").all_inner_texts()
    assert sorted(n.strip() for n in names) == ["Ana", "Cleo"]
    assert "relationships.sync_source" in worker.log()
    assert not errors_besides_fake_images(page, fake_mastodon)


# -- Follow from a nudge -----------------------------------------------------------------------------------

@pytest.fixture
def ana_on_mastodon(alice_pw, fake_mastodon) -> tuple[dict, Nudge]:
    """Alice's Mastodon account connected and synced: she talked with Ana on five days, a follow nudge is open."""
    from relationships.services.intake import connect

    ana = fake_mastodon.add_account("ana", "remote.example", display_name="Ana")
    talks(fake_mastodon, fake_mastodon.me, ana, days=5, start=timezone.now() - dt.timedelta(days=10))
    source = connect.connect_mastodon_token(alice_pw, fake_mastodon.url, fake_mastodon.token)
    job = run_sync(source)  # set-up only: the sync itself is the test above
    assert job.state == Job.State.DONE, job.error
    return ana, Nudge.objects.get(user=alice_pw, kind=Nudge.Kind.FOLLOW, state=Nudge.State.OPEN)


def test_follow_on_a_nudge_follows_on_mastodon_swaps_the_card_and_marks_the_person(
    open_page, alice_pw, heartbeats, live, fake_mastodon, ana_on_mastodon
):
    ana, nudge = ana_on_mastodon
    person = nudge.person

    page = open_page(alice_pw, "/")
    page.evaluate("() => { window.stillHere = true; }")
    card = page.locator(f"#nudge-{nudge.pk}")
    assert "1 open" in page.locator("#nudge-counts").inner_text()
    assert "Ana" in card.inner_text()
    card.get_by_role("button", name="Follow Ana").click()

    # The card swaps in place for what happened, and the counts follow.
    card.get_by_text("You follow Ana now.").wait_for()
    assert card.get_by_role("button", name=re.compile("^Follow")).count() == 0
    page.wait_for_function("() => document.querySelector('#nudge-counts').innerText.includes('0 open')")
    assert page.evaluate("() => window.stillHere") is True
    screenshot(page, "flow-nudge-followed", full_page=False)
    # The follow went to the user's Mastodon server, once, for Ana's account there.
    assert fake_mastodon.follow_calls == [ana["id"]]
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.ACTED and nudge.outcome == "following"
    assert Identity.objects.get(user=alice_pw, external_id=ana["uri"]).i_follow is True

    page.goto(f"{live}/people/{person.pk}/")
    # Under the name, the follow state in words; then the nudge's history says when, and why.
    assert "You follow them" in page.locator(".follow-state").first.inner_text()
    why = page.locator(".why-followed")
    assert re.search(r"You followed Ana on \d", why.inner_text()), why.inner_text()
    why.get_by_text("Why I followed").click()
    assert why.locator(".recent li").count() == len(nudge.evidence) > 0
    assert page.get_by_text("You follow this account").is_visible()
    screenshot(page, "flow-person-followed")
    assert not errors_besides_fake_images(page, fake_mastodon)


def test_undo_right_after_a_follow_unfollows_on_mastodon_and_brings_the_card_back(
    open_page, alice_pw, heartbeats, fake_mastodon, ana_on_mastodon
):
    ana, nudge = ana_on_mastodon
    page = open_page(alice_pw, "/")
    card = page.locator(f"#nudge-{nudge.pk}")
    card.get_by_role("button", name="Follow Ana").click()
    card.get_by_text("You follow Ana now.").wait_for()
    page.wait_for_function("() => document.querySelector('#nudge-counts').innerText.includes('0 open')")

    card.get_by_role("button", name="Undo for Ana").click()

    card.get_by_text("Undone: Unfollowed on Mastodon.").wait_for()
    assert card.get_by_role("button", name="Follow Ana").is_visible()
    page.wait_for_function("() => document.querySelector('#nudge-counts').innerText.includes('1 open')")
    assert fake_mastodon.unfollow_calls == [ana["id"]] and fake_mastodon.relationship(ana)["following"] is False
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.OPEN and nudge.evidence == []
    assert Identity.objects.get(user=alice_pw, external_id=ana["uri"]).i_follow is False
    axe(page, "dashboard after undoing a Follow")
    assert not errors_besides_fake_images(page, fake_mastodon)


# -- Upload an archive --------------------------------------------------------------------------------------

ANA = xb.XUser("1001", "ana", "Ana")
BEN = xb.XUser("1002", "ben", "Ben")
CARA = xb.XUser("1003", "cara", "Cara")
TWEETS = 10_000


def _x_archive(path):
    """An X archive of TWEETS replies and mentions to Ana, Ben and Cara, one an hour, ending a month ago."""
    start = timezone.now() - dt.timedelta(days=450)
    tweets = []
    for i in range(TWEETS):
        who = (ANA, BEN, CARA)[i % 3]
        at = start + dt.timedelta(hours=i)
        if i % 2:
            tweets.append(xb.reply(f"17{i:07d}", to=who, at=at))
        else:
            tweets.append(xb.tweet(f"17{i:07d}", text=f"hello @{who.screen}", mentions=[who], at=at))
    return xb.build_x_archive(path, tweets=tweets, likes=7, followers=[ANA])


def test_uploading_an_archive_with_the_file_picker_shows_progress_up_to_the_summary(
    open_page, alice_pw, heartbeats, live, worker, tmp_path
):
    archive = _x_archive(tmp_path / "twitter-2026-11-01.zip")
    page = open_page(alice_pw, "/sources/")
    page.evaluate("() => { window.stillHere = true; }")
    with page.expect_file_chooser() as chooser:
        page.get_by_label("Archive file").click()
    chooser.value.set_files(str(archive))
    page.get_by_role("button", name="Upload and import").click()

    job = _job_id(page, "#upload")
    states = watch_job(page, f"#upload #job-{job}", worker)
    screenshot(page, "flow-upload-done")
    assert page.evaluate("() => window.stillHere") is True  # uploaded and polled with htmx, no reload

    assert states[0]["polling"] and states[0]["bar"], states
    bars = [s for s in states if s["bar"]]
    values = [s["value"] for s in bars if s["value"] is not None]
    assert values == sorted(values), f"the bar went backwards: {states}"
    # The bar moved while the worker read the archive: a part done, out of the archive's size.
    assert any(s["max"] and 0 < s["value"] < s["max"] for s in bars if s["value"] is not None), states
    final = states[-1]
    assert final["state"] == "done" and not final["bar"] and not final["error"], states
    assert f"{TWEETS:,} new interactions with 3 people" in final["summary"], final
    assert "7 likes without an author" in final["summary"], final
    assert Interaction.objects.filter(user=alice_pw).count() == TWEETS
    # The lists below refresh with the last poll, no reload: the new source, and the job under Background work.
    page.locator("#source-lists ul.sources li").first.wait_for()
    assert "twitter-2026-11-01.zip" in page.locator("#source-lists ul.sources").inner_text()
    assert page.locator(f"#source-lists ul.jobs #job-{job}").inner_text().count("done") == 1
    assert page.get_by_text("Nothing connected yet").count() == 0
    assert page.evaluate("() => window.stillHere") is True
    # The upload card is still there, with an empty form, for the next archive.
    assert page.locator("#upload").get_by_label("Archive file").input_value() == ""
    assert Job.objects.get(pk=job).state == Job.State.DONE
    assert "relationships.import_archive" in worker.log()
    assert not page.errors


def test_the_sign_up_and_connect_pages_fit_a_phone_and_pass_axe(open_page, alice_pw, heartbeats, live, settings):
    settings.RAPPORT_OPEN_SIGNUP = True
    for user, path, label in ((None, "/accounts/signup/", "sign-up"), (alice_pw, "/connect/mastodon/", "connect-mastodon"),
                              (alice_pw, "/connect/bluesky/", "connect-bluesky")):
        page = open_page(user, path, viewport=PHONE)
        assert page.url == live + path
        no_overflow(page)
        axe(page, label)
        screenshot(page, f"flow-{label}-phone")
        page.context.close()
