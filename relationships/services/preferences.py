"""Changing a user's settings: the time zone rewrite, and a preview of new scoring knobs.

Talks are days in the user's time zone, stored on each Interaction (``day``)
so counting them is plain SQL. Changing the time zone rewrites those days in
SQL, without loading interactions into Python; the caller then recomputes
rapport (a queued job: ``runs.queue_recompute``).
"""

from __future__ import annotations

import copy
import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import DateField, F, Func, Max, Min

from relationships.models import Identity, Interaction, Person, Preferences, Rapport
from relationships.services.scoring import rapport


class _LocalDate(Func):
    """The local date of a UTC timestamp: AT TIME ZONE on PostgreSQL, a fixed offset on SQLite.

    SQLite knows no time zones, so the caller splits the rows into spans of
    one UTC offset (between two DST changes) and passes each span's offset.
    """

    output_field = DateField()

    def __init__(self, expression, *, tz_name: str, offset_seconds: int = 0):
        super().__init__(expression)
        self.tz_name = tz_name
        self.offset_seconds = offset_seconds

    def as_sql(self, compiler, connection, **extra):  # pragma: no cover - each backend has its own
        raise NotImplementedError(f"{connection.vendor} is not supported")

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(({sql}) AT TIME ZONE %s)::date", [*params, self.tz_name]

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"date({sql}, %s)", [*params, f"{self.offset_seconds:+d} seconds"]


def offset_spans(tz: dt.tzinfo, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime, int]]:
    """[(from, to, utc offset in seconds)) covering [start, end]; each span has one offset.

    Walks in 6-hour steps (DST changes are months apart) and pins each change
    to the second by bisection.
    """
    step = dt.timedelta(hours=6)

    def offset(moment: dt.datetime) -> int:
        return int(moment.astimezone(tz).utcoffset().total_seconds())

    spans = []
    span_start, current = start, offset(start)
    probe = start
    while probe < end:
        nxt = min(probe + step, end)
        if offset(nxt) != current:
            lo, hi = probe, nxt  # offset(lo) == current != offset(hi)
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if offset(mid) == current:
                    lo = mid
                else:
                    hi = mid
            hi = hi.replace(microsecond=0)
            spans.append((span_start, hi, current))
            span_start, current = hi, offset(hi)
        probe = nxt
    spans.append((span_start, end + dt.timedelta(seconds=1), current))
    return spans


def rewrite_days(user, tz_name: str) -> int:
    """Set every Interaction.day of ``user`` to its date in ``tz_name``; return how many rows changed.

    Only rows whose day changes are written (most keep theirs). Raises
    ValueError for an unknown time zone.
    """
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {tz_name!r}.") from None
    rows = Interaction.objects.filter(user=user)
    changed = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            local = _LocalDate(F("occurred_at"), tz_name=tz_name)
            return rows.exclude(day=local).update(day=local)
        bounds = rows.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
        if bounds["first"] is None:
            return 0
        for start, end, offset in offset_spans(tz, bounds["first"], bounds["last"]):
            local = _LocalDate(F("occurred_at"), tz_name=tz_name, offset_seconds=offset)
            span = rows.filter(occurred_at__gte=start, occurred_at__lt=end)
            changed += span.exclude(day=local).update(day=local)
    return changed


def change_time_zone(user, tz_name: str) -> int:
    """Store the new time zone and rewrite the interactions' days; return how many days changed.

    The caller recomputes rapport afterwards (talks and tiers depend on the days).
    """
    with transaction.atomic():
        prefs = Preferences.for_user(user)
        Preferences.objects.select_for_update().filter(pk=prefs.pk).first()
        changed = rewrite_days(user, tz_name)
        Preferences.objects.filter(pk=prefs.pk).update(time_zone=tz_name)
    return changed


# -- Preview ---------------------------------------------------------------------------------

@dataclass
class PreviewRow:
    person: Person
    rank: int
    old_rank: int | None
    score: float
    two_way: bool = False

    @property
    def moved(self) -> int:
        """Places gained (positive) or lost (negative); 0 when unchanged or new."""
        return 0 if self.old_rank is None else self.old_rank - self.rank


@dataclass
class Preview:
    top: list[PreviewRow]
    leaving: list[PreviewRow]
    follow_now: int
    follow_then: int
    threshold: int


def _ranks(standing: dict[int, tuple[bool, float]]) -> dict[int, int]:
    """Places in the people list's order (rapport.RANK_ORDER) from {pk: (two_way, score)}."""
    order = sorted(standing, key=lambda pk: (*rapport.rank_key(*standing[pk]), pk))
    return {pk: i for i, pk in enumerate(order, start=1)}


def preview(user, *, weights: dict[str, float], half_life_days: float, follow_threshold: int,
            top: int = 10) -> Preview:
    """How the top of the people list would change with these settings, computed without saving anything.

    In the list's own order (two-way people first, then by score), so the
    preview shows what the weights can really do: reorder within a group.

    Scores come from the rapport service's own aggregation, run with an
    unsaved copy of the user's preferences. Hidden people are left out, as
    on the people list. Cost: one full rapport aggregation of the user.
    """
    prefs = Preferences.for_user(user)
    proposed = copy.copy(prefs)
    proposed.weights = {**rapport.weights_for(prefs), **weights}
    proposed.half_life_days = half_life_days
    today = rapport.local_today(prefs)
    visible = set(Person.objects.filter(user=user, hidden=False).values_list("pk", flat=True))
    # _aggregate is the rapport service's scoring without its write; reusing
    # it keeps the preview's arithmetic the same as the real recompute.
    figures = rapport._aggregate(user, proposed, today, None)
    # Ranked as the people list ranks: weights move people within their
    # group (two-way, or not), never across it.
    new_standing = {
        pk: (fig.two_way, rapport._steady(fig.score)) for pk, fig in figures.items() if pk in visible and fig.score > 0
    }
    old_standing = {
        pk: (two_way, score)
        for pk, two_way, score in Rapport.objects.filter(user=user, person__hidden=False, score__gt=0).values_list(
            "person_id", "two_way", "score"
        )
    }
    new_rank, old_rank = _ranks(new_standing), _ranks(old_standing)
    new_top = sorted(new_standing, key=new_rank.get)[:top]
    old_top = sorted(old_standing, key=old_rank.get)[:top]
    people = Person.objects.filter(user=user).in_bulk(set(new_top) | set(old_top))

    def row(pk: int) -> PreviewRow:
        two_way, score = new_standing.get(pk, (False, 0.0))
        return PreviewRow(people[pk], new_rank.get(pk, len(new_rank) + 1), old_rank.get(pk), score, two_way)

    rows = [row(pk) for pk in new_top]
    leaving = [row(pk) for pk in old_top if pk not in set(new_top)]
    return Preview(
        top=rows,
        leaving=leaving,
        follow_now=_follow_candidates(user, prefs.follow_threshold),
        follow_then=_follow_candidates(user, follow_threshold),
        threshold=follow_threshold,
    )


def _follow_candidates(user, threshold: int) -> int:
    """People a follow nudge could name at this threshold: talks, both ways, not followed (DESIGN.md)."""
    followed = Identity.objects.filter(user=user, i_follow=True).values("person_id")
    rows = (
        Rapport.objects.filter(user=user, person__hidden=False, talks__gte=max(threshold, 1))
        .exclude(person_id__in=followed)
        .values_list("inbound", "outbound")
    )
    return sum(1 for inbound, outbound in rows if rapport.both_ways(inbound or {}, outbound or {}))
