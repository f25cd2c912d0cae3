"""A batch's interactions into the database: new told from known, sources linked, one direct kind per post.

Part of ingest (see ingest.py for the guarantees). Rows go in through
services/writes.py, so one statement both stores the new interactions and
names them: a row already stored is known, and only its source link is added.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection
from django.db.models import Count

from relationships.models import Interaction, InteractionSource
from relationships.platforms import records as r
from relationships.services import writes

# One post gives one direct interaction per person: the first kind that applies.
DIRECT_RANK = {kind: rank for rank, kind in enumerate(r.DIRECT_KINDS)}

COLUMNS = ("user_id", "identity_id", "platform", "external_id", "kind", "direction", "occurred_at", "day",
           "permalink", "excerpt", "thread_id", "named_count")
# The interaction_unique_key constraint, and what RETURNING gives back for a new row.
UNIQUE = ("user_id", "platform", "external_id", "identity_id", "kind", "direction")
RETURNING = "id, platform, external_id, identity_id, kind, direction"


def store(user, source_id: int, tz: dt.tzinfo, interactions: dict[tuple, r.InteractionRecord],
          refs: dict[tuple[str, str], tuple[int, int]], result) -> None:
    """Write ``interactions`` (ingest's batch key -> record) and count them in ``result``.

    ``refs`` maps (platform, account id) to the stored (identity id, person id).
    """
    rows = _rows(user.pk, tz, interactions, refs, result)
    if not rows:
        return
    keys = list(rows)
    returned = writes.insert(
        Interaction._meta.db_table, COLUMNS, [rows[key] for key in keys], unique=UNIQUE, returning=RETURNING
    )
    inserted = {tuple(key): pk for pk, *key in returned}
    known_keys = [key for key in keys if key not in inserted]
    known = _stored_ids(user, known_keys) if known_keys else {}
    result.new += len(inserted)
    result.known += len(keys) - len(inserted)
    writes.insert(
        InteractionSource._meta.db_table,
        ("interaction_id", "source_id"),
        [(pk, source_id) for pk in [*inserted.values(), *known.values()]],
        unique=("interaction_id", "source_id"),
    )
    keep_one_direct_kind(user, inserted, result)
    if inserted:
        person_of = {ref[0]: ref[1] for ref in refs.values()}
        people = {person_of[key[2]] for key in inserted}
        result.people_touched.update(people)
        result.people_new.update(people)


def _rows(user_id: int, tz: dt.tzinfo, interactions: dict[tuple, r.InteractionRecord],
          refs: dict[tuple[str, str], tuple[int, int]], result) -> dict[tuple, tuple]:
    """Database rows in COLUMNS order, keyed as RETURNING names them."""
    adapt_dt, adapt_day = writes.adapters()
    rows: dict[tuple, tuple] = {}
    for (platform, ext, ident_ext, kind, direction), rec in interactions.items():
        ref = refs.get((platform, ident_ext))
        if ref is None:
            result.skipped["account could not be stored"] += 1
            continue
        rows[(platform, ext, ref[0], kind, direction)] = (
            user_id, ref[0], platform, ext, kind, direction, adapt_dt(rec.occurred_at),
            adapt_day(rec.occurred_at.astimezone(tz).date()), writes.url(rec.permalink), writes.text(rec.excerpt, 500),
            writes.text(rec.thread_id, 512), max(0, min(int(rec.named_count or 0), 1_000_000)),
        )
    return rows


def _stored_ids(user, keys: list[tuple]) -> dict[tuple, int]:
    wanted = set(keys)
    found: dict[tuple, int] = {}
    platforms = sorted({key[0] for key in keys})
    for chunk in writes.chunks(sorted({key[1] for key in keys})):
        rows = Interaction.objects.filter(
            user=user, platform__in=platforms, external_id__in=chunk
        ).values_list("pk", "platform", "external_id", "identity_id", "kind", "direction")
        for pk, *key in rows:
            key = tuple(key)
            if key in wanted:
                found[key] = pk
    return found


def keep_one_direct_kind(user, inserted: dict[tuple, int], result) -> None:
    """Where sources disagree on a post's direct kind for a person, keep the first that applies.

    A Mastodon archive has no trace of the parent of a reply whose
    parent was deleted (a mention there) while the API still names its
    author (a reply). The better-ranked row (dm > reply > quote >
    mention) stays and takes the other's sources; the post counts as
    known, as it was. Only posts new in this batch can disagree with
    what is stored, so a re-import asks nothing more.
    """
    new_direct = [key for key in inserted if key[3] in DIRECT_RANK]
    if not new_direct:
        return
    twice = _stored_twice(user, new_direct)
    if not twice:
        return
    direct = Interaction.objects.filter(user=user, kind__in=r.DIRECT_KINDS)
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for chunk in writes.chunks(sorted({key[1] for key in twice})):
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
        result.new -= repeated
        result.known += repeated
    _merge(losers)


def _stored_twice(user, new_direct: Iterable[tuple]) -> set[tuple]:
    """(platform, post, identity, direction) of the new direct rows stored under more than one kind.

    Counted in the database, one lookup per row through the unique index:
    nearly always nothing comes back. On PostgreSQL a correlated subquery
    (which the planner cannot turn into a join) keeps it so: as a join, a
    table whose statistics predate the rows just written (a first import)
    was hashed whole, every row of the user for every batch, which took
    ingest of 200,000 records from 2x to 3x its floor.
    """
    posts = {(key[0], key[1], key[2], key[4]) for key in new_direct}
    if connection.vendor != "postgresql":
        twice = set()
        direct = Interaction.objects.filter(
            user=user, platform__in=sorted({post[0] for post in posts}), kind__in=r.DIRECT_KINDS
        )
        for chunk in writes.chunks(sorted({post[1] for post in posts})):
            twice.update(
                (g["platform"], g["external_id"], g["identity_id"], g["direction"])
                for g in direct.filter(external_id__in=chunk)
                .values("platform", "external_id", "identity_id", "direction")
                .annotate(n=Count("pk"))
                .filter(n__gt=1)
                .order_by()
            )
        return twice & posts
    table = Interaction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.platform, n.ext, n.ident, n.dir FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) "
            f"AS n(platform, ext, ident, dir) WHERE (SELECT COUNT(*) FROM {table} i WHERE i.user_id = %s "
            "AND i.platform = n.platform AND i.external_id = n.ext AND i.identity_id = n.ident "
            "AND i.direction = n.dir AND i.kind = ANY(%s)) > 1",
            [*map(list, zip(*sorted(posts))), user.pk, list(r.DIRECT_KINDS)],
        )
        return set(cursor.fetchall())


def _merge(losers: dict[int, int]) -> None:
    """Give each losing row's sources to its keeper (loser id -> keeper id), then delete the losers."""
    table = InteractionSource._meta.db_table
    with connection.cursor() as cursor:
        for loser, keeper in losers.items():
            cursor.execute(
                f"INSERT INTO {table} (interaction_id, source_id) SELECT %s, source_id FROM {table} "
                "WHERE interaction_id = %s ON CONFLICT (interaction_id, source_id) DO NOTHING",
                [keeper, loser],
            )
    for chunk in writes.chunks(sorted(losers)):
        InteractionSource.objects.filter(interaction_id__in=chunk).delete()
        Interaction.objects.filter(pk__in=chunk).delete()
