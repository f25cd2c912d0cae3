"""The people list: ranked by rapport, filtered, searched, keyset-paginated with htmx "load more"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import NamedTuple

from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Lower
from django.views.decorators.vary import vary_on_headers

from relationships.forms.pages import PeopleFilterForm
from relationships.models import Identity, Person, Preferences
from relationships.services.scoring.community import drifting_q
from relationships.services.scoring.rapport import local_today
from relationships.services.scoring.sentences import RANKING_RULE, tier_meanings
from relationships.views.common import attach_identities, decorate, push_url_only_when_changed, render_page
from relationships.web import page_cache

PAGE_SIZE = 50
_NEVER = dt.date(1, 1, 1)


class Sort(NamedTuple):
    """One order of the list: by ``key`` (a rapport column, or the name), then by pk."""

    column: str  # a Rapport field, or "" for the name
    descending: bool
    parse: Callable[[str], object]  # a cursor's key back from text
    unranked: object = None  # the key of people without a value in ``column`` (they come last)
    # A boolean Rapport field ranked before ``column``, True first; the key is then (group, value).
    group: str = ""


def _standing(text: str) -> tuple[bool, float]:
    """The key of the rapport order back from a cursor: "1:22.5" is (two-way, score 22.5)."""
    group, sep, score = text.partition(":")
    if not sep or group not in ("0", "1"):
        raise ValueError(f"not a rapport standing: {text!r}")
    return group == "1", float(score)


SORTS = {
    # rapport.RANK_ORDER: two-way people first, then by score.
    "rapport": Sort("score", True, _standing, (False, -1.0), group="two_way"),
    "talks": Sort("talks", True, int, -1),
    "recent": Sort("last_talk_on", True, dt.date.fromisoformat, _NEVER),
    "name": Sort("", False, str),
}


def filtered_people(user, data: dict, today: dt.date):
    """The user's people matching the filters in ``data`` (PeopleFilterForm.cleaned_data), in no order."""
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
    if data.get("drifting"):
        qs = qs.filter(drifting_q(today))
    return qs


def _parse_cursor(sort: Sort, cursor: str):
    """(key, pk) of a "<key>|<pk>" cursor, or None when it cannot be read (start from the top)."""
    raw_key, sep, raw_pk = cursor.rpartition("|")
    if not sep:
        return None
    try:
        return sort.parse(raw_key), int(raw_pk)
    except ValueError:
        return None


def people_page(user, data: dict, today: dt.date, limit: int, after: str = "") -> list[Person]:
    """Up to ``limit`` people in the order of ``data["sort"]``, after the keyset cursor ``after``.

    Each row carries ``sort_key``; the order is (sort_key, pk), so (key, pk)
    of the last row shown is the cursor of the next page (encode_cursor).

    The rapport orders read the rapport rows in index order (rapport_rank_idx
    for the default one: the two-way range, then the other) and stop after
    ``limit``: people with a value come first, then those without one (never scored, never talked) by pk, as if
    their key were ``Sort.unranked``. A single query sorting every person by
    COALESCE(rapport column, -1) took 6-9 ms with 10,000 people, on each page.
    """
    sort = SORTS[data.get("sort") or "rapport"]
    base = filtered_people(user, data, today)
    position = _parse_cursor(sort, after) if after else None
    if not sort.column:
        rows = base.annotate(sort_key=Lower("name"))
        if position:
            key, pk = position
            rows = rows.filter(sort_key__gte=key).filter(Q(sort_key__gt=key) | Q(pk__gt=pk))
        return _people(rows.order_by("sort_key", "pk"), limit)
    out: list[Person] = []
    ranked_column = f"rapport__{sort.column}"
    if position is None or position[0] != sort.unranked:
        if not sort.group:
            out = _ranked(base, user, sort, None, position, limit)
        else:
            # One index range per group (True, then False), resuming inside the cursor's group.
            start = position[0][0] if position else True
            for group in (True, False):
                if group > start or len(out) >= limit:
                    continue
                at = (position[0][1], position[1]) if position and group == start else None
                out += _ranked(base, user, sort, group, at, limit - len(out))
    if len(out) < limit:
        rest = base.filter(Q(rapport__isnull=True) | Q(**{f"{ranked_column}__isnull": True}))
        if position and position[0] == sort.unranked:
            rest = rest.filter(pk__gt=position[1])
        for person in _people(rest.order_by("pk"), limit - len(out)):
            person.sort_key = sort.unranked
            out.append(person)
    return out


def _ranked(base, user, sort: Sort, group: bool | None, position, limit: int) -> list[Person]:
    """Up to ``limit`` people with a value in the sort's column (within ``group`` when not None), after ``position``."""
    column = f"rapport__{sort.column}"
    # rapport__user repeats person.user for the planner: it lets rapport_rank_idx (user, -two_way, -score) drive.
    rows = base.filter(**{f"{column}__isnull": False}, rapport__user=user)
    if group is not None:
        # IN, not "=": Django writes a boolean equal to True as a bare "WHERE two_way", which SQLite cannot
        # match to the index's two_way column; "IN (1)" is an equality it can, so the range is walked in order.
        rows = rows.filter(**{f"rapport__{sort.group}__in": [group]})
    rows = rows.annotate(sort_key=F(column))
    if position:
        key, pk = position
        # "<= key" alone is a range of the index; the OR then settles the ties on key.
        rows = rows.filter(sort_key__lte=key).filter(Q(sort_key__lt=key) | Q(pk__gt=pk))
    found = _people(rows.order_by("-sort_key", "pk"), limit)
    if group is not None:
        for person in found:
            person.sort_key = (group, person.sort_key)
    return found


#: What a row of the list shows: no notes or tags. The counts by kind decide whether the row may say "talked"
#: at all, and name what put a one-sided person where they are.
ROW_FIELDS = (
    "id", "user_id", "name", "hidden", "rapport__score", "rapport__two_way", "rapport__talks", "rapport__last_talk_on",
    "rapport__tier", "rapport__inbound", "rapport__outbound",
)


def _people(qs, limit: int) -> list[Person]:
    rows = list(qs.select_related("rapport").only(*ROW_FIELDS)[:limit])
    attach_identities(rows)
    return rows


def encode_cursor(person) -> str:
    """The keyset cursor of a row: "<sort key>|<pk>" (repr keeps a float exact)."""
    key = person.sort_key
    if isinstance(key, tuple):  # (group, value) of a grouped sort: see _standing
        return f"{int(key[0])}:{key[1]!r}|{person.pk}"
    text = key.isoformat() if isinstance(key, dt.date) else repr(key) if isinstance(key, float) else str(key)
    return f"{text}|{person.pk}"


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
    rows = people_page(user, data, today, PAGE_SIZE + 1, after)
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
        "total": None if after else filtered_people(user, data, today).count(),
        "filtered": any(data.get(name) for name in ("q", "platform", "tier", "following", "talked_within", "drifting", "hidden")),
        "has_anyone": True,
        "ranking_rule": RANKING_RULE,
        "tier_meanings": tier_meanings(),
    }
    if not after and not context["total"] and not context["filtered"]:
        context["has_anyone"] = Person.objects.filter(user=user).exists()
    return render_page(request, "relationships/people.html", context, "rows" if after else "results")
