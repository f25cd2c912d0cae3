"""The dashboard's stored community figures, the nudge cards and the background-work banner."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from relationships.models import CommunityHeadline, CommunitySnapshot, Heartbeat, Job, Nudge, Person, Preferences
from relationships.platforms import records as r
from relationships.services.scoring import community as dashboard
from relationships.services.scoring.rapport import local_today
from relationships.web import context_processors
from relationships.web.context_processors import background_warning
from tests.rapport.stories import TODAY
from tests.ui.conftest import score, talk_often, with_permalinks

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def seasons(alice, story):
    """Ana: new this month. Ben: a regular since May. Old: a regular gone quiet 100 days ago.
    Fan: only likes. Crowd: mentioned alice in posts naming 30 people, and alice answered once."""
    talk_often(story, "Ana", range(1, 7))
    talk_often(story, "Ben", range(3, 40, 6))
    talk_often(story, "Old", range(100, 112, 2))
    story.someone("Fan")
    for day in (1, 2, 3):
        story.said("Fan", r.LIKE, day)
    story.someone("Crowd")
    for day in (1, 2, 3):
        story.said("Crowd", r.MENTION, day, named_count=30)
    story.answered("Crowd", r.REPLY, 2)
    story.save()
    with_permalinks(alice)
    score(alice)


def test_the_headline_counts_two_way_conversations_new_regulars_and_drifting_people(alice, seasons):
    headline = CommunityHeadline.objects.get(user=alice)
    assert (headline.talked_30, headline.talked_90) == (2, 2)  # Ana, Ben; not Fan, not Crowd's mass mentions
    assert headline.new_regulars == 1 and headline.examples["new_regulars"] == [
        Person.objects.get(user=alice, name="Ana").pk
    ]
    assert headline.drifting == 1 and headline.examples["drifting"] == [Person.objects.get(user=alice, name="Old").pk]
    assert headline.computed_on == TODAY


def test_twelve_months_are_stored_with_two_way_people_and_newcomers(alice, seasons):
    months = {m.month: m for m in CommunitySnapshot.objects.filter(user=alice)}
    assert len(months) == 12 and min(months) == dt.date(2025, 7, 1) and max(months) == dt.date(2026, 6, 1)
    june, may, march = months[dt.date(2026, 6, 1)], months[dt.date(2026, 5, 1)], months[dt.date(2026, 3, 1)]
    assert (june.two_way, june.newcomers) == (2, 1)  # Ana is new in June; Ben started in May
    assert (may.two_way, may.newcomers) == (1, 1)
    assert march.two_way == 1  # Old, 100-110 days before 15 June


def test_hidden_people_are_left_out_of_the_figures(alice, seasons):
    Person.objects.filter(user=alice, name="Ana").update(hidden=True)
    dashboard.store_community(alice, today=TODAY)
    headline = CommunityHeadline.objects.get(user=alice)
    assert (headline.talked_30, headline.new_regulars) == (1, 0)


def test_storing_twice_replaces_the_figures(alice, seasons):
    dashboard.store_community(alice, today=TODAY)
    dashboard.store_community(alice, today=TODAY + dt.timedelta(days=40))
    assert CommunitySnapshot.objects.filter(user=alice).count() == 12
    assert CommunityHeadline.objects.get(user=alice).computed_on == TODAY + dt.timedelta(days=40)


def test_the_dashboard_reads_stored_figures_and_touches_interactions_only_for_the_cards(alice_client, alice, seasons):
    with CaptureQueriesContext(connection) as queries:
        html = alice_client.get(reverse("dashboard")).content.decode()
    touching = [q["sql"] for q in queries.captured_queries if "relationships_interaction" in q["sql"]]
    # The last three per card: each identity's latest ids (LIMIT 1 OFFSET n, a walk of the timeline index), then
    # those rows; never a scan or window over the cards' people's whole histories.
    assert len(touching) == 2, touching
    assert "LIMIT 1" in touching[0].upper() and "OVER" not in touching[0].upper(), touching[0]
    assert '"relationships_interaction"."id" IN (' in touching[1], touching[1]
    assert 'class="chart-svg"' in html and "Old" in html  # named as drifting

    Nudge.objects.filter(user=alice).update(state=Nudge.State.DISMISSED)
    with CaptureQueriesContext(connection) as queries:
        alice_client.get(reverse("dashboard"))
    assert not [q for q in queries.captured_queries if "relationships_interaction" in q["sql"]]


def test_nudge_cards_show_the_reason_the_last_three_interactions_and_their_buttons(alice_client, alice, seasons):
    html = alice_client.get(reverse("dashboard")).content.decode()
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    card = html[html.index(f'id="nudge-{nudge.pk}"'):]
    card = card[: card.index("</article>")]
    assert "You&#x27;ve talked with Ana on 6 different days — follow them?" in card
    assert card.count("View post") == 3
    for action in ("nudge_follow", "nudge_snooze", "nudge_dismiss"):
        url = reverse(action, args=[nudge.pk])
        assert f'hx-post="{url}" hx-target="#nudge-{nudge.pk}" hx-swap="outerHTML"' in card
        assert f'action="{url}"' in card  # works without JavaScript too


def test_each_cards_links_and_buttons_name_its_own_nudge_and_person(alice_client, alice, seasons):
    """The cards' routes are reversed once and each card's ids written in: no card may carry another's."""
    html = alice_client.get(reverse("dashboard")).content.decode()
    shown = [n for n in Nudge.objects.filter(user=alice, state="open") if f'id="nudge-{n.pk}"' in html]
    assert len(shown) >= 2
    for nudge in shown:
        card = html[html.index(f'id="nudge-{nudge.pk}"'):]
        card = card[: card.index("</article>")]
        assert f'href="{reverse("person", args=[nudge.person_id])}"' in card
        assert f'hx-get="{reverse("person_known", args=[nudge.person_id])}"' in card
        names = ("nudge_follow", "nudge_snooze", "nudge_dismiss") if nudge.kind != "reconnect" else ("nudge_snooze",)
        for action in names:
            assert f'action="{reverse(action, args=[nudge.pk])}"' in card
        others = {str(n.pk) for n in shown} - {str(nudge.pk)}
        assert not {pk for pk in re.findall(r'/nudges/(\d+)/', card)} & others


def test_url_or_empty_writes_each_id_into_its_route_and_is_empty_without_one():
    from relationships.web.templatetags import url_or_empty

    assert url_or_empty("nudge_follow", 7) == reverse("nudge_follow", args=[7])
    assert url_or_empty("nudge_follow", 918273) == reverse("nudge_follow", args=[918273])
    assert url_or_empty("person_known", 12) == reverse("person_known", args=[12])
    assert url_or_empty("nudge_counts") == reverse("nudge_counts")
    assert url_or_empty("no_such_route", 3) == "" and url_or_empty("no_such_route", 4) == ""

def test_the_counts_refresh_after_a_card_acts(alice_client, alice, seasons):
    html = alice_client.get(reverse("dashboard")).content.decode()
    assert 'hx-trigger="nudge-changed from:body"' in html
    open_before = Nudge.objects.filter(user=alice, state="open").count()
    Nudge.objects.filter(user=alice, person__name="Ana").update(state=Nudge.State.SNOOZED)
    counts = alice_client.get(reverse("nudge_counts"), **HTMX).content.decode()
    assert f"{open_before - 1} open" in counts and "1 snoozed" in counts


def test_only_six_cards_show_until_asked_for_all(alice_client, alice, pals):
    html = alice_client.get(reverse("dashboard")).content.decode()
    assert html.count('data-nudge="') == 6 and "Show all 8 open nudges" in html
    assert alice_client.get(reverse("dashboard"), {"all": "1"}, **HTMX).content.decode().count('data-nudge="') == 8


def test_people_without_figures_yet_are_told_they_come_with_the_next_scoring(alice_client, alice, story):
    story.someone("Ana").said("Ana", r.REPLY, 1)
    story.save()
    html = alice_client.get(reverse("dashboard")).content.decode()
    assert "appear after the next scoring run" in html


# -- The banner --------------------------------------------------------------------------------------------

def test_a_banner_shows_on_every_page_when_the_beat_has_not_been_heard_from(alice_client, community):
    Heartbeat.objects.create(name="beat", seen_at=timezone.now() - dt.timedelta(minutes=30))
    Heartbeat.objects.create(name="worker", seen_at=timezone.now())
    for name in ("dashboard", "people", "settings", "sources"):
        html = alice_client.get(reverse(name)).content.decode()
        assert 'class="banner"' in html and "background scheduler has not been heard from since" in html, name


def test_no_banner_while_the_beat_and_worker_are_alive(alice_client, community):
    Heartbeat.objects.create(name="beat", seen_at=timezone.now())
    Heartbeat.objects.create(name="worker", seen_at=timezone.now() - dt.timedelta(hours=3))
    assert 'class="banner"' not in alice_client.get(reverse("dashboard")).content.decode()


def test_a_silent_worker_matters_when_work_waits_for_it(alice):
    now = timezone.now()
    Heartbeat.objects.create(name="beat", seen_at=now)
    Heartbeat.objects.create(name="worker", seen_at=now - dt.timedelta(hours=1))
    assert background_warning(alice, now) is None
    job = Job.objects.create(user=alice, kind="import", task_name="relationships.import_archive")
    Job.objects.filter(pk=job.pk).update(created_at=now - dt.timedelta(minutes=10))
    assert "No worker has picked up" in str(background_warning(alice, now))


@pytest.fixture
def just_started(monkeypatch):
    """This web process started a moment ago, as right after `make run`."""
    started = timezone.now()
    monkeypatch.setattr(context_processors, "PROCESS_STARTED", started)
    return started


def test_right_after_start_a_worker_and_beat_not_yet_heard_from_are_starting_not_paused(alice, just_started):
    notice = background_warning(alice, just_started + dt.timedelta(seconds=40))
    assert notice.starting and notice.lead == "Background work is starting."
    assert "paused" not in str(notice)


def test_a_heartbeat_left_from_an_earlier_run_still_counts_as_starting_during_the_boot(alice, just_started):
    Heartbeat.objects.create(name="beat", seen_at=just_started - dt.timedelta(days=2))
    assert background_warning(alice, just_started + dt.timedelta(seconds=40)).starting


def test_a_beat_never_heard_from_after_the_boot_grace_is_paused(alice, just_started):
    notice = background_warning(alice, just_started + dt.timedelta(minutes=10))
    assert not notice.starting and notice.lead == "Background work is paused."
    assert "not been heard from yet" in notice.text


def test_the_starting_banner_is_calm_on_every_page(alice_client, just_started):
    for name in ("dashboard", "people", "settings", "sources"):
        html = alice_client.get(reverse(name)).content.decode()
        assert 'class="banner banner-starting"' in html and "Background work is starting." in html, name
        assert "Background work is paused." not in html, name


def test_the_drifting_count_adds_up_to_the_names_and_the_list_it_links_to(alice, alice_client, story):
    """Seven regulars gone quiet two to eleven months ago, one regular still talking, one gone quiet too long ago."""
    # The people list filters on the real today: the story (told in days before TODAY) is moved up to it.
    today = local_today(Preferences.for_user(alice))
    back = (TODAY - today).days
    drifters = [f"Drift{n}" for n in range(7)]
    for n, name in enumerate(drifters):
        talk_often(story, name, range(back + 70 + 30 * n, back + 82 + 30 * n, 2))
    talk_often(story, "Ben", range(back + 3, back + 40, 6))
    talk_often(story, "Gone", range(back + 400, back + 412, 2))  # more than a year: not drifting, gone
    story.save()
    score(alice, today=today)
    assert CommunityHeadline.objects.get(user=alice).drifting == 7

    page = alice_client.get(reverse("dashboard")).content.decode()
    figure = re.search(r'<li class="figure"><span class="figure-value">(\d+)</span> <span class="figure-label">'
                       r'drifting away.*?</li>', page, re.S)
    assert figure[1] == "7"
    named = re.findall(r'<a href="/people/\d+/">([^<]+)</a>', figure[0])
    more = re.search(r'and <a href="(/people/\?drifting=on)">(\d+) more</a>', figure[0])
    assert len(named) + int(more[2]) == 7 and set(named) < set(drifters)

    listed = re.findall(r'class="pr-name" href="/people/\d+/">([^<]+)</a>', alice_client.get(more[1]).content.decode())
    assert sorted(listed) == drifters
    legend = alice_client.get(reverse("people")).content.decode()
    assert 'name="drifting"' in legend
