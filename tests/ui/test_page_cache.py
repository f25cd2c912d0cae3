"""The per-user page cache (relationships/web/page_cache.py): fast repeat views, never a stale or foreign page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from relationships.models import Heartbeat, Job, Nudge, Person
from relationships.services.intake import jobs
from tests.ui.conftest import score, talk_often

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def ana(user) -> Person:
    return Person.objects.get(user=user, name="Ana")


def pages(user):
    return [reverse("dashboard"), reverse("people"), reverse("person", args=[ana(user).pk])]


def get(client, url, **extra):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **extra)
    assert response.status_code == 200
    return response.content.decode(), len(queries.captured_queries)


def warm(client, url, **extra):
    """The first view sets the CSRF cookie the cache key needs; the second fills the cache."""
    client.get(url, **extra)
    return get(client, url, **extra)


@pytest.mark.parametrize("page", [0, 1, 2])
def test_a_repeat_view_is_served_from_the_cache_with_the_same_page(alice_client, alice, community, page):
    url = pages(alice)[page]
    first, queries_first = warm(alice_client, url)
    again, queries_again = get(alice_client, url)
    assert again == first
    # Session, user and the background banner: what every page costs, nothing more.
    assert queries_again <= 3 < queries_first


def test_an_action_of_the_user_shows_at_once(alice_client, alice, community):
    html, _ = warm(alice_client, reverse("dashboard"))
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    assert f'id="nudge-{nudge.pk}"' in html
    assert alice_client.post(reverse("nudge_dismiss", args=[nudge.pk]), **HTMX).status_code == 200
    html, _ = get(alice_client, reverse("dashboard"))
    assert f'id="nudge-{nudge.pk}"' not in html


def test_notes_saved_show_on_the_person_page_at_once(alice_client, alice, community):
    url = reverse("person", args=[ana(alice).pk])
    warm(alice_client, url)
    alice_client.post(reverse("person_notes", args=[ana(alice).pk]), {"notes": "met at the conference", "tags": ""})
    html, _ = get(alice_client, url)
    assert "met at the conference" in html


def test_work_done_in_the_background_shows_at_once(
    alice_client, alice, story, community, django_capture_on_commit_callbacks
):
    """A sync or import writes through ingest and a recompute: the next view shows it once they commit."""
    warm(alice_client, reverse("people"))
    with django_capture_on_commit_callbacks(execute=True):
        talk_often(story, "Zoe", range(1, 7))
        story.save()  # ingest, as an import does
        score(alice)  # the recompute job
    html, _ = get(alice_client, reverse("people"))
    assert "Zoe" in html


def test_a_change_announced_by_another_process_shows_at_once(alice_client, alice, community):
    """Pages may be kept in each web process's memory; the data version they are found by is shared."""
    from django.core.cache import caches

    from relationships.web import page_cache

    url = reverse("people")
    warm(alice_client, url)
    Person.objects.filter(pk=ana(alice).pk).update(name="Anabel")  # a worker's write...
    worker_cache = caches.create_connection("default")  # ...announced through that process's own cache client
    worker_cache.set(page_cache._VERSION.format(alice.pk), "bumped-by-a-worker", None)
    assert "Anabel" in get(alice_client, url)[0]


@pytest.mark.django_db(transaction=True)
def test_a_job_starting_and_ending_shows_on_the_dashboard(alice_client, alice, community):
    # Committed for real, as a worker does: each step's change is visible at once.
    warm(alice_client, reverse("dashboard"))
    job = jobs.create(alice, kind="recompute", task_name="relationships.recompute", description="Recompute rapport",
                      send_task=False)
    seen = {}

    def work(job, progress):
        seen["html"] = get(alice_client, reverse("dashboard"))[0]
        return "done"

    jobs.execute(job.pk, work)
    assert "Working on" in seen["html"] and "Recompute rapport" in seen["html"]
    assert "Working on" not in get(alice_client, reverse("dashboard"))[0]
    assert Job.objects.get(pk=job.pk).state == Job.State.DONE


def test_another_user_never_gets_my_cached_page(alice_client, alice, client, bob, community):
    warm(alice_client, reverse("people"))
    client.force_login(bob)
    html, _ = warm(client, reverse("people"))
    assert "Ana" not in html and "Ben" not in html


def test_the_htmx_partial_and_the_full_page_are_cached_apart(alice_client, alice, community):
    full, _ = warm(alice_client, reverse("people"))
    partial, _ = warm(alice_client, reverse("people"), **HTMX)
    assert "<html" in full and "<html" not in partial
    assert "<html" in get(alice_client, reverse("people"))[0]


def test_a_flash_message_is_shown_once_and_never_cached(alice_client, alice, community):
    url = reverse("person", args=[ana(alice).pk])
    warm(alice_client, url)
    response = alice_client.post(reverse("person_hide", args=[ana(alice).pk]), {"hidden": "1"})
    assert response.status_code == 302
    shown, _ = get(alice_client, url)  # the redirect's page: the message, rendered fresh
    assert "Ana is hidden from your lists and nudges." in shown
    after, _ = get(alice_client, url)
    assert "Ana is hidden from your lists and nudges." not in after
    assert "Ana is hidden from your lists and nudges." not in get(alice_client, url)[0]


def test_the_banner_follows_the_worker_not_the_cache(alice_client, alice, community, heartbeats):
    html, _ = warm(alice_client, reverse("dashboard"))
    assert "Background work is paused" not in html
    Heartbeat.objects.all().delete()
    html, _ = get(alice_client, reverse("dashboard"))
    assert "Background work is paused" in html


def test_a_new_login_gets_a_page_whose_forms_it_can_post(alice_client, alice, community):
    warm(alice_client, reverse("dashboard"))
    alice_client.logout()
    alice_client.force_login(alice)
    alice_client.get(reverse("dashboard"))
    html, _ = get(alice_client, reverse("dashboard"))
    token = alice_client.cookies["csrftoken"].value
    nudge = Nudge.objects.filter(user=alice, state=Nudge.State.OPEN).first()
    # The page's token must be one this session's secret accepts: post with enforced CSRF checks.
    import re

    form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.cookies = alice_client.cookies
    response = strict.post(reverse("nudge_snooze", args=[nudge.pk]), {"csrfmiddlewaretoken": form_token})
    assert response.status_code in (200, 302), (response.status_code, token)


def test_caching_can_be_turned_off(alice_client, alice, community, settings):
    settings.RAPPORT_PAGE_CACHE_SECONDS = 0
    _, first = warm(alice_client, reverse("people"))
    _, again = get(alice_client, reverse("people"))
    assert again == first > 3


def test_direct_database_writes_show_within_the_time_limit(alice_client, alice, community, settings):
    """Writes no hook sees (an admin's edit of another user's data) are bounded by the entries' lifetime."""
    settings.RAPPORT_PAGE_CACHE_SECONDS = 1
    import time

    warm(alice_client, reverse("people"))
    Person.objects.filter(pk=ana(alice).pk).update(name="Anabel")
    time.sleep(1.2)
    assert "Anabel" in get(alice_client, reverse("people"))[0]


def test_an_unreachable_cache_never_fails_the_work_or_the_page(
    alice_client, alice, community, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for name in ("get", "set", "add"):
        monkeypatch.setattr(cache, name, down)
    job = jobs.create(alice, kind="recompute", task_name="relationships.recompute", send_task=False)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert jobs.execute(job.pk, lambda job, progress: "done").state == Job.State.DONE
    assert callbacks  # the bumps ran, and failed quietly
    alice_client.get(reverse("people"))
    html, _ = get(alice_client, reverse("people"))
    assert "Ana" in html
