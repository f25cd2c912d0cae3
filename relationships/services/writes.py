"""Bulk writes: many rows into one table in few statements, the one way ingest and rapport write.

``insert`` is the interface; it has one path per database:

* PostgreSQL: the rows are COPYed into a temporary table with the target's
  column types, then moved by one ``INSERT ... SELECT ... ON CONFLICT``.
  COPY formats the values in psycopg's C code, with nothing to bind and
  nothing to quote, and the INSERT is one statement whatever the row count.
  For 5,000 interactions that took half the time of binding one array per
  column (psycopg dumps arrays in Python), and a third of multi-row VALUES
  bound client-side.
* SQLite: multi-row VALUES through the driver's own cursor with "?"
  placeholders, as many rows per statement as the bound-parameter cap
  allows (Django's cursor wrapper rewrites every "%s" with a regular
  expression, costly at this length).

Both databases speak ``INSERT ... ON CONFLICT ... RETURNING`` (SQLite 3.35+):
with ``unique`` alone a row already stored is left as it is and only new rows
come back, so one statement tells new from known; with ``update`` too the
stored row takes the new values (an upsert).

Values go in as the database stores them: ``adapters`` gives the converters
for dates and times, the only types that differ between the two; ``text``
and ``url`` what a free-text or link column may hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from datetime import date

from django.db import connection

# SQLite binds at most 32,766 parameters per statement (3.32+).
SQLITE_PARAMS = 32_000
# Ids per ``IN (...)`` lookup: Django's SQLite backend counts at most 999
# parameters per query, and a query should not depend on the database.
IN_CHUNK = 900


def chunks(items: list, size: int = IN_CHUNK):
    """``items`` in slices of ``size``: one ``IN (...)`` lookup each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert(
    table: str,
    columns: Sequence[str],
    rows: list[tuple],
    *,
    unique: Sequence[str] = (),
    update: Sequence[str] = (),
    returning: str = "",
) -> list[tuple]:
    """INSERT ``rows`` (tuples in ``columns`` order) into ``table``; return the RETURNING rows.

    ``unique`` names the columns of a unique constraint: a row that collides
    with a stored one is skipped, or, for the columns in ``update``, written
    over. RETURNING rows come for the rows written, in ``rows`` order (Django's
    bulk_create relies on the same order from both databases).
    """
    if not rows:
        return []
    tail = ""
    if unique:
        action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update) if update else "DO NOTHING"
        tail += f" ON CONFLICT ({', '.join(unique)}) {action}"
    if returning:
        tail += f" RETURNING {returning}"
    names = ", ".join(columns)
    if connection.vendor == "postgresql":
        return _copy_insert(table, names, rows, tail, bool(returning))
    raw = connection.connection.cursor()
    marks = "(" + ", ".join(["?"] * len(columns)) + ")"
    size = max(1, SQLITE_PARAMS // len(columns))
    found: list[tuple] = []
    for chunk in chunks(rows, size):
        raw.execute(
            f"INSERT INTO {table} ({names}) VALUES " + ", ".join([marks] * len(chunk)) + tail,
            [value for row in chunk for value in row],
        )
        if returning:
            found += raw.fetchall()
    return found


def _copy_insert(table: str, names: str, rows: list[tuple], tail: str, returning: bool) -> list[tuple]:
    incoming = f"incoming_{table}"
    with connection.cursor() as cursor:
        # The target's column types without its constraints or defaults.
        # Dropped explicitly, not ON COMMIT: the caller's transaction may go
        # on and write to the same table again.
        cursor.execute(f"CREATE TEMPORARY TABLE {incoming} AS SELECT {names} FROM {table} WITH NO DATA")
        with cursor.cursor.copy(f"COPY {incoming} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # A sequential scan of a table just filled reads its rows in the
        # order they were written, so RETURNING keeps ``rows`` order.
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {incoming}" + tail)
        found = cursor.fetchall() if returning else []
        cursor.execute(f"DROP TABLE {incoming}")
    return found


def adapters() -> tuple[Callable[[dt.datetime | None], object], Callable[[date | None], object]]:
    """(aware datetime, date) -> the value ``insert`` takes for this database; None stays None."""
    if connection.vendor == "sqlite":
        return _sqlite_datetime, _sqlite_date
    return connection.ops.adapt_datetimefield_value, connection.ops.adapt_datefield_value


def _sqlite_datetime(value: dt.datetime | None) -> str | None:
    """What Django stores for an aware datetime on SQLite: naive UTC, ISO with a space."""
    if value is None:
        return None
    stamp = value.isoformat(" ")
    if stamp.endswith("+00:00"):
        return stamp[:-6]
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def text(value: str | None, limit: int) -> str:
    """Free text as stored: without NUL characters (PostgreSQL refuses them), at most ``limit`` long."""
    return (value or "").replace("\x00", "")[:limit]


def url(value: str | None) -> str:
    """A link as stored: http(s) and at most 1,024 long (the URL columns), or nothing."""
    value = value or ""
    if len(value) > 1024 or not value.startswith(("https://", "http://")) or "\x00" in value:
        return ""
    return value
