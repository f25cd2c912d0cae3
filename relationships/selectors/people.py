"""The people list's reads: the user's people filtered, in one of four orders, a keyset page at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import NamedTuple

from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Lower

from relationships.models import Identity, Person
from relationships.services.scoring.community import drifting_q

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
            | Q(pk__in=tagged(user, q, whole=False))
        )
    if data.get("tag"):
        qs = qs.filter(pk__in=tagged(user, data["tag"]))
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


def tagged(user, text: str, *, whole: bool = True) -> list[int]:
    """Ids of the user's people with the tag ``text`` (any case), or with a tag containing it (``whole=False``).

    Tags are a JSON list per person, which neither database searches by
    element and case alike; only the people who have tags are read (the user
    types each one), and their ids go back into the list's query.
    """
    text = " ".join(text.split()).casefold()
    if not text:
        return []
    rows = Person.objects.filter(user=user).exclude(tags=[]).values_list("pk", "tags")
    return [pk for pk, tags in rows.iterator(chunk_size=2000)
            if any((str(tag).casefold() == text) if whole else (text in str(tag).casefold()) for tag in tags or [])]


def _parse_cursor(sort: Sort, cursor: str):
    """(key, pk) of a "<key>|<pk>" cursor, or None when it cannot be read (start from the top)."""
    raw_key, sep, raw_pk = cursor.rpartition("|")
    if not sep:
        return None
    try:
        return sort.parse(raw_key), int(raw_pk)
    except ValueError:
        return None


def people_page(user, data: dict, today: dt.date, limit: int, after: str = "") -> list[PersonRow]:
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
    out: list[PersonRow] = []
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


def _ranked(base, user, sort: Sort, group: bool | None, position, limit: int) -> list[PersonRow]:
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


#: What a row of the list shows: no notes; the tags, as links to the list of that tag. The counts by kind decide whether the row may say "talked"
#: at all, and name what put a one-sided person where they are.
ROW_FIELDS = (
    "id", "user_id", "name", "hidden", "rapport__score", "rapport__two_way", "rapport__talks", "rapport__last_talk_on",
    "rapport__tier", "rapport__inbound", "rapport__outbound", "tags",
)


class RapportRow(NamedTuple):
    """What a row shows of a person's Rapport (the scoring sentences read these attributes)."""

    score: float
    two_way: bool
    talks: int
    last_talk_on: dt.date | None
    tier: str
    inbound: dict
    outbound: dict


class PersonRow:
    """A person as a row of the list shows them, read with ``.values()``: the attributes of Person a row uses.

    Not a model instance: with 10,000 people the fifty rows' Person and Rapport
    instances cost 3.3 ms of a page's 5.8 against 2.5 ms for the same query
    through .values() (CPU, the machine loaded, first view after a change).
    """

    def __init__(self, pk: int, user_id: int, name: str, hidden: bool, tags: list, rapport: RapportRow | None,
                 sort_key=None):
        self.pk = self.id = pk
        self.user_id, self.name, self.hidden, self.tags, self.rapport = user_id, name, hidden, tags, rapport
        self.sort_key = sort_key

    @property
    def display_name(self) -> str:
        return self.name or "Someone"


def _people(qs, limit: int) -> list[PersonRow]:
    keyed = "sort_key" in qs.query.annotations
    rows = []
    for v in qs.values(*ROW_FIELDS, *(["sort_key"] if keyed else []))[:limit]:
        # No rapport row (never scored): the left join gives None in its columns, tier included (never null).
        rapport = None if v["rapport__tier"] is None else RapportRow(
            v["rapport__score"], v["rapport__two_way"], v["rapport__talks"], v["rapport__last_talk_on"],
            v["rapport__tier"], v["rapport__inbound"], v["rapport__outbound"],
        )
        rows.append(PersonRow(v["id"], v["user_id"], v["name"], v["hidden"], v["tags"], rapport, v.get("sort_key")))
    attach_identities(rows, as_rows=True)
    return rows


def encode_cursor(person) -> str:
    """The keyset cursor of a row: "<sort key>|<pk>" (repr keeps a float exact)."""
    key = person.sort_key
    if isinstance(key, tuple):  # (group, value) of a grouped sort: see _standing
        return f"{int(key[0])}:{key[1]!r}|{person.pk}"
    text = key.isoformat() if isinstance(key, dt.date) else repr(key) if isinstance(key, float) else str(key)
    return f"{text}|{person.pk}"


#: What a person's row (people list, nudge card) shows of each identity.
IDENTITY_LIST_FIELDS = (
    "id", "user_id", "person_id", "platform", "external_id", "handle", "display_name", "avatar_url", "profile_url",
    "i_follow", "follows_me",
)


class IdentityRow(NamedTuple):
    """What a row of the people list shows of an account (person_row, decorate, sentences.answers_unseen)."""

    pk: int
    person_id: int
    platform: str
    external_id: str
    handle: str | None
    avatar_url: str
    profile_url: str
    i_follow: bool | None
    follows_me: bool | None


def attach_identities(people, *, as_rows: bool = False, **annotations) -> None:
    """Set ``person.identity_list`` on each of ``people``: the identities a row shows, in one query.

    Done by hand rather than with prefetch_related: for a list of fifty, the
    prefetch machinery cost as much as the query. ``annotations`` are added to
    each identity (the nudge cards' ids of its latest interactions: see
    selectors.cards). ``as_rows``: IdentityRow tuples read with .values_list()
    rather than model instances (the people list: 1.9 against 2.8 ms for
    fifty rows' accounts, the machine loaded).
    """
    people = list(people)
    by_id = {person.pk: person for person in people}
    for person in people:
        person.identity_list = []
    if not by_id:
        return
    queryset = Identity.objects.filter(person_id__in=list(by_id)).order_by("platform", "pk")
    if as_rows:
        for row in queryset.values_list(*IdentityRow._fields):
            by_id[row[1]].identity_list.append(IdentityRow._make(row))
        return
    queryset = queryset.only(*IDENTITY_LIST_FIELDS)
    if annotations:
        queryset = queryset.annotate(**annotations)
    for identity in queryset:
        by_id[identity.person_id].identity_list.append(identity)


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


def count(user, data: dict, today: dt.date) -> int:
    """How many people match the filters: the first page says so."""
    return filtered_people(user, data, today).count()


def has_anyone(user) -> bool:
    """Whether the user has any person at all, hidden or not (the list's empty state tells the two apart)."""
    return Person.objects.filter(user=user).exists()
