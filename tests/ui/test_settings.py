"""Settings: preview, saving, the time-zone rewrite, the digest, export and deleting the account."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zoneinfo

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from relationships.models import Interaction, Job, Nudge, Person, Preferences, Rapport, Source
from relationships.platforms import records as r
from relationships.services import digest, preferences
from relationships.services.scoring import rapport
from tests.ui.conftest import score, talk_often

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
DEFAULTS = {
    "time_zone": "UTC", "email": "alice@example.com", "follow_threshold": 5, "half_life_days": 90,
    "weight_reply": 3, "weight_dm": 3, "weight_quote": 2, "weight_mention": 2, "weight_repost": 1, "weight_like": 0.5,
}


def settings_post(client, htmx=False, **changes):
    extra = HTMX if htmx else {}
    return client.post(reverse("settings"), {**DEFAULTS, **changes}, **extra)


# -- Preview --------------------------------------------------------------------------------------------

@pytest.fixture
def likers_and_talkers(alice, story):
    """Lia only likes (a like a day for a month); Tom talks (two days of replies both ways); Max talked once and
    likes every day. Default weights put Tom first, Max second, Lia last."""
    story.someone("Lia")
    story.someone("Max")
    for day in range(1, 31):
        story.said("Lia", r.LIKE, day)
        story.said("Max", r.LIKE, day)
    talk_often(story, "Tom", range(1, 3))
    talk_often(story, "Max", range(1, 2))
    story.save()
    score(alice)


def preview_names(html: str) -> list[str]:
    return re.findall(r'<a href="/people/\d+/">([^<]+)</a>', html[html.index('class="preview-list"'):])


def test_the_preview_moves_people_within_their_group_and_never_a_fan_above_a_talker(
    alice_client, alice, likers_and_talkers
):
    before = list(Rapport.objects.filter(user=alice).order_by("-score").values_list("person__name", "score"))
    assert [name for name, _ in before] == ["Tom", "Max", "Lia"]
    response = settings_post(alice_client, htmx=True, action="preview", weight_like=5)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="preview"')
    # Likes at 5 lift Max (he talks, and likes a lot) past Tom; Lia's likes, however heavy, leave her last.
    assert preview_names(html) == ["Max", "Tom", "Lia"]
    assert "up 1" in html and "down 1" in html and "no change" in html
    assert "two-way, score" in html and "one-sided, score" in html
    # The preview's scores are the recompute's: Lia's would beat Tom's, and still she ranks after him.
    result = preferences.preview(alice, weights={"like": 5}, half_life_days=90, follow_threshold=5)
    lia, tom = (next(row for row in result.top if row.person.name == name) for name in ("Lia", "Tom"))
    assert lia.score > tom.score and lia.rank > tom.rank and not lia.two_way and tom.two_way
    assert list(Rapport.objects.filter(user=alice).order_by("-score").values_list("person__name", "score")) == before
    assert Preferences.for_user(alice).weights["like"] == 0.5


def test_the_preview_counts_who_would_get_a_follow_nudge_at_the_new_threshold(alice, community):
    result = preferences.preview(alice, weights={}, half_life_days=90, follow_threshold=7)
    assert (result.follow_now, result.follow_then) == (2, 1)  # Ana has 6 talks, Ben 7


def test_a_preview_with_bad_values_says_what_to_fix(alice_client, likers_and_talkers):
    html = settings_post(alice_client, htmx=True, action="preview", half_life_days=0).content.decode()
    assert "Some values need fixing" in html and "Half-life" in html


# -- Saving ---------------------------------------------------------------------------------------------

def test_saving_new_weights_stores_them_and_queues_a_recompute(alice_client, alice, likers_and_talkers):
    response = settings_post(alice_client, weight_like=1.5, follow_threshold=3, digest_opt_in="on")
    assert response.status_code == 302
    prefs = Preferences.for_user(alice)
    assert prefs.weights["like"] == 1.5 and prefs.follow_threshold == 3 and prefs.digest_opt_in
    assert Job.objects.filter(user=alice, kind="recompute").count() == 1


def test_saving_without_changes_to_scoring_queues_nothing(alice_client, alice, community):
    settings_post(alice_client, email="alice@new.example")
    alice.refresh_from_db()
    assert alice.email == "alice@new.example"
    assert not Job.objects.filter(user=alice, kind="recompute").exists()


def test_the_digest_needs_an_address(alice_client, alice):
    response = settings_post(alice_client, email="", digest_opt_in="on")
    assert response.status_code == 400 and "needs an e-mail address" in response.content.decode()
    assert not Preferences.for_user(alice).digest_opt_in


# -- Time zone ------------------------------------------------------------------------------------------

@pytest.fixture
def late_night_talks(alice, story):
    """Replies late and early in the UTC day, on both sides of London's change to summer time."""
    story.someone("Nia")
    moments = [
        dt.datetime(2026, 1, 10, 23, 30, tzinfo=dt.UTC),  # London GMT: 10 Jan; Tokyo: 11 Jan
        dt.datetime(2026, 7, 10, 23, 30, tzinfo=dt.UTC),  # London BST: 11 Jul
        dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC),  # just before London's spring change: 29 Mar, 00:30 GMT
        dt.datetime(2026, 3, 29, 23, 30, tzinfo=dt.UTC),  # after it: 30 Mar 00:30 BST
    ]
    for moment in moments:
        story.said("Nia", r.REPLY, when=moment)
        story.answered("Nia", r.REPLY, when=moment + dt.timedelta(minutes=1))
    story.save()
    return moments


@pytest.mark.parametrize("tz_name", ["Europe/London", "Asia/Tokyo", "America/New_York", "UTC"])
def test_changing_the_time_zone_rewrites_every_interactions_day(alice, late_night_talks, tz_name):
    preferences.change_time_zone(alice, tz_name)
    tz = zoneinfo.ZoneInfo(tz_name)
    for row in Interaction.objects.filter(user=alice):
        assert row.day == row.occurred_at.astimezone(tz).date(), (tz_name, row.occurred_at)
    assert Preferences.for_user(alice).time_zone == tz_name


def test_a_time_zone_change_from_the_page_moves_days_and_then_rescoring_counts_them(alice_client, alice,
                                                                                  late_night_talks):
    score(alice)
    # In UTC the two replies of 29 March (00:30 and 23:30) are one talk: 3 talks.
    assert Rapport.objects.get(person__name="Nia").talks == 3
    response = settings_post(alice_client, time_zone="Pacific/Kiritimati")  # UTC+14: they fall on two days
    assert response.status_code == 302
    assert Job.objects.filter(user=alice, kind="recompute").exists()
    assert set(Interaction.objects.filter(user=alice).values_list("day", flat=True)) == {
        dt.date(2026, 1, 11), dt.date(2026, 7, 11), dt.date(2026, 3, 29), dt.date(2026, 3, 30)
    }
    rapport.recompute(alice)  # what the queued job does
    assert Rapport.objects.get(person__name="Nia").talks == 4


def test_offset_spans_cover_a_dst_change_to_the_second():
    london = zoneinfo.ZoneInfo("Europe/London")
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    spans = preferences.offset_spans(london, start, dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    assert [(s[1], s[2]) for s in spans[:1]] == [(dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC), 0)]
    assert spans[1][2] == 3600


def test_an_unknown_time_zone_is_refused(alice_client, alice):
    assert settings_post(alice_client, time_zone="Mars/Olympus").status_code == 400
    with pytest.raises(ValueError):
        preferences.rewrite_days(alice, "Mars/Olympus")


# -- The digest ---------------------------------------------------------------------------------------------

def test_the_digest_mails_open_nudges_to_opted_in_users_once_a_week(alice, bob, community):
    Preferences.objects.filter(user=alice).update(digest_opt_in=True)
    now = timezone.now()
    assert digest.send_digests(now) == {"sent": 1, "empty": 0, "taken": 0, "failed": 0}
    [message] = mail.outbox
    assert message.to == ["alice@example.com"] and "2 people" in message.subject
    assert "You've talked with Ana on 6 different days — follow them?" in message.body
    assert digest.send_digests(now + dt.timedelta(days=3))["sent"] == 0
    assert digest.send_digests(now + dt.timedelta(days=7))["sent"] == 1
    assert len(mail.outbox) == 2  # bob never opted in


def test_no_digest_without_open_nudges_or_without_an_address(alice, community, django_user_model):
    Preferences.objects.filter(user=alice).update(digest_opt_in=True)
    Nudge.objects.filter(user=alice).update(state=Nudge.State.SNOOZED)
    assert digest.send_digests()["empty"] == 1
    carol = django_user_model.objects.create_user("carol", "", "pw carol 1234567")
    Preferences.objects.filter(user=carol).update(digest_opt_in=True)
    assert carol.pk not in [p.user_id for p in digest.due(timezone.now())]
    assert not mail.outbox


def test_a_failing_mail_server_leaves_the_digest_due_and_other_users_unharmed(alice, community, monkeypatch):
    Preferences.objects.filter(user=alice).update(digest_opt_in=True)

    def broken(*args, **kwargs):
        raise OSError("mail server down")

    monkeypatch.setattr(digest, "send_mail", broken)
    assert digest.send_digests()["failed"] == 1
    assert Preferences.for_user(alice).digest_sent_at is None


def test_the_digest_task_is_registered_under_its_beat_name():
    from relationships import tasks as digest_tasks

    assert digest_tasks.send_digests.name == "relationships.send_digests"


# -- Export ---------------------------------------------------------------------------------------------

def _download(client, **params):
    response = client.get(reverse("settings_export"), params)
    assert response.status_code == 200
    return response, b"".join(response.streaming_content).decode()


def test_people_export_as_csv_and_json(alice_client, community):
    response, body = _download(alice_client, what="people", format="csv")
    assert response["Content-Disposition"].startswith('attachment; filename="rapport-people-')
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {row["name"] for row in rows} == {"Ana", "Ben", "Cleo", "Dan"}
    _response, body = _download(alice_client, what="people", format="json")
    assert {item["name"] for item in json.loads(body)} == {"Ana", "Ben", "Cleo", "Dan"}


def test_interactions_export_as_csv_and_json(alice, alice_client, community):
    _response, body = _download(alice_client, what="interactions", format="csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == Interaction.objects.filter(user=alice).count()
    _response, body = _download(alice_client, what="interactions", format="json")
    assert len(json.loads(body)) == len(rows)


def test_everything_exports_as_one_json_with_notes_and_never_credentials(alice, alice_client, community):
    Person.objects.filter(user=alice, name="Ana").update(notes="met at a meetup", tags=["meetup"])
    Source.objects.filter(user=alice).update(credentials_ciphertext=b"secret-bytes")
    _response, body = _download(alice_client, what="everything", format="json")
    data = json.loads(body)
    assert data["account"]["username"] == "alice" and data["preferences"]["time_zone"] == "UTC"
    ana = next(p for p in data["people"] if p["name"] == "Ana")
    assert ana["notes"] == "met at a meetup" and ana["tags"] == ["meetup"]
    assert len(data["interactions"]) == Interaction.objects.filter(user=alice).count()
    assert "secret" not in body and "credentials" not in body


def test_an_unknown_export_is_refused(alice_client):
    assert alice_client.get(reverse("settings_export"), {"what": "everything", "format": "csv"}).status_code == 400
    assert alice_client.get(reverse("settings_export"), {"what": "passwords", "format": "json"}).status_code == 400


def test_bobs_export_holds_none_of_alices_data(client, bob, community):
    client.force_login(bob)
    _response, body = _download(client, what="everything", format="json")
    assert "Ana" not in body and json.loads(body)["people"] == []


# -- Deleting the account ----------------------------------------------------------------------------------

def test_deleting_the_account_needs_the_username_typed(alice_client, alice, community):
    response = alice_client.post(reverse("account_delete"), {"confirm": "ALICE"})
    assert response.status_code == 400 and "not your username" in response.content.decode()
    assert get_user_model().objects.filter(pk=alice.pk).exists()


def test_deleting_the_account_removes_every_row_and_stored_archive_and_logs_out(
    alice_client, alice, bob, community, bob_story, settings, tmp_path
):
    bob_story.someone("Zed").said("Zed", r.REPLY, 1)
    bob_story.save()
    settings.RAPPORT_UPLOAD_DIR = tmp_path
    archive = tmp_path / "alice.zip"
    archive.write_bytes(b"zip")
    Source.objects.filter(user=alice).update(archive_path=str(archive))
    Job.objects.create(user=alice, kind="import", task_name="relationships.import_archive",
                       source=Source.objects.filter(user=alice).first())

    response = alice_client.post(reverse("account_delete"), {"confirm": "alice"})

    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert not get_user_model().objects.filter(pk=alice.pk).exists()
    for model in (Person, Interaction, Nudge, Rapport, Source, Job, Preferences):
        assert not model.objects.filter(user_id=alice.pk).exists(), model
    assert not archive.exists()
    assert Person.objects.filter(user=bob).count() == 1  # bob keeps everything
    assert alice_client.get(reverse("dashboard")).status_code == 302
