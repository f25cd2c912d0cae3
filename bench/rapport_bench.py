"""Rapport recompute on 1,000,000 interactions over 10,000 people, against the floor.

The floor is the cheapest query that still reads every interaction: one plain
``SELECT identity_id, kind, direction, COUNT(*) ... GROUP BY`` over the same
table with the same indexes, run in the same process. Targets: a full
recompute (aggregation, tiers and writing 10,000 Rapport rows) at most 3x the
floor; an incremental recompute after ingesting 100 new interactions at most
5% of the full one.

    python -m bench.rapport_bench '{"label": "sqlite"}'   # bench/__main__.py does this on a fresh database

or, from code already set up for Django, ``run("sqlite")`` returns the rows.
"""

from __future__ import annotations

import datetime as dt
import pickle
import random
import time

from bench import common

N = 1_000_000
PEOPLE = 10_000
NEW = 100
ROUNDS = 5
USERNAME = "rapport-bench"
TODAY = dt.date(2026, 6, 15)
KINDS = (("like", 40), ("reply", 25), ("mention", 15), ("repost", 10), ("quote", 5), ("dm", 5))


def _synthetic() -> list[tuple]:
    """(person index, kind, direction, occurred_at, named_count) for N interactions, cached on disk.

    A few people get most interactions (a long tail, as in a real community);
    times spread over three years before TODAY; 1 in 20 mentions names a crowd.
    """
    common.CACHE.mkdir(parents=True, exist_ok=True)
    path = common.CACHE / f"rapport-{N}-{PEOPLE}.pickle"
    if path.exists():
        with path.open("rb") as fh:
            return pickle.load(fh)
    rng = random.Random(3)
    who = rng.choices(range(PEOPLE), cum_weights=_cumulative([1 / (i + 10) for i in range(PEOPLE)]), k=N)
    kinds = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS], k=N)
    end = dt.datetime.combine(TODAY, dt.time(12), tzinfo=dt.UTC)
    span = 3 * 365 * 86400
    rows = [
        (
            who[i],
            kinds[i],
            "in" if rng.random() < 0.55 else "out",
            end - dt.timedelta(seconds=rng.randrange(span)),
            rng.randrange(6, 30) if kinds[i] == "mention" and rng.random() < 0.05 else rng.randrange(1, 4),
        )
        for i in range(N)
    ]
    with path.open("wb") as fh:
        pickle.dump(rows, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return rows


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def _dataset():
    """The bench user with N interactions on the configured database; built once, then reused."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from relationships.models import Identity, Interaction, Person, Source

    User = get_user_model()
    user = User.objects.filter(username=USERNAME).first()
    if user is not None and Interaction.objects.filter(user=user).count() >= N:
        Interaction.objects.filter(user=user, external_id__startswith="bench-new-").delete()
        return user, Source.objects.get(user=user)
    if user is not None:
        user.delete()
    user = User.objects.create_user(USERNAME)
    source = Source.objects.create(user=user, platform="mastodon", kind=Source.Kind.ARCHIVE, label="rapport bench")
    people = Person.objects.bulk_create([Person(user=user, name=f"Person {i}") for i in range(PEOPLE)], batch_size=2000)
    identities = Identity.objects.bulk_create(
        [
            Identity(user=user, person=p, platform="mastodon", external_id=f"https://h{i % 50}.example/users/u{i}",
                     handle=f"u{i}@h{i % 50}.example", i_follow=i % 3 == 0, follows_me=i % 2 == 0)
            for i, p in enumerate(people)
        ],
        batch_size=2000,
    )
    ids = [ident.pk for ident in identities]
    adapt_dt = connection.ops.adapt_datetimefield_value
    adapt_day = connection.ops.adapt_datefield_value
    table = Interaction._meta.db_table
    columns = ("user_id, identity_id, platform, external_id, kind, direction, occurred_at, day, permalink, "
               "excerpt, thread_id, named_count")
    rows = (
        (user.pk, ids[p], "mastodon", f"https://h{p % 50}.example/users/u{p}/statuses/{n}", kind, direction,
         adapt_dt(when), adapt_day(when.date()), f"https://h{p % 50}.example/@u{p}/{n}",
         "a short excerpt of what was said", f"t{n // 4}", named)
        for n, (p, kind, direction, when, named) in enumerate(_synthetic())
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * 12)
            batch = []
            for row in rows:
                batch.append(row)
                if len(batch) == 50_000:
                    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch)
                    batch = []
            if batch:
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return user, source


def _floor(user) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT identity_id, kind, direction, COUNT(*) FROM relationships_interaction"
            " WHERE user_id = %s GROUP BY identity_id, kind, direction",
            [user.pk],
        )
        cursor.fetchall()
    return time.perf_counter() - started


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _new_records(round_no: int) -> list:
    from relationships.platforms import records as r

    rng = random.Random(100 + round_no)
    when = dt.datetime.combine(TODAY, dt.time(9), tzinfo=dt.UTC)
    out = []
    for n in range(NEW):
        p = rng.randrange(PEOPLE)
        out.append(
            r.InteractionRecord(
                platform=r.MASTODON, external_id=f"bench-new-{round_no}-{n}",
                identity_id=f"https://h{p % 50}.example/users/u{p}", kind=rng.choice(r.KINDS),
                direction=rng.choice(r.DIRECTIONS), occurred_at=when + dt.timedelta(minutes=n),
            )
        )
    return out


def run(db_alias_label: str) -> list[dict]:
    """Build (or reuse) the data set, time the floor, full and incremental recompute; return bench rows.

    Each figure is the best of ROUNDS runs (medians in the notes), floor and
    full interleaved so neither gets a warmer cache. Rows are shaped for
    ``bench.common.emit``; the database is the one Django is configured with.
    """
    from relationships.models import Rapport
    from relationships.services.intake import ingest
    from relationships.services.scoring import rapport

    user, source = _dataset()
    rapport.recompute(user, today=TODAY)  # warm-up: first run creates the Rapport rows
    floors, fulls, incrementals, touched = [], [], [], []
    for round_no in range(ROUNDS):
        floors.append(_floor(user))
        # A later day each round, as the nightly refresh sees it: every decayed
        # score changes, so every row is really rewritten.
        day = TODAY + dt.timedelta(days=round_no + 1)
        fulls.append(_timed(lambda: rapport.recompute(user, today=day)))
    for round_no in range(ROUNDS):
        people = ingest.ingest(user, source, _new_records(round_no)).people_touched
        touched.append(len(people))
        incrementals.append(_timed(lambda: rapport.recompute(user, people, today=TODAY)))
    assert Rapport.objects.filter(user=user).count() == PEOPLE
    floor, full, incremental = min(floors), min(fulls), min(incrementals)
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    return [
        {
            "row": "rapport", "variant": db_alias_label,
            "measure": f"full recompute, {N:,} interactions / {PEOPLE:,} people",
            "value_s": full, "floor_s": floor, "target_ratio": 3,
            "note": f"medians {median(fulls):.2f}s vs {median(floors):.2f}s",
        },
        {
            "row": "rapport", "variant": db_alias_label,
            "measure": f"incremental after {NEW} new ({max(touched)} people); floor = full",
            "value_s": incremental, "floor_s": full, "target_ratio": 0.05,
            "note": f"{incremental * 1000:.0f} ms (median {median(incrementals) * 1000:.0f} ms)",
        },
    ]


if __name__ == "__main__":
    opts = common.args()
    common.setup_django()
    for result in run(opts["label"]):
        common.emit(**result)
