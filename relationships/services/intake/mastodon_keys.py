"""Mastodon's guessed account keys, settled against the stored identities before a batch is written.

A Mastodon account is keyed by its actor URI, but a follower list or an
archive sometimes names an account by ``user@host`` alone, and the importer
then guesses its URI and marks the record ``provisional``
(platforms/mastodon/classify.py). Two things follow, both here because they
need the database (platforms never touch it):

* the real URI, once seen, replaces a guess already stored, so the person
  keeps their history under one identity;
* a guess for an account already stored under its real URI is written to
  that identity instead of creating a twin.

Accounts are matched by handle. Ingest calls ``settle`` for each batch holding Mastodon
identities (see ``PROVISIONAL_KEYS`` there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relationships.models import Identity
from relationships.platforms import records as r
from relationships.services.writes import chunks

if TYPE_CHECKING:
    from relationships.services.intake.ingest import Batch


def settle(user, batch: Batch) -> None:
    """Re-key stored guesses to the URIs this batch has seen, and this batch's guesses to stored URIs."""
    real: dict[str, r.IdentityRecord] = {}
    guessed: dict[str, r.IdentityRecord] = {}
    for rec in batch.identities.values():
        if rec.platform == r.MASTODON and rec.handle:
            (guessed if rec.provisional else real)[rec.handle.lower()] = rec
    mastodon = Identity.objects.filter(user=user, platform=r.MASTODON)
    for chunk in chunks(sorted(real)):
        for ident in mastodon.filter(provisional=True, handle__in=chunk):
            uri = real[ident.handle.lower()].external_id
            if ident.external_id != uri and not mastodon.filter(external_id=uri).exists():
                mastodon.filter(pk=ident.pk).update(external_id=uri, provisional=False)
    for chunk in chunks(sorted(guessed)):
        for ident in mastodon.filter(provisional=False, handle__in=chunk):
            rec = guessed[ident.handle.lower()]
            batch.rekey((r.MASTODON, rec.external_id), (r.MASTODON, ident.external_id))

