"""Rapport, version 1: per-person figures recomputed in SQL.

The definitions are the contract in ../shared/DESIGN.md ("Rapport, version 1"):

* a *talk* is a day, in the user's time zone, with at least one direct exchange
  (reply, mention, quote, DM) in either direction; a mention in a post naming
  more than ``Preferences.mass_mention_cut`` people is never a talk and weighs
  like a like (a reply is never discounted: its target is who it answers);
* score = sum of weight(kind) x 0.5^(age_days / half_life), times
  (1 + reciprocity), reciprocity = min(in, out) / max(in, out) of the decayed
  weighted sums (0 when both are 0);
* tiers, the first that applies: silent, close, regular, new, fan, one_way,
  quiet, acquaintance;
* the ranking, in one sentence: people you talk with both ways come first,
  everyone else after them, and the score orders each group.

Why a group and not a bigger weight: Rapport is about conversation, and no
weight makes that hold for every community (a fan's hundreds of likes outweigh
any sane reply weight), while a weight that did would make the score say
nothing but "replied". So the score stays one sum the person page can spell
out, and the rank adds one yes/no in front of it: ``two_way``, at least one
direct exchange (reply, mention, quote, DM) from each side, DESIGN.md's "both
ways". One-sided attention (likes, shares, mentions nobody answered) then
orders people only within their group. ``RANK_ORDER`` and ``rank_key`` are
that order for querysets and for Python; every list of people uses them.

The heavy lifting is two GROUP BY queries with conditional aggregates over the
interactions (the same SQL on SQLite and PostgreSQL); Python only folds their
aggregated rows (a few per person) into one Rapport row per person. The words
for every figure are in services/scoring/sentences.py (``rapport_sentences``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Case, CharField, Count, F, FloatField, Func, IntegerField, Max, Min, Q, Sum, Value, When
from django.db.models.functions import Cast, Greatest, Power
from django.utils import timezone

from relationships.models import Identity, Interaction, Person, Preferences, Rapport
from relationships.platforms import records as r
from relationships.services import changes, writes

# Tier thresholds. The names of the tiers are the contract; these numbers are
# the settings DESIGN.md speaks of, kept here until the settings page needs them.
CLOSE_TALKS = 10
CLOSE_RECENT_DAYS = 90
REGULAR_TALKS = 5
NEW_DAYS = 30
QUIET_DAYS = 365

DIRECT_KINDS = r.DIRECT_KINDS

#: The order of people wherever they are ranked (the people list, the dashboard, the ``rapport``
#: command, the settings preview): two-way first, then by score. Ties are the caller's to settle.
RANK_ORDER = ("-two_way", "-score")

# Key in Rapport.inbound / Rapport.outbound counting the mentions (already in
# "mention") that named too many people to be a talk; not an interaction kind.
MASS_MENTION = "mass_mention"

# Past this many people an incremental recompute aggregates the whole user in
# one scan and keeps the wanted rows: cheaper than many IN (...) lookups.
WHOLE_USER_ABOVE = 2000

_EPOCH = dt.date(1970, 1, 1)


class EpochDay(Func):
    """Days from 1970-01-01 to a DateField, as an integer, on SQLite and PostgreSQL.

    Age in days is then plain integer arithmetic, so the decay factor is one
    POWER() per row: native on PostgreSQL, and on SQLite either the built-in
    math functions or the ones Django registers on each connection.
    """

    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        # julianday('1970-01-01') is 2440587.5; a date has no time part, so
        # the difference is a whole number.
        return self.as_sql(
            compiler, connection, template="CAST(julianday(%(expressions)s) - 2440587.5 AS INTEGER)", **extra
        )

    def as_postgresql(self, compiler, connection, **extra):
        # date - date is an integer number of days in PostgreSQL.
        return self.as_sql(compiler, connection, template="(%(expressions)s - DATE '1970-01-01')", **extra)


def local_today(prefs: Preferences) -> dt.date:
    """Today in the user's time zone: the day talks and ages are counted in."""
    return timezone.now().astimezone(prefs.tzinfo).date()


def weights_for(prefs: Preferences) -> dict[str, float]:
    """The user's weights, with DESIGN.md's defaults (the field's, in models) for any kind not set."""
    weights = Preferences._meta.get_field("weights").get_default()
    for kind, value in (prefs.weights or {}).items():
        if kind in weights:
            try:
                weights[kind] = float(value)
            except (TypeError, ValueError):
                pass  # a hand-edited bad value keeps the default rather than breaking scoring
    return weights


def talk_filter(prefs: Preferences) -> Q:
    """The interactions that make a day a talk (see the module docstring)."""
    return Q(kind__in=[r.DM, r.REPLY, r.QUOTE]) | Q(kind=r.MENTION, named_count__lte=prefs.mass_mention_cut)


def _mass_filter(prefs: Preferences) -> Q:
    return Q(kind=r.MENTION, named_count__gt=prefs.mass_mention_cut)


def _decay(today: dt.date, half_life_days: float):
    """0.5 ** (age_days / half_life) as a SQL expression; ages below 0 (clock skew) count as 0."""
    age = Greatest(Value((today - _EPOCH).days) - EpochDay("day"), Value(0), output_field=IntegerField())
    exponent = Cast(age, FloatField()) / Value(float(max(half_life_days, 0.001)), output_field=FloatField())
    return Power(Value(0.5, output_field=FloatField()), exponent, output_field=FloatField())


def _weight(weights: dict[str, float], mass: Q):
    """weight(kind) per row as a CASE; a mention naming too many people weighs like a like."""

    def number(value: float):
        # Typed: PostgreSQL reads a bare 3.0 as numeric and would then do
        # numeric arithmetic on every row (measurably slower than float8).
        return Cast(Value(value), FloatField())

    return Case(
        When(mass, then=number(weights[r.LIKE])),
        *[When(kind=kind, then=number(weights[kind])) for kind in r.KINDS],
        default=number(0.0),
        output_field=FloatField(),
    )


@dataclass
class Figures:
    """One person's figures, folded from the aggregated rows."""

    inbound: dict[str, int] = field(default_factory=dict)
    outbound: dict[str, int] = field(default_factory=dict)
    in_weighted: float = 0.0
    out_weighted: float = 0.0
    talks: int = 0
    last_talk_on: dt.date | None = None
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None

    def add(self, direction: str, values: list) -> None:
        """Fold in one aggregated row: a count per kind (r.KINDS), mass mentions, weighted sum, first, last."""
        counts = self.inbound if direction == r.INBOUND else self.outbound
        for kind, n in zip(r.KINDS, values):
            if n:
                counts[kind] = counts.get(kind, 0) + n
        n_mass, weighted, first_at, last_at = values[len(r.KINDS) :]
        if n_mass:
            counts[MASS_MENTION] = counts.get(MASS_MENTION, 0) + n_mass
        if direction == r.INBOUND:
            self.in_weighted += weighted or 0.0
        else:
            self.out_weighted += weighted or 0.0
        first_at, last_at = _moment(first_at), _moment(last_at)
        self.first_at = first_at if self.first_at is None else min(self.first_at, first_at)
        self.last_at = last_at if self.last_at is None else max(self.last_at, last_at)

    @property
    def reciprocity(self) -> float:
        high = max(self.in_weighted, self.out_weighted)
        return min(self.in_weighted, self.out_weighted) / high if high > 0 else 0.0

    @property
    def score(self) -> float:
        return (self.in_weighted + self.out_weighted) * (1 + self.reciprocity)

    @property
    def two_way(self) -> bool:
        return both_ways(self.inbound, self.outbound)


def direct_count(counts: dict[str, int]) -> int:
    """Direct exchanges in one direction, mass mentions left out."""
    return sum(counts.get(kind, 0) for kind in DIRECT_KINDS) - counts.get(MASS_MENTION, 0)


def both_ways(inbound: dict[str, int], outbound: dict[str, int]) -> bool:
    """At least one direct exchange from each side (DESIGN.md's "both ways")."""
    return direct_count(inbound) > 0 and direct_count(outbound) > 0


def rank_key(two_way: bool, score: float) -> tuple:
    """RANK_ORDER as a sort key for Python's sorted(): smaller sorts first."""
    return (not two_way, -score)


def regular(talks: int, two_way: bool) -> bool:
    """Regular or closer (DESIGN.md): REGULAR_TALKS talks, both ways. Close adds more talks and a recent one."""
    return talks >= REGULAR_TALKS and two_way


def tier_for(
    *,
    talks: int,
    inbound: dict[str, int],
    outbound: dict[str, int],
    first_day: dt.date | None,
    last_day: dt.date | None,
    last_talk_on: dt.date | None,
    today: dt.date,
) -> str:
    """The first tier that applies, in DESIGN.md's order."""
    if not any(inbound.values()) and not any(outbound.values()):
        return Rapport.Tier.SILENT
    mutual = both_ways(inbound, outbound)
    if (
        talks >= CLOSE_TALKS
        and mutual
        and last_talk_on is not None
        and (today - last_talk_on).days <= CLOSE_RECENT_DAYS
    ):
        return Rapport.Tier.CLOSE
    if regular(talks, mutual):
        return Rapport.Tier.REGULAR
    if first_day is not None and (today - first_day).days <= NEW_DAYS:
        return Rapport.Tier.NEW
    if not any(outbound.values()):
        return Rapport.Tier.FAN
    if not any(inbound.values()):
        return Rapport.Tier.ONE_WAY
    if last_day is not None and (today - last_day).days > QUIET_DAYS:
        return Rapport.Tier.QUIET
    return Rapport.Tier.ACQUAINTANCE


def _moment(text: str) -> dt.datetime:
    """A stored time read back as text: ISO with an offset (PostgreSQL) or naive UTC (SQLite)."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class _ScanGroup(Func):
    """A column to GROUP BY, written so SQLite cannot pick an index for the grouping order.

    Left alone, SQLite's planner walks the whole table through the identity_id
    index to get rows in group order, one random row lookup per interaction:
    three to four times slower than reading the table straight through and
    sorting (measured in bench/rapport_bench.py). A unary ``+`` is SQLite's
    documented way to rule an index out for a term; WHERE clauses keep their
    indexes. PostgreSQL picks its own plan and gets the bare column.
    """

    template = "%(expressions)s"

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="+%(expressions)s", **extra)


def _identity_scopes(user, person_ids: list[int] | None) -> tuple[dict[int, int], list[Q]]:
    """Map identity -> person for the scope, and the WHERE clauses that cover it.

    Interactions are grouped by identity (no join, the same shape as the
    floor query); a whole-user recompute filters by user alone, a small one
    by identity ids only, a few hundred at a time: those are the user's own,
    and without user_id the query reads nothing but interaction_timeline_idx.
    """
    identities = Identity.objects.filter(user=user)
    if person_ids is None or len(person_ids) > WHOLE_USER_ABOVE:
        keep = None if person_ids is None else set(person_ids)
        owner = {i: p for i, p in identities.values_list("pk", "person_id") if keep is None or p in keep}
        return owner, [Q(user=user)]
    owner = {}
    for chunk in writes.chunks(person_ids):
        owner.update(identities.filter(person_id__in=chunk).values_list("pk", "person_id"))
    ids = sorted(owner)
    return owner, [Q(identity_id__in=chunk) for chunk in writes.chunks(ids)]


def _aggregate(user, prefs: Preferences, today: dt.date, person_ids: list[int] | None) -> dict[int, Figures]:
    """Run the GROUP BY queries for ``person_ids`` (None: all) and fold their rows per person."""
    weights = weights_for(prefs)
    mass = _mass_filter(prefs)
    talk = talk_filter(prefs)
    decay = _decay(today, prefs.half_life_days)
    owner, scopes = _identity_scopes(user, person_ids)
    figures: dict[int, Figures] = {}
    talks_by_identity: dict[int, tuple[int, dt.date]] = {}

    # One row per identity and direction: a count per kind, the mass
    # mentions, the decayed weighted sum, first and last. Conditional
    # aggregates keep it to one pass and ~2 result rows per person (fetching
    # a row per kind as well cost more than computing the counts).
    # Counting identity_id (never null), not id: the index holds no id.
    aggregates = {kind: Count("identity_id", filter=Q(kind=kind)) for kind in r.KINDS}
    aggregates.update(
        {
            MASS_MENTION: Count("identity_id", filter=mass),
            "weighted": Sum(decay * _weight(weights, mass)),
            # As text, parsed below: Django's per-value timestamptz loader on
            # PostgreSQL cost 0.1 s for 20,000 rows, fromisoformat 4 ms.
            "first_at": Cast(Min("occurred_at"), CharField()),
            "last_at": Cast(Max("occurred_at"), CharField()),
        }
    )
    for scope in scopes:
        base = Interaction.objects.filter(scope).order_by()
        rows = (
            base.values(ident=_ScanGroup("identity_id"), d=F("direction"))
            .annotate(**aggregates)
            .values_list("ident", "d", *aggregates)
        )
        for ident, direction, *values in rows:
            person = owner.get(ident)
            if person is not None:
                figures.setdefault(person, Figures()).add(direction, values)

        # Talks: distinct days, per identity here (its own query: on PostgreSQL
        # a DISTINCT aggregate would force the query above onto one slow sort),
        # per person in _settle_talks.
        for ident, n_talks, last_talk in (
            base.filter(talk)
            .values(ident=_ScanGroup("identity_id"))
            .annotate(talks=Count("day", distinct=True), last_talk=Max("day"))
            .values_list("ident", "talks", "last_talk")
        ):
            talks_by_identity[ident] = (n_talks, last_talk)

    _settle_talks(user, talk, owner, talks_by_identity, figures)
    return figures


def _settle_talks(user, talk: Q, owner: dict[int, int], talks_by_identity: dict[int, tuple[int, dt.date]],
                  figures: dict[int, Figures]) -> None:
    """Each person's talks and last talk: those of their one identity that talked.

    When two of a person's identities talked, the same day on two platforms
    must count once: their talks are counted again, grouped by person.
    """
    talking: dict[int, list[int]] = {}
    for ident in talks_by_identity:
        if ident in owner:
            talking.setdefault(owner[ident], []).append(ident)
    merged = sorted(person for person, idents in talking.items() if len(idents) > 1)
    for person, idents in talking.items():
        if len(idents) == 1:
            figures[person].talks, figures[person].last_talk_on = talks_by_identity[idents[0]]
    for chunk in writes.chunks(merged):
        for person, n_talks, last_talk in (
            Interaction.objects.filter(talk, user=user, identity__person_id__in=chunk)
            .order_by()
            .values(person=F("identity__person_id"))
            .annotate(talks=Count("day", distinct=True), last_talk=Max("day"))
            .values_list("person", "talks", "last_talk")
        ):
            figures[person].talks, figures[person].last_talk_on = n_talks, last_talk


def recompute(user, person_ids: Iterable[int] | None = None, today: dt.date | None = None) -> int:
    """Recompute the Rapport rows of ``user``'s people; return how many rows were written.

    ``person_ids`` None means every person of the user; ids of other users'
    people or of deleted people are ignored. Every person in scope gets a row
    (tier ``silent`` without interactions). ``today`` (the user's local date)
    defaults to now in the user's time zone; decay and the tiers depend on it.

    Rapport.inbound / .outbound hold counts by interaction kind, plus
    ``mass_mention``: how many of the mentions named too many people to count.

    Idempotent, and safe to run from several workers at once: runs for one user
    are serialized on the user's Preferences row, and the aggregation happens
    after taking that lock, so the last run to finish has seen the newest data.
    """
    prefs = Preferences.for_user(user)
    today = today or local_today(prefs)
    wanted = None if person_ids is None else sorted({int(pk) for pk in person_ids})
    if wanted == []:
        return 0
    with transaction.atomic():
        # One user's recomputes and nudge generation queue here (PostgreSQL row
        # lock; SQLite's IMMEDIATE transactions already serialize writers).
        Preferences.objects.select_for_update().filter(pk=prefs.pk).first()
        changes.announce(user.pk)
        if connection.vendor == "postgresql":
            # The aggregation is costed high enough to be JIT-compiled, and
            # compiling took ~130 ms of a ~1 s full recompute (EXPLAIN
            # ANALYZE, bench/rapport_bench.py) for queries that run once.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        people = _people_in_scope(user, wanted)
        if not people:
            return 0
        figures = _aggregate(user, prefs, today, wanted)
        adapt = writes.adapters()
        now = adapt[0](timezone.now())
        rows = [_row(user.pk, pk, figures.get(pk) or Figures(), today, prefs.tzinfo, now, adapt) for pk in people]
        # Short of the whole account, a person goes only by a merge, which
        # queues on the lock taken above: every person in ``rows`` is there.
        writes.insert(Rapport._meta.db_table, _COLUMNS, rows, unique=("person_id",), update=_COLUMNS[2:])
        return len(rows)


def _people_in_scope(user, wanted: list[int] | None) -> list[int]:
    qs = Person.objects.filter(user=user).order_by("pk")
    if wanted is None:
        return list(qs.values_list("pk", flat=True))
    if len(wanted) > WHOLE_USER_ABOVE:
        keep = set(wanted)
        return [pk for pk in qs.values_list("pk", flat=True) if pk in keep]
    found: list[int] = []
    for chunk in writes.chunks(wanted):
        found.extend(qs.filter(pk__in=chunk).values_list("pk", flat=True))
    return sorted(found)


def _steady(value: float) -> float:
    """12 significant digits: far beyond what is shown, short of float summation noise."""
    return float(f"{value:.12g}")


_COLUMNS = ["person_id", "user_id", "score", "two_way", "talks", "reciprocity", "inbound", "outbound",
            "first_interaction_at", "last_interaction_at", "last_talk_on", "tier", "computed_at"]


def _row(user_id: int, person_id: int, fig: Figures, today: dt.date, tz: dt.tzinfo, now, adapt) -> tuple:
    """One Rapport row as database values in _COLUMNS order; ``adapt`` is ``writes.adapters()``."""
    adapt_dt, adapt_day = adapt
    first_day = fig.first_at.astimezone(tz).date() if fig.first_at else None
    last_day = fig.last_at.astimezone(tz).date() if fig.last_at else None
    tier = tier_for(
        talks=fig.talks, inbound=fig.inbound, outbound=fig.outbound, first_day=first_day, last_day=last_day,
        last_talk_on=fig.last_talk_on, today=today,
    )
    return (
        person_id,
        user_id,
        # Rounded so the order SQL happens to sum in (a full scan vs an index
        # lookup) cannot make an incremental and a full recompute disagree in
        # the last bits.
        _steady(fig.score),
        fig.two_way,
        fig.talks,
        _steady(fig.reciprocity),
        json.dumps(dict(sorted(fig.inbound.items()))),
        json.dumps(dict(sorted(fig.outbound.items()))),
        adapt_dt(fig.first_at),
        adapt_dt(fig.last_at),
        adapt_day(fig.last_talk_on),
        tier,
        now,
    )
