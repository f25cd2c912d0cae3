"""The dashboard's reads: the stored community figures, the open nudges' cards, and what is running."""

from __future__ import annotations

from relationships.models import CommunityHeadline, CommunitySnapshot, Job, Person
from relationships.selectors.cards import nudge_cards, nudge_counts, open_nudges
from relationships.services.scoring import community

NUDGE_CARDS = 6


def dashboard(user, show_all: bool) -> dict:
    """What the dashboard shows, from stored rows only (never a scan of the interactions).

    ``show_all``: every open nudge's card, not the first ``NUDGE_CARDS``.
    """
    headline = CommunityHeadline.objects.filter(user=user).first()
    counts = nudge_counts(user)
    named = community.examples(headline)
    cards = nudge_cards(open_nudges(user), None if show_all else NUDGE_CARDS)
    found = {
        "headline": headline,
        "months": list(CommunitySnapshot.objects.filter(user=user).order_by("month")),
        "named": named,
        # The card names EXAMPLES people; the rest are counted and linked, so the figure adds up.
        "drifting_more": max(0, headline.drifting - len(named["drifting"])) if headline else 0,
        "counts": counts,
        "nudges": cards,
        "more": not show_all and counts["open"] > len(cards),
        "has_people": headline is not None or Person.objects.filter(user=user).exists(),
        "running": Job.objects.filter(user=user).running().first(),
    }
    if community.x_archive_only(user):
        found["reached_out"] = community.reached_out_most(user)
    return found


def nudge_summary(user, shown: list[int]) -> dict:
    """The nudge counts and whether "Show all" has more than the open cards ``shown`` on screen."""
    return {"counts": nudge_counts(user), "more": open_nudges(user).exclude(pk__in=shown).exists()}
