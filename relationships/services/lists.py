"""Following on purpose beyond Follow: lists, Quieter, notes that travel, known followers.

Each action is one person, on the user's click, through their connected
account, like a follow (:mod:`relationships.services.follow`), and shares
its guards: the hourly budget, one action in flight per account, the
source marked when its access is gone.

* :func:`list_person` puts the person in one of the user's lists on the
  platform, or in a new one. Bluesky: a curated list, no follow needed.
  Mastodon: lists hold only followed accounts, so it follows into the list
  (and a new list can be exclusive: their posts stay out of the home feed).
  It is recorded like a follow, as a :class:`~relationships.models.FollowAttempt`
  with ``action = list`` whose evidence is "why you listed them", and acts
  on the nudge (outcome ``listed``, or ``requested`` when the follow a
  Mastodon list needs waits for approval).
* :func:`follow_quietly` keeps following without their boosts (Mastodon),
  recorded as ``action = quieter``; :func:`move_to_list` is Quieter where
  lists need no follow (Bluesky): into a list, then unfollowed.
* :func:`push_note` writes a note into the Mastodon private note on the
  account, which every Mastodon app shows. Bluesky has no private notes:
  the note stays in Rapport, and the answer says so.
* :func:`known_followers` names the people who follow the person on the
  platforms and with whom the user talks both ways. Names, never a count.

A token from before Rapport asked for lists and notes is refused by
Mastodon for these features only: the answer asks the user to
re-authorize, and nothing is marked done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from relationships.models import FollowAttempt, Identity, Nudge, Person, Source
from relationships.platforms.base import FAILED, LISTED, REQUESTED, Connector, PlatformList, get_connector
from relationships.platforms.errors import AuthError, PlatformError
from relationships.platforms.records import IdentityRecord
from relationships.services import follow
from relationships.services.follow import FollowRefused, FollowResult
from relationships.services.scoring import nudges


@dataclass
class NoteResult:
    """Whether the note reached the platform (``written``), and a sentence saying where it is."""

    written: bool
    reason: str


@dataclass
class KnownFollowers:
    """People the user talks with both ways who follow the person, and why some platform could not say."""

    people: list[Person] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _reachable(
    identities: Iterable[Identity], user, identity_id: int | None, can: Callable[[type[Connector]], bool]
) -> list[tuple[Identity, Source]]:
    """The identities (``identity_id`` only, if given) that a connected account of the user can act on, as ``can`` says."""
    found = []
    for identity in identities:
        if identity_id is not None and identity.pk != identity_id:
            continue
        source = follow.connected_source(user, identity.platform)
        if source is not None and can(get_connector(identity.platform)):
            found.append((identity, source))
    if identity_id is not None and not found:
        raise FollowRefused("That account is not one of this person's, or no connected account can reach it.")
    return found


def _attempt(user, person: Person, identity: Identity, nudge: Nudge | None, source: Source, work, **fields):
    """Start the ledger row, then run ``work()``; an exception marks the row interrupted."""
    follow._check_budget(user)
    attempt = follow._start(user, person, identity, nudge, source, **fields)
    try:
        return attempt, work()
    except BaseException:
        FollowAttempt.objects.filter(pk=attempt.pk).update(
            state=FollowAttempt.State.FAILED, reason="Interrupted.", finished_at=timezone.now()
        )
        raise


# ---------------------------------------------------------------- lists


def platform_lists(user, platform: str) -> tuple[list[PlatformList], str]:
    """The user's lists on ``platform``, read from it: (lists, "") or ([], why they could not be read)."""
    source = follow.connected_source(user, platform)
    if source is None:
        return [], "No account on this platform is connected."
    found, error = follow._through(source, "list", lambda connector: connector.lists())
    return (found or []), error


def list_person(
    target: Nudge | Person, user, *, list_id: str = "", new_list: str = "", exclusive: bool = False,
    identity_id: int | None = None,
) -> FollowResult:
    """Add the person of ``target`` to the list ``list_id``, or to a new list named ``new_list``.

    Raises :class:`FollowRefused` when nothing may be attempted (not the
    user's, no list or two lists named, no connected account reaching the
    person, the hourly budget spent, an action already in flight). What the
    platform refused comes back as ``state == "failed"`` with the sentence.
    """
    nudge, person = follow._unpack(target, user)
    if nudge is not None and nudge.state == Nudge.State.ACTED:
        return FollowResult(nudge.outcome or LISTED, nudge.outcome_reason, person, nudge=nudge)
    new_list = _one_list(list_id, new_list)
    reachable = _reachable(follow.targets(person), user, identity_id, lambda cls: True)
    if not reachable:
        raise FollowRefused(
            f"Rapport can add {person.display_name} to a list only through a connected Mastodon or Bluesky account."
        )
    identity, source = reachable[0]

    def work():
        def on_platform(connector: Connector):
            chosen = _chosen_list(connector, list_id, new_list, exclusive)
            return chosen, connector.add_to_list(chosen.id, identity.external_id, identity.handle), connector
        return follow._through(source, "list", on_platform)

    attempt, (done, error) = _attempt(
        user, person, identity, nudge, source, work, action=FollowAttempt.Action.LIST, list_id=list_id[:512],
    )
    if error:
        return follow._record(attempt, nudge, FAILED, error, "")
    chosen, outcome, connector = done
    reason = outcome.reason
    if exclusive and new_list and connector.lists_need_follow and not chosen.exclusive:
        reason += " Your server has no exclusive lists: their posts still show in your home feed."
    _keep_list(attempt, chosen)
    if outcome.followed:
        FollowAttempt.objects.filter(pk=attempt.pk).update(followed=True)
        attempt.followed = True
    result = follow._record(attempt, nudge, outcome.state, reason, outcome.record_uri or "")
    if outcome.state == LISTED and connector.lists_need_follow:
        # A Mastodon list holds only followed accounts: listed there is followed.
        Identity.objects.filter(pk=identity.pk, i_follow=False).update(i_follow=True, followed_since=timezone.now())
    return result


def listing_platform(person: Person, user) -> str | None:
    """The platform :func:`list_person` would list ``person`` on (its lists are the ones to offer), or None."""
    reachable = _reachable(follow.targets(person), user, None, lambda cls: True)
    return reachable[0][0].platform if reachable else None


def lists_need_follow(platform: str) -> bool:
    return get_connector(platform).lists_need_follow


def undo(nudge: Nudge, user, now: dt.datetime | None = None) -> FollowResult:
    """The card's Undo of an acted nudge: a listing made from it (:func:`undo_listing`), or a follow."""
    now = now or timezone.now()
    nudge, _ = follow._unpack(nudge, user)
    attempt = follow._undoable_attempt(nudge, now)
    if attempt.action != FollowAttempt.Action.LIST:
        return follow.undo_follow(nudge, user, now)
    return undo_listing(attempt, user, now)


def undo_listing(attempt: FollowAttempt, user, now: dt.datetime | None = None) -> FollowResult:
    """Take back an Add to a list made within ``nudges.UNDO_WINDOW``: out of the list, and unfollowed if
    Rapport followed for it (Mastodon); its nudge is open again.

    Raises :class:`FollowRefused` (not the user's, not a listing, too late, the platform refused or could
    not be asked): then nothing changed, on the platform's side as far as Rapport knows, nor here.
    """
    now = now or timezone.now()
    if attempt.user_id != user.pk or attempt.action != FollowAttempt.Action.LIST:
        raise FollowRefused("This is not one of your listings.")
    if attempt.state not in (LISTED, REQUESTED) or attempt.manual:
        raise FollowRefused("There is no listing to take back.")
    identity, source, name = attempt.identity, attempt.source, attempt.get_platform_display()
    where = f"“{attempt.list_name}”" if attempt.list_name else "the list"
    if (attempt.finished_at or attempt.created_at) < now - nudges.UNDO_WINDOW:
        raise FollowRefused(f"It is too late to undo this here: take {attempt.person.display_name} out of {where} "
                            f"on {name} if you changed your mind.")
    if source is None or source.state != Source.State.ACTIVE:
        raise FollowRefused(f"The {name} account that listed them is not connected any more: take them out of "
                            f"{where} on {name} yourself.")

    def on_platform(connector: Connector):
        connector.remove_from_list(attempt.list_id, identity.external_id, identity.handle, attempt.record_uri or None)
        if attempt.followed:
            connector.unfollow(identity.external_id, identity.handle)

    _, error = follow._through(source, "take anyone out of a list", on_platform)
    if error:
        raise FollowRefused(error)
    reason = f"Taken out of {where}" + (" and unfollowed." if attempt.followed else ".")
    with transaction.atomic():
        FollowAttempt.objects.filter(pk=attempt.pk).update(state=FollowAttempt.State.UNDONE, reason=reason, finished_at=now)
        if attempt.followed:
            Identity.objects.filter(pk=identity.pk).update(i_follow=False, followed_since=None)
        nudge = nudges.reopen_unfollowed(attempt.nudge, now) if attempt.nudge_id else None
    attempt.state, attempt.reason = FollowAttempt.State.UNDONE, reason
    return FollowResult(attempt.state, reason, attempt.person, identity, nudge, follow.profile_link(identity), attempt)


def _one_list(list_id: str, new_list: str) -> str:
    """The new list's name, tidied; FollowRefused unless exactly one list is named."""
    new_list = " ".join((new_list or "").split())
    if bool(list_id) == bool(new_list):
        raise FollowRefused("Pick one of your lists, or name a new one.")
    return new_list


def _chosen_list(connector: Connector, list_id: str, new_list: str, exclusive: bool) -> PlatformList:
    if new_list:
        return connector.create_list(new_list, exclusive=exclusive)
    chosen = next((pl for pl in connector.lists() if pl.id == list_id), None)
    if chosen is None:
        raise PlatformError("That list is not in your account any more.", permanent=True)
    return chosen


def _keep_list(attempt: FollowAttempt, chosen: PlatformList) -> None:
    FollowAttempt.objects.filter(pk=attempt.pk).update(list_id=chosen.id[:512], list_name=chosen.name[:200])
    attempt.list_id, attempt.list_name = chosen.id, chosen.name


# ---------------------------------------------------------------- quieter


def follow_quietly(person: Person, user, *, identity_id: int | None = None) -> FollowResult:
    """Keep following ``person`` (or follow them) without their boosts, where the platform can (Mastodon)."""
    if person.user_id != user.pk:
        raise FollowRefused("This person is not in your list.")
    reachable = _reachable(person.identities.order_by("pk"), user, identity_id, lambda cls: cls.supports_quieter)
    if not reachable:
        raise FollowRefused(
            "Only Mastodon can keep you following someone without their boosts: on Bluesky, add them to a list instead."
        )
    identity, source = reachable[0]

    def work():
        return follow._through(
            source, "follow", lambda connector: connector.follow_quietly(identity.external_id, identity.handle)
        )

    attempt, (outcome, error) = _attempt(user, person, identity, None, source, work, action=FollowAttempt.Action.QUIETER)
    if error:
        return follow._record(attempt, None, FAILED, error, "")
    return follow._record(attempt, None, outcome.state, outcome.reason, outcome.record_uri or "")


def move_to_list(person: Person, user, *, list_id: str = "", new_list: str = "", identity_id: int | None = None) -> FollowResult:
    """Quieter where a list needs no follow (Bluesky): put ``person`` in a list, then unfollow them.

    Their posts leave the home feed and stay in the list's. The unfollow
    runs only once the list holds them; an unfollow the platform refused
    leaves them listed and still followed, and the reason says so.
    Recorded as ``action = quieter`` with the list.
    """
    if person.user_id != user.pk:
        raise FollowRefused("This person is not in your list.")
    new_list = _one_list(list_id, new_list)
    reachable = _reachable(person.identities.order_by("pk"), user, identity_id, lambda cls: not cls.lists_need_follow)
    if not reachable:
        raise FollowRefused("Only Bluesky lists hold people you do not follow: on Mastodon, use Quieter instead.")
    identity, source = reachable[0]

    def on_platform(connector: Connector):
        chosen = _chosen_list(connector, list_id, new_list, False)
        outcome = connector.add_to_list(chosen.id, identity.external_id, identity.handle)
        if outcome.state != LISTED:
            return chosen, outcome, outcome.reason, False
        try:
            connector.unfollow(identity.external_id, identity.handle)
        except PlatformError as e:
            if isinstance(e, AuthError):
                raise
            return chosen, outcome, f"Listed, but {identity.get_platform_display()} refused the unfollow: {e}", False
        return chosen, outcome, "In the list, and no longer followed.", True

    attempt, (done, error) = _attempt(
        user, person, identity, None, source, lambda: follow._through(source, "list", on_platform),
        action=FollowAttempt.Action.QUIETER, list_id=list_id[:512],
    )
    if error:
        return follow._record(attempt, None, FAILED, error, "")
    chosen, outcome, reason, unfollowed = done
    _keep_list(attempt, chosen)
    result = follow._record(attempt, None, outcome.state, reason, outcome.record_uri or "")
    if unfollowed:
        Identity.objects.filter(pk=identity.pk).update(i_follow=False, followed_since=None)
    return result


# ---------------------------------------------------------------- notes


def push_note(person: Person, user, text: str, *, identity_id: int | None = None) -> NoteResult:
    """Write ``text`` into the user's private note on the person's Mastodon account.

    Where no connected platform keeps notes (Bluesky), nothing is called:
    the result says the note stays in Rapport.
    """
    if person.user_id != user.pk:
        raise FollowRefused("This person is not in your list.")
    text = (text or "").strip()
    if not text:
        raise FollowRefused("The note is empty.")
    identities = person.identities.order_by("pk")
    reachable = _reachable(identities, user, identity_id, lambda cls: cls.supports_notes)
    if not reachable:
        connected = _reachable(identities, user, identity_id, lambda cls: True)
        if connected:
            name = connected[0][0].get_platform_display()
            return NoteResult(False, f"{name} has no private notes: this note stays in Rapport.")
        return NoteResult(False, "No account of theirs is reachable from a connected Mastodon account: "
                                 "this note stays in Rapport.")
    identity, source = reachable[0]
    _, error = follow._through(
        source, "note", lambda connector: connector.set_note(identity.external_id, identity.handle, text)
    )
    if error:
        return NoteResult(False, error)
    where = f"@{identity.handle}" if identity.handle else person.display_name
    return NoteResult(True, f"Written into your private note on {where}: every {identity.get_platform_display()} app shows it.")


# ---------------------------------------------------------------- known followers


def known_followers(person: Person, user) -> KnownFollowers:
    """Whom the user talks with both ways, among the accounts that follow ``person`` and the user follows.

    Asked of every connected platform the person has an account on; a
    platform that cannot say adds its sentence to ``problems``.
    """
    if person.user_id != user.pk:
        raise FollowRefused("This person is not in your list.")
    answer = KnownFollowers()
    seen: list[IdentityRecord] = []
    for identity, source in _reachable(person.identities.order_by("pk"), user, None, lambda cls: True):
        found, error = follow._through(
            source, "look up",
            lambda connector, identity=identity: connector.known_followers(identity.external_id, identity.handle),
        )
        if error:
            answer.problems.append(error)
        seen.extend(found or ())
    answer.people = list(_two_way_people(user, seen).exclude(pk=person.pk).order_by("name", "pk"))
    return answer


def _two_way_people(user, records: list[IdentityRecord]) -> QuerySet[Person]:
    by_platform: dict[str, set[str]] = {}
    for record in records:
        by_platform.setdefault(record.platform, set()).add(record.external_id)
    wanted = Identity.objects.none()
    for platform, ids in by_platform.items():
        wanted = wanted | Identity.objects.filter(user=user, platform=platform, external_id__in=ids)
    return Person.objects.filter(
        user=user, hidden=False, rapport__two_way=True, pk__in=wanted.values("person_id")
    ).distinct()
