"""The dashboard's community figures, stored when rapport is recomputed.

The headline is the community, not an audience: people the user had two-way
conversations with (a direct exchange from each side: reply, mention, quote,
DM; mass mentions left out, as for talks) in the last 30 and 90 days, new
regulars this month, people drifting away, and the same two-way figure for
each of the last twelve months.

:func:`store_community` runs a few GROUP BY queries over the last twelve
months of interactions and writes CommunityHeadline + CommunitySnapshot rows;
the dashboard only reads those rows (and Rapport rows), so a page view never
aggregates interactions. Hidden people are left out of every figure.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db import transaction
from django.db.models import CharField, Count, F, Func, Max, Q
from django.utils import timezone

from relationships.models import (
    CommunityHeadline,
    CommunitySnapshot,
    Identity,
    Interaction,
    Person,
    Preferences,
    Rapport,
    Source,
)
from relationships.platforms import records as r
from relationships.services import changes, writes
from relationships.services.scoring.rapport import RANK_ORDER, direct_count, local_today, regular, talk_filter

MONTHS = 12
DRIFT_AFTER_DAYS = 60
DRIFT_UNTIL_DAYS = 365
EXAMPLES = 5
_REGULAR_TIERS = (Rapport.Tier.REGULAR, Rapport.Tier.CLOSE)


class MonthOf(Func):
    """'YYYY-MM' of a DateField with each database's own C function.

    Django's TruncMonth goes through a Python function on SQLite, called once
    per row: far slower over a year of interactions than strftime.
    """

    template = "to_char(%(expressions)s, 'YYYY-MM')"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        # %% survives as a literal % through the driver's parameter formatting.
        return f"strftime('%%Y-%%m', {sql})", params


def month_starts(today: dt.date, count: int = MONTHS) -> list[dt.date]:
    """The first days of the ``count`` months ending with ``today``'s, oldest first."""
    year, month = today.year, today.month
    starts = []
    for _ in range(count):
        starts.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def _visible_owner(user) -> dict[int, int]:
    """identity id -> person id, for the user's visible people."""
    return dict(
        Identity.objects.filter(user=user, person__hidden=False).values_list("pk", "person_id")
    )


def _directions_by_month(user, prefs, owner, since: dt.date) -> dict[str, dict[int, set[str]]]:
    """{'YYYY-MM': {person: {directions with a direct exchange}}} since ``since``."""
    rows = (
        Interaction.objects.filter(talk_filter(prefs), user=user, day__gte=since)
        .order_by()
        .values("identity_id", "direction", month=MonthOf("day"))
        .annotate(n=Count("id"))
        .values_list("identity_id", "direction", "month", "n")
    )
    found: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for ident, direction, month, _n in rows:
        person = owner.get(ident)
        if person is not None:
            found[month][person].add(direction)
    return found


def _last_exchange(user, prefs, owner, since: dt.date) -> dict[int, dict[str, dt.date]]:
    """{person: {direction: last day of a direct exchange}} since ``since``."""
    rows = (
        Interaction.objects.filter(talk_filter(prefs), user=user, day__gte=since)
        .order_by()
        .values("identity_id", "direction")
        .annotate(last=Max("day"))
        .values_list("identity_id", "direction", "last")
    )
    found: dict[int, dict[str, dt.date]] = defaultdict(dict)
    for ident, direction, last in rows:
        person = owner.get(ident)
        if person is not None and (direction not in found[person] or found[person][direction] < last):
            found[person][direction] = last
    return found


def _regular_before(user, prefs, person_ids: list[int], before: dt.date) -> set[int]:
    """Of ``person_ids``, those already regular (``rapport.regular``) on their talks before ``before``.

    The rows are talks only (direct exchanges, mass mentions left out), so one
    from each side is rapport's "both ways".
    """
    found = set()
    for chunk in writes.chunks(person_ids):
        rows = (
            Interaction.objects.filter(talk_filter(prefs), user=user, day__lt=before, identity__person_id__in=chunk)
            .order_by()
            .values(person=F("identity__person_id"))
            .annotate(
                talks=Count("day", distinct=True),
                ins=Count("id", filter=Q(direction=r.INBOUND)),
                outs=Count("id", filter=Q(direction=r.OUTBOUND)),
            )
            .values_list("person", "talks", "ins", "outs")
        )
        for person, talks, ins, outs in rows:
            if regular(talks, two_way=ins > 0 and outs > 0):
                found.add(person)
    return found


def _months(user, prefs, owner, starts: list[dt.date]) -> list[dict]:
    """One row a month since ``starts[0]``: how many people were two-way, and how many of them were new then."""
    by_month = _directions_by_month(user, prefs, owner, starts[0])
    two_way_by_month = {
        month: {p for p, directions in people.items() if len(directions) == 2} for month, people in by_month.items()
    }
    everyone = set().union(*two_way_by_month.values()) if two_way_by_month else set()
    tz = prefs.tzinfo
    first_month = {}
    ids = sorted(everyone)
    for chunk in writes.chunks(ids):
        for person, first_at in Rapport.objects.filter(user=user, person_id__in=chunk).values_list(
            "person_id", "first_interaction_at"
        ):
            if first_at is not None:
                first_month[person] = first_at.astimezone(tz).strftime("%Y-%m")
    months = []
    for start in starts:
        key = start.strftime("%Y-%m")
        people = two_way_by_month.get(key, set())
        months.append(
            {"month": start, "two_way": len(people), "newcomers": sum(1 for p in people if first_month.get(p) == key)}
        )
    return months


def compute_community(user, today: dt.date | None = None) -> tuple[dict, list[dict]]:
    """The headline fields and the monthly rows, computed, not stored (see :func:`store_community`)."""
    prefs = Preferences.for_user(user)
    today = today or local_today(prefs)
    starts = month_starts(today)
    owner = _visible_owner(user)
    months = _months(user, prefs, owner, starts)

    last = _last_exchange(user, prefs, owner, today - dt.timedelta(days=89))
    cut_30 = today - dt.timedelta(days=29)
    talked_90 = [p for p, d in last.items() if len(d) == 2]
    talked_30 = [p for p in talked_90 if min(last[p].values()) >= cut_30]

    regulars = list(
        Rapport.objects.filter(user=user, tier__in=_REGULAR_TIERS, person__hidden=False)
        .order_by(*RANK_ORDER, "person_id")
        .values_list("person_id", "last_talk_on")
    )
    already = _regular_before(user, prefs, sorted(p for p, _ in regulars), starts[-1])
    new_regulars = [p for p, _ in regulars if p not in already]
    drift_from, drift_to = drift_window(today)
    drifting = [p for p, last_talk in regulars if last_talk is not None and drift_from <= last_talk < drift_to]

    headline = {
        "talked_30": len(talked_30),
        "talked_90": len(talked_90),
        "new_regulars": len(new_regulars),
        "drifting": len(drifting),
        "examples": {"new_regulars": new_regulars[:EXAMPLES], "drifting": drifting[:EXAMPLES]},
        "computed_on": today,
    }
    return headline, months


def drift_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """(from, before): a regular or close person whose last talk falls in it is drifting away.

    One definition for the dashboard's count and the people list's filter, so the
    list the card links to holds the people the card counts.
    """
    return today - dt.timedelta(days=DRIFT_UNTIL_DAYS), today - dt.timedelta(days=DRIFT_AFTER_DAYS)


def drifting_q(today: dt.date, prefix: str = "rapport__") -> Q:
    """The people drifting away on ``today`` (drift_window), as a filter on Person (or, prefix "", Rapport)."""
    drift_from, drift_to = drift_window(today)
    return Q(**{f"{prefix}tier__in": _REGULAR_TIERS, f"{prefix}last_talk_on__gte": drift_from,
                f"{prefix}last_talk_on__lt": drift_to})


def store_community(user, today: dt.date | None = None) -> CommunityHeadline:
    """Compute and store the dashboard's community figures for ``user``; return the headline row.

    Call after ``rapport.recompute(user)`` (it reads the Rapport tiers). It
    always covers the whole user: an incremental rapport recompute still
    changes who is two-way this month. Idempotent; runs for one user queue on
    the user's Preferences row, like rapport recomputes, so two workers never
    interleave their writes. Cost: three GROUP BY queries over the last twelve
    months of the user's interactions.
    """
    prefs = Preferences.for_user(user)
    today = today or local_today(prefs)
    with transaction.atomic():
        Preferences.objects.select_for_update().filter(pk=prefs.pk).first()
        changes.announce(user.pk)
        headline, months = compute_community(user, today)
        now = timezone.now()
        row, _ = CommunityHeadline.objects.update_or_create(user=user, defaults={**headline, "computed_at": now})
        CommunitySnapshot.objects.filter(user=user).delete()
        CommunitySnapshot.objects.bulk_create(
            [CommunitySnapshot(user=user, computed_at=now, **month) for month in months]
        )
    return row


def examples(headline: CommunityHeadline | None) -> dict[str, list[Person]]:
    """The people the headline names, loaded in one query: {"new_regulars": [...], "drifting": [...]}."""
    wanted = {key: list((headline.examples or {}).get(key, [])) for key in ("new_regulars", "drifting")} if headline else {}
    ids = {pk for pks in wanted.values() for pk in pks}
    if not ids:
        return {"new_regulars": [], "drifting": []}
    people = Person.objects.filter(user_id=headline.user_id, hidden=False).in_bulk(sorted(ids))
    # A person deleted (merged) or hidden since the figures were stored is left out.
    return {
        key: [people[pk] for pk in pks if pk in people]
        for key, pks in wanted.items()
    }


# -- An X archive alone ------------------------------------------------------------------

# Rows read to find the few people the user writes to most (ranked by days, then score).
_REACH_SCAN = 50


def x_archive_only(user) -> bool:
    """Whether every source of ``user`` is an X archive.

    An X archive holds only what its owner did (and their direct messages):
    replies, mentions, likes and reposts from others are not in it, so the
    two-way figures stay near zero however much the user talks.
    """
    platforms = set(Source.objects.filter(user=user).values_list("platform", flat=True))
    return platforms == {r.X}


def reached_out_most(user, limit: int = EXAMPLES) -> list[tuple[Person, str]]:
    """The people the user wrote to on the most days, with the sentence that says so.

    What an X archive does tell: the user's own replies, mentions, quotes and
    DMs. Read from the stored Rapport rows (days with a direct exchange, then
    score), keeping those the user wrote to; a page view never scans interactions.
    The sentences say an X archive cannot show answers rather than "no answer".
    """
    from relationships.services.scoring.sentences import talk_sentence

    rows = (
        Rapport.objects.filter(user=user, person__hidden=False, talks__gt=0)
        .select_related("person")
        .prefetch_related("person__identities")
        .order_by("-talks", "-score", "person_id")[:_REACH_SCAN]
    )
    return [
        (row.person, talk_sentence(row.person, row.talks, row.inbound or {}, row.outbound or {}))
        for row in rows
        if direct_count(row.outbound or {}) > 0
    ][:limit]
