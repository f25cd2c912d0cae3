"""What htmx gets back: refused forms answered in place, whatever DEBUG is, and whole pages for Back and
Forward. The same in a real browser is in test_browser_answers.py."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from relationships.models import Nudge

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
#: What htmx sends when Back or Forward lands on an address it pushed and has no copy of the page.
HISTORY_RESTORE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}


# -- Refused forms are answered in place, whatever DEBUG is ----------------------------------------------------

@pytest.mark.parametrize("debug", [False, True])
def test_no_script_on_the_pages_replaces_the_document_with_an_error_answer(alice_client, settings, debug):
    settings.DEBUG = debug
    html = alice_client.get(reverse("sources")).content.decode()
    # django-htmx's DEBUG helper swapped any 400 over the whole document, unstyled.
    assert "django-htmx.js" not in html
    assert "django_htmx/htmx-2.min.js" in html
    # htmx swaps the app's 400 and 413 answers (the form again, with its message); other failures are left
    # to rapport.js, which says so in place.
    assert '{"code": "^(400|413)$", "swap": true}' in html
    assert 'addEventListener("htmx:responseError"' in (settings.BASE_DIR / "static" / "rapport.js").read_text()


def test_a_refused_upload_answers_htmx_with_the_upload_card_and_its_message(alice_client, alice):
    png = SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, content_type="image/png")
    response = alice_client.post(reverse("upload_archive"), {"archive": png}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith('<section class="card" id="upload">') and "<html" not in html
    assert "Nothing was stored" in html
    assert not alice.sources.exists()


def test_a_follow_with_an_unknown_account_answers_with_the_card_and_a_message_not_bare_text(alice_client, alice, community):
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    response = alice_client.post(reverse("nudge_follow", args=[nudge.pk]), {"identity": "x"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith("<article") and "not one of this person" in html
    assert "Not now" in html and "Never" in html


def test_every_htmx_form_refused_answers_400_with_its_message_where_the_form_was(alice_client, alice, community):
    from tests.ui.test_settings import settings_post

    ana = Nudge.objects.get(user=alice, person__name="Ana").person
    notes = alice_client.post(reverse("person_notes", args=[ana.pk]), {"notes": "x" * 5001, "tags": ""}, **HTMX)
    preview = settings_post(alice_client, htmx=True, action="preview", half_life_days=0)
    for response, starts in ((notes, '<div id="about">'), (preview, '<section id="preview"')):
        html = response.content.decode()
        # 400, as for the page without JavaScript: swapped in place by the htmx-config, never a "success".
        assert response.status_code == 400 and html.lstrip().startswith(starts) and "<html" not in html
        assert 'class="error' in html or "Some values need fixing" in html
    ana.refresh_from_db()
    assert ana.notes == ""


# -- Back and Forward get whole pages -------------------------------------------------------------------------

def test_a_history_restore_of_the_people_list_gets_the_whole_page(alice_client, community):
    response = alice_client.get(reverse("people"), {"q": "ana"}, **HISTORY_RESTORE)
    html = response.content.decode()
    assert "<html" in html and 'aria-label="Main"' in html and 'aria-label="Filter people"' in html
    assert "Ana" in html
    # The partial for the same address is another answer: no cache may hand one out for the other.
    partial = alice_client.get(reverse("people"), {"q": "ana"}, **HTMX)
    assert "<html" not in partial.content.decode()
    for answer in (response, partial):
        vary = {v.strip() for v in answer["Vary"].split(",")}
        assert {"HX-Request", "HX-History-Restore-Request"} <= vary


def test_a_history_restore_of_the_dashboard_and_a_person_gets_the_whole_page(alice_client, alice, community):
    ana = Nudge.objects.get(user=alice, person__name="Ana").person
    for url in (reverse("dashboard") + "?all=1", reverse("person", args=[ana.pk])):
        html = alice_client.get(url, **HISTORY_RESTORE, HTTP_HX_TARGET="timeline").content.decode()
        assert "<html" in html and 'aria-label="Main"' in html, url


def test_fragments_opened_without_htmx_are_whole_pages(alice_client, alice, tmp_path):
    from relationships.services.intake import imports
    from tests.imports.test_import_service import x_archive

    job = imports.queue_import(alice, imports.create_source(alice, x_archive(tmp_path / "x.zip"), "x"), send_task=False)
    page = alice_client.get(reverse("job_progress", args=[job.pk]))
    assert page.status_code == 200 and "<html" in page.content.decode() and 'aria-label="Main"' in page.content.decode()
    assert alice_client.get(reverse("nudge_counts"))["Location"] == reverse("dashboard")


def test_a_jobs_last_progress_answer_stops_polling_and_has_the_sources_lists_refresh(alice_client, alice, tmp_path):
    from relationships.models import Job
    from relationships.services.intake import imports
    from tests.imports.test_import_service import x_archive

    source = imports.create_source(alice, x_archive(tmp_path / "x.zip"), "x", filename="x.zip")
    job = imports.queue_import(alice, source, send_task=False)
    running = alice_client.get(reverse("job_progress", args=[job.pk]), **HTMX)
    assert running.status_code == 200 and "HX-Trigger" not in running
    Job.objects.filter(pk=job.pk).update(state=Job.State.DONE)
    last = alice_client.get(reverse("job_progress", args=[job.pk]), **HTMX)
    assert last.status_code == 286 and last["HX-Trigger"] == "sources-changed"
    # What the trigger fetches: the two lists alone, with the new source and the job's row.
    lists = alice_client.get(reverse("sources"), HTTP_HX_TARGET="source-lists", **HTMX).content.decode()
    assert lists.lstrip().startswith('<div id="source-lists"') and "<html" not in lists
    assert "x.zip" in lists and f'id="job-{job.pk}"' in lists
    page = alice_client.get(reverse("sources")).content.decode()
    assert 'hx-trigger="sources-changed from:body"' in page and "<html" in page
