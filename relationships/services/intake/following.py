"""Follow state in ingest: each account's, and the whole list of accounts the user follows.

:func:`apply_states` writes what the :class:`~relationships.platforms.records.FollowRecord` records
of a batch say (``i_follow``, ``follows_me``, blocks, mutes; and the first
sighting of a follow, for the review's "you follow them since").

Ingest calls :func:`apply_list` for a :class:`~relationships.platforms.records.FollowingListRecord`,
inside the transaction of the batch that ends with it: every account of the
list was stored with ``i_follow`` set by the records before it (and
``following_seen_at`` the first time), so what is left is to clear the
user's followed accounts on that platform the list no longer holds, and to
note on the source when the list was read. A connector yields the record
only after the list's last page, so a list read in part clears nothing.

Kept although missing from the list:

* an account followed through Rapport within :data:`SETTLING` (the list may
  have been read before that follow, or, on Bluesky, the AppView may not
  have indexed it yet);
* everything, when the user has another account on the same platform in
  Rapport (another connected account, or the archive of another account):
  ``i_follow`` says the user follows them from one of their accounts, and
  this list speaks for one only.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from relationships.models import Identity, Source
from relationships.platforms import records as r
from relationships.services.writes import chunks

#: FollowRecord fields, and the Identity columns they set.
_FOLLOW_FIELDS = (
    ("i_follow", "i_follow"),
    ("follows_me", "follows_me"),
    ("blocked", "blocked"),
    ("muted", "muted"),
    ("since", "followed_since"),
)

#: How long a follow made through Rapport is trusted over a list that does not show it yet.
SETTLING = dt.timedelta(hours=1)
#: The ingest counts of a list read: how many accounts it held, how many it unfollowed, and
#: whether clearing was left out because another account of the user on the platform is in Rapport.
READ, CLEARED, SHARED = "following_read", "following_cleared", "following_not_cleared"


def apply_states(follows: dict[tuple[str, str], dict], identities: dict[tuple[str, str], Identity], result) -> None:
    """Write a batch's follow states (key -> the FollowRecord fields it set) onto its stored ``identities``."""
    # A follower list sets the same state on thousands of accounts: one
    # UPDATE per distinct change, never bulk_update's CASE per row (which
    # cost more than the rest of an import together).
    groups: dict[tuple, list[int]] = {}
    seen_at = timezone.now()
    for key, state in follows.items():
        ident = identities.get(key)
        if ident is None:
            continue
        change = tuple(
            (field_name, state[name])
            for name, field_name in _FOLLOW_FIELDS
            if name in state and getattr(ident, field_name) != state[name]
        ) + _following_seen(ident, state.get("i_follow"), seen_at)
        if change:
            for field_name, value in change:
                setattr(ident, field_name, value)
            groups.setdefault(change, []).append(ident.pk)
            result.people_touched.add(ident.person_id)
    for change, pks in groups.items():
        for chunk in chunks(pks):
            Identity.objects.filter(pk__in=chunk).update(**dict(change))


def _following_seen(ident: Identity, i_follow: bool | None, now: dt.datetime) -> tuple:
    """The first sync or import that saw the user follow the account notes the moment (the review's
    "you follow them since"); one that sees the follow gone forgets it. One moment per batch: one UPDATE."""
    if i_follow is True and ident.following_seen_at is None:
        return (("following_seen_at", now),)
    if i_follow is False and ident.following_seen_at is not None:
        return (("following_seen_at", None),)
    return ()


def apply_list(user, source: Source, listed: r.FollowingListRecord, result) -> None:
    """Clear ``i_follow`` of the user's accounts on the list's platform that it no longer holds; note the read.

    ``result`` (an :class:`~relationships.services.intake.ingest.IngestResult`)
    gets the counts :data:`READ` and :data:`CLEARED` (or :data:`SHARED`) and
    the people whose follow state changed.
    """
    now = timezone.now()
    result.counts[READ] = len(listed.identity_ids)
    if _another_account(user, source, listed.platform):
        result.counts[SHARED] = 1
    else:
        gone = _clear_missing(user, listed, now)
        result.counts[CLEARED] = len(gone)
        result.people_touched.update(gone.values())
    Source.objects.filter(pk=source.pk).update(following_read_at=now)
    source.following_read_at = now


def _another_account(user, source: Source, platform: str) -> bool:
    others = Source.objects.filter(user=user, platform=platform).exclude(pk=source.pk)
    archive_of_another = Q(kind=Source.Kind.ARCHIVE) & ~Q(account_external_id="")
    if source.account_external_id:
        archive_of_another &= ~Q(account_external_id=source.account_external_id)
    return others.filter(Q(kind=Source.Kind.ACCOUNT) | archive_of_another).exists()


def _clear_missing(user, listed: r.FollowingListRecord, now: dt.datetime) -> dict[int, int]:
    """Unfollow the accounts the list misses; return them, identity id -> person id."""
    followed = Identity.objects.filter(user=user, platform=listed.platform, i_follow=True).exclude(
        followed_since__gte=now - SETTLING
    )
    gone: dict[int, int] = {}
    for pk, external_id, handle, person_id in followed.values_list("pk", "external_id", "handle", "person_id"):
        if external_id not in listed.identity_ids and (handle or "").lower() not in listed.handles:
            gone[pk] = person_id
    for chunk in chunks(sorted(gone)):
        Identity.objects.filter(pk__in=chunk).update(i_follow=False, following_seen_at=None)
    return gone
