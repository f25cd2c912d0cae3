"""Ingest of 200,000 interaction records (5,000 identities) against the floor.

The floor writes the same rows into the same tables, with the same indexes,
as fast as the database takes them: executemany on SQLite, COPY on
PostgreSQL, in one transaction, from tuples built before the clock starts.
"""

import time

from bench import common

N = 200_000
IDENTITIES = 5_000

opts = common.args()
common.setup_django()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import floor  # noqa: E402
from relationships.models import Identity, Interaction, InteractionSource, Person, Source  # noqa: E402
from relationships.platforms import records as r  # noqa: E402
from relationships.services.intake.ingest import ingest  # noqa: E402

records = common.cached_records(N, IDENTITIES)
User = get_user_model()
floor_user = User.objects.create_user("floor")
floor_source = Source.objects.create(user=floor_user, platform="mastodon", kind="archive")


def floor_rows():
    now = timezone.now()
    ident_recs = [rec for rec in records if isinstance(rec, r.IdentityRecord)]
    persons = [(floor_user.pk, rec.display_name, "", "[]", False, now) for rec in ident_recs]
    ident_index = {rec.external_id: n + 1 for n, rec in enumerate(ident_recs)}
    identities = [
        (floor_user.pk, n + 1, rec.platform, rec.external_id, False, rec.handle, rec.display_name, "", "", now)
        for n, rec in enumerate(ident_recs)
    ]
    interactions = []
    for n, rec in enumerate((rec for rec in records if isinstance(rec, r.InteractionRecord)), start=1):
        interactions.append(
            (n, floor_user.pk, ident_index[rec.identity_id], rec.platform, rec.external_id, rec.kind, rec.direction,
             rec.occurred_at, rec.occurred_at.date(), rec.permalink, rec.excerpt, rec.thread_id, rec.named_count)
        )
    sources = [(n, floor_source.pk) for n in range(1, len(interactions) + 1)]
    return persons, identities, interactions, sources


def run_floor():
    persons, identities, interactions, sources = floor_rows()
    identities = [(n + 1, *row) for n, row in enumerate(identities)]
    persons = [(n + 1, *row) for n, row in enumerate(persons)]
    return floor.write([persons, identities, interactions, sources])


TABLES = floor.COLUMNS


def reset():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"TRUNCATE {', '.join(t for t, _ in TABLES)} RESTART IDENTITY CASCADE"
            )
            cursor.execute("VACUUM ANALYZE")
        else:
            for table, _ in reversed(TABLES):
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute("DELETE FROM sqlite_sequence")
            cursor.execute("VACUUM")


floor_s = run_floor()
reset()
user = User.objects.create_user("ingest")
source = Source.objects.create(user=user, platform="mastodon", kind="archive")
started = time.perf_counter()
result = ingest(user, source, records)
value_s = time.perf_counter() - started
assert result.new == N, result.as_dict()
common.emit(
    row="ingest", variant=opts["label"], measure=f"{N:,} records", value_s=value_s, floor_s=floor_s, target_ratio=2,
    note=f"{N / value_s:,.0f} records/s",
)
