"""The ingest floor: the same rows into the same tables, as fast as the database takes them."""

from __future__ import annotations

import datetime as dt
import time

from django.db import connection, transaction
from django.utils import timezone

from relationships.models import Identity, Interaction, InteractionSource, Person
from relationships.platforms import records as r
from relationships.services import identity_keys

KINDS = ("reply", "mention", "quote", "dm", "repost", "like")


def floor_rows(user, source, n: int, identities: int):
    now = timezone.now()
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Person._meta.db_table}")
        p0 = cursor.fetchone()[0]
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Identity._meta.db_table}")
        i0 = cursor.fetchone()[0]
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Interaction._meta.db_table}")
        x0 = cursor.fetchone()[0]
    persons = [(p0 + k + 1, user.pk, f"User {k}", "", "[]", False, now) for k in range(identities)]
    idents = [identity_row(i0 + k + 1, user.pk, p0 + k + 1, "x", str(10**17 + k), f"u{k}", f"User {k}", now)
              for k in range(identities)]
    interactions = []
    for j in range(n):
        who = j % identities
        when = base + dt.timedelta(minutes=j)
        interactions.append(
            (x0 + j + 1, user.pk, i0 + who + 1, "x", str(10**18 + j), KINDS[j % 6], "out", when, when.date(),
             f"https://x.com/u{who}/status/{10**18 + j}", "a short excerpt of the post", "", 1)
        )
    links = [(x0 + j + 1, source.pk) for j in range(n)]
    return persons, idents, interactions, links


def identity_row(pk: int, user_id: int, person_id: int, platform: str, external_id: str, handle: str,
                 display_name: str, now) -> tuple:
    """An identity as COLUMNS lists its columns, with the keys merge suggestions match on, as ingest writes them."""
    return (pk, user_id, person_id, platform, external_id, False, handle, display_name, "", "", now, "[]",
            identity_keys.name_key(display_name), identity_keys.handle_key(platform, handle))


def rows_from_records(user, source, records) -> tuple[list, list, list, list]:
    """The rows ingest writes for ``records`` (people, identities, interactions, source links), ids from 1.

    For a floor timed on empty tables: the ingest bench's records, written as fast as the database takes them.
    """
    now = timezone.now()
    ident_recs = [rec for rec in records if isinstance(rec, r.IdentityRecord)]
    persons = [(n, user.pk, rec.display_name, "", "[]", False, now) for n, rec in enumerate(ident_recs, start=1)]
    ident_index = {rec.external_id: n for n, rec in enumerate(ident_recs, start=1)}
    identities = [identity_row(n, user.pk, n, rec.platform, rec.external_id, rec.handle, rec.display_name, now)
                  for n, rec in enumerate(ident_recs, start=1)]
    interactions = [
        (n, user.pk, ident_index[rec.identity_id], rec.platform, rec.external_id, rec.kind, rec.direction,
         rec.occurred_at, rec.occurred_at.date(), rec.permalink, rec.excerpt, rec.thread_id, rec.named_count)
        for n, rec in enumerate((rec for rec in records if isinstance(rec, r.InteractionRecord)), start=1)
    ]
    links = [(n, source.pk) for n in range(1, len(interactions) + 1)]
    return persons, identities, interactions, links


COLUMNS = [
    (Person._meta.db_table, "id, user_id, name, notes, tags, hidden, created_at"),
    (Identity._meta.db_table,
     "id, user_id, person_id, platform, external_id, provisional, handle, display_name, avatar_url, profile_url, updated_at, "
     "profile_links, name_key, handle_key"),
    (Interaction._meta.db_table,
     "id, user_id, identity_id, platform, external_id, kind, direction, occurred_at, day, permalink, excerpt, thread_id, named_count"),
    (InteractionSource._meta.db_table, "interaction_id, source_id"),
]


def write(data) -> float:
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for (table, columns), rows in zip(COLUMNS, data):
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(rows[0]))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    return time.perf_counter() - started


def floor_insert(user, source, n: int, identities: int) -> float:
    """Time of writing n interactions (and their people, identities, source links) at the floor."""
    return write(floor_rows(user, source, n, identities))
