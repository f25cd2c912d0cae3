"""What the pages share: partial rendering, people decorated for display, nudge cards."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, F, Prefetch, Q, Window
from django.db.models.functions import RowNumber
from django.shortcuts import render

from ..models import Identity, Interaction, Nudge
from ..platforms import records as r

RECENT_PER_NUDGE = 3


def render_page(request, template: str, context: dict, partial: str | None = None, status: int = 200):
    """The whole page, or ``template#partial`` for an htmx request (one view, one template)."""
    name = f"{template}#{partial}" if partial and request.htmx else template
    return render(request, name, context, status=status)


def identities_prefetch():
    return Prefetch("identities", queryset=Identity.objects.order_by("platform", "pk"))


def decorate(person) -> None:
    """Follow state both ways and the avatar, from the person's prefetched identities.

    Never a count or a ratio: only whether the user follows them on any
    platform, and whether they follow the user on any.
    """
    identities = list(person.identities.all())
    person.i_follow_any = any(i.i_follow for i in identities)
    person.follows_me_any = any(i.follows_me for i in identities)
    person.avatar = next((i.avatar_url for i in identities if i.avatar_url), "")
    person.identity_list = identities


def nudge_counts(user) -> dict[str, int]:
    """Open and snoozed nudges of visible people, in one query."""
    return Nudge.objects.filter(user=user, person__hidden=False).aggregate(
        open=Count("pk", filter=Q(state=Nudge.State.OPEN)),
        snoozed=Count("pk", filter=Q(state=Nudge.State.SNOOZED)),
    )


def nudge_cards(queryset, limit: int | None = None) -> list[Nudge]:
    """Nudges ready for their cards: person, rapport, identities and the last three interactions.

    Three queries whatever the number of cards: the nudges (with person and
    rapport joined), the identities, and one windowed query for the recent
    interactions of all the cards' people.
    """
    qs = queryset.select_related("person", "person__rapport").prefetch_related(
        Prefetch("person__identities", queryset=Identity.objects.order_by("platform", "pk"))
    ).order_by("-strength", "pk")
    nudges = list(qs[:limit] if limit else qs)
    for nudge in nudges:
        decorate(nudge.person)
    attach_recent([n.person for n in nudges])
    for nudge in nudges:
        nudge.recent = nudge.person.recent
    return nudges


def attach_recent(people, per_person: int = RECENT_PER_NUDGE) -> None:
    """Set ``person.recent``: their latest interactions (likes left out: they say little), newest first."""
    people = list(people)
    for person in people:
        person.recent = []
    if not people:
        return
    by_id = {p.pk: p for p in people}
    rows = (
        Interaction.objects.filter(identity__person_id__in=list(by_id), user_id=people[0].user_id)
        .exclude(kind=r.LIKE)
        .annotate(
            owner=F("identity__person_id"),
            position=Window(RowNumber(), partition_by=F("identity__person_id"), order_by=F("occurred_at").desc()),
        )
        .filter(position__lte=per_person)
        .order_by("owner", "position")
    )
    grouped = defaultdict(list)
    for row in rows:
        grouped[row.owner].append(row)
    for pk, items in grouped.items():
        by_id[pk].recent = items
