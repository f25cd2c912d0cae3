"""What the pages share: partial rendering, people decorated for display, nudge cards."""

from __future__ import annotations

import functools
from collections import defaultdict

from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from relationships.models import Identity, Interaction, Nudge
from relationships.platforms import records as r
from relationships.services.scoring.nudges import serve_order

RECENT_PER_NUDGE = 3


def wants_partial(request) -> bool:
    """An htmx request that swaps part of the page; Back and Forward (a history restore) need the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def push_url_only_when_changed(view):
    """For a view whose htmx requests push their URL (hx-push-url): no new history entry for the address shown.

    htmx pushes whatever the element says, even the same URL again: typing a search and then leaving the field
    (its "change" event resubmits the form) left two entries, so Back had to be pressed twice. The answer's
    HX-Push-Url: false overrides the attribute. Outside page_cache, which would keep the header for every page.
    """

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if wants_partial(request) and request.htmx.current_url_abs_path == request.get_full_path():
            response["HX-Push-Url"] = "false"
        patch_vary_headers(response, ("HX-Current-URL",))
        return response

    return wrapped


def render_page(request, template: str, context: dict, partial: str | None = None, status: int = 200):
    """The whole page, or ``template#partial`` for an htmx request (one view, one template).

    The answer varies on the htmx headers, so no cache (the browser's
    included) ever hands the partial out as the page, or the page as the partial.
    """
    name = f"{template}#{partial}" if partial and wants_partial(request) else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))
    return response


def identities_prefetch():
    return Prefetch("identities", queryset=Identity.objects.order_by("platform", "pk"))


#: What a person's row (people list, nudge card) shows of each identity.
IDENTITY_LIST_FIELDS = (
    "id", "user_id", "person_id", "platform", "external_id", "handle", "display_name", "avatar_url", "profile_url",
    "i_follow", "follows_me",
)


def attach_identities(people, recent: int = 0) -> None:
    """Set ``person.identity_list`` on each of ``people``: the identities a row shows, in one query.

    Done by hand rather than with prefetch_related: for a list of fifty, the
    prefetch machinery cost as much as the query. ``recent``: each identity
    also carries the ids of its latest ``recent`` interactions (``latest_0``,
    ``latest_1``...), for attach_recent().
    """
    people = list(people)
    by_id = {person.pk: person for person in people}
    for person in people:
        person.identity_list = []
    if not by_id:
        return
    queryset = Identity.objects.filter(person_id__in=list(by_id)).only(*IDENTITY_LIST_FIELDS).order_by("platform", "pk")
    if recent:
        queryset = queryset.annotate(**_latest_ids(recent))
    for identity in queryset:
        by_id[identity.person_id].identity_list.append(identity)


def _latest_ids(count: int) -> dict[str, Subquery]:
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


def decorate(person) -> None:
    """Follow state both ways and the avatar, from the person's prefetched identities.

    Never a count or a ratio: only whether the user follows them on any
    platform, and whether they follow the user on any.
    """
    identities = person.__dict__.get("identity_list")
    if identities is None:
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
    attach_identities([n.person for n in nudges], recent=RECENT_PER_NUDGE)
    for nudge in nudges:
        decorate(nudge.person)
    attach_recent([n.person for n in nudges])
    for nudge in nudges:
        nudge.recent = nudge.person.recent
    return nudges


def attach_recent(people, per_person: int = RECENT_PER_NUDGE) -> None:
    """Set ``person.recent``: their latest interactions (likes left out: they say little), newest first.

    Two queries at most whatever the number of people or the length of their
    histories (one when the identities came with attach_identities(recent=...)):
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
        slots = _latest_ids(per_person)
        ids.extend(pk for row in Identity.objects.filter(pk__in=unknown).annotate(**slots).values_list(*slots) for pk in row)
    ids = [pk for pk in ids if pk is not None]
    if not ids:
        return
    grouped = defaultdict(list)
    for item in Interaction.objects.filter(pk__in=ids).only(*RECENT_FIELDS).order_by("-occurred_at", "-pk"):
        grouped[owner[item.identity_id].pk].append(item)
    for person in people:
        person.recent = grouped.get(person.pk, [])[:per_person]
