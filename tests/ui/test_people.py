"""The people list: ranking, filters through the form, search, sort, hidden people, keyset pagination."""

from __future__ import annotations

import importlib
import re

import pytest
from django.urls import reverse

from relationships.models import Identity, Person, Rapport
from relationships.platforms import records as r
from relationships.services.scoring import rapport
from tests.rapport.stories import Story, issue_community
from tests.ui.conftest import score, talk_often

pytestmark = pytest.mark.django_db
# The module, not the view function of the same name that relationships.views exports.
people_view = importlib.import_module("relationships.views.people")

HTMX = {"HTTP_HX_REQUEST": "true"}


def names(html: str) -> list[str]:
    return re.findall(r'class="pr-name" href="/people/\d+/">([^<]+)</a>', html)


def listed(client, **params) -> list[str]:
    return names(client.get(reverse("people"), params).content.decode())


def test_people_are_ranked_by_rapport_with_tier_talks_and_follow_state_in_words(alice_client, alice, community):
    html = alice_client.get(reverse("people")).content.decode()
    ranked = list(
        Rapport.objects.filter(user=alice).order_by(*rapport.RANK_ORDER).values_list("person__name", flat=True)
    )
    assert names(html) == ranked and set(ranked[:2]) == {"Ana", "Ben"}
    assert "Regular" in html and "Not following each other" in html
    assert 'alt="Profile picture of Ana"' in html  # Ana has an avatar; the others a letter
    assert 'class="avatar avatar-letter' in html


def test_the_follow_state_is_said_both_ways(alice_client, alice, community):
    Identity.objects.filter(user=alice, person__name="Ana").update(i_follow=True, follows_me=True)
    Identity.objects.filter(user=alice, person__name="Ben").update(follows_me=True)
    html = alice_client.get(reverse("people")).content.decode()
    assert "You follow each other" in html and "Follows you" in html


def test_search_finds_people_by_name_or_handle(alice_client, community):
    assert listed(alice_client, q="an") == ["Ana", "Dan"]
    assert listed(alice_client, q="@cleo@fedi") == ["Cleo"]


def test_filters_by_tier_following_and_talked_within(alice_client, alice, community):
    assert sorted(listed(alice_client, tier="regular")) == ["Ana", "Ben"]
    Identity.objects.filter(user=alice, person__name="Ben").update(i_follow=True)
    assert listed(alice_client, following="yes") == ["Ben"]
    assert "Ben" not in listed(alice_client, following="no")
    # Dates are relative to the real today; the story happened on tests' TODAY, so move Ana's talk.
    from relationships.models import Preferences
    from relationships.services.scoring.rapport import local_today

    today = local_today(Preferences.for_user(alice))
    Rapport.objects.filter(person__name="Ana").update(last_talk_on=today)
    assert listed(alice_client, talked_within=7) == ["Ana"]


def test_the_platform_filter_keeps_people_with_an_account_there(alice_client, alice, community, make_source):
    bluesky = Story(alice, make_source(alice, platform=r.BLUESKY), platform=r.BLUESKY)
    talk_often(bluesky, "Eve", range(1, 3))
    bluesky.save()
    score(alice)
    assert listed(alice_client, platform=r.BLUESKY) == ["Eve"]
    assert "Eve" not in listed(alice_client, platform=r.MASTODON)


def test_an_invalid_filter_is_reported_not_a_crash(alice_client, community):
    response = alice_client.get(reverse("people"), {"talked_within": "-3", "tier": "famous"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_sorting_by_name(alice_client, community):
    assert listed(alice_client, sort="name") == ["Ana", "Ben", "Cleo", "Dan"]


def test_hidden_people_stay_out_unless_asked_for(alice_client, alice, community):
    Person.objects.filter(user=alice, name="Ben").update(hidden=True)
    assert "Ben" not in listed(alice_client)
    assert "Ben" in listed(alice_client, hidden="on")


def test_keyset_pagination_walks_every_person_once_with_htmx_load_more(alice_client, alice, story, monkeypatch):
    monkeypatch.setattr(people_view, "PAGE_SIZE", 4)
    for i in range(10):
        story.someone(f"P{i:02d}")
        for day in range(1, i + 2):  # different talk counts, and ties on score for the silent ones
            story.said(f"P{i:02d}", r.LIKE, day)
    for i in range(3):
        story.someone(f"Silent{i}")
    story.save()
    score(alice)
    for sort in ("rapport", "talks", "recent", "name"):
        html = alice_client.get(reverse("people"), {"sort": sort}).content.decode()
        seen = names(html)
        while 'id="load-more"' in html:
            href = re.search(r'id="load-more">\s*<a class="button secondary" href="([^"]+)"', html).group(1)
            html = alice_client.get(href.replace("&amp;", "&"), **HTMX).content.decode()
            assert "<html" not in html and 'id="results"' not in html  # the rows partial only
            seen += names(html)
        assert sorted(seen) == sorted(Person.objects.filter(user=alice).values_list("name", flat=True)), sort
        assert len(seen) == len(set(seen)) == 13, sort


def test_a_bad_cursor_starts_again_from_the_top(alice_client, community):
    html = alice_client.get(reverse("people"), {"after": "not-a-cursor"}).content.decode()
    assert names(html) == listed(alice_client)


def test_load_more_keeps_the_filters(alice_client, alice, story, monkeypatch):
    monkeypatch.setattr(people_view, "PAGE_SIZE", 2)
    for i in range(5):
        talk_often(story, f"Q{i}", range(1, 2))
    story.someone("Other")
    story.save()
    score(alice)
    html = alice_client.get(reverse("people"), {"q": "q"}).content.decode()
    href = re.search(r'id="load-more">\s*<a class="button secondary" href="([^"]+)"', html).group(1)
    assert "q=q" in href and "after=" in href


def why(html: str) -> dict[str, str]:
    return dict(re.findall(r'class="pr-name" href="/people/\d+/">([^<]+)</a>.*?<p class="pr-why">([^<]+)</p>', html, re.S))


def test_a_regular_is_listed_above_a_fan_and_each_row_says_why(alice_client, alice, story):
    records = list(issue_community(story).pending)
    story.save()
    story.pending = records  # the same archive twice
    story.save()
    score(alice)
    html = alice_client.get(reverse("people")).content.decode()
    assert names(html) == ["Reggie", "Faye", "Pal"]
    faye, reggie = (Rapport.objects.get(user=alice, person__name=name) for name in ("Faye", "Reggie"))
    assert faye.score > reggie.score  # the fan outscores the regular, and still comes second
    reasons = why(html)
    assert reasons["Reggie"] == f"Two-way: both of you take part · score {reggie.score:.2f}"
    assert reasons["Faye"] == f"One-sided, from them: 60 likes · score {faye.score:.2f}"
    assert reasons["Pal"].startswith("One-sided, from you: 13 replies")
    # The legend: the rule in a sentence, and every tier with what it means.
    legend = html[html.index('class="rank-legend'):html.index('id="results"')]
    assert "both ways" in legend and "come first" in legend
    for tier, label in Rapport.Tier.choices:
        assert label == label.capitalize() and f'class="tier tier-{tier}">{label}</span>' in legend
    assert "Talked on 10 days or more, both ways, at least once in the last 90 days." in legend
    # The filter names the tiers as the legend does.
    options = dict(re.findall(r'<option value="([a-z_]+)"[^>]*>([^<]+)</option>', html[html.index('name="tier"'):]))
    assert [options[tier] for tier in Rapport.Tier.values] == Rapport.Tier.labels
    assert options["one_way"] == "One way" and options["close"] == "Close"


def test_load_more_walks_from_the_two_way_group_into_the_rest_once_each(alice_client, alice, story, monkeypatch):
    monkeypatch.setattr(people_view, "PAGE_SIZE", 2)
    issue_community(story)
    for i in range(3):
        talk_often(story, f"Talker{i}", range(100 + i, 103 + i))  # two-way, old: low scores
        story.someone(f"Liker{i}")
        for day in range(1, 20 + i):  # one-sided, recent: high scores
            story.said(f"Liker{i}", r.LIKE, day)
    story.someone("Silent")
    story.save()
    score(alice)
    html = alice_client.get(reverse("people")).content.decode()
    seen = names(html)
    while 'id="load-more"' in html:
        href = re.search(r'id="load-more">\s*<a class="button secondary" href="([^"]+)"', html).group(1)
        html = alice_client.get(href.replace("&amp;", "&"), **HTMX).content.decode()
        seen += names(html)
    expected = list(
        Rapport.objects.filter(user=alice).order_by(*rapport.RANK_ORDER, "person_id").values_list("person__name", flat=True)
    )
    assert seen == expected and len(seen) == len(set(seen)) == 10
    assert set(seen[:4]) == {"Reggie", "Talker0", "Talker1", "Talker2"} and seen[-1] == "Silent"


def test_a_filter_answer_for_the_address_already_shown_pushes_no_new_history_entry(alice_client, community):
    # The search field's "change" on leaving it resubmits the query just pushed: htmx would push it twice.
    shown = "/people/?q=ben&platform=&tier=&following=&talked_within=&sort=rapport"
    again = alice_client.get(shown, HTTP_HX_CURRENT_URL=f"http://testserver{shown}", **HTMX)
    assert again.status_code == 200 and again["HX-Push-Url"] == "false"
    new = alice_client.get(shown, HTTP_HX_CURRENT_URL="http://testserver/people/", **HTMX)
    assert "HX-Push-Url" not in new and "Ben" in new.content.decode()
    assert "HX-Current-URL" in again["Vary"]


def test_the_filter_form_is_not_restored_by_the_browser_after_back(alice_client, community):
    html = alice_client.get(reverse("people")).content.decode()
    assert re.search(r'<form method="get" action="/people/"[^>]*aria-label="Filter people" autocomplete="off"', html)


def test_the_avatar_and_follow_state_escape_what_a_platform_sends():
    """Drawn with html.escape: a display name or picture address with markup in it stays text."""
    from types import SimpleNamespace

    from relationships.web.templatetags import avatar, follow_state

    person = SimpleNamespace(pk=13, display_name='<b>Ana</b> & "Bo"', avatar="https://cdn.example/a.png?x=1&y=<2>")
    assert avatar(person) == (
        '<img class="avatar" src="https://cdn.example/a.png?x=1&amp;y=&lt;2&gt;" '
        'alt="Profile picture of &lt;b&gt;Ana&lt;/b&gt; &amp; &quot;Bo&quot;" width="40" height="40" loading="lazy" '
        'referrerpolicy="no-referrer">'
    )
    person.avatar = ""
    assert avatar(person, large=True) == (
        '<span class="avatar avatar-letter hue-1 avatar-large" aria-hidden="true">B</span>'
    )
    person.display_name = "&ric"
    assert avatar(person).endswith('aria-hidden="true">R</span>')
    assert follow_state(SimpleNamespace(i_follow_any=True, follows_me_any=None)) == (
        '<span class="follow-state"><span class="fs fs-out"><span aria-hidden="true">→ </span>You follow them</span></span>'
    )
