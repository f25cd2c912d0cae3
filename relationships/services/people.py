"""The user's own edits to people: merge, split, hide, notes (merge suggestions: services/merge_suggestions.py).

Ingest creates one Person per platform identity; these services let the user
say "these two accounts are the same human" (merge) or "this account is
someone else" (split). Both recompute the rapport of every person they touch,
so talks on two platforms on the same day count once.
"""

from __future__ import annotations

from django.db import transaction

from relationships.models import Identity, MergedPerson, Nudge, Person, Preferences
from relationships.platforms import records as r
from relationships.services.intake.ingest import auto_name
from relationships.services.scoring import rapport

# When both people hold a nudge of the same kind, the one that records a
# decision wins: acting or "never" must not come back as an open nudge.
_STATE_RANK = {Nudge.State.ACTED: 3, Nudge.State.DISMISSED: 2, Nudge.State.SNOOZED: 1, Nudge.State.OPEN: 0}
MAX_TAGS = 20
MAX_TAG_LENGTH = 40


class PeopleError(ValueError):
    """The edit cannot be made as asked (the message says why, for the user)."""


def _lock_user(user) -> None:
    # Merges, splits and rapport recomputes of one user queue on this row, so
    # a recompute never folds a half-moved person.
    prefs = Preferences.for_user(user)
    Preferences.objects.select_for_update().filter(pk=prefs.pk).first()


def merge(keep: Person, other: Person) -> Person:
    """Move everything of ``other`` into ``keep``, delete ``other``, recompute ``keep``.

    Identities move; notes are appended; tags are united; a nudge kind held by
    both keeps the one that records a decision (acted > dismissed > snoozed >
    open), as the (person, kind) constraint allows one. Raises PeopleError for
    the same person twice or two users' people.
    """
    if keep.pk == other.pk:
        raise PeopleError("A person cannot be merged with themselves.")
    if keep.user_id != other.user_id:
        raise PeopleError("These people belong to different users.")
    user = keep.user
    with transaction.atomic():
        _lock_user(user)
        keep = Person.objects.select_for_update().get(pk=keep.pk, user=user)
        other = Person.objects.select_for_update().get(pk=other.pk, user=user)
        Identity.objects.filter(person=other).update(person=keep)
        mine = {n.kind: n for n in Nudge.objects.filter(person=keep)}
        for nudge in Nudge.objects.filter(person=other):
            held = mine.get(nudge.kind)
            if held is None:
                nudge.person = keep
                nudge.save(update_fields=["person"])
            elif _STATE_RANK[nudge.state] > _STATE_RANK[held.state]:
                held.delete()
                nudge.person = keep
                nudge.save(update_fields=["person"])
            else:
                nudge.delete()
        if other.notes.strip():
            keep.notes = f"{keep.notes.rstrip()}\n\n{other.notes.strip()}" if keep.notes.strip() else other.notes
        keep.tags = clean_tags([*(keep.tags or []), *(other.tags or [])])
        keep.name = keep.name or other.name
        keep.save(update_fields=["notes", "tags", "name"])
        # The merged-away person's address leads to ``keep``; so do the addresses of those merged into
        # ``other`` before (updated before the delete, whose cascade would take them): a chain is one hop.
        MergedPerson.objects.filter(person=other).update(person=keep)
        MergedPerson.objects.create(user=user, merged_id=other.pk, person=keep)
        other.delete()
        rapport.recompute(user, [keep.pk])
    return keep


def merged_into(user, pk: int) -> int | None:
    """The id of the person that ``user``'s person ``pk`` was merged into, or None: another user's id too."""
    return MergedPerson.objects.filter(user=user, merged_id=pk).values_list("person_id", flat=True).first()


def account_label(identity: Identity) -> str:
    """An account as its platform writes it: @lena@social.example on Mastodon, lena.bsky.social, @lena on X."""
    handle = (identity.handle or "").strip().lstrip("@")
    if not handle:
        return identity.external_id
    return handle if identity.platform == r.BLUESKY else f"@{handle}"


def identities_of(person: Person):
    """The person's identities: ``identity_list`` when a selector read them already, else the (prefetched) ones."""
    identities = person.__dict__.get("identity_list")
    return person.identities.all() if identities is None else identities


def person_label(person: Person) -> str:
    """The name with the accounts, "Lena Berg (@lena@social.example)": two people of one name told apart.

    Reads ``person.identity_list`` when the page has it, else the (prefetched) identities.
    """
    accounts = ", ".join(account_label(identity) for identity in identities_of(person))
    return f"{person.display_name} ({accounts})" if accounts else person.display_name


def split(identity: Identity) -> Person:
    """Give ``identity`` a Person of its own; recompute both people; return the new one.

    Nudges stay with the old person. Raises PeopleError when the identity is
    its person's only one (there is nothing to split from).
    """
    user = identity.user
    with transaction.atomic():
        _lock_user(user)
        identity = Identity.objects.select_for_update().get(pk=identity.pk, user=user)
        old = identity.person
        if Identity.objects.filter(person=old).count() < 2:
            raise PeopleError("This is the only account of this person; there is nothing to split it from.")
        new = Person.objects.create(
            user=user, name=auto_name(identity.handle, identity.display_name, identity.external_id)
        )
        identity.person = new
        identity.save(update_fields=["person"])
        rapport.recompute(user, [old.pk, new.pk])
    return new


def set_hidden(person: Person, hidden: bool) -> None:
    """Hide the person from lists, nudges and the dashboard figures (from the next recompute), or show them again."""
    Person.objects.filter(pk=person.pk, user=person.user_id).update(hidden=hidden)
    person.hidden = hidden


def clean_tags(tags) -> list[str]:
    """Trimmed, de-duplicated (case-insensitively, first spelling kept), at most MAX_TAGS."""
    seen, out = set(), []
    for tag in tags:
        tag = " ".join(str(tag).split())[:MAX_TAG_LENGTH]
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            out.append(tag)
    return out[:MAX_TAGS]


def save_notes(person: Person, notes: str, tags: list[str]) -> Person:
    person.notes = notes
    person.tags = clean_tags(tags)
    person.save(update_fields=["notes", "tags"])
    return person
