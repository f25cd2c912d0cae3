"""Add to a list, notes that travel, and "followed by … whom you talk with", on nudge cards and person pages.

Each view checks ownership itself: another user's nudge, person or listing is
a 404. Every form works without JavaScript (the card, or the person page,
comes back whole); with htmx the card or the person page's "Lists and notes"
section swaps in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from relationships.forms.connect import ListForm
from relationships.models import FollowAttempt, Nudge, Person
from relationships.platforms.base import PlatformList
from relationships.selectors import person as person_selectors
from relationships.services import follow, known, lists, notes
from relationships.views import connect as cards
from relationships.views.common import render_page, wants_partial
from relationships.views.person import person_context


@dataclass
class Listing:
    """The Add to a list form: the platform it lists on, the user's lists read from it, why they could not be."""

    platform: str | None
    form: ListForm
    #: Where the form posts, what its htmx answer replaces, and a prefix for ids unique on a page of several cards.
    action: str
    target: str
    prefix: str
    lists: list[PlatformList] = field(default_factory=list)
    problem: str = ""
    need_follow: bool = False


def _listing(user, person: Person, form: ListForm | None = None, nudge: Nudge | None = None) -> Listing:
    form = form or ListForm()
    if nudge is not None:
        place = (reverse("nudge_list", args=[nudge.pk]), f"#nudge-{nudge.pk}", f"list-{nudge.pk}")
    else:
        place = (reverse("person_list", args=[person.pk]), "#lists", "list-person")
    platform = lists.listing_platform(person, user)
    if platform is None:
        return Listing(None, form, *place, problem=f"Rapport can add {person.display_name} to a list only through a "
                                                   "connected Mastodon or Bluesky account.")
    found, problem = lists.platform_lists(user, platform)
    return Listing(platform, form, *place, found, problem, lists.lists_need_follow(platform))


def _chosen(form: ListForm) -> dict:
    data = form.cleaned_data
    return {"list_id": data["list_id"], "new_list": data["new_list"], "exclusive": data["exclusive"]}


# ---------------------------------------------------------------- on a nudge card


@require_http_methods(["GET", "POST"])
def nudge_list(request, pk: int):
    """GET: the card with the Add to a list form; POST: list the nudge's person, which acts on the nudge."""
    nudge = cards._own_nudge(request, pk)
    if nudge.kind not in follow.FOLLOW_KINDS:
        return cards._answer(request, nudge, error="This nudge is not about following.")
    name = nudge.person.display_name
    if request.method == "GET":
        return _nudge_answer(request, nudge, f"Add {name} to a list", listing=_listing(request.user, nudge.person, nudge=nudge))
    form = ListForm(request.POST)
    if not form.is_valid():
        return _nudge_answer(request, nudge, f"Add {name} to a list", status=400,
                             listing=_listing(request.user, nudge.person, form, nudge), error="A list name is at most 64 characters.")
    try:
        result = lists.list_person(nudge, request.user, **_chosen(form))
    except follow.FollowRefused as e:
        return _nudge_answer(request, nudge, f"Add {name} to a list", listing=_listing(request.user, nudge.person, form, nudge),
                             error=str(e))
    if not result.succeeded:
        # The form again, with what the platform said: the user may pick another list.
        return _nudge_answer(request, nudge, f"Add {name} to a list", result=result,
                             listing=_listing(request.user, nudge.person, form, nudge))
    return _nudge_answer(request, nudge, name, result=result, note=notes.write_reason(result, request.user))


def _nudge_answer(request, nudge, heading: str, status: int = 200, **context):
    if request.htmx:
        return cards._card(request, nudge, status=status, **context)
    response = cards._card_page(request, nudge, heading, **context)
    response.status_code = status
    return response


# ---------------------------------------------------------------- on the person page


def _section(request, person: Person, status: int = 200, **extra):
    """The person page's "Lists and notes" section (htmx), or the whole page holding it."""
    context = {"person": person, **extra} if wants_partial(request) else person_context(request, person, **extra)
    return render_page(request, "relationships/person.html", context, "lists", status=status)


@require_http_methods(["GET", "POST"])
def person_list(request, pk: int):
    """GET: the Add to a list form; POST: list the person (no nudge is acted on: none was asked)."""
    person = person_selectors.owned(request.user, pk)
    if request.method == "GET":
        return _section(request, person, listing=_listing(request.user, person))
    form = ListForm(request.POST)
    if not form.is_valid():
        return _section(request, person, status=400, listing=_listing(request.user, person, form),
                        list_error="A list name is at most 64 characters.")
    try:
        result = lists.list_person(person, request.user, **_chosen(form))
    except follow.FollowRefused as e:
        return _section(request, person, listing=_listing(request.user, person, form), list_error=str(e))
    if not result.succeeded:
        return _section(request, person, listing=_listing(request.user, person, form), list_error=result.reason)
    return _section(request, person, listed=result, note=notes.write_reason(result, request.user))


@require_POST
def person_list_undo(request, pk: int, attempt: int):
    """Take back an Add to a list made on this page a moment ago."""
    person = person_selectors.owned(request.user, pk)
    listing = get_object_or_404(
        FollowAttempt.objects.select_related("identity", "source", "person"), pk=attempt, user=request.user, person=person
    )
    try:
        result = lists.undo_listing(listing, request.user)
    except follow.FollowRefused as e:
        return _section(request, person, list_error=e.args[0])
    return _section(request, person, undone=result)


@require_POST
def person_note_push(request, pk: int):
    """Write Rapport's notes on the person into the Mastodon private note on their account."""
    person = person_selectors.owned(request.user, pk)
    try:
        note = lists.push_note(person, request.user, person.notes)
    except follow.FollowRefused as e:
        note = lists.NoteResult(False, str(e))
    return _section(request, person, note=note)


@require_GET
def person_known(request, pk: int):
    """The "Followed by Ana and Ben, whom you talk with" line, asked for once the card or page is on screen."""
    person = person_selectors.owned(request.user, pk)
    context = {"known": known.followed_by(person, request.user), "person": person}
    return render(request, "relationships/includes/known_followers.html", context)
