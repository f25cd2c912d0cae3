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
from django.db import connection  # noqa: E402

from bench import floor  # noqa: E402
from relationships.models import Source  # noqa: E402
from relationships.services.intake.ingest import ingest  # noqa: E402

records = common.cached_records(N, IDENTITIES)
User = get_user_model()
floor_user = User.objects.create_user("floor")
floor_source = Source.objects.create(user=floor_user, platform="mastodon", kind="archive")


def run_floor():
    return floor.write(floor.rows_from_records(floor_user, floor_source, records))


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
