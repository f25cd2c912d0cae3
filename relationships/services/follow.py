"""Follow, for real: one person, on the user's click, through their connected account.

:func:`follow_person` picks the person's identity on a platform the user has
connected, follows it there (Mastodon: resolve on the user's own instance,
then follow; Bluesky: check ``viewer.following``, then write the follow
record), and records what came of it with the interactions that led to it
("why I followed"): on a :class:`~relationships.models.FollowAttempt`, and on
the nudge, which becomes acted (``following`` / ``requested``) or stays open
with the failure's reason.

Where Rapport cannot follow (X: archive only; or no connected account for
that platform), nothing is called: the caller shows the profile to open in a
new tab, and :func:`confirm_manual_follow` records it once the user says
they followed.

There is no bulk follow: one identity per call, a per-user hourly budget,
and at most one follow in flight per identity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from relationships.crypto import CredentialsUnreadable
from relationships.models import FollowAttempt, Identity, Nudge, Person, Source
from relationships.platforms import records as r
from relationships.platforms.base import FAILED, FOLLOWING, LISTED, REQUESTED, Connector, live_platforms
from relationships.platforms.errors import AuthError, MissingScope, PlatformError, RateLimited, TransientError
from relationships.services.intake import connect
from relationships.services.scoring import nudges

MANUAL = "manual"
#: A person clicks Follow a few times an hour; more is a script, and the
#: platforms treat bulk following as spam.
FOLLOWS_PER_HOUR = 30
#: A pending attempt older than this died with its request; it no longer blocks.
PENDING_TIMEOUT = dt.timedelta(minutes=2)
#: Nudge kinds whose action is to follow.
FOLLOW_KINDS = (Nudge.Kind.FOLLOW, Nudge.Kind.SHOWS_UP)


class FollowRefused(Exception):
    """The follow cannot be attempted at all (wrong owner, nothing to follow, too many)."""


class Refusal(str):
    """Why the platform refused, for a person; ``reconnect`` is the account to connect (authorize) again,
    when that is the way out: its access is gone, or it lacks a scope this feature needs."""

    reconnect: Source | None = None

    @classmethod
    def of(cls, text: str, reconnect: Source | None = None) -> Refusal:
        refusal = cls(text)
        refusal.reconnect = reconnect
        return refusal


@dataclass
class FollowResult:
    """What happened: ``state`` is following / requested / failed, or manual (open ``profile_url``)."""

    state: str
    reason: str
    person: Person
    identity: Identity | None = None
    nudge: Nudge | None = None
    profile_url: str = ""
    attempt: FollowAttempt | None = None

    @property
    def succeeded(self) -> bool:
        return self.state in (FOLLOWING, REQUESTED, LISTED)


# ---------------------------------------------------------------- choosing whom to follow


def connected_source(user, platform: str) -> Source | None:
    """The user's active connected account on ``platform``, if any (the oldest, when several)."""
    if platform not in live_platforms():
        return None
    return (
        Source.objects.filter(user=user, platform=platform, kind=Source.Kind.ACCOUNT, state=Source.State.ACTIVE)
        .exclude(credentials_ciphertext=b"")
        .order_by("pk")
        .first()
    )


def targets(person: Person) -> list[Identity]:
    """The person's identities that may be followed, the one they talk with most first."""
    return list(
        nudges.targets(person)
        .annotate(talks=Count("interactions", filter=Q(interactions__kind__in=r.DIRECT_KINDS)))
        .order_by("-talks", "pk")
    )


def choose(person: Person, user, identity_id: int | None = None) -> tuple[Identity | None, Source | None]:
    """The identity to follow and the source to follow it with (None: follow by hand).

    ``identity_id`` picks one of the person's identities; otherwise the first
    one on a connected platform wins, then any with a profile to open.
    """
    options = targets(person)
    if identity_id is not None:
        options = [i for i in options if i.pk == identity_id]
        if not options:
            raise FollowRefused("That account is not one of this person's, or cannot be followed.")
    for identity in options:
        source = connected_source(user, identity.platform)
        if source is not None:
            return identity, source
    for identity in options:
        if profile_link(identity):
            return identity, None
    return None, None


def profile_link(identity: Identity) -> str:
    """A web address of the account's profile, for following by hand."""
    if identity.profile_url:
        return identity.profile_url
    if identity.platform == r.X:
        if identity.handle:
            return f"https://x.com/{quote(identity.handle)}"
        return f"https://x.com/i/user/{quote(identity.external_id)}"
    if identity.platform == r.BLUESKY:
        return f"https://bsky.app/profile/{quote(identity.handle or identity.external_id)}"
    if identity.platform == r.MASTODON and identity.external_id.startswith(("https://", "http://")):
        return identity.external_id
    return ""


# ---------------------------------------------------------------- following


def follow_person(target: Nudge | Person, user, *, identity_id: int | None = None) -> FollowResult:
    """Follow the person of ``target`` (a nudge or a person) for ``user``; see the module docstring.

    Raises :class:`FollowRefused` when nothing may be attempted (another
    user's nudge or person, a nudge that is not about following, no account
    to follow, the hourly budget spent, a follow already in flight). Platform
    failures do not raise: they come back as ``state == "failed"`` with a reason.
    """
    nudge, person = _unpack(target, user)
    if nudge is not None and nudge.state == Nudge.State.ACTED:
        # A second click (or a stale page) never calls the platform again.
        return FollowResult(nudge.outcome or FOLLOWING, nudge.outcome_reason, person, nudge=nudge)
    identity, source = choose(person, user, identity_id)
    if identity is None:
        raise FollowRefused(f"Rapport knows no account of {person.display_name} to follow.")
    if source is None:
        return FollowResult(MANUAL, _manual_reason(identity), person, identity, nudge, profile_link(identity))
    _check_budget(user)
    attempt = _start(user, person, identity, nudge, source)
    try:
        state, reason, record_uri = _call(source, identity)
    except BaseException:
        FollowAttempt.objects.filter(pk=attempt.pk).update(
            state=FollowAttempt.State.FAILED, reason="Interrupted.", finished_at=timezone.now()
        )
        raise
    return _record(attempt, nudge, state, reason, record_uri)


def confirm_manual_follow(target: Nudge | Person, user, identity_id: int) -> FollowResult:
    """The user followed by hand (X): record it, with the evidence, and act on the nudge."""
    nudge, person = _unpack(target, user)
    identity = Identity.objects.filter(pk=identity_id, person=person, user=user).first()
    if identity is None:
        raise FollowRefused("That account is not one of this person's.")
    if nudge is not None and nudge.state == Nudge.State.ACTED:
        return FollowResult(nudge.outcome or FOLLOWING, nudge.outcome_reason, person, identity, nudge)
    name = identity.get_platform_display()
    attempt = FollowAttempt.objects.create(
        user=user, person=person, identity=identity, nudge=nudge, platform=identity.platform, manual=True,
        state=FollowAttempt.State.FOLLOWING, reason=f"You followed them on {name} yourself.",
        evidence=nudges.evidence_for(person), finished_at=timezone.now(),
    )
    return _record(attempt, nudge, FOLLOWING, attempt.reason, "", already_saved=True)


def _unpack(target: Nudge | Person, user) -> tuple[Nudge | None, Person]:
    if isinstance(target, Nudge):
        if target.user_id != user.pk:
            raise FollowRefused("This nudge is not yours.")
        if target.kind not in FOLLOW_KINDS:
            raise FollowRefused("This nudge is not about following.")
        return target, target.person
    if target.user_id != user.pk:
        raise FollowRefused("This person is not in your list.")
    return None, target


def _manual_reason(identity: Identity) -> str:
    name = identity.get_platform_display()
    if identity.platform == r.X:
        return "Rapport reads X only from your archive, so it cannot follow there: open the profile, follow, then confirm."
    return f"No {name} account is connected: open the profile, follow, then confirm."


def _check_budget(user) -> None:
    recent = FollowAttempt.objects.filter(
        user=user, manual=False, created_at__gte=timezone.now() - dt.timedelta(hours=1)
    ).count()
    if recent >= FOLLOWS_PER_HOUR:
        raise FollowRefused(
            f"You followed {recent} accounts through Rapport in the last hour. Rapport follows one person at a "
            "time, on your click; please wait a little."
        )


def _start(user, person: Person, identity: Identity, nudge: Nudge | None, source: Source, **fields) -> FollowAttempt:
    """Record the attempt as pending; the partial unique constraint refuses a second one in flight.

    ``fields``: more of the attempt, such as the ``action`` and list of an Add to a list.
    """
    FollowAttempt.objects.filter(
        identity=identity, state=FollowAttempt.State.PENDING, created_at__lt=timezone.now() - PENDING_TIMEOUT
    ).update(state=FollowAttempt.State.FAILED, reason="Interrupted.", finished_at=timezone.now())
    try:
        with transaction.atomic():
            return FollowAttempt.objects.create(
                user=user, person=person, identity=identity, nudge=nudge, platform=identity.platform, source=source,
                evidence=nudges.evidence_for(person), **fields,
            )
    except IntegrityError:
        raise FollowRefused("A follow of this account is already on its way.") from None


def _call(source: Source, identity: Identity) -> tuple[str, str, str]:
    """Follow on the platform; (state, reason, record uri)."""
    outcome, error = _through(source, "follow", lambda connector: connector.follow(identity.external_id, identity.handle))
    if error:
        return FAILED, error, ""
    return outcome.state, outcome.reason, outcome.record_uri or ""


def _through(source: Source, action: str, work: Callable[[Connector], Any]) -> tuple[Any, str]:
    """``work(connector)`` with ``source``'s account: (its result, "") or (None, why ``action`` failed, for a person).

    Marks the source when its access is gone.
    """
    name = source.get_platform_display()
    connector = None
    try:
        credentials = source.get_credentials()
        connector = connect.connector_for_source(source, credentials)
        return work(connector), ""
    except (AuthError, CredentialsUnreadable) as e:
        reason = f"{name} no longer accepts Rapport's access ({e}). Please reconnect {source}."
        Source.objects.filter(pk=source.pk).update(state=Source.State.NEEDS_REAUTH, state_reason=reason)
        return None, Refusal.of(f"Your {name} account needs reconnecting before Rapport can {action} anyone.", source)
    except MissingScope as e:
        # The token still syncs: only this feature waits for the user to re-authorize.
        return None, Refusal.of(str(e), source)
    except RateLimited as e:
        when = timezone.localtime(e.reset_at).strftime("%H:%M")
        return None, f"{name} asks Rapport to slow down; try again after {when}."
    except TransientError as e:
        return None, f"{name} could not be reached ({e}); try again in a moment."
    except PlatformError as e:
        return None, f"{name} refused the {action}: {str(e).rstrip('.')}."
    finally:
        # Also after a failure: a refreshed Bluesky session must not be lost.
        fresh = connector.updated_credentials if connector is not None else None
        if fresh:
            connect.save_credentials(source, fresh)


def _record(
    attempt: FollowAttempt, nudge: Nudge | None, state: str, reason: str, record_uri: str, *, already_saved=False
) -> FollowResult:
    now = timezone.now()
    with transaction.atomic():
        if not already_saved:
            FollowAttempt.objects.filter(pk=attempt.pk).update(
                state=state, reason=reason, record_uri=record_uri[:512], finished_at=now
            )
            attempt.state, attempt.reason, attempt.record_uri, attempt.finished_at = state, reason, record_uri, now
        if state == FOLLOWING:
            Identity.objects.filter(pk=attempt.identity_id).update(i_follow=True, followed_since=now)
        if nudge is not None:
            if state in (FOLLOWING, REQUESTED, LISTED):
                try:
                    nudge = nudges.act(nudge, Nudge.Outcome(state), reason, evidence=attempt.evidence)
                except nudges.NudgeStateError:
                    nudge.refresh_from_db()  # acted meanwhile (another click); the follow stands
            else:
                # A failure leaves the nudge open, with the reason to show.
                Nudge.objects.filter(pk=nudge.pk).update(outcome=Nudge.Outcome.FAILED, outcome_reason=reason, updated_at=now)
                nudge.refresh_from_db()
    if state == FOLLOWING:
        # The person's other nudges that asked for a follow are done too.
        nudges.mark_acted(attempt.user)
    return FollowResult(state, reason, attempt.person, attempt.identity, nudge, profile_link(attempt.identity), attempt)


# ---------------------------------------------------------------- undo


def undo_follow(nudge: Nudge, user, now: dt.datetime | None = None) -> FollowResult:
    """Take back a Follow made from ``nudge`` within ``nudges.UNDO_WINDOW``: the nudge is open again.

    A follow made through a connected account is unfollowed on the platform
    (a follow request still waiting is withdrawn), through the account that
    followed. A follow by hand (X) is only no longer claimed: ``reason``
    asks the user to unfollow there too. Then the attempt becomes
    ``undone``, the identity is no longer followed, and the nudge keeps
    nothing of "why you followed".

    Raises ``nudges.NudgeStateError`` (not a follow made in Rapport, or too
    late) or :class:`FollowRefused` (the platform refused, or could not be
    asked): nothing changed in Rapport then.
    """
    now = now or timezone.now()
    nudge, person = _unpack(nudge, user)
    attempt = _undoable_attempt(nudge, now)
    if attempt.action == FollowAttempt.Action.LIST:
        # Taking back a listing also takes them out of the list: lists.undo.
        raise nudges.NudgeStateError("This nudge was acted on with a list, not a follow.")
    name = attempt.get_platform_display()
    identity = attempt.identity
    if attempt.manual:
        reason = f"Rapport no longer counts this follow. You followed on {name} yourself: unfollow {person.display_name} there too."
    else:
        source = attempt.source
        if source is None or source.state != Source.State.ACTIVE:
            raise FollowRefused(
                f"The {name} account that followed is not connected any more: unfollow {person.display_name} on {name} yourself."
            )
        _, error = _through(
            source, "unfollow",
            lambda connector: connector.unfollow(identity.external_id, identity.handle, attempt.record_uri or None),
        )
        if error:
            raise FollowRefused(error)
        reason = f"Unfollowed on {name}."
    with transaction.atomic():
        FollowAttempt.objects.filter(pk=attempt.pk).update(state=FollowAttempt.State.UNDONE, reason=reason, finished_at=now)
        Identity.objects.filter(pk=attempt.identity_id).update(i_follow=False, followed_since=None)
        nudge = nudges.reopen_unfollowed(nudge, now)
    attempt.state, attempt.reason = FollowAttempt.State.UNDONE, reason
    return FollowResult(attempt.state, reason, person, identity, nudge, profile_link(identity), attempt)


def undo_offered(nudge: Nudge, now: dt.datetime | None = None) -> bool:
    """Whether the nudge's card offers Undo: ``nudges.undoable``, and for an acted nudge a follow Rapport made.

    A follow a sync found on the platform is ``following`` too, but there is
    nothing of Rapport's to take back: the platform is where to unfollow.
    """
    if not nudges.undoable(nudge, now):
        return False
    return nudge.state != Nudge.State.ACTED or _made_here(nudge).exists()


def _made_here(nudge: Nudge):
    """The attempts from ``nudge`` that stand: a follow (or listing) made in Rapport, or its request still waiting."""
    return FollowAttempt.objects.filter(nudge=nudge, state__in=(FOLLOWING, REQUESTED, LISTED))


def _undoable_attempt(nudge: Nudge, now: dt.datetime) -> FollowAttempt:
    """The follow the nudge's Undo takes back; NudgeStateError when there is none to take back now."""
    if nudge.state != Nudge.State.ACTED:
        raise nudges.NudgeStateError("This nudge was not followed.")
    attempt = _made_here(nudge).select_related("source", "identity").order_by("-pk").first()
    if attempt is None or nudge.outcome not in (FOLLOWING, REQUESTED, LISTED):
        # Acted because a sync saw the follow, or the user replied: Rapport did not follow.
        raise nudges.NudgeStateError("Rapport did not make this follow: unfollow on the platform if you changed your mind.")
    if not nudges.undoable(nudge, now):
        raise nudges.NudgeStateError(
            f"It is too late to undo this here: unfollow {nudge.person.display_name} on "
            f"{attempt.get_platform_display()} if you changed your mind."
        )
    return attempt
