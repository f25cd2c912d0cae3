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
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from relationships.models import Identity, Interaction, InteractionSource, Person, Preferences, Source
from relationships.platforms import records as r
from relationships.services import changes

# Interactions outside these bounds are platform bugs or hostile input.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE_SLACK = dt.timedelta(days=2)
# SQLite caps bound parameters per statement; PostgreSQL is happy with more.
IN_CHUNK = 900
# The external id columns are varchar(512): a longer id is hostile input, and
# storing it would fail the whole batch, so it is skipped with a reason.
MAX_ID = 512
# Source links per multi-row INSERT on SQLite (two parameters each).
LINK_CHUNK = 1600
REF_CACHE_SIZE = 200_000
# One post gives one direct interaction per person: the first kind that applies.
DIRECT_RANK = {kind: rank for rank, kind in enumerate(r.DIRECT_KINDS)}


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
    return _text(display_name or handle or external_id, 255)


class _Batch:
    def __init__(self) -> None:
        self.identities: dict[tuple[str, str], r.IdentityRecord] = {}
        self.interactions: dict[tuple, r.InteractionRecord] = {}
        self.follows: dict[tuple[str, str], dict] = {}
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


def _merge_identity(old: r.IdentityRecord, new: r.IdentityRecord) -> r.IdentityRecord:
    values = {}
    for name in ("handle", "display_name", "avatar_url", "profile_url", "is_bot", "discoverable"):
        value = getattr(new, name)
        values[name] = value if value not in (None, "") else getattr(old, name)
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
    batch = _Batch()
    latest = timezone.now() + FUTURE_SLACK
    failure: list[Exception] = []
    for rec in _until_failure(records, failure):
        writer.result.records_read += 1
        if type(rec) is r.InteractionRecord or isinstance(rec, r.InteractionRecord):  # most records: cheapest test first
            problem = _interaction_problem(rec, latest)
            if problem:
                writer.result.skipped[problem] += 1
                continue
            key = (rec.platform, rec.external_id, rec.identity_id, rec.kind, rec.direction)
            if key in batch.interactions:
                # A repeat within the batch counts as known, as a repeat in an
                # earlier batch does: the counts do not depend on where batches end.
                writer.result.known += 1
                continue
            batch.interactions[key] = rec
        elif isinstance(rec, r.IdentityRecord):
            if rec.platform not in r.PLATFORMS or not rec.external_id:
                writer.result.skipped["identity without a platform or id"] += 1
                continue
            problem = _id_problem(rec.external_id)
            if problem:
                writer.result.skipped[problem] += 1
                continue
            batch.add_identity(rec)
        elif isinstance(rec, r.FollowRecord):
            if rec.platform not in r.PLATFORMS or not rec.identity_id:
                writer.result.skipped["follow state without an account"] += 1
                continue
            problem = _id_problem(rec.identity_id)
            if problem:
                writer.result.skipped[problem] += 1
                continue
            batch.add_follow(rec)
        elif isinstance(rec, r.CountRecord):
            writer.result.counts[rec.name] += rec.count
        elif isinstance(rec, r.SkipRecord):
            writer.result.skipped[rec.reason] += 1
        elif isinstance(rec, r.CheckpointRecord):
            # Everything before the checkpoint must be durable before the
            # caller stores the cursor, so a checkpoint always flushes.
            batch.checkpoints.append(rec)
            writer.flush(batch, on_flush)
            batch = _Batch()
        else:
            writer.result.skipped["unknown record type"] += 1
        if len(batch) >= batch_size:
            writer.flush(batch, on_flush)
            batch = _Batch()
    writer.flush(batch, on_flush)
    if failure:
        raise failure[0]
    return writer.result


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


def _text(value: str | None, limit: int) -> str:
    """Free text as stored: without NUL characters (PostgreSQL refuses them), at most ``limit`` long."""
    return (value or "").replace("\x00", "")[:limit]


def _chunks(items: list, size: int = IN_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


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

    def flush(self, batch: _Batch, on_flush: FlushCallback | None) -> None:
        if not len(batch) and not batch.checkpoints:
            return
        with transaction.atomic():
            changes.announce(self.user.pk)
            self._note_self(batch)
            refs = self._upsert_identities(batch)
            self._upsert_interactions(batch, refs)
            self._apply_follows(batch)
            if on_flush is not None:
                on_flush(self.result, batch.checkpoints)

    def _note_self(self, batch: _Batch) -> None:
        for key, rec in list(batch.identities.items()):
            if rec.is_self:
                self.self_ids.add(key)
                if rec.platform == self.source.platform and not self.source.account_external_id:
                    self.source.account_external_id = rec.external_id
                    if rec.handle and not self.source.handle:
                        self.source.handle = _text(rec.handle, 255)
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

    def _upsert_identities(self, batch: _Batch) -> dict[tuple[str, str], tuple[int, int]]:
        """Make sure every account the batch names exists; return key -> (identity id, person id)."""
        self._correct_provisional_keys(batch)
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
            for chunk in _chunks(sorted(exts)):
                for ident in Identity.objects.filter(user=self.user, platform=platform, external_id__in=chunk):
                    found[(platform, ident.external_id)] = ident
        return found

    def _correct_provisional_keys(self, batch: _Batch) -> None:
        """Re-key guessed Mastodon identities (user@host) to the URI now seen, in place."""
        real = {
            rec.handle.lower(): rec
            for rec in batch.identities.values()
            if rec.platform == r.MASTODON and rec.handle and not rec.provisional
        }
        guessed = {
            rec.handle.lower(): rec
            for rec in batch.identities.values()
            if rec.platform == r.MASTODON and rec.handle and rec.provisional
        }
        if real:
            for chunk in _chunks(sorted(real)):
                for ident in Identity.objects.filter(
                    user=self.user, platform=r.MASTODON, provisional=True, handle__in=chunk
                ):
                    rec = real[ident.handle.lower()]
                    if ident.external_id != rec.external_id and not Identity.objects.filter(
                        user=self.user, platform=r.MASTODON, external_id=rec.external_id
                    ).exists():
                        Identity.objects.filter(pk=ident.pk).update(external_id=rec.external_id, provisional=False)
        if guessed:
            # A guessed key for an account already known by its real URI maps
            # onto that identity instead of creating a twin.
            for chunk in _chunks(sorted(guessed)):
                for ident in Identity.objects.filter(
                    user=self.user, platform=r.MASTODON, provisional=False, handle__in=chunk
                ):
                    rec = guessed[ident.handle.lower()]
                    self._rekey(batch, (r.MASTODON, rec.external_id), (r.MASTODON, ident.external_id))

    def _rekey(self, batch: _Batch, old: tuple[str, str], new: tuple[str, str]) -> None:
        if old == new:
            return
        rec = batch.identities.pop(old, None)
        if rec is not None:
            batch.add_identity(
                r.IdentityRecord(
                    platform=rec.platform, external_id=new[1], handle=rec.handle, display_name=rec.display_name,
                    avatar_url=rec.avatar_url, profile_url=rec.profile_url, is_bot=rec.is_bot,
                    discoverable=rec.discoverable,
                )
            )
        if old in batch.follows:
            state = batch.follows.pop(old)
            batch.follows.setdefault(new, {}).update(state)
        for key in [k for k in batch.interactions if (k[0], k[2]) == old]:
            rec_i = batch.interactions.pop(key)
            batch.interactions.setdefault((key[0], key[1], new[1], key[3], key[4]), rec_i)

    def _create_identities(self, missing: list[tuple[str, str]], batch: _Batch) -> None:
        """A Person and an Identity for each key, in two multi-row INSERTs.

        Raw SQL for the reason given in :meth:`_upsert_interactions`. Another
        worker may have created the same identity since we looked: ON
        CONFLICT keeps its row, and our spare Person is removed.
        """
        recs = [batch.identities.get(key) or r.IdentityRecord(platform=key[0], external_id=key[1]) for key in missing]
        now: dt.datetime | str = timezone.now()
        if connection.vendor == "sqlite":
            now = _sqlite_datetime(now)
        user_id = self.user.pk
        with connection.cursor() as cursor:
            person_ids = [
                row[0]
                for row in _insert_returning(
                    cursor,
                    Person._meta.db_table,
                    ("user_id", "name", "notes", "tags", "hidden", "created_at"),
                    ("bigint", "varchar", "text", "jsonb", "boolean", "timestamptz"),
                    [(user_id, auto_name(rec.handle, rec.display_name, rec.external_id), "", "[]", False, now)
                     for rec in recs],
                    returning="id",
                )
            ]
            # Both databases return the rows of a multi-row INSERT in VALUES
            # order (Django's bulk_create relies on the same).
            created = _insert_returning(
                cursor,
                Identity._meta.db_table,
                ("user_id", "person_id", "platform", "external_id", "provisional", "handle", "display_name",
                 "avatar_url", "profile_url", "is_bot", "discoverable", "updated_at"),
                ("bigint", "bigint", "varchar", "varchar", "boolean", "varchar", "varchar", "varchar", "varchar",
                 "boolean", "boolean", "timestamptz"),
                [
                    (user_id, person_id, rec.platform, rec.external_id, rec.provisional, _text(rec.handle, 255) or None,
                     _text(rec.display_name, 255), _url(rec.avatar_url), _url(rec.profile_url), rec.is_bot,
                     rec.discoverable, now)
                    for person_id, rec in zip(person_ids, recs)
                ],
                returning="person_id",
                conflict="(user_id, platform, external_id) DO NOTHING",
            )
        used = {row[0] for row in created}
        orphans = [pk for pk in person_ids if pk not in used]
        for chunk in _chunks(orphans):
            Person.objects.filter(pk__in=chunk).delete()
        self.result.identities_new += len(used)

    def _update_identities(self, batch: _Batch, found: dict[tuple[str, str], Identity]) -> None:
        changed: list[Identity] = []
        renames: dict[int, tuple[str, str]] = {}
        for key, rec in batch.identities.items():
            ident = found.get(key)
            if ident is None:
                continue
            before = auto_name(ident.handle, ident.display_name, ident.external_id)
            dirty = False
            for name, value in (
                ("handle", _text(rec.handle, 255) or None),
                ("display_name", _text(rec.display_name, 255)),
                ("avatar_url", _url(rec.avatar_url)),
                ("profile_url", _url(rec.profile_url)),
                ("is_bot", rec.is_bot),
                ("discoverable", rec.discoverable),
            ):
                if value not in (None, "") and getattr(ident, name) != value:
                    setattr(ident, name, value)
                    dirty = True
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
                changed, ["handle", "display_name", "avatar_url", "profile_url", "is_bot", "discoverable", "provisional"]
            )
        # A person still called by the identity's old automatic name follows
        # the better name; a name the user typed is never touched.
        for person_id, (before, after) in renames.items():
            Person.objects.filter(pk=person_id, name=before).update(name=after)

    def _upsert_interactions(self, batch: _Batch, refs: dict[tuple[str, str], tuple[int, int]]) -> None:
        """INSERT ... ON CONFLICT DO NOTHING RETURNING: one statement tells new from known.

        Raw multi-row SQL rather than bulk_create: building a model instance
        per row cost four times the database's own work (see `make bench`).
        Both SQLite (3.35+) and PostgreSQL speak this dialect.
        """
        if not batch.interactions:
            return
        if connection.vendor == "sqlite":
            adapt_dt, adapt_day = _sqlite_datetime, date.isoformat
        else:
            adapt_dt = connection.ops.adapt_datetimefield_value
            adapt_day = connection.ops.adapt_datefield_value
        user_id = self.user.pk
        tz = self.tz
        rows: dict[tuple, tuple] = {}
        for (platform, ext, ident_ext, kind, direction), rec in batch.interactions.items():
            ref = refs.get((platform, ident_ext))
            if ref is None:
                self.result.skipped["account could not be stored"] += 1
                continue
            key = (platform, ext, ref[0], kind, direction)
            rows[key] = (
                user_id, ref[0], platform, ext, kind, direction, adapt_dt(rec.occurred_at),
                adapt_day(rec.occurred_at.astimezone(tz).date()), _url(rec.permalink), _text(rec.excerpt, 500),
                _text(rec.thread_id, 512), max(0, min(int(rec.named_count or 0), 1_000_000)),
            )
        if not rows:
            return
        keys = list(rows)
        with connection.cursor() as cursor:
            inserted = self._insert_interactions(cursor, keys, rows)
            known_keys = [key for key in keys if key not in inserted]
            known = self._load_interaction_ids(known_keys) if known_keys else {}
            self.result.new += len(inserted)
            self.result.known += len(keys) - len(inserted)
            self._link_source(cursor, list(inserted.values()) + list(known.values()))
            self._keep_one_direct_kind(cursor, inserted)
        if inserted:
            person_of = {ref[0]: ref[1] for ref in refs.values()}
            people = {person_of[key[2]] for key in inserted}
            self.result.people_touched.update(people)
            self.result.people_new.update(people)

    def _keep_one_direct_kind(self, cursor, inserted: dict[tuple, int]) -> None:
        """Where sources disagree on a post's direct kind for a person, keep the first that applies.

        A Mastodon archive has no trace of the parent of a reply whose
        parent was deleted (a mention there) while the API still names its
        author (a reply). The better-ranked row (dm > reply > quote >
        mention) stays and takes the other's sources; the post counts as
        known, as it was. Only posts new in this batch can disagree with
        what is stored, so a re-import asks nothing more.
        """
        posts = {(key[0], key[1]) for key in inserted if key[3] in DIRECT_RANK}
        if not posts:
            return
        platforms = sorted({platform for platform, _ in posts})
        direct = Interaction.objects.filter(user=self.user, platform__in=platforms, kind__in=r.DIRECT_KINDS)
        twice: set[tuple] = set()
        if connection.vendor == "postgresql":
            # One lookup per post through the unique index, driven by the
            # batch's ids: with `external_id IN (900 ids)` PostgreSQL chose
            # to scan every row of the user (65-140 ms a chunk at 200,000
            # rows, which took ingest from 1.9x to 3.5x its floor).
            table = Interaction._meta.db_table
            for platform in platforms:
                cursor.execute(
                    f"SELECT i.external_id, i.identity_id, i.direction FROM unnest(%s::text[]) AS e(ext) "
                    f"JOIN {table} i ON i.user_id = %s AND i.platform = %s AND i.external_id = e.ext "
                    "WHERE i.kind = ANY(%s) GROUP BY 1, 2, 3 HAVING COUNT(*) > 1",
                    [sorted({ext for p, ext in posts if p == platform}), self.user.pk, platform, list(r.DIRECT_KINDS)],
                )
                twice.update((platform, *row) for row in cursor.fetchall())
        else:
            for chunk in _chunks(sorted({ext for _, ext in posts})):
                # Counted in the database: nearly always nothing comes back.
                twice.update(
                    (g["platform"], g["external_id"], g["identity_id"], g["direction"])
                    for g in direct.filter(external_id__in=chunk)
                    .values("platform", "external_id", "identity_id", "direction")
                    .annotate(n=Count("pk"))
                    .filter(n__gt=1)
                    .order_by()
                    if (g["platform"], g["external_id"]) in posts
                )
        if not twice:
            return
        groups: dict[tuple, list[tuple[int, int]]] = {}
        for chunk in _chunks(sorted({key[1] for key in twice})):
            rows = direct.filter(external_id__in=chunk).values_list(
                "pk", "platform", "external_id", "identity_id", "kind", "direction"
            )
            for pk, platform, ext, identity_id, kind, direction in rows:
                if (platform, ext, identity_id, direction) in twice:
                    groups.setdefault((platform, ext, identity_id, direction), []).append((DIRECT_RANK[kind], pk))
        new_pks = set(inserted.values())
        losers: dict[int, int] = {}
        for rows in groups.values():
            rows.sort()
            losers.update((pk, rows[0][1]) for _, pk in rows[1:])
            fresh = sum(1 for _, pk in rows if pk in new_pks)
            repeated = fresh - (1 if fresh == len(rows) else 0)
            self.result.new -= repeated
            self.result.known += repeated
        table = InteractionSource._meta.db_table
        for loser, keeper in losers.items():
            cursor.execute(
                f"INSERT INTO {table} (interaction_id, source_id) SELECT %s, source_id FROM {table} "
                "WHERE interaction_id = %s ON CONFLICT (interaction_id, source_id) DO NOTHING",
                [keeper, loser],
            )
        for chunk in _chunks(sorted(losers)):
            InteractionSource.objects.filter(interaction_id__in=chunk).delete()
            Interaction.objects.filter(pk__in=chunk).delete()

    def _insert_interactions(self, cursor, keys: list[tuple], rows: dict[tuple, tuple]) -> dict[tuple, int]:
        returned = _insert_returning(
            cursor,
            Interaction._meta.db_table,
            ("user_id", "identity_id", "platform", "external_id", "kind", "direction", "occurred_at", "day",
             "permalink", "excerpt", "thread_id", "named_count"),
            ("bigint", "bigint", "varchar", "varchar", "varchar", "varchar", "timestamptz", "date", "varchar",
             "varchar", "varchar", "integer"),
            [rows[key] for key in keys],
            returning="id, platform, external_id, identity_id, kind, direction",
            conflict="(user_id, platform, external_id, identity_id, kind, direction) DO NOTHING",
        )
        return {tuple(key): pk for pk, *key in returned}

    def _link_source(self, cursor, interaction_ids: list[int]) -> None:
        table = InteractionSource._meta.db_table
        tail = " ON CONFLICT (interaction_id, source_id) DO NOTHING"
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} (interaction_id, source_id) SELECT unnest(%s::bigint[]), %s" + tail,
                [interaction_ids, self.source.pk],
            )
            return
        raw = connection.connection.cursor()
        for chunk in _chunks(interaction_ids, LINK_CHUNK):
            values = ", ".join(["(?, ?)"] * len(chunk))
            raw.execute(
                f"INSERT INTO {table} (interaction_id, source_id) VALUES {values}" + tail,
                [value for pk in chunk for value in (pk, self.source.pk)],
            )

    def _load_interaction_ids(self, keys: list[tuple]) -> dict[tuple, int]:
        wanted = set(keys)
        found: dict[tuple, int] = {}
        exts = sorted({key[1] for key in keys})
        platforms = sorted({key[0] for key in keys})
        for chunk in _chunks(exts):
            rows = Interaction.objects.filter(
                user=self.user, platform__in=platforms, external_id__in=chunk
            ).values_list("pk", "platform", "external_id", "identity_id", "kind", "direction")
            for pk, *key in rows:
                key = tuple(key)
                if key in wanted:
                    found[key] = pk
        return found

    def _apply_follows(self, batch: _Batch) -> None:
        # A follower list sets the same state on thousands of accounts: one
        # UPDATE per distinct change, never bulk_update's CASE per row (which
        # cost more than the rest of an import together).
        groups: dict[tuple, list[int]] = {}
        for key, state in batch.follows.items():
            ident = self.objects.get(key)
            if ident is None:
                continue
            change = tuple(
                (field_name, state[name])
                for name, field_name in _FOLLOW_FIELDS
                if name in state and getattr(ident, field_name) != state[name]
            )
            if change:
                for field_name, value in change:
                    setattr(ident, field_name, value)
                groups.setdefault(change, []).append(ident.pk)
                self.result.people_touched.add(ident.person_id)
        for change, pks in groups.items():
            for chunk in _chunks(pks):
                Identity.objects.filter(pk__in=chunk).update(**dict(change))


_FOLLOW_FIELDS = (
    ("i_follow", "i_follow"),
    ("follows_me", "follows_me"),
    ("blocked", "blocked"),
    ("muted", "muted"),
    ("since", "followed_since"),
)


def _sqlite_datetime(value: dt.datetime) -> str:
    """What Django stores for an aware datetime on SQLite: naive UTC, ISO with a space."""
    text = value.isoformat(" ")
    if text.endswith("+00:00"):
        return text[:-6]
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")


def _insert_returning(
    cursor, table: str, columns: tuple[str, ...], pg_types: tuple[str, ...], rows: list[tuple], *,
    returning: str, conflict: str = "",
) -> list[tuple]:
    """INSERT many rows in few statements; the RETURNING rows of those inserted."""
    if not rows:
        return []
    head = f"INSERT INTO {table} ({', '.join(columns)}) "
    tail = (f" ON CONFLICT {conflict}" if conflict else "") + f" RETURNING {returning}"
    if connection.vendor == "postgresql":
        # One array per column: a fixed number of parameters whatever the size.
        arrays = ", ".join(f"%s::{kind}[]" for kind in pg_types)
        # Server-side binding with binary parameters, on the same connection
        # and transaction: Django's client-side cursor spells each array out
        # as text, scanning every string for characters to quote, which cost
        # more than the insert itself.
        import psycopg

        with psycopg.Cursor(connection.connection) as raw:
            raw.execute(
                head + f"SELECT * FROM unnest({arrays})" + tail, [list(column) for column in zip(*rows)], binary=True
            )
            return raw.fetchall()
    # SQLite: the driver's cursor and "?" placeholders (Django's wrapper
    # rewrites every "%s" with a regular expression, costly at this length).
    raw = connection.connection.cursor()
    marks = "(" + ", ".join(["?"] * len(columns)) + ")"
    size = max(1, 32_000 // len(columns))
    found: list[tuple] = []
    for chunk in _chunks(rows, size):
        raw.execute(head + "VALUES " + ", ".join([marks] * len(chunk)) + tail, [v for row in chunk for v in row])
        found += raw.fetchall()
    return found


def _url(value: str | None) -> str:
    value = value or ""
    if len(value) > 1024 or not value.startswith(("https://", "http://")) or "\x00" in value:
        return ""
    return value
