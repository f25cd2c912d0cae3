"""Every page: the full page, its htmx partial, the permission matrix, and flat query counts."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from relationships.models import Nudge, Person
from tests.ui.conftest import grow, score

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def ana(user) -> Person:
    return Person.objects.get(user=user, name="Ana")


# -- Full pages and partials ------------------------------------------------------------------

def test_the_dashboard_shows_the_community_headline_chart_and_nudge_cards(alice_client, community):
    response = alice_client.get(reverse("dashboard"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "two-way conversations with in the last 30 days" in html
    assert 'class="chart-svg"' in html and "<rect" in html
    assert 'id="nudges"' in html and "follow them?" in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html).lower()


def test_no_page_shows_a_follower_count_or_ratio(alice_client, alice, community):
    for url in (reverse("dashboard"), reverse("people"), reverse("person", args=[ana(alice).pk])):
        text = visible_text(alice_client.get(url).content.decode())
        for word in ("followers", "ratio", "following count", "follower count"):
            assert word not in text, (url, word)


def test_an_htmx_request_to_the_dashboard_gets_the_nudge_list_alone(alice_client, community):
    response = alice_client.get(reverse("dashboard"), {"all": "1"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="nudges"')
    assert "<html" not in html


def test_the_nudge_counts_partial_counts_open_and_snoozed_nudges(alice_client, alice, community):
    Nudge.objects.filter(user=alice, person__name="Ben").update(state=Nudge.State.SNOOZED)
    html = alice_client.get(reverse("nudge_counts"), **HTMX).content.decode()
    assert 'id="nudge-counts"' in html and "1 open" in html and "1 snoozed" in html


def test_the_people_page_and_its_results_partial(alice_client, community):
    full = alice_client.get(reverse("people"))
    assert full.status_code == 200 and "<html" in full.content.decode()
    partial = alice_client.get(reverse("people"), {"q": "ana"}, **HTMX).content.decode()
    assert partial.lstrip().startswith('<section id="results"')
    assert "Ana" in partial and "Ben" not in partial


def test_the_person_page_and_its_timeline_partial(alice_client, alice, community):
    url = reverse("person", args=[ana(alice).pk])
    full = alice_client.get(url).content.decode()
    assert "Your rapport in words" in full and "You&#x27;ve talked with Ana on 6 different days" in full
    partial = alice_client.get(url, {"page": "1"}, HTTP_HX_TARGET="timeline", **HTMX).content.decode()
    assert partial.lstrip().startswith('<section id="timeline"')


def test_the_settings_page_and_its_preview_partial(alice_client, community):
    assert alice_client.get(reverse("settings")).status_code == 200
    data = {
        "action": "preview", "time_zone": "UTC", "email": "alice@example.com", "follow_threshold": 5,
        "half_life_days": 90, "weight_reply": 3, "weight_dm": 3, "weight_quote": 2, "weight_mention": 2,
        "weight_repost": 1, "weight_like": 0.5,
    }
    partial = alice_client.post(reverse("settings"), data, **HTMX).content.decode()
    assert partial.lstrip().startswith('<section id="preview"')


# -- Empty states ----------------------------------------------------------------------------------

def test_a_new_user_is_told_to_connect_an_account_or_import_an_archive(alice_client):
    for name in ("dashboard", "people"):
        html = alice_client.get(reverse(name)).content.decode()
        assert reverse("sources") in html
        assert "import an archive" in html.lower()


# -- The permission matrix ----------------------------------------------------------------------------

def _object_urls(alice):
    person = ana(alice)
    nudge = Nudge.objects.filter(user=alice).first()
    identity = person.identities.first()
    return [
        ("get", reverse("person", args=[person.pk]), {}),
        ("get", reverse("person_notes", args=[person.pk]), {}),
        ("post", reverse("person_notes", args=[person.pk]), {"notes": "mine", "tags": ""}),
        ("post", reverse("person_hide", args=[person.pk]), {"hidden": "on"}),
        ("post", reverse("person_split", args=[person.pk]), {"identity": identity.pk}),
        ("post", reverse("person_merge", args=[person.pk]), {"other": Person.objects.get(user=alice, name="Ben").pk}),
        ("post", reverse("nudge_reset", args=[nudge.pk]), {}),
    ]


PAGES = [
    reverse_args for reverse_args in (
        ("dashboard", {}), ("nudge_counts", {}), ("people", {}), ("settings", {}),
        ("settings_export", {"what": "people", "format": "csv"}),
    )
]


@pytest.mark.parametrize("name,params", PAGES)
def test_anonymous_visitors_are_sent_to_log_in_from_every_page(client, name, params):
    response = client.get(reverse(name), params)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_anonymous_visitors_are_sent_to_log_in_from_every_object_url(client, alice, community):
    for method, url, data in _object_urls(alice) + [("post", reverse("account_delete"), {"confirm": "alice"})]:
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_bob_gets_a_404_for_every_one_of_alices_objects_and_changes_nothing(client, bob, alice, community):
    client.force_login(bob)
    before = (Person.objects.filter(user=alice).count(), ana(alice).notes, ana(alice).hidden)
    for method, url, data in _object_urls(alice):
        assert getattr(client, method)(url, data).status_code == 404, url
    assert (Person.objects.filter(user=alice).count(), ana(alice).notes, ana(alice).hidden) == before
    assert Nudge.objects.filter(user=alice).count() == 2


@pytest.mark.parametrize("name,params", PAGES)
def test_alice_gets_each_page(alice_client, community, name, params):
    # follow: the nudge counts, asked for without htmx, send to the dashboard they belong to.
    assert alice_client.get(reverse(name), params, follow=True).status_code == 200


def test_alice_gets_her_person_page_and_notes_form(alice_client, alice, community):
    for method, url, _data in _object_urls(alice)[:2]:
        assert alice_client.get(url).status_code == 200


def test_bobs_own_pages_show_none_of_alices_people(client, bob, community):
    client.force_login(bob)
    for name in ("dashboard", "people"):
        html = client.get(reverse(name)).content.decode()
        assert "Ana" not in html and "Ben" not in html


# -- Queries per page do not grow with the data ---------------------------------------------------------

def _queries(django_assert_max_num_queries, client, url, limit, **extra):
    with django_assert_max_num_queries(limit):
        assert client.get(url, **extra).status_code == 200


# The dashboard's 13th: whether every source is an X archive (one query, whatever the data).
# people: the rapport order reads the two-way range of the rank index, then the one-sided one (selectors/people.py);
# its 10th asks whether the user's accounts span two platforms, before any merge suggestion is looked for.
@pytest.mark.parametrize("name,limit", [("dashboard", 13), ("people", 10), ("settings", 5)])
def test_queries_per_page_stay_flat_as_people_and_interactions_grow(
    alice_client, alice, story, django_assert_max_num_queries, name, limit
):
    grow(story, 3)
    score(alice)
    _queries(django_assert_max_num_queries, alice_client, reverse(name), limit)
    grow(story, 40, prefix="More")
    score(alice)
    _queries(django_assert_max_num_queries, alice_client, reverse(name), limit)


def test_person_page_queries_stay_flat_as_the_history_grows(alice_client, alice, story, django_assert_max_num_queries):
    from tests.ui.conftest import talk_often

    talk_often(story, "Ana", range(1, 4))
    story.save()
    score(alice)
    url = reverse("person", args=[ana(alice).pk])
    _queries(django_assert_max_num_queries, alice_client, url, 12)
    talk_often(story, "Ana", range(4, 200))
    story.save()
    score(alice)
    _queries(django_assert_max_num_queries, alice_client, url, 12)


def test_an_htmx_upload_answers_with_the_upload_card_its_job_polling_and_a_fresh_form(
    alice_client, alice, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from config.celery_app import app
    from relationships.models import Job
    from tests.builders import x as xb

    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, **kw: sent.append(name))
    ana = xb.XUser("1001", "ana", "Ana")
    archive = xb.build_x_archive(tmp_path / "x.zip", tweets=[xb.reply("1700000001", to=ana)])
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("upload_archive"), {"archive": SimpleUploadedFile("x.zip", archive.read_bytes()), "kind": ""},
            HTTP_HX_REQUEST="true",
        )
    html = response.content.decode()
    job = Job.objects.get(user=alice, kind="import")
    assert response.status_code == 200 and sent == ["relationships.import_archive"]
    # The card the form's hx-target (#upload, outerHTML) replaces: the form again, empty, for the next archive,
    # and this import's progress, polled every second.
    assert html.lstrip().startswith('<section class="card" id="upload">') and "<html" not in html
    assert 'type="file" name="archive"' in html and 'value="x.zip"' not in html
    assert f'id="job-{job.pk}"' in html and f'hx-get="{reverse("job_progress", args=[job.pk])}"' in html
    assert 'hx-trigger="every 1s"' in html and "<progress" in html


def test_a_refused_upload_without_javascript_is_the_sources_page_with_its_notices_and_current_mark(
        alice_client, alice, make_source):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from relationships.platforms import records as r

    make_source(alice, platform=r.X, label="X archive (twitter.zip)")
    response = alice_client.post(reverse("upload_archive"),
                                 {"archive": SimpleUploadedFile("notes.txt", b"not an archive"), "kind": ""})
    html = response.content.decode()
    assert response.status_code == 400 and "Nothing was stored." in html
    # The same page as GET /sources/: the X-archive notice, the list, and "Sources" marked in the navigation.
    assert 'id="x-archive-only"' in html and "X archive (twitter.zip)" in html
    assert '<a href="/sources/" aria-current="page">Sources</a>' in html
