"""Nudges: "You've talked with Ana 5 times — follow them?", generated from stored Rapport rows.

Kinds (DESIGN.md, "Rapport, version 1"):

* ``follow``: talks >= the user's threshold, both ways, the user follows none
  of the person's identities;
* ``shows_up``: they replied, mentioned, quoted or shared the user's posts on
  >= 3 days (>= 5 events), the user never answered and does not follow them;
* ``reconnect``: >= 10 talks, both ways, none in the last 60 days, and the
  user follows them. Both ways, because the sentence says "you've talked
  with": a history of the user's replies nobody answered is no talk to resume.

States: ``open`` -> ``acted`` (followed, a follow request on a locked account,
or replied) / ``snoozed`` until a date (then ``open`` again) / ``dismissed``
(never again until :func:`reset`). The (person, kind) unique constraint makes a
second nudge of a kind for a person impossible, whatever the state.

Never toward a person the user blocked or muted on any platform, nor one whose
only identities are bots or not discoverable. At most
``Preferences.daily_nudge_budget`` nudges become open per user per day,
reopened snoozes included: follow nudges first (the headline), then shows_up,
then reconnect, each kind strongest (highest score) first. By kind before
score, as a follow is the one act the product exists for, and a crowd of
strong old friends to reconnect with must not push it out for days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from relationships.models import Identity, Interaction, Nudge, Person, Preferences, Rapport
from relationships.platforms import records as r
from relationships.services import changes
from relationships.services.scoring.rapport import MASS_MENTION, direct_count, local_today
from relationships.services.scoring.sentences import follow_reason, reconnect_reason, shows_up_reason

SHOWS_UP_KINDS = (r.REPLY, r.MENTION, r.QUOTE, r.REPOST)
SHOWS_UP_DAYS = 3
SHOWS_UP_EVENTS = 5
RECONNECT_TALKS = 10
RECONNECT_AFTER_DAYS = 60
DEFAULT_SNOOZE_DAYS = 30
EVIDENCE_LIMIT = 10
#: How long after Not now or Never the card's Undo takes it back. Longer, and
#: Undo would quietly rewrite decisions the user has already moved on from.
UNDO_WINDOW = dt.timedelta(seconds=60)

_KIND_ORDER = {Nudge.Kind.FOLLOW: 0, Nudge.Kind.SHOWS_UP: 1, Nudge.Kind.RECONNECT: 2}
_PENDING = (Nudge.State.OPEN, Nudge.State.SNOOZED)
_UNDOABLE = (Nudge.State.SNOOZED, Nudge.State.DISMISSED)


class NudgeStateError(ValueError):
    """The nudge is not in a state that allows this action (e.g. snoozing an acted nudge)."""


@dataclass(frozen=True)
class Candidate:
    person_id: int
    kind: str
    reason: str
    strength: float


# -- Who may be nudged at all -------------------------------------------------------

def _followed():
    return Exists(Identity.objects.filter(person=OuterRef("person"), i_follow=True))


def _avoided():
    return Exists(Identity.objects.filter(person=OuterRef("person")).filter(Q(blocked=True) | Q(muted=True)))


def _followable(identities):
    """Of ``identities``, those a nudge may lead the user to follow: no bot, not undiscoverable, not blocked or muted.

    exclude() on a nullable boolean keeps NULL ("not known"): only what the
    platform said explicitly rules an identity out.
    """
    return identities.exclude(is_bot=True).exclude(discoverable=False).exclude(blocked=True).exclude(muted=True)


def _reachable():
    """A person with at least one identity a nudge may lead to (:func:`targets` is not empty)."""
    return Exists(_followable(Identity.objects.filter(person=OuterRef("person"))))


def targets(person: Person):
    """The identities a nudge about ``person`` may lead the user to follow."""
    return _followable(person.identities.all())


def _nudgeable(user):
    return (
        Rapport.objects.filter(user=user, person__hidden=False)
        .filter(_reachable())
        .exclude(_avoided())
        .select_related("person")
    )


# -- Candidates -------------------------------------------------------------------------

def candidates(user, prefs: Preferences | None = None, today: dt.date | None = None) -> list[Candidate]:
    """Every nudge the stored Rapport rows call for now, whatever exists already."""
    prefs = prefs or Preferences.for_user(user)
    today = today or local_today(prefs)
    found: list[Candidate] = []
    base = _nudgeable(user)

    for rap in base.filter(two_way=True, talks__gte=max(prefs.follow_threshold, 1)).exclude(_followed()):
        found.append(Candidate(rap.person_id, Nudge.Kind.FOLLOW, follow_reason(rap.person, rap.talks), rap.score))

    quiet_since = today - dt.timedelta(days=RECONNECT_AFTER_DAYS)
    reconnectable = base.filter(two_way=True, talks__gte=RECONNECT_TALKS, last_talk_on__lt=quiet_since)
    for rap in reconnectable.filter(_followed()):
        days = (today - rap.last_talk_on).days
        found.append(Candidate(rap.person_id, Nudge.Kind.RECONNECT, reconnect_reason(rap.person, rap.talks, days), rap.score))

    # shows_up: the counts on the Rapport row pick the few possible people;
    # one more GROUP BY over their interactions counts the distinct days.
    # Regular and close need both ways, one_way and silent nothing from them:
    # only these tiers can hold someone the user never answered.
    maybe = {}
    quiet_tiers = [Rapport.Tier.NEW, Rapport.Tier.FAN, Rapport.Tier.QUIET, Rapport.Tier.ACQUAINTANCE]
    for rap in base.filter(tier__in=quiet_tiers).exclude(_followed()):
        events = sum(rap.inbound.get(kind, 0) for kind in SHOWS_UP_KINDS) - rap.inbound.get(MASS_MENTION, 0)
        if events >= SHOWS_UP_EVENTS and direct_count(rap.outbound) == 0:
            maybe[rap.person_id] = rap
    # Mass mentions are a weak signal here too: a follow-for-follow account
    # mentioning the user in lists is not someone showing up.
    shows = Q(kind__in=[r.REPLY, r.QUOTE, r.REPOST]) | Q(kind=r.MENTION, named_count__lte=prefs.mass_mention_cut)
    ids = sorted(maybe)
    for i in range(0, len(ids), 900):
        days = (
            Interaction.objects.filter(user=user, direction=r.INBOUND, identity__person_id__in=ids[i : i + 900])
            .filter(shows)
            .values("identity__person_id")
            .annotate(days=Count("day", distinct=True))
            .order_by()
            .values_list("identity__person_id", "days")
        )
        for person_id, n_days in days:
            if n_days >= SHOWS_UP_DAYS:
                rap = maybe[person_id]
                found.append(
                    Candidate(person_id, Nudge.Kind.SHOWS_UP, shows_up_reason(rap.person, rap.inbound), rap.score)
                )
    return found


# -- Generation -------------------------------------------------------------------------

def _start_of(day: dt.date, prefs: Preferences) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=prefs.tzinfo)


def generate(user, today: dt.date | None = None) -> dict[str, int]:
    """Open the nudges the Rapport rows call for, within today's budget.

    Returns how many nudges became open, by kind (newly created or reopened
    after a snooze). Idempotent: a second run the same day opens nothing new.
    Safe from several workers at once: runs for one user queue on the user's
    Preferences row, and the (person, kind) constraint makes a duplicate
    impossible in any case.
    """
    prefs = Preferences.for_user(user)
    today = today or local_today(prefs)
    opened = {kind: 0 for kind in Nudge.Kind.values}
    with transaction.atomic():
        Preferences.objects.select_for_update().filter(pk=prefs.pk).first()
        changes.announce(user.pk)
        mark_acted(user)
        withdraw_one_sided_reconnects(user)
        wanted = {(c.person_id, c.kind): c for c in candidates(user, prefs, today)}
        existing = {
            (n.person_id, n.kind): n
            for n in Nudge.objects.filter(user=user).only("id", "person_id", "kind", "state", "reason", "strength",
                                                            "snoozed_until")
        }
        _refresh_pending(wanted, existing)

        # An expired snooze reopens only if the nudge still applies (not, say,
        # for someone muted since); its figures were refreshed just above.
        due = _start_of(today, prefs)
        reopen = [
            n for key, n in existing.items()
            if n.state == Nudge.State.SNOOZED and n.snoozed_until is not None and n.snoozed_until <= due
            and key in wanted
        ]
        fresh = [c for key, c in wanted.items() if key not in existing]
        queue: list[Candidate | Nudge] = [*fresh, *reopen]
        queue.sort(key=serve_key)
        room = max(0, prefs.daily_nudge_budget - Nudge.objects.filter(user=user, opened_on=today).count())
        chosen = queue[:room]

        new_rows = [
            Nudge(user=user, person_id=c.person_id, kind=c.kind, reason=c.reason, strength=c.strength, opened_on=today)
            for c in chosen
            if isinstance(c, Candidate)
        ]
        opened_new = _create(user, new_rows)
        for row in opened_new:
            opened[row.kind] += 1
        for nudge in chosen:
            if isinstance(nudge, Nudge):
                reopened = Nudge.objects.filter(pk=nudge.pk, state=Nudge.State.SNOOZED).update(
                    state=Nudge.State.OPEN, snoozed_until=None, opened_on=today, updated_at=timezone.now()
                )
                opened[nudge.kind] += reopened
    return opened


def withdraw_one_sided_reconnects(user) -> int:
    """Delete open and snoozed reconnect nudges toward someone who never talked back; return how many.

    Such a nudge says "you've talked with Pal 13 times" of a history Pal took
    no part in (made before reconnect required both ways, or left after a split
    made the person one-sided). Acted and dismissed ones stay: they record the
    user's decision. Deleting frees the (person, kind) slot should they answer.
    """
    return Nudge.objects.filter(
        user=user, kind=Nudge.Kind.RECONNECT, state__in=_PENDING, person__rapport__two_way=False
    ).delete()[0]


def serve_key(item: Candidate | Nudge) -> tuple:
    """The order the budget serves nudges in, and lists show them: by kind (follow, shows_up,
    reconnect), then strongest first."""
    return (_KIND_ORDER[item.kind], -item.strength, item.person_id)


def serve_order() -> tuple:
    """serve_key for a Nudge queryset's order_by()."""
    kind = Case(*[When(kind=k, then=Value(n)) for k, n in _KIND_ORDER.items()], default=Value(len(_KIND_ORDER)))
    return (kind.asc(), F("strength").desc(), F("pk").asc())


def _refresh_pending(wanted: dict, existing: dict) -> None:
    """Keep the figures in open and snoozed nudges' sentences current ("5 times" -> "6 times")."""
    changed = []
    for key, nudge in existing.items():
        c = wanted.get(key)
        if c is not None and nudge.state in _PENDING and (nudge.reason, nudge.strength) != (c.reason, c.strength):
            nudge.reason, nudge.strength = c.reason, c.strength
            changed.append(nudge)
    if changed:
        Nudge.objects.bulk_update(changed, ["reason", "strength"], batch_size=500)


def _create(user, rows: list[Nudge]) -> list[Nudge]:
    """bulk_create that survives a racing writer (conflict: skipped) and a deleted person (dropped)."""
    if not rows:
        return []
    for attempt in range(3):
        before = set(
            Nudge.objects.filter(user=user, person_id__in=[n.person_id for n in rows]).values_list("person_id", "kind")
        )
        rows = [n for n in rows if (n.person_id, n.kind) not in before]
        try:
            with transaction.atomic():
                Nudge.objects.bulk_create(rows, ignore_conflicts=True)
            return rows
        except IntegrityError:
            # ignore_conflicts covers the unique key; what is left is a person
            # deleted (merged) since the candidates were read.
            if attempt == 2:
                raise
            alive = set(Person.objects.filter(user=user).values_list("pk", flat=True))
            rows = [n for n in rows if n.person_id in alive]
    return []


# -- The user's actions ---------------------------------------------------------------------

def _transition(nudge: Nudge, allowed: tuple[str, ...], action: str, **fields) -> Nudge:
    fields["updated_at"] = timezone.now()
    changes.announce(nudge.user_id)
    # A conditional UPDATE, so two clicks (or a click and the worker) cannot
    # both move the same nudge.
    if not Nudge.objects.filter(pk=nudge.pk, state__in=allowed).update(**fields):
        nudge.refresh_from_db()
        raise NudgeStateError(f"A {nudge.state} nudge cannot be {action}.")
    nudge.refresh_from_db()
    return nudge


def evidence_for(person: Person, limit: int = EVIDENCE_LIMIT) -> list[dict]:
    """The latest direct exchanges with ``person``: "why I followed", kept on the acted nudge."""
    rows = (
        Interaction.objects.filter(identity__person=person, kind__in=r.DIRECT_KINDS)
        .order_by("-occurred_at")
        .values("id", "kind", "direction", "occurred_at", "permalink", "excerpt")[:limit]
    )
    return [{**row, "occurred_at": row["occurred_at"].isoformat()} for row in rows]


def act(nudge: Nudge, outcome: Nudge.Outcome, reason: str = "", evidence: list | None = None) -> Nudge:
    """The user acted on the nudge: ``outcome`` following, requested (a locked account) or replied.

    ``evidence`` defaults to the latest direct exchanges with the person.
    Raises NudgeStateError if the nudge was already acted on.
    """
    if evidence is None:
        evidence = evidence_for(nudge.person)
    return _transition(
        nudge,
        (Nudge.State.OPEN, Nudge.State.SNOOZED, Nudge.State.DISMISSED),
        "acted on",
        state=Nudge.State.ACTED,
        outcome=outcome[:32],
        outcome_reason=reason,
        evidence=evidence,
        snoozed_until=None,
    )


def snooze(nudge: Nudge, days: int = DEFAULT_SNOOZE_DAYS, today: dt.date | None = None) -> Nudge:
    """Hide the nudge until the start of the day ``days`` from today (user's time zone); it then reopens."""
    if days < 1:
        raise ValueError("A snooze lasts at least one day.")
    prefs = Preferences.objects.get_or_create(user_id=nudge.user_id)[0]
    until = _start_of((today or local_today(prefs)) + dt.timedelta(days=days), prefs)
    return _transition(nudge, _PENDING, "snoozed", state=Nudge.State.SNOOZED, snoozed_until=until)


def dismiss(nudge: Nudge) -> Nudge:
    """Never show this kind of nudge for this person again, until :func:`reset`."""
    return _transition(nudge, _PENDING, "dismissed", state=Nudge.State.DISMISSED, snoozed_until=None)


def undoable(nudge: Nudge, now: dt.datetime | None = None) -> bool:
    """Whether the card's Undo would take the nudge back now: :func:`undo`, or for a follow
    (outcome ``following`` / ``requested``) ``follow.undo_follow``, for a listing ``lists.undo``, if Rapport made it
    (``follow.undo_offered``)."""
    if nudge.state == Nudge.State.ACTED:
        if nudge.outcome not in (Nudge.Outcome.FOLLOWING, Nudge.Outcome.REQUESTED, Nudge.Outcome.LISTED):
            return False  # replied: nothing Rapport did
    elif nudge.state not in _UNDOABLE:
        return False
    return nudge.updated_at >= (now or timezone.now()) - UNDO_WINDOW


def undo(nudge: Nudge, now: dt.datetime | None = None) -> Nudge:
    """Take back a Not now or a Never made within UNDO_WINDOW: the nudge is open again, as it was.

    A follow is not undone here: reopening the nudge alone would say the user
    does not follow someone they do; ``follow.undo_follow`` unfollows on the
    platform first. Raises NudgeStateError past the window or for any other state.
    """
    now = now or timezone.now()
    changes.announce(nudge.user_id)
    # Conditional, like _transition: a second click, or a snooze that already
    # expired and reopened, cannot be undone twice.
    taken_back = Nudge.objects.filter(pk=nudge.pk, state__in=_UNDOABLE, updated_at__gte=now - UNDO_WINDOW).update(
        state=Nudge.State.OPEN, snoozed_until=None, updated_at=now
    )
    nudge.refresh_from_db()
    if not taken_back:
        if nudge.state == Nudge.State.ACTED:
            raise NudgeStateError("A follow is undone by unfollowing, not by reopening its nudge.")
        if nudge.state == Nudge.State.OPEN:
            raise NudgeStateError("This nudge is open already.")
        raise NudgeStateError(
            "It is too late to undo this here; the person's page lets you allow this nudge again."
            if nudge.state == Nudge.State.DISMISSED
            else "It is too late to undo this here; the nudge comes back when the snooze ends."
        )
    return nudge


def reopen_unfollowed(nudge: Nudge, now: dt.datetime) -> Nudge:
    """Open the nudge again once its follow was undone (``follow.undo_follow``).

    Outcome and evidence go: an open card must not claim a follow, nor keep
    "why you followed" for one that no longer exists.
    """
    changes.announce(nudge.user_id)
    Nudge.objects.filter(pk=nudge.pk, state=Nudge.State.ACTED).update(
        state=Nudge.State.OPEN, outcome="", outcome_reason="", evidence=[], snoozed_until=None, updated_at=now
    )
    nudge.refresh_from_db()
    return nudge


def reset(nudge: Nudge) -> None:
    """Forget a dismissed nudge, so the next generation may open it again (within the budget)."""
    changes.announce(nudge.user_id)
    if not Nudge.objects.filter(pk=nudge.pk, state=Nudge.State.DISMISSED).delete()[0]:
        nudge.refresh_from_db()
        raise NudgeStateError(f"Only a dismissed nudge can be reset; this one is {nudge.state}.")


def mark_acted(user) -> int:
    """Mark open and snoozed nudges acted when the user already did what they suggest.

    follow: the user now follows one of the person's identities. shows_up:
    followed, or the user answered since the nudge was made. reconnect: the
    user wrote to them since. Returns how many nudges changed.
    """
    answered = Exists(
        Interaction.objects.filter(
            identity__person=OuterRef("person"),
            direction=r.OUTBOUND,
            kind__in=r.DIRECT_KINDS,
            occurred_at__gte=OuterRef("created_at"),
        )
    )
    pending = Nudge.objects.filter(user=user, state__in=_PENDING).select_related("person")
    done = 0
    for outcome, query in (
        (Nudge.Outcome.FOLLOWING, pending.filter(kind__in=[Nudge.Kind.FOLLOW, Nudge.Kind.SHOWS_UP]).filter(_followed())),
        (Nudge.Outcome.REPLIED, pending.filter(kind__in=[Nudge.Kind.SHOWS_UP, Nudge.Kind.RECONNECT]).filter(answered)),
    ):
        for nudge in query:
            try:
                act(nudge, outcome, reason="Seen on the platform.")
                done += 1
            except NudgeStateError:
                pass  # acted on meanwhile (by the other query, a click or another worker)
    return done
