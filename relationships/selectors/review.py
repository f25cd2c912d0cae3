"""The review page's reads: whom the user follows, in the order the review walks them, and one card.

Never reads whether anyone follows the user back, nor a follower count: the
order is the conversation of the last year, least first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Case, Count, Exists, F, IntegerField, Max, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from relationships.models import FollowAttempt, FollowReview, Identity, Interaction, Person, Preferences, Rapport
from relationships.platforms import records as r
from relationships.platforms.base import live_platforms
from relationships.services import review as review_service

YEAR = dt.timedelta(days=365)
#: What the card shows of each account.
CARD_IDENTITY_FIELDS = (
    "id", "user_id", "person_id", "platform", "external_id", "handle", "display_name", "avatar_url", "profile_url",
    "i_follow", "following_seen_at",
)


def _followed(user) -> QuerySet[Person]:
    """The user's visible people of whom Rapport knows the user follows at least one account."""
    return Person.objects.filter(user=user, hidden=False).filter(
        Exists(Identity.objects.filter(person=OuterRef("pk"), i_follow=True))
    )


def _holding(user, now: dt.datetime) -> QuerySet[FollowReview]:
    """Decisions that still keep their person out of the review (Keep, Quieter, Unfollow, for six months)."""
    return FollowReview.objects.filter(user=user, show_again_at__gt=now)


def queue(user, now: dt.datetime | None = None) -> QuerySet[Person]:
    """The people still to review, the least two-way conversation in the last year first.

    Order: people not skipped before people skipped (the earliest skip
    first); then talk days of the last year when both sides wrote in it
    (none first), then days with any reply, mention, quote or DM of the
    last year, then the last interaction ever (none, then the oldest
    first), then the oldest person. A mention in a post naming more people
    than the user's cut is no talk, as in the rapport.
    """
    now = now or timezone.now()
    cut = Preferences.for_user(user).mass_mention_cut
    since = now - YEAR
    path = "identities__interactions"
    in_year = Q(**{f"{path}__occurred_at__gte": since}) & Q(**{f"{path}__kind__in": r.DIRECT_KINDS}) & ~Q(
        **{f"{path}__kind": r.MENTION, f"{path}__named_count__gt": cut}
    )
    skipped = FollowReview.objects.filter(person=OuterRef("pk"), decision=FollowReview.Decision.SKIPPED)
    return (
        _followed(user)
        .exclude(Exists(_holding(user, now).filter(person=OuterRef("pk"))))
        .annotate(
            skipped_at=skipped.values("decided_at")[:1],
            from_them=Count(path, filter=in_year & Q(**{f"{path}__direction": r.INBOUND})),
            from_you=Count(path, filter=in_year & Q(**{f"{path}__direction": r.OUTBOUND})),
            days_year=Count(f"{path}__day", filter=in_year, distinct=True),
            last_seen=Max(f"{path}__occurred_at"),
        )
        .annotate(
            talk_days_year=Case(
                When(from_them__gt=0, from_you__gt=0, then=F("days_year")), default=Value(0), output_field=IntegerField()
            )
        )
        .order_by(
            F("skipped_at").asc(nulls_first=True), "talk_days_year", "days_year",
            F("last_seen").asc(nulls_first=True), "pk",
        )
    )


@dataclass
class Progress:
    """"12 of 230 reviewed": decisions still holding, of the people followed plus those unfollowed here."""

    reviewed: int
    total: int
    left: int

    @property
    def percent(self) -> int:
        return round(100 * self.reviewed / self.total) if self.total else 100


def progress(user, now: dt.datetime | None = None) -> Progress:
    now = now or timezone.now()
    followed = _followed(user)
    holding = _holding(user, now).exclude(decision=FollowReview.Decision.SKIPPED)
    gone = holding.filter(decision=FollowReview.Decision.UNFOLLOWED, person__hidden=False).exclude(
        person__in=followed.values("pk"))
    reviewed = holding.filter(person__in=followed.values("pk")).count() + gone.count()
    total = followed.count() + gone.count()
    return Progress(reviewed, total, max(total - reviewed, 0))


@dataclass
class Card:
    """One person on the review page, with everything the card says."""

    person: Person
    rapport: Rapport | None
    identities: list[Identity]
    followed: list[Identity]
    since: dt.datetime | None
    since_how: str
    last_talk: Interaction | None
    why_followed: list[dict] = field(default_factory=list)
    review: FollowReview | None = None
    undo: bool = False


def owned(user, pk: int) -> Person:
    """The user's person ``pk``; another user's is a 404 (never a 403 that says it exists)."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(Person.objects.select_related("rapport"), pk=pk, user=user)


def card(person: Person, now: dt.datetime | None = None) -> Card:
    """Everything the card of ``person`` (owner-checked by the caller) shows; a few queries."""
    now = now or timezone.now()
    identities = list(Identity.objects.filter(person=person).only(*CARD_IDENTITY_FIELDS).order_by("platform", "pk"))
    person.identity_list = identities
    person.avatar = next((i.avatar_url for i in identities if i.avatar_url), "")
    followed = sorted((i for i in identities if i.i_follow), key=lambda i: i.platform not in live_platforms())
    since, how = _since(person, followed)
    made_here = (
        FollowAttempt.objects.filter(person=person, state__in=(FollowAttempt.State.FOLLOWING, FollowAttempt.State.LISTED))
        .exclude(evidence=[]).order_by("-pk").first()
    )
    last_talk = (
        Interaction.objects.filter(identity__person=person, kind__in=r.DIRECT_KINDS)
        .order_by("-occurred_at", "-pk").first()
    )
    review = FollowReview.objects.filter(person=person).first()
    try:
        rapport = person.rapport
    except Rapport.DoesNotExist:
        rapport = None
    return Card(
        person=person, rapport=rapport, identities=identities, followed=followed, since=since, since_how=how,
        last_talk=last_talk, why_followed=made_here.evidence if made_here else [], review=review,
        undo=review_service.undo_offered(review, now),
    )


def _since(person: Person, followed: list[Identity]) -> tuple[dt.datetime | None, str]:
    """Since when the user follows them: Rapport's own follow record, else the first sync or import that saw it."""
    attempt = (
        FollowAttempt.objects.filter(person=person, identity__in=followed, state=FollowAttempt.State.FOLLOWING)
        .exclude(finished_at=None).order_by("finished_at").first()
    )
    seen = min((i.following_seen_at for i in followed if i.following_seen_at), default=None)
    if attempt is not None and (seen is None or attempt.finished_at <= seen):
        return attempt.finished_at, "you followed them from Rapport"
    if seen is not None:
        return seen, "the first sync or import that saw it"
    return None, ""
