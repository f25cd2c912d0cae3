"""The people list: ranked by rapport, filtered, searched, keyset-paginated with htmx "load more"."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, F, FloatField, IntegerField, OuterRef, Q, Value
from django.db.models.functions import Coalesce, Lower
from django.views.decorators.vary import vary_on_headers

from ..forms_pages import PeopleFilterForm
from ..models import Identity, Person, Preferences
from ..services.rapport import local_today
from .common import decorate, identities_prefetch, render_page

PAGE_SIZE = 50
_NEVER = dt.date(1, 1, 1)

# sort -> (key expression, descending?, parse a cursor's key back from text)
SORTS = {
    "rapport": (Coalesce(F("rapport__score"), Value(-1.0), output_field=FloatField()), True, float),
    "talks": (Coalesce(F("rapport__talks"), Value(-1), output_field=IntegerField()), True, int),
    "recent": (Coalesce(F("rapport__last_talk_on"), Value(_NEVER)), True, dt.date.fromisoformat),
    "name": (Lower("name"), False, str),
}


def people_queryset(user, data: dict, today: dt.date):
    """The user's people for the filters in ``data`` (PeopleFilterForm.cleaned_data), in the chosen order.

    Each row carries ``sort_key``; order is (sort_key, pk), so (key, pk) of
    the last row shown is the keyset cursor for the next page.
    """
    qs = Person.objects.filter(user=user)
    if not data.get("hidden"):
        qs = qs.filter(hidden=False)
    of_person = Identity.objects.filter(person=OuterRef("pk"))
    if data.get("q"):
        q = data["q"].strip().lstrip("@")
        qs = qs.filter(
            Q(name__icontains=q)
            | Exists(of_person.filter(Q(handle__icontains=q) | Q(display_name__icontains=q)))
        )
    if data.get("platform"):
        qs = qs.filter(Exists(of_person.filter(platform=data["platform"])))
    if data.get("tier"):
        qs = qs.filter(rapport__tier=data["tier"])
    if data.get("following") == "yes":
        qs = qs.filter(Exists(of_person.filter(i_follow=True)))
    elif data.get("following") == "no":
        qs = qs.exclude(Exists(of_person.filter(i_follow=True)))
    if data.get("talked_within"):
        qs = qs.filter(rapport__last_talk_on__gte=today - dt.timedelta(days=data["talked_within"] - 1))
    key, descending, _parse = SORTS[data.get("sort") or "rapport"]
    qs = qs.annotate(sort_key=key)
    order = ["-sort_key", "pk"] if descending else ["sort_key", "pk"]
    return qs.order_by(*order)


def encode_cursor(person) -> str:
    """The keyset cursor of a row: "<sort key>|<pk>" (repr keeps a float exact)."""
    key = person.sort_key
    text = key.isoformat() if isinstance(key, dt.date) else repr(key) if isinstance(key, float) else str(key)
    return f"{text}|{person.pk}"


def after_cursor(qs, sort: str, cursor: str):
    """Rows after ``cursor`` ("<key>|<pk>"); an unreadable cursor starts from the top."""
    _key, descending, parse = SORTS[sort]
    raw_key, sep, raw_pk = cursor.rpartition("|")
    try:
        key, pk = parse(raw_key), int(raw_pk)
    except ValueError:
        return qs
    if not sep:
        return qs
    beyond = Q(sort_key__lt=key) if descending else Q(sort_key__gt=key)
    return qs.filter(beyond | Q(sort_key=key, pk__gt=pk))


@vary_on_headers("HX-Request")
def people(request):
    user = request.user
    form = PeopleFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    sort = data.get("sort") or "rapport"
    prefs = Preferences.for_user(user)
    today = local_today(prefs)
    qs = people_queryset(user, data, today)
    after = data.get("after") or ""
    page_qs = after_cursor(qs, sort, after) if after else qs
    rows = list(page_qs.select_related("rapport").prefetch_related(identities_prefetch())[: PAGE_SIZE + 1])
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    for person in rows:
        decorate(person)
    params = request.GET.copy()
    params.pop("after", None)
    if has_more:
        params["after"] = encode_cursor(rows[-1])
    context = {
        "form": form,
        "people": rows,
        "has_more": has_more,
        "next_query": params.urlencode(),
        "today": today,
        # Only the first page says how many match; "load more" needs no count.
        "total": None if after else qs.count(),
        "filtered": any(data.get(name) for name in ("q", "platform", "tier", "following", "talked_within", "hidden")),
        "has_anyone": True,
    }
    if not after and not context["total"] and not context["filtered"]:
        context["has_anyone"] = Person.objects.filter(user=user).exists()
    return render_page(request, "relationships/people.html", context, "rows" if after else "results")
