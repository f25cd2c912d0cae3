"""The person page's reads: the person (owner-checked), their timeline a page at a time, months, nudges, merges."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.http import Http404
from django.shortcuts import get_object_or_404

from relationships.models import Identity, Interaction, Nudge, Person, Rapport
from relationships.selectors.cards import RECENT_FIELDS
from relationships.services.scoring.community import MonthOf

TIMELINE_PAGE = 25
MERGE_RESULTS = 8


def identities_prefetch():
    return Prefetch("identities", queryset=Identity.objects.order_by("platform", "pk"))


def owned(user, pk: int) -> Person:
    """The person ``pk`` of ``user`` with their rapport, and their identities as ``identity_list``.

    Another user's person is a 404, never a 403 that confirms it exists. The
    identities are read by hand, as the people list's are: through
    prefetch_related the lookup cost twice as much (3.0 against 1.2 ms with
    10,000 people).
    """
    person = get_object_or_404(Person.objects.select_related("rapport"), pk=pk, user=user)
    person.identity_list = list(Identity.objects.filter(person=person).order_by("platform", "pk"))
    return person


def rapport_of(person: Person) -> Rapport | None:
    try:
        return person.rapport
    except Rapport.DoesNotExist:
        return None


class TimelinePage:
    """One page of a person's timeline, newest first: ``TIMELINE_PAGE`` rows and whether there are older ones.

    No total: counting a long history on every view cost more than the rest
    of the page (10 ms for 14,000 interactions), and "Newer / Older" needs
    only to know whether one more row exists.
    """

    def __init__(self, rows: list, number: int, has_next: bool):
        self.object_list, self.number, self.has_next = rows, number, has_next
        self.has_previous = number > 1
        self.next_page_number, self.previous_page_number = number + 1, number - 1

    def __iter__(self):
        return iter(self.object_list)

    @classmethod
    def of(cls, queryset, number: int) -> TimelinePage:
        """Raises Http404 past the end, as for any page that does not exist (page 1 always exists)."""
        start = (number - 1) * TIMELINE_PAGE
        rows = list(queryset[start:start + TIMELINE_PAGE + 1])
        if not rows and number > 1:
            raise Http404(f"This timeline has no page {number}.")
        return cls(rows[:TIMELINE_PAGE], number, len(rows) > TIMELINE_PAGE)


def timeline(identity_ids: list[int], number: int) -> TimelinePage:
    """Page ``number`` of the interactions of ``identity_ids``, newest first.

    The identity ids come from the person fetched for the user (owned()):
    filtering on them alone lets the timeline index answer without reading
    each interaction's row for its user_id.
    """
    rows = Interaction.objects.filter(identity_id__in=identity_ids).only(*RECENT_FIELDS).order_by("-occurred_at", "-pk")
    return TimelinePage.of(rows, number)


def monthly_counts(identity_ids: list[int], since: dt.datetime) -> dict[tuple[str, str], int]:
    """{("2025-03", direction): interactions} of ``identity_ids`` since ``since``: an index-only scan."""
    return {
        (month, direction): n
        for month, direction, n in Interaction.objects.filter(identity_id__in=identity_ids, occurred_at__gte=since)
        .order_by()
        .values("direction", month=MonthOf("day"))
        .annotate(n=Count("*"))
        .values_list("month", "direction", "n")
    }


def nudges(person: Person) -> list[Nudge]:
    """Every nudge about the person, open or not, by kind."""
    return list(person.nudges.order_by("kind"))


def merge_candidates(person: Person, query: str) -> list[Person]:
    """The user's other people whose name or an account's handle or display name contains ``query``."""
    query = query.strip().lstrip("@")
    if not query:
        return []
    handles = Identity.objects.filter(person=OuterRef("pk")).filter(
        Q(handle__icontains=query) | Q(display_name__icontains=query)
    )
    return list(
        Person.objects.filter(user_id=person.user_id)
        .exclude(pk=person.pk)
        .filter(Q(name__icontains=query) | Exists(handles))
        .prefetch_related(identities_prefetch())
        .order_by("name", "pk")[:MERGE_RESULTS]
    )
