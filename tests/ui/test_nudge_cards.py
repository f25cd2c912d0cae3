"""Nudge cards answering their buttons: whole whatever happened, counts that agree with "Show all", and Undo.
The same in a real browser is in test_browser_answers.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from relationships.models import Nudge
from relationships.services.scoring import nudges

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _card(html: str, nudge) -> str:
    card = html[html.index(f'id="nudge-{nudge.pk}"'):]
    return card[: card.index("</article>")]


# -- A Follow without a connected account keeps the card whole -----------------------------------------------

def test_follow_without_a_connected_account_keeps_the_card_whole_and_offers_to_connect(alice_client, alice, community):
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    response = alice_client.post(reverse("nudge_follow", args=[nudge.pk]), {"next": "/"}, **HTMX)
    card = _card(response.content.decode(), nudge)
    assert response.status_code == 200
    assert f'href="{reverse("person", args=[nudge.person_id])}">Ana</a>' in card  # the name
    assert card.count("<time datetime=") == 3  # the evidence: the latest three interactions
    assert nudge.reason.replace("'", "&#x27;") in card
    for button in ("Follow", "Not now", "Never", "I followed them"):
        assert f">{button}<" in card or f">{button}</button>" in card, button
    assert f'href="{reverse("connect_mastodon")}">Connect your Mastodon account to follow in one click</a>' in card
    assert "Open Ana’s profile on Mastodon" in card
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.OPEN


def test_without_javascript_the_follow_by_hand_page_also_offers_to_connect(alice_client, alice, community):
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    html = alice_client.post(reverse("nudge_follow", args=[nudge.pk]), {"next": "/"}).content.decode()
    assert "<html" in html and "<h1>Follow Ana</h1>" in html and '<a href="/">Back</a>' in html
    # The same card as htmx swaps in, whole: evidence, Never, and a Not now that is a form that snoozes.
    card = _card(html, nudge)
    assert card.count("<time datetime=") == 3 and ">Never<" in card and "I followed them" in card
    assert f'action="{reverse("nudge_snooze", args=[nudge.pk])}"' in card
    assert f'href="{reverse("connect_mastodon")}">Connect your Mastodon account to follow in one click</a>' in card


def test_not_now_without_javascript_answers_the_card_naming_the_person_with_its_undo(alice_client, alice, community):
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    response = alice_client.post(reverse("nudge_snooze", args=[nudge.pk]), {"next": "/"})
    card = _card(response.content.decode(), nudge)
    assert response.status_code == 200 and "Not now: Ana comes back on" in card
    assert f'action="{reverse("nudge_undo", args=[nudge.pk])}"' in card and 'name="next" value="/"' in card


# -- Counts and "Show all" agree; Undo -----------------------------------------------------------------------

def test_the_counts_and_show_all_are_answered_together_from_the_same_figures(alice_client, alice, pals):
    html = alice_client.get(reverse("dashboard")).content.decode()
    shown = [n.pk for n in Nudge.objects.filter(user=alice, state="open") if f'data-nudge="{n.pk}"' in html]
    assert len(shown) == 6 and "8 open" in html and "Show all 8 open nudges" in html

    nudges.dismiss(Nudge.objects.get(pk=shown[0]))
    answer = alice_client.get(reverse("nudge_counts"), {"shown": shown[1:]}, **HTMX).content.decode()
    assert "7 open" in answer and "Show all 7 open nudges" in answer
    assert 'id="nudges-more" hx-swap-oob="true"' in answer
    # Once every open nudge is on screen, there is nothing more to show.
    hidden = Nudge.objects.filter(user=alice, state="open").exclude(pk__in=shown)
    for nudge in hidden:
        nudges.snooze(nudge)
    answer = alice_client.get(reverse("nudge_counts"), {"shown": shown[1:]}, **HTMX).content.decode()
    assert "5 open · 2 snoozed" in answer and "Show all" not in answer


def test_undo_of_not_now_opens_the_nudge_again_and_answers_the_whole_card(alice_client, alice, community):
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    snoozed = alice_client.post(reverse("nudge_snooze", args=[nudge.pk]), {"next": "/"}, **HTMX)
    done = _card(snoozed.content.decode(), nudge)
    assert "Not now: Ana comes back on" in done and f'action="{reverse("nudge_undo", args=[nudge.pk])}"' in done
    assert snoozed["HX-Trigger-After-Settle"] == "nudge-changed"

    undone = alice_client.post(reverse("nudge_undo", args=[nudge.pk]), {"next": "/"}, **HTMX)
    card = _card(undone.content.decode(), nudge)
    assert "data-nudge-open" in card and ">Not now<" in card and card.count("<time datetime=") == 3
    nudge.refresh_from_db()
    assert (nudge.state, nudge.snoozed_until) == (Nudge.State.OPEN, None)


def test_undo_of_never_works_without_javascript_too(alice_client, alice, community):
    nudge = Nudge.objects.get(user=alice, person__name="Ben")
    alice_client.post(reverse("nudge_dismiss", args=[nudge.pk]))
    response = alice_client.post(reverse("nudge_undo", args=[nudge.pk]), {"next": "/people/"})
    assert response.status_code == 302 and response["Location"] == "/people/"
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.OPEN


def test_undo_is_refused_once_the_moment_has_passed_and_nothing_changes(alice_client, alice, community):
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    nudges.dismiss(nudge)
    Nudge.objects.filter(pk=nudge.pk).update(updated_at=timezone.now() - nudges.UNDO_WINDOW - dt.timedelta(seconds=1))
    answer = alice_client.post(reverse("nudge_undo", args=[nudge.pk]), **HTMX).content.decode()
    assert "too late to undo" in answer and "Undo" not in _card(answer, nudge).split("too late")[1]
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.DISMISSED


def test_a_follow_is_never_undone_by_only_reopening_its_nudge(alice, community):
    # The card's Undo of a follow unfollows on the platform first (follow.undo_follow, tests/sync/test_follow.py).
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    nudges.act(nudge, "following", "Followed.")
    assert nudges.undoable(nudge)
    with pytest.raises(nudges.NudgeStateError, match="undone by unfollowing"):
        nudges.undo(nudge)
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.ACTED


def test_bob_cannot_undo_alices_nudge(client, bob, alice, community):
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    nudges.snooze(nudge)
    client.force_login(bob)
    assert client.post(reverse("nudge_undo", args=[nudge.pk]), **HTMX).status_code == 404
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.SNOOZED
