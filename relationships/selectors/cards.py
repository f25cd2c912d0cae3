"""The nudge cards' reads (dashboard, person page, a card's answer): each nudge with its person and latest talk."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, OuterRef, Q, Subquery

from relationships.models import Identity, Interaction, Nudge
from relationships.platforms import records as r
from relationships.selectors.people import attach_identities, decorate
from relationships.services.scoring.nudges import serve_order

RECENT_PER_NUDGE = 3


def nudge_counts(user) -> dict[str, int]:
    """Open and snoozed nudges of visible people, in one query."""
    return Nudge.objects.filter(user=user, person__hidden=False).aggregate(
        open=Count("pk", filter=Q(state=Nudge.State.OPEN)),
        snoozed=Count("pk", filter=Q(state=Nudge.State.SNOOZED)),
    )


#: What a nudge card shows of the nudge, its person and their rapport (no notes, tags or rapport details).
CARD_FIELDS = (
    "id", "user_id", "person_id", "kind", "state", "reason", "strength", "outcome", "outcome_reason", "snoozed_until",
    "updated_at",
    "person__id", "person__user_id", "person__name", "person__hidden", "person__rapport__tier",
)
#: What a line of a card's (or the timeline's) recent interactions shows.
RECENT_FIELDS = ("id", "user_id", "identity_id", "platform", "kind", "direction", "occurred_at", "day", "permalink", "excerpt")


def nudge_cards(queryset, limit: int | None = None) -> list[Nudge]:
    """Nudges ready for their cards, in the order the daily budget serves them (follow first).

    Each comes with its person, rapport, identities and the last three interactions.

    Three queries whatever the number of cards: the nudges (with person and
    rapport joined), their people's identities with the ids of each one's
    latest interactions, and those interactions.
    """
    qs = queryset.select_related("person", "person__rapport").only(*CARD_FIELDS).order_by(*serve_order())
    nudges = list(qs[:limit] if limit else qs)
    attach_identities([n.person for n in nudges], **latest_ids(RECENT_PER_NUDGE))
    for nudge in nudges:
        decorate(nudge.person)
    attach_recent([n.person for n in nudges])
    for nudge in nudges:
        nudge.recent = nudge.person.recent
    return nudges


def attach_recent(people, per_person: int = RECENT_PER_NUDGE) -> None:
    """Set ``person.recent``: their latest interactions (likes left out: they say little), newest first.

    Two queries at most whatever the number of people or the length of their
    histories (one when the identities came with latest_ids' annotations):
    for each of their identities, the ids of its latest ``per_person``
    interactions (each a short backward walk of the timeline index), then
    those interactions. A window function over the people's whole histories
    instead read every interaction of the busiest: 100 ms on the dashboard
    with 1,000,000 interactions.
    """
    people = list(people)
    for person in people:
        person.recent = []
    if not people:
        return
    owner = {}  # identity id -> person
    ids: list[int] = []
    unknown: list[int] = []
    for person in people:
        identities = getattr(person, "identity_list", None)
        if identities is None:
            identities = person.identities.all()
        for identity in identities:
            owner[identity.pk] = person
            if hasattr(identity, f"latest_{per_person - 1}"):
                ids.extend(getattr(identity, f"latest_{n}") for n in range(per_person))
            else:
                unknown.append(identity.pk)
    if unknown:
        slots = latest_ids(per_person)
        ids.extend(pk for row in Identity.objects.filter(pk__in=unknown).annotate(**slots).values_list(*slots) for pk in row)
    ids = [pk for pk in ids if pk is not None]
    if not ids:
        return
    grouped = defaultdict(list)
    for item in Interaction.objects.filter(pk__in=ids).only(*RECENT_FIELDS).order_by("-occurred_at", "-pk"):
        grouped[owner[item.identity_id].pk].append(item)
    for person in people:
        person.recent = grouped.get(person.pk, [])[:per_person]


def latest_ids(count: int) -> dict[str, Subquery]:
    """Annotations of an Identity queryset: the ids of its ``count`` latest interactions, likes left out.

    Each is a correlated subquery walking the timeline index backwards from the newest (LIMIT 1 OFFSET n).
    """
    latest = (
        Interaction.objects.filter(identity_id=OuterRef("pk"), user_id=OuterRef("user_id"))
        .exclude(kind=r.LIKE)
        # pk settles ties (a reply and its answer stored with the same time): without it each subquery may
        # order the tied rows its own way, two slots name the same row, and the card shows two of three.
        .order_by("-occurred_at", "-pk")
        .values("pk")
    )
    return {f"latest_{n}": Subquery(latest[n:n + 1]) for n in range(count)}


def open_nudges(user):
    """The user's open nudges about people not hidden: what the cards and "Show all" draw from."""
    return Nudge.objects.filter(user=user, state=Nudge.State.OPEN, person__hidden=False)
