"""The people list: ranked by rapport, filtered, searched, keyset-paginated with htmx "load more"."""

from __future__ import annotations

from django.views.decorators.vary import vary_on_headers

from relationships.forms.pages import PeopleFilterForm
from relationships.models import Preferences
from relationships.selectors import people as selectors
from relationships.services import merge_suggestions
from relationships.services.scoring.rapport import local_today
from relationships.services.scoring.sentences import RANKING_RULE, tier_meanings
from relationships.views.common import push_url_only_when_changed, render_page
from relationships.web import page_cache

PAGE_SIZE = 50


@push_url_only_when_changed
@page_cache.per_user
@vary_on_headers("HX-Request")
def people(request):
    user = request.user
    form = PeopleFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    prefs = Preferences.for_user(user)
    today = local_today(prefs)
    after = data.get("after") or ""
    rows = selectors.people_page(user, data, today, PAGE_SIZE + 1, after)
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    for person in rows:
        selectors.decorate(person)
    params = request.GET.copy()
    params.pop("after", None)
    if has_more:
        params["after"] = selectors.encode_cursor(rows[-1])
    context = {
        "form": form,
        "people": rows,
        "has_more": has_more,
        "next_query": params.urlencode(),
        "today": today,
        # Only the first page says how many match; "load more" needs no count.
        "total": None if after else selectors.count(user, data, today),
        "filtered": any(data.get(name) for name in ("q", "platform", "tier", "following", "talked_within", "drifting", "hidden", "tag")),
        "has_anyone": True,
        "ranking_rule": RANKING_RULE,
        "tier_meanings": tier_meanings(),
    }
    if not after and not context["total"] and not context["filtered"]:
        context["has_anyone"] = selectors.has_anyone(user)
    if not request.htmx:
        # The whole page only: a filter's answer (the results partial) has no room for them.
        context["suggestions"] = merge_suggestions.for_user(user)
    return render_page(request, "relationships/people.html", context, "rows" if after else "results")


@page_cache.per_user
def suggested_merges(request):
    """Every pair of the user's people who look like one human on two platforms: Merge or Not the same."""
    return render_page(request, "relationships/merges.html",
                       {"suggestions": merge_suggestions.for_user(request.user), "back": "merges"})
