"""Review your follows: one person at a time, Keep, Quieter or Unfollow, each real on the platform.

The decisions are :class:`~relationships.models.FollowReview` rows, one per
person. Keep, Quieter and Unfollow hold for :data:`HOLD` (the person is not
shown again before then); Skip only moves the person to the end of the
queue. Nothing here reads or uses whether the person follows the user back,
nor any follower count: the review is about whom the user wants to hear from.

* :func:`keep` stores the decision; nothing is asked of the platform.
* :func:`quieter` keeps following without their boosts on Mastodon
  (:func:`lists.follow_quietly`), or moves them into a list and unfollows
  on Bluesky (:func:`lists.move_to_list`).
* :func:`unfollow` unfollows one of their accounts through the user's
  connected account; :func:`undo_unfollow` follows again through the same
  account within :data:`UNDO_WINDOW`.

What a platform refused (a missing scope, a 429, an account gone) comes
back as ``done=False`` with the sentence to show, and nothing is recorded.
There is no bulk action: one person per call, and an hourly budget of unfollows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from relationships.models import FollowAttempt, FollowReview, Identity, Person, Source
from relationships.platforms import records as r
from relationships.platforms.base import FAILED, FOLLOWING, LISTED, REQUESTED
from relationships.services import follow, lists
from relationships.services.follow import FollowRefused

#: How long a Keep, a Quieter or an Unfollow keeps the person out of the review: six months.
HOLD = dt.timedelta(days=183)
#: How long after an Unfollow its Undo follows again.
UNDO_WINDOW = dt.timedelta(seconds=30)
#: A person unfollows a few accounts an hour while reviewing; more is a script, and platforms treat
#: bulk (un)following as spam.
UNFOLLOWS_PER_HOUR = 60
#: The list Quieter moves someone into on Bluesky unless the user names another.
QUIETER_LIST = "Quieter"

Decision = FollowReview.Decision


@dataclass
class ReviewResult:
    """Whether the action happened on the platform (``done``), and the sentence the card shows."""

    done: bool
    message: str
    person: Person
    review: FollowReview | None = None


def followed_identities(person: Person) -> list[Identity]:
    """The person's accounts the user follows, those on a platform Rapport can act on first."""
    live = follow.live_platforms()
    found = Identity.objects.filter(person=person, i_follow=True).order_by("pk")
    return sorted(found, key=lambda identity: identity.platform not in live)


def _own(person: Person, user) -> None:
    if person.user_id != user.pk:
        raise FollowRefused("This person is not in your list.")


def _decide(person: Person, user, decision: str, now: dt.datetime, **fields) -> FollowReview:
    holds = decision != Decision.SKIPPED
    review, _ = FollowReview.objects.update_or_create(
        user=user, person=person,
        defaults={"decision": decision, "decided_at": now, "show_again_at": now + HOLD if holds else None,
                  "identity": None, "source": None, "following_seen_at": None, "reason": "", **fields},
    )
    return review


def keep(person: Person, user, now: dt.datetime | None = None) -> ReviewResult:
    """Keep following ``person``; they are not shown again for six months."""
    _own(person, user)
    now = now or timezone.now()
    review = _decide(person, user, Decision.KEPT, now)
    until = timezone.localtime(review.show_again_at).strftime("%-d %B %Y")
    return ReviewResult(True, f"Kept {person.display_name}: not shown again before {until}.", person, review)


def skip(person: Person, user, now: dt.datetime | None = None) -> ReviewResult:
    """Decide later: ``person`` goes to the end of the queue."""
    _own(person, user)
    review = _decide(person, user, Decision.SKIPPED, now or timezone.now())
    return ReviewResult(True, f"{person.display_name} comes back at the end of the review.", person, review)


def quieter(person: Person, user, *, list_name: str = "", now: dt.datetime | None = None) -> ReviewResult:
    """Hear less from ``person`` without losing them: see the module docstring.

    Raises :class:`FollowRefused` when nothing may be attempted (not the
    user's, no connected account reaching them, the hourly budget spent).
    """
    _own(person, user)
    now = now or timezone.now()
    identities = followed_identities(person)
    mastodon = [i for i in identities if i.platform == r.MASTODON and follow.connected_source(user, r.MASTODON)]
    if mastodon:
        result = lists.follow_quietly(person, user, identity_id=mastodon[0].pk)
        done = result.state in (FOLLOWING, REQUESTED)
        message = f"{person.display_name} stays followed on Mastodon, without their boosts." if done else result.reason
    else:
        bluesky = [i for i in identities if i.platform == r.BLUESKY and follow.connected_source(user, r.BLUESKY)]
        if not bluesky:
            raise FollowRefused(
                f"Quieter needs a connected Mastodon or Bluesky account that follows {person.display_name}."
            )
        name = " ".join((list_name or QUIETER_LIST).split())
        result = lists.move_to_list(person, user, new_list=name, identity_id=bluesky[0].pk)
        # Listed but still followed (the unfollow was refused) is not quieter yet: the reason says so.
        done = result.state == LISTED and not Identity.objects.filter(pk=bluesky[0].pk, i_follow=True).exists()
        message = f"{person.display_name} is in your list “{name}” on Bluesky and no longer followed." if done else result.reason
    if not done:
        return ReviewResult(False, message, person)
    review = _decide(person, user, Decision.QUIETER, now, reason=message)
    return ReviewResult(True, message, person, review)


def _connected_identity(person: Person, user, identity_id: int | None) -> tuple[Identity, Source]:
    identities = followed_identities(person)
    if identity_id is not None:
        identities = [i for i in identities if i.pk == identity_id]
    if not identities:
        raise FollowRefused(f"Rapport does not know you to follow {person.display_name} any more.")
    for identity in identities:
        source = follow.connected_source(user, identity.platform)
        if source is not None:
            return identity, source
    identity = identities[0]
    name = identity.get_platform_display()
    if identity.platform == r.X:
        raise FollowRefused(f"Rapport reads X only from your archive, so it cannot unfollow there: unfollow "
                            f"{person.display_name} on X yourself.")
    raise FollowRefused(f"No {name} account is connected: unfollow {person.display_name} on {name} yourself, "
                        f"or connect the account on the Sources page.")


def _check_budget(user, now: dt.datetime) -> None:
    recent = FollowReview.objects.filter(
        user=user, decision=Decision.UNFOLLOWED, decided_at__gte=now - dt.timedelta(hours=1)
    ).count()
    if recent >= UNFOLLOWS_PER_HOUR:
        raise FollowRefused(f"You unfollowed {recent} accounts through Rapport in the last hour. Rapport unfollows "
                            "one person at a time, on your click; please wait a little.")


def unfollow(person: Person, user, *, identity_id: int | None = None, now: dt.datetime | None = None) -> ReviewResult:
    """Unfollow one of ``person``'s accounts on its platform, through the user's connected account.

    Raises :class:`FollowRefused` when nothing may be attempted (not the
    user's, not followed, no connected account: the sentence says where to
    unfollow by hand; the hourly budget spent). A platform refusal comes back
    as ``done=False``, and Rapport still counts them as followed.
    """
    _own(person, user)
    now = now or timezone.now()
    identity, source = _connected_identity(person, user, identity_id)
    _check_budget(user, now)
    made_here = (
        FollowAttempt.objects.filter(identity=identity, state__in=(FOLLOWING, REQUESTED)).exclude(record_uri="")
        .order_by("-pk").values_list("record_uri", flat=True).first()
    )
    _, error = follow._through(
        source, "unfollow", lambda connector: connector.unfollow(identity.external_id, identity.handle, made_here)
    )
    if error:
        return ReviewResult(False, error, person)
    name = identity.get_platform_display()
    message = f"Unfollowed {person.display_name} on {name}."
    with transaction.atomic():
        Identity.objects.filter(pk=identity.pk).update(i_follow=False, following_seen_at=None)
        review = _decide(person, user, Decision.UNFOLLOWED, now, identity=identity, source=source,
                         following_seen_at=identity.following_seen_at, reason=message)
    return ReviewResult(True, message, person, review)


def undo_offered(review: FollowReview | None, now: dt.datetime | None = None) -> bool:
    """Whether the card still offers Undo for ``review``: an unfollow made within UNDO_WINDOW."""
    return (
        review is not None and review.decision == Decision.UNFOLLOWED and review.identity_id is not None
        and review.decided_at >= (now or timezone.now()) - UNDO_WINDOW
    )


def undo_unfollow(person: Person, user, now: dt.datetime | None = None) -> ReviewResult:
    """Follow again, through the same account, the account an Unfollow of the last moments left.

    The person is back in the review with no decision, and Rapport's "since
    when" is what it was. Raises :class:`FollowRefused` when there is nothing
    to undo (too late, not an unfollow, the account disconnected); a platform
    refusal comes back as ``done=False`` with the unfollow standing.
    """
    _own(person, user)
    now = now or timezone.now()
    review = FollowReview.objects.filter(user=user, person=person).select_related("identity", "source").first()
    if not undo_offered(review, now):
        raise FollowRefused(f"It is too late to undo this here: follow {person.display_name} again from their profile "
                            "if you changed your mind.")
    identity, source = review.identity, review.source
    name = identity.get_platform_display()
    if source is None or source.state != Source.State.ACTIVE:
        raise FollowRefused(f"The {name} account that unfollowed is not connected any more: follow "
                            f"{person.display_name} again on {name} yourself.")
    follow._check_budget(user)
    attempt = follow._start(user, person, identity, None, source)
    try:
        state, reason, record_uri = follow._call(source, identity)
    except BaseException:
        FollowAttempt.objects.filter(pk=attempt.pk).update(
            state=FollowAttempt.State.FAILED, reason="Interrupted.", finished_at=timezone.now())
        raise
    follow._record(attempt, None, state, reason, record_uri)
    if state == FAILED:
        return ReviewResult(False, f"Could not follow {person.display_name} again: {reason}", person, review)
    with transaction.atomic():
        Identity.objects.filter(pk=identity.pk).update(following_seen_at=review.following_seen_at or now)
        review.delete()
    said = "follow request sent again" if state == REQUESTED else f"following {person.display_name} again on {name}"
    return ReviewResult(True, f"Undone: {said}.", person)
