"""Ingest: bulk, idempotent upsert of normalized records for one user and source.

The one path every source takes into the database. It knows nothing of
platform formats: it reads only ``relationships.platforms.records``.

Guarantees
----------
* Bounded memory: records are consumed as an iterator and written in batches
  of ``batch_size``; only per-batch state and the set of touched person ids
  are kept.
* Idempotent: identities are keyed by (user, platform, external id) and
  interactions by (user, platform, external id, identity, kind, direction),
  so the same records twice, in another order or split into other batches,
  give the same rows. The first sighting of an interaction is kept; identity
  fields and follow state take the newest non-empty value.
* Each batch commits in its own transaction; ``on_flush`` runs inside that
  transaction so a caller can store its checkpoint atomically with the rows.
* Nothing read is lost: when the source raises part-way, the records it
  handed over before are stored (and ``on_flush`` called) before the source's
  exception goes up to the caller.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from relationships.models import Identity, Person, Preferences, Source
from relationships.platforms import records as r
from relationships.services import changes, identity_keys, writes
from relationships.services.intake import following, interactions, mastodon_keys

# Interactions outside these bounds are platform bugs or hostile input.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE_SLACK = dt.timedelta(days=2)
# The external id columns are varchar(512): a longer id is hostile input, and
# storing it would fail the whole batch, so it is skipped with a reason.
MAX_ID = 512
REF_CACHE_SIZE = 200_000
# Platforms whose records can name an account by a guessed key, and what
# settles those keys against the stored identities before a batch is written.
PROVISIONAL_KEYS = {r.MASTODON: mastodon_keys.settle}


@dataclass
class IngestResult:
    records_read: int = 0
    new: int = 0
    known: int = 0
    identities_new: int = 0
    skipped: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    people_touched: set[int] = field(default_factory=set)
    # People of this run's new interactions, for its summary ("with N people").
    # Not in as_dict: a resumed run does not know those of the batches before it.
    people_new: set[int] = field(default_factory=set)

    def as_dict(self) -> dict:
        return {
            "records_read": self.records_read,
            "new": self.new,
            "known": self.known,
            "identities_new": self.identities_new,
            "skipped": dict(self.skipped),
            "counts": dict(self.counts),
        }

    @classmethod
    def from_dict(cls, data: dict) -> IngestResult:
        return cls(
            records_read=data.get("records_read", 0),
            new=data.get("new", 0),
            known=data.get("known", 0),
            identities_new=data.get("identities_new", 0),
            skipped=Counter(data.get("skipped", {})),
            counts=Counter(data.get("counts", {})),
        )

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


FlushCallback = Callable[[IngestResult, list[r.CheckpointRecord]], None]


def auto_name(handle: str | None, display_name: str, external_id: str) -> str:
    """The name a new Person gets until the user renames them."""
    return writes.text(display_name or handle or external_id, 255)


class Batch:
    """The records of one transaction, keyed as they will be stored; repeats merged."""

    def __init__(self) -> None:
        self.identities: dict[tuple[str, str], r.IdentityRecord] = {}
        self.interactions: dict[tuple, r.InteractionRecord] = {}
        self.follows: dict[tuple[str, str], dict] = {}
        self.following_lists: list[r.FollowingListRecord] = []
        self.checkpoints: list[r.CheckpointRecord] = []

    def __len__(self) -> int:
        return len(self.identities) + len(self.interactions) + len(self.follows)

    def add_identity(self, rec: r.IdentityRecord) -> None:
        key = (rec.platform, rec.external_id)
        old = self.identities.get(key)
        self.identities[key] = rec if old is None else _merge_identity(old, rec)

    def add_follow(self, rec: r.FollowRecord) -> None:
        state = self.follows.setdefault((rec.platform, rec.identity_id), {})
        for name in ("i_follow", "follows_me", "blocked", "muted", "since"):
            value = getattr(rec, name)
            if value is not None:
                state[name] = value

    def rekey(self, old: tuple[str, str], new: tuple[str, str]) -> None:
        """File everything this batch says of account ``old`` under ``new`` instead."""
        if old == new:
            return
        rec = self.identities.pop(old, None)
        if rec is not None:
            self.add_identity(
                r.IdentityRecord(
                    platform=rec.platform, external_id=new[1], handle=rec.handle, display_name=rec.display_name,
                    avatar_url=rec.avatar_url, profile_url=rec.profile_url, is_bot=rec.is_bot,
                    discoverable=rec.discoverable, profile_links=rec.profile_links,
                )
            )
        if old in self.follows:
            state = self.follows.pop(old)
            self.follows.setdefault(new, {}).update(state)
        for key in [k for k in self.interactions if (k[0], k[2]) == old]:
            rec_i = self.interactions.pop(key)
            self.interactions.setdefault((key[0], key[1], new[1], key[3], key[4]), rec_i)


def _links(links: tuple[r.ProfileLink, ...] | None) -> list[dict]:
    return [{"name": link.name, "url": link.url, "verified_at": link.verified_at} for link in links or ()]


def _set_keys(ident: Identity) -> bool:
    """Bring the identity's merge-suggestion keys in line with its name and handle; True if they changed."""
    keys = identity_keys.name_key(ident.display_name), identity_keys.handle_key(ident.platform, ident.handle)
    if keys == (ident.name_key, ident.handle_key):
        return False
    ident.name_key, ident.handle_key = keys
    return True


def _merge_identity(old: r.IdentityRecord, new: r.IdentityRecord) -> r.IdentityRecord:
    values = {}
    for name in ("handle", "display_name", "avatar_url", "profile_url", "is_bot", "discoverable"):
        value = getattr(new, name)
        values[name] = value if value not in (None, "") else getattr(old, name)
    values["profile_links"] = new.profile_links if new.profile_links is not None else old.profile_links
    return r.IdentityRecord(
        platform=new.platform,
        external_id=new.external_id,
        is_self=old.is_self or new.is_self,
        provisional=old.provisional and new.provisional,
        **values,
    )


def ingest(
    user,
    source: Source,
    records: Iterable[r.Record],
    *,
    batch_size: int | None = None,
    on_flush: FlushCallback | None = None,
    result: IngestResult | None = None,
) -> IngestResult:
    """Write ``records`` for ``user`` as seen by ``source``; return what happened.

    ``result`` lets a resumed run continue counting from a checkpoint.
    """
    batch_size = batch_size or settings.RAPPORT_INGEST_BATCH_SIZE
    writer = _Writer(user, source, result or IngestResult())
    batch = Batch()
    latest = timezone.now() + FUTURE_SLACK
    failure: list[Exception] = []
    for rec in _until_failure(records, failure):
        writer.result.records_read += 1
        # Everything before a checkpoint must be durable before the caller
        # stores the cursor, so a checkpoint always flushes.
        if _take(batch, rec, writer.result, latest) or len(batch) >= batch_size:
            writer.flush(batch, on_flush)
            batch = Batch()
    writer.flush(batch, on_flush)
    if failure:
        raise failure[0]
    return writer.result


def _take(batch: Batch, rec: r.Record, result: IngestResult, latest: dt.datetime) -> bool:
    """Put ``rec`` in ``batch``, or count why not; True for a checkpoint (the batch must be flushed)."""
    if type(rec) is r.InteractionRecord or isinstance(rec, r.InteractionRecord):  # most records: cheapest test first
        problem = _interaction_problem(rec, latest)
        key = (rec.platform, rec.external_id, rec.identity_id, rec.kind, rec.direction)
        if problem:
            result.skipped[problem] += 1
        elif key in batch.interactions:
            # A repeat within the batch counts as known, as a repeat in an
            # earlier batch does: the counts do not depend on where batches end.
            result.known += 1
        else:
            batch.interactions[key] = rec
    elif isinstance(rec, (r.IdentityRecord, r.FollowRecord)):
        problem = _account_problem(rec)
        if problem:
            result.skipped[problem] += 1
        elif isinstance(rec, r.IdentityRecord):
            batch.add_identity(rec)
        else:
            batch.add_follow(rec)
    elif isinstance(rec, r.CountRecord):
        result.counts[rec.name] += rec.count
    elif isinstance(rec, r.SkipRecord):
        result.skipped[rec.reason] += 1
    elif isinstance(rec, r.CheckpointRecord):
        batch.checkpoints.append(rec)
        return True
    elif isinstance(rec, r.FollowingListRecord):
        # Applied once everything before it is stored: the list's own accounts are then all known.
        batch.following_lists.append(rec)
        return True
    else:
        result.skipped["unknown record type"] += 1
    return False


def _account_problem(rec: r.IdentityRecord | r.FollowRecord) -> str | None:
    if isinstance(rec, r.IdentityRecord):
        account, missing = rec.external_id, "identity without a platform or id"
    else:
        account, missing = rec.identity_id, "follow state without an account"
    if rec.platform not in r.PLATFORMS or not account:
        return missing
    return _id_problem(account)


def _until_failure(records: Iterable[r.Record], failure: list[Exception]) -> Iterator[r.Record]:
    """``records`` until the source raises; the exception is put in ``failure``.

    A source can fail part-way (an archive damaged half-way through, a
    platform answering nonsense on page 40): every record it handed over
    before is valid, so ingest stores the batch it was building, then raises
    the failure. Only the source's own exceptions are caught here; one raised
    while writing a batch goes up at once, its transaction rolled back.
    """
    try:
        yield from records
    except Exception as exc:  # noqa: BLE001 - raised again by ingest once the batch is stored
        failure.append(exc)


def _interaction_problem(rec: r.InteractionRecord, latest: dt.datetime) -> str | None:
    if rec.platform not in r.PLATFORMS:
        return "unknown platform"
    if rec.kind not in r.KINDS:
        return "unknown interaction kind"
    if rec.direction not in r.DIRECTIONS:
        return "unknown direction"
    if not rec.external_id or not rec.identity_id:
        return "interaction without a post or account id"
    problem = _id_problem(rec.external_id) or _id_problem(rec.identity_id)
    if problem:
        return problem
    when = rec.occurred_at
    if when is None or when.tzinfo is None:
        return "interaction without a time zone-aware time"
    if when < EARLIEST or when > latest:
        return "time out of range"
    return None


def _id_problem(value: str) -> str | None:
    if len(value) > MAX_ID:
        return "id too long"
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; an id is not ours to change.
        return "id with a NUL character"
    return None


class _Writer:
    def __init__(self, user, source: Source, result: IngestResult):
        self.user = user
        self.source = source
        self.result = result
        self.tz = Preferences.for_user(user).tzinfo
        self.refs: dict[tuple[str, str], tuple[int, int]] = {}
        self.objects: dict[tuple[str, str], Identity] = {}
        self.self_ids: set[tuple[str, str]] = {
            (platform, ext)
            for platform, ext in Source.objects.filter(user=user)
            .exclude(account_external_id="")
            .values_list("platform", "account_external_id")
        }

    # -- one batch, one transaction ------------------------------------------------

    def flush(self, batch: Batch, on_flush: FlushCallback | None) -> None:
        if not len(batch) and not batch.checkpoints and not batch.following_lists:
            return
        with transaction.atomic():
            changes.announce(self.user.pk)
            self._note_self(batch)
            refs = self._upsert_identities(batch)
            interactions.store(self.user, self.source.pk, self.tz, batch.interactions, refs, self.result)
            following.apply_states(batch.follows, self.objects, self.result)
            for listed in batch.following_lists:
                following.apply_list(self.user, self.source, listed, self.result)
            if on_flush is not None:
                on_flush(self.result, batch.checkpoints)

    def _note_self(self, batch: Batch) -> None:
        for key, rec in list(batch.identities.items()):
            if rec.is_self:
                self.self_ids.add(key)
                if rec.platform == self.source.platform and not self.source.account_external_id:
                    self.source.account_external_id = rec.external_id
                    if rec.handle and not self.source.handle:
                        self.source.handle = writes.text(rec.handle, 255)
                    Source.objects.filter(pk=self.source.pk).update(
                        account_external_id=self.source.account_external_id, handle=self.source.handle
                    )
        for key in [k for k in batch.identities if k in self.self_ids]:
            del batch.identities[key]
        for key in [k for k in batch.follows if k in self.self_ids]:
            del batch.follows[key]
        for key in [k for k in batch.interactions if (k[0], k[2]) in self.self_ids]:
            del batch.interactions[key]
            self.result.skipped["with your own account"] += 1

    def _upsert_identities(self, batch: Batch) -> dict[tuple[str, str], tuple[int, int]]:
        """Make sure every account the batch names exists; return key -> (identity id, person id)."""
        for platform in {platform for platform, _ in batch.identities} & set(PROVISIONAL_KEYS):
            PROVISIONAL_KEYS[platform](self.user, batch)
        full_keys: set[tuple[str, str]] = set(batch.identities) | set(batch.follows)
        wanted = full_keys | {(k[0], k[2]) for k in batch.interactions}
        if not wanted:
            return {}
        refs: dict[tuple[str, str], tuple[int, int]] = {}
        lookup = set(full_keys)
        for key in wanted - full_keys:
            ref = self.refs.get(key)
            if ref is None:
                lookup.add(key)
            else:
                refs[key] = ref
        found = self._load_identities(lookup)
        missing = sorted(lookup - set(found))
        if missing:
            self._create_identities(missing, batch)
            found.update(self._load_identities(set(missing)))
        self._update_identities(batch, found)
        self.objects = found
        for key, ident in found.items():
            refs[key] = (ident.pk, ident.person_id)
        self._remember(refs)
        return refs

    def _remember(self, refs: dict[tuple[str, str], tuple[int, int]]) -> None:
        # Interactions name the same few accounts over and over: remembering
        # their ids saves a lookup per batch. Bounded, so memory stays flat.
        if len(self.refs) + len(refs) > REF_CACHE_SIZE:
            self.refs.clear()
        self.refs.update(refs)

    def _load_identities(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Identity]:
        found: dict[tuple[str, str], Identity] = {}
        by_platform: dict[str, list[str]] = {}
        for platform, ext in keys:
            by_platform.setdefault(platform, []).append(ext)
        for platform, exts in by_platform.items():
            for chunk in writes.chunks(sorted(exts)):
                for ident in Identity.objects.filter(user=self.user, platform=platform, external_id__in=chunk):
                    found[(platform, ident.external_id)] = ident
        return found

    def _create_identities(self, missing: list[tuple[str, str]], batch: Batch) -> None:
        """A Person and an Identity for each key, in two multi-row INSERTs.

        Another worker may have created the same identity since we looked: ON
        CONFLICT keeps its row, and our spare Person is removed.
        """
        recs = [batch.identities.get(key) or r.IdentityRecord(platform=key[0], external_id=key[1]) for key in missing]
        now = writes.adapters()[0](timezone.now())
        user_id = self.user.pk
        person_ids = [
            row[0]
            for row in writes.insert(
                Person._meta.db_table,
                ("user_id", "name", "notes", "tags", "hidden", "created_at"),
                [(user_id, auto_name(rec.handle, rec.display_name, rec.external_id), "", "[]", False, now)
                 for rec in recs],
                returning="id",
            )
        ]
        created = writes.insert(
            Identity._meta.db_table,
            ("user_id", "person_id", "platform", "external_id", "provisional", "handle", "display_name",
             "avatar_url", "profile_url", "is_bot", "discoverable", "profile_links", "name_key", "handle_key",
             "updated_at"),
            [
                (user_id, person_id, rec.platform, rec.external_id, rec.provisional,
                 writes.text(rec.handle, 255) or None, writes.text(rec.display_name, 255), writes.url(rec.avatar_url),
                 writes.url(rec.profile_url), rec.is_bot, rec.discoverable, json.dumps(_links(rec.profile_links)),
                 identity_keys.name_key(writes.text(rec.display_name, 255)),
                 identity_keys.handle_key(rec.platform, writes.text(rec.handle, 255)), now)
                for person_id, rec in zip(person_ids, recs)
            ],
            unique=("user_id", "platform", "external_id"),
            returning="person_id",
        )
        used = {row[0] for row in created}
        orphans = [pk for pk in person_ids if pk not in used]
        for chunk in writes.chunks(orphans):
            Person.objects.filter(pk__in=chunk).delete()
        self.result.identities_new += len(used)

    def _update_identities(self, batch: Batch, found: dict[tuple[str, str], Identity]) -> None:
        changed: list[Identity] = []
        renames: dict[int, tuple[str, str]] = {}
        for key, rec in batch.identities.items():
            ident = found.get(key)
            if ident is None:
                continue
            before = auto_name(ident.handle, ident.display_name, ident.external_id)
            dirty = False
            for name, value in (
                ("handle", writes.text(rec.handle, 255) or None),
                ("display_name", writes.text(rec.display_name, 255)),
                ("avatar_url", writes.url(rec.avatar_url)),
                ("profile_url", writes.url(rec.profile_url)),
                ("is_bot", rec.is_bot),
                ("discoverable", rec.discoverable),
                ("profile_links", None if rec.profile_links is None else _links(rec.profile_links)),
            ):
                if value not in (None, "") and getattr(ident, name) != value:
                    setattr(ident, name, value)
                    dirty = True
            dirty |= _set_keys(ident)
            if ident.provisional and not rec.provisional:
                ident.provisional = False
                dirty = True
            if dirty:
                changed.append(ident)
                after = auto_name(ident.handle, ident.display_name, ident.external_id)
                if after != before:
                    renames[ident.person_id] = (before, after)
        if changed:
            Identity.objects.bulk_update(
                changed, ["handle", "display_name", "avatar_url", "profile_url", "is_bot", "discoverable", "provisional",
                          "profile_links", "name_key", "handle_key"]
            )
        # A person still called by the identity's old automatic name follows
        # the better name; a name the user typed is never touched.
        for person_id, (before, after) in renames.items():
            Person.objects.filter(pk=person_id, name=before).update(name=after)
