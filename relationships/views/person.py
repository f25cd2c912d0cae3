"""One person: identities, rapport in words, a monthly chart, the timeline, notes, merge / split / hide."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from relationships.forms.pages import (
    HideForm,
    MergeForm,
    MergeSearchForm,
    NotSameForm,
    PersonNotesForm,
    SplitForm,
    TimelineForm,
)
from relationships.models import Nudge, Person, Preferences
from relationships.platforms import records as r
from relationships.selectors import person as selectors
from relationships.selectors.cards import attach_recent
from relationships.selectors.people import decorate
from relationships.services import merge_suggestions
from relationships.services import people as people_service
from relationships.services.charts import Series, bar_chart
from relationships.services.scoring.community import month_starts
from relationships.services.scoring.rapport import local_today
from relationships.services.scoring.sentences import explain_score, rapport_sentences
from relationships.views.common import render_page, wants_partial
from relationships.web import page_cache

# HX-Target of the person page's htmx requests -> the partial that answers it.
_PARTIALS = {"timeline": "timeline", "merge-candidates": "merge_candidates", "about": "about"}


def _owned(request, pk: int) -> Person:
    return selectors.owned(request.user, pk)


def _monthly_chart(person: Person, identity_ids: list[int], prefs: Preferences, today: dt.date):
    starts = month_starts(today)
    since = dt.datetime.combine(starts[0], dt.time(0), tzinfo=prefs.tzinfo)
    # identity_ids are the owner-checked person's (see person_context).
    counts = selectors.monthly_counts(identity_ids, since)
    keys = [s.strftime("%Y-%m") for s in starts]
    return bar_chart(
        f"Interactions with {person.display_name}, month by month",
        "Each month: what they did (replies, mentions, likes…) and what you did, side by side.",
        [s.strftime("%b") for s in starts],
        [
            Series("From them", "series-a", [counts.get((k, r.INBOUND), 0) for k in keys]),
            Series("From you", "series-b", [counts.get((k, r.OUTBOUND), 0) for k in keys]),
        ],
    )


def person_context(request, person: Person, **extra) -> dict:
    """Everything the person page shows; a fixed number of queries whatever the person's history."""
    prefs = Preferences.for_user(request.user)
    today = local_today(prefs)
    rapport_row = selectors.rapport_of(person)
    decorate(person)
    identity_ids = [i.pk for i in person.identity_list]

    timeline_form = TimelineForm(request.GET)
    if not timeline_form.is_valid():
        # ?page=abc, 0 or 99999999999999999999: no such page. A huge one would overflow the database's OFFSET.
        raise Http404("No such page of this timeline.")
    page = selectors.timeline(identity_ids, timeline_form.cleaned_data["page"] or 1)

    all_nudges = selectors.nudges(person)
    open_nudges = [n for n in all_nudges if n.state == Nudge.State.OPEN]
    if open_nudges:
        attach_recent([person])
        for nudge in open_nudges:
            nudge.person = person
            nudge.recent = person.recent

    search = MergeSearchForm(request.GET or None)
    merge_query = search.cleaned_data.get("merge_q", "") if search.is_valid() else ""
    return {
        "person": person,
        "rapport": rapport_row,
        "today": today,
        "explanation": rapport_sentences(rapport_row, person, today=today, prefs=prefs),
        "score_sentence": explain_score(rapport_row, prefs) if rapport_row and rapport_row.tier != "silent" else "",
        "chart": _monthly_chart(person, identity_ids, prefs, today),
        "page": page,
        "open_nudges": open_nudges,
        "other_nudges": [n for n in all_nudges if n.state != Nudge.State.OPEN],
        "suggestions": merge_suggestions.for_person(person),
        "merge_search": search,
        "merge_query": merge_query,
        "merge_candidates": selectors.merge_candidates(person, merge_query),
        "notes_form": PersonNotesForm(initial={"notes": person.notes, "tags": ", ".join(person.tags or [])}),
        "editing": False,
        **extra,
    }


@page_cache.per_user
@vary_on_headers("HX-Request", "HX-Target")
def person(request, pk: int):
    try:
        person = _owned(request, pk)
    except Http404:
        # A person merged away: their old address (a bookmark, an open tab) leads to the one kept. Looked up
        # with the owner, so another user's old id stays a 404.
        kept = people_service.merged_into(request.user, pk)
        if kept is None:
            raise
        return redirect("person", kept)
    partial = _PARTIALS.get(request.htmx.target or "") if wants_partial(request) else None
    return render_page(request, "relationships/person.html", person_context(request, person), partial)


@vary_on_headers("HX-Request")
def person_notes(request, pk: int):
    """Private notes and tags, edited in place: GET gives the form, POST saves and shows the result."""
    person = _owned(request, pk)
    if request.method == "POST":
        form = PersonNotesForm(request.POST)
        if form.is_valid():
            people_service.save_notes(person, form.cleaned_data["notes"], form.cleaned_data["tags"])
            if request.htmx:
                return render_page(request, "relationships/person.html", {"person": person}, "about")
            messages.success(request, "Notes saved.")
            return redirect("person", person.pk)
        if request.htmx:
            return render_page(request, "relationships/person.html", {"person": person, "notes_form": form}, "about_form",
                               status=400)
        return render_page(request, "relationships/person.html",
                           person_context(request, person, notes_form=form, editing=True), status=400)
    if wants_partial(request):
        form = PersonNotesForm(initial={"notes": person.notes, "tags": ", ".join(person.tags or [])})
        return render_page(request, "relationships/person.html", {"person": person, "notes_form": form}, "about_form")
    return render_page(request, "relationships/person.html", person_context(request, person, editing=True))


@require_POST
def person_merge(request, pk: int):
    """Merge another of the user's people into this one (the page's person is kept)."""
    person = _owned(request, pk)
    form = MergeForm(request.POST, person=person)
    if not form.is_valid():
        messages.error(request, "Choose one of your other people to merge.")
        return render_page(request, "relationships/person.html", person_context(request, person), status=400)
    other, back = form.cleaned_data["other"], form.cleaned_data["back"]
    if not form.cleaned_data["confirmed"]:
        # JavaScript off (no window.confirm): ask on a page of its own; only its POST merges.
        return render_page(request, "relationships/person_merge.html", {
            "person": person, "other": other, "back": back,
            "question": f"Merge {people_service.person_label(other)} into {people_service.person_label(person)}?",
        })
    # Named before the merge moves the accounts: "Merged Lena Berg (@lena@social.example) into Lena Berg (…)".
    merged, kept = people_service.person_label(other), people_service.person_label(person)
    try:
        people_service.merge(person, other)
    except people_service.PeopleError as exc:
        messages.error(request, str(exc))
        return redirect("person", person.pk)
    messages.success(request, f"Merged {merged} into {kept}. Split an account off again if that was a mistake.")
    return redirect("merge_suggestions") if back == "merges" else redirect("person", person.pk)


@require_POST
def person_not_same(request, pk: int):
    """"Not the same": a suggested merge the user turned down, never suggested again."""
    person = _owned(request, pk)
    form = NotSameForm(request.POST, person=person)
    if not form.is_valid():
        # Another user's person, this person, or no one: there is no such suggestion for this user.
        raise Http404("No such person to tell apart.")
    other = form.cleaned_data["other"]
    merge_suggestions.dismiss(person, other)
    messages.success(request, f"Noted: {people_service.person_label(other)} is not "
                              f"{people_service.person_label(person)}. Rapport will not suggest them as one again.")
    return redirect("merge_suggestions") if form.cleaned_data["back"] == "merges" else redirect("person", person.pk)


@require_POST
def person_split(request, pk: int):
    """Give one of the person's accounts a person of its own."""
    person = _owned(request, pk)
    form = SplitForm(request.POST, person=person)
    if not form.is_valid():
        messages.error(request, "Choose one of this person's accounts to split off.")
        return render_page(request, "relationships/person.html", person_context(request, person), status=400)
    identity = form.cleaned_data["identity"]
    if not form.cleaned_data["confirmed"]:
        # JavaScript off (no window.confirm): ask on a page of its own; only its POST splits.
        account = people_service.account_label(identity)
        return render_page(request, "relationships/person_split.html", {
            "person": person, "identity": identity, "account": account,
            "question": f"Make {account} a separate person from {person.display_name}?",
        })
    try:
        new = people_service.split(identity)
    except people_service.PeopleError as exc:
        messages.error(request, str(exc))
        return redirect("person", person.pk)
    messages.success(request, format_html('Split off: <a href="{}">{}</a> is now a person of their own.',
                                          reverse("person", args=[new.pk]), new.display_name))
    return redirect("person", person.pk)


@require_POST
def person_hide(request, pk: int):
    """Hide the person from the people list, nudges and the digest; or show them again."""
    person = _owned(request, pk)
    form = HideForm(request.POST)
    if form.is_valid():
        people_service.set_hidden(person, form.cleaned_data["hidden"])
        if person.hidden:
            messages.success(request, f"{person.display_name} is hidden from your lists and nudges.")
        else:
            messages.success(request, f"{person.display_name} is back in your lists.")
    return redirect("person", person.pk)
