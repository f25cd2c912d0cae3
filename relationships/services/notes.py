"""Notes that travel: why the user follows someone, in the Mastodon private note every Mastodon app shows.

With the setting on (``Preferences.note_on_mastodon``, off by default), a
follow or an Add to a list made from Rapport on Mastodon writes the reason
("You talked on 6 different days since March 2026: replies and DMs.") into
the account's private note, after what the note holds already
(:func:`relationships.services.lists.push_note`). The follow stands whatever
the note's fate: a note the platform refused is a sentence, never an undone
follow. Bluesky has no private notes: nothing is written there.
"""

from __future__ import annotations

from relationships.models import Person, Preferences, Rapport
from relationships.platforms import records as r
from relationships.services.follow import FollowRefused, FollowResult
from relationships.services.lists import NoteResult, push_note
from relationships.services.scoring.sentences import note_reason


def reason_for(person: Person, user) -> str:
    """The sentence a follow from Rapport writes into the note."""
    prefs = Preferences.for_user(user)
    return note_reason(Rapport.objects.filter(person=person).first(), person, prefs)


def write_reason(result: FollowResult, user) -> NoteResult | None:
    """After a follow or listing: the reason into the Mastodon note when the user asked for it, else None.

    Only what the platform did (following, requested, listed) through a
    connected account, on Mastodon.
    """
    attempt, identity = result.attempt, result.identity
    if not result.succeeded or attempt is None or attempt.manual or identity is None or identity.platform != r.MASTODON:
        return None
    if not Preferences.for_user(user).note_on_mastodon:
        return None
    try:
        return push_note(result.person, user, reason_for(result.person, user), identity_id=identity.pk)
    except FollowRefused as e:
        return NoteResult(False, str(e))
