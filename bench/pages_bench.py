"""Page latency with 10,000 people and 1,000,000 interactions, against a trivial logged-in page.

The data set is rapport_bench's (cached on disk, loaded into the configured
database), scored as the recompute job does: rapport, nudges, the stored
community figures. Then, in this one process, with django.test.Client logged
in (force_login) and requests as a browser sends them (https, so no redirect):

* the trivial page: a job's detail page — session, user, middleware and
  base.html with its banner check, one query of its own (the floor);
* the dashboard, the people list, the busiest person's page, and the people
  list's htmx "load more" (the second page, by keyset cursor).

After a warm-up, the pages are requested in turn, ROUNDS times, so each one
sees the same process, caches and machine load; p50 and p95 per page; the
target is p50 at most 3x the trivial page's. Each page is timed twice per
round: as a repeat view (what the per-user page cache answers while the
user's data is unchanged) and as the first view after a change (the cache
invalidated first, so the page is rendered from the database: what a user
sees after every sync). Both have the target, and say whether they meet it.
Queries per page are counted with CaptureQueriesContext on one request of
each kind. A last pass splits each first view into templates, SQL and the
rest (_where_the_time_goes), to say where a page's time goes.

    python -m bench.pages_bench '{"label": "sqlite"}'   # bench/__main__.py does this on a fresh database
"""

from __future__ import annotations

import os
import statistics
import time

from bench import common

ROUNDS = 50
WARMUP = 5
TARGET = 3


def _prepare():
    """The rapport bench's data set, scored, plus a finished job for the trivial page."""
    from django.db import connection
    from django.utils import timezone

    from bench import rapport_bench
    from relationships.models import Heartbeat, Interaction, Job, Person
    from relationships.services.intake.rescore import rescore

    user, source = rapport_bench._dataset()
    today = rapport_bench.TODAY
    started = time.perf_counter()
    rescored = rescore(user, today=today)
    scored_s = time.perf_counter() - started
    # Fresh planner statistics, as autovacuum leaves them on PostgreSQL in a few minutes: the rapport
    # rows were all just written, and with stale figures PostgreSQL sorts every person for each page.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # A running worker and beat, as in production: no "not heard from" banner on every page.
    for name in ("worker", "beat"):
        Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})
    job = Job.objects.create(user=user, kind="recompute", task_name="relationships.recompute",
                             state=Job.State.DONE, description="Recompute rapport", summary="10,000 people scored.")
    busiest = (
        Person.objects.filter(user=user, rapport__isnull=False).order_by("-rapport__talks", "pk").first()
    )
    history = Interaction.objects.filter(user=user, identity__person=busiest).count()
    return user, job, busiest, history, {"scored_s": round(scored_s, 1), "nudges": rescored.opened}


def _load_more_path(client) -> str:
    """The people list's "load more" address, as the first page links it (``hx-get``)."""
    import html
    import re

    response = client.get("/people/", secure=True)
    assert response.status_code == 200, response.status_code
    found = re.search(r'hx-get="(/people/\?[^"]*after=[^"]*)"', response.content.decode())
    assert found, "the first page of people has no load-more link"
    return html.unescape(found.group(1))


def run(label: str) -> list[dict]:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user, job, busiest, history, facts = _prepare()
    client = Client()
    client.force_login(user)
    htmx = {"HX-Request": "true", "HX-Current-URL": "https://testserver/people/"}
    pages = {
        "trivial": (f"/jobs/{job.pk}/", {}),
        "dashboard": ("/", {}),
        "people list": ("/people/", {}),
        "person page": (f"/people/{busiest.pk}/", {}),
        "people load more (htmx)": (_load_more_path(client), htmx),
    }
    checks = {
        "trivial": "Recompute rapport",
        "dashboard": 'id="nudge-counts"',
        "people list": 'class="pr-name"',
        "person page": busiest.name,
        "people load more (htmx)": 'class="pr-name"',
    }

    def get(path, headers):
        return client.get(path, headers=headers, secure=True)

    queries = {}
    for name, (path, headers) in pages.items():
        for _ in range(WARMUP):
            response = get(path, headers)
        assert response.status_code == 200, (name, response.status_code)
        body = response.content.decode()
        assert checks[name] in body, (name, body[:500])
        if name == "people load more (htmx)":
            assert "<html" not in body, "load more must answer with the rows only"
        with CaptureQueriesContext(connection) as captured:
            get(path, headers)
        queries[name] = len(captured.captured_queries)

    from relationships.web import page_cache

    # Repeat views (the per-user page cache answers while the data is unchanged),
    # and first views after a change (the cache emptied before each request: the
    # whole page is rendered from the database).
    times: dict[str, list[float]] = {name: [] for name in pages}
    fresh: dict[str, list[float]] = {name: [] for name in pages}
    fresh_queries: dict[str, int] = {}
    for _ in range(ROUNDS):
        for name, (path, headers) in pages.items():
            started = time.perf_counter()
            get(path, headers)
            times[name].append(time.perf_counter() - started)
    for _ in range(ROUNDS):
        for name, (path, headers) in pages.items():
            page_cache.bump(user.pk)
            started = time.perf_counter()
            get(path, headers)
            fresh[name].append(time.perf_counter() - started)
    for name, (path, headers) in pages.items():
        page_cache.bump(user.pk)
        with CaptureQueriesContext(connection) as captured:
            get(path, headers)
        fresh_queries[name] = len(captured.captured_queries)

    parts = _where_the_time_goes(get, pages, user)

    def p(values, q):
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    floor50, floor95 = p(times["trivial"], 50), p(times["trivial"], 95)
    vendor = connection.vendor
    rows = [
        {
            "row": "pages", "variant": label, "measure": f"trivial logged-in page (job detail) p50, {queries['trivial']} queries",
            "value": common.duration(floor50), "floor": "", "queries": queries["trivial"],
            "p50_ms": floor50 * 1000, "p95_ms": floor95 * 1000,
            "note": f"p95 {floor95 * 1000:.1f} ms; {vendor}; DEBUG={settings.DEBUG}; {facts}",
        }
    ]
    for name in pages:
        if name == "trivial":
            continue
        p50, p95 = p(times[name], 50), p(times[name], 95)
        what = f"{name} p50, {queries[name]} queries"
        if name == "person page":
            what = f"{name} (busiest: {history:,} interactions) p50, {queries[name]} queries"
        rows.append(
            {
                "row": "pages", "variant": label, "measure": what,
                "value_s": p50, "floor_s": floor50, "target_ratio": TARGET, "queries": queries[name],
                "p50_ms": p50 * 1000, "p95_ms": p95 * 1000,
                "note": f"p95 {p95 * 1000:.1f} ms vs trivial p95 {floor95 * 1000:.1f} ms ({p95 / floor95:.2f}x)",
            }
        )
        rows.append(
            {
                "row": "pages", "variant": label, "measure": f"{name} p95 (no target)",
                "value_s": p95, "floor_s": floor95, "queries": queries[name],
            }
        )
        f50, f95 = p(fresh[name], 50), p(fresh[name], 95)
        rows.append(
            {
                "row": "pages", "variant": label,
                "measure": f"{name} first view after a change p50 (rendered), {fresh_queries[name]} queries",
                "value_s": f50, "floor_s": floor50, "target_ratio": TARGET, "queries": fresh_queries[name],
                "p50_ms": f50 * 1000, "p95_ms": f95 * 1000, "note": f"p95 {f95 * 1000:.1f} ms",
            }
        )
    for name, (templates, sql, rest, raw, reads) in parts.items():
        rows.append(
            {
                "row": "pages", "variant": label, "measure": f"{name} first view, where the time goes (p50 of each part)",
                "value": f"templates {templates * 1000:.1f} ms, SQL {sql * 1000:.1f} ms, the rest {rest * 1000:.1f} ms; "
                         f"its {reads} reads sent as they are, no ORM: {raw * 1000:.1f} ms",
                "templates_ms": templates * 1000, "sql_ms": sql * 1000, "rest_ms": rest * 1000, "raw_reads_ms": raw * 1000,
                "reads": reads,
            }
        )
    return rows


def _where_the_time_goes(get, pages, user) -> dict[str, tuple]:
    """Each page's first view split three ways, p50 of each over ROUNDS views (in a pass of its own):

    * templates: rendering, from the outermost render of the template backend (a page with its includes,
      or an htmx partial), its context processors included;
    * SQL: the database executing the view's queries (connection.execute_wrapper), fetching the rows excluded;
    * the rest: middleware, the view's Python, the ORM building queries and model instances.

    And the page's reads (its SELECTs, as the last view sent them) sent again as they are, fetching every
    row: what the same SQL costs without the ORM around it. Returns (templates, SQL, rest, raw reads, reads).
    """
    from django.db import connection
    from django.template.backends.django import Template

    from relationships.web import page_cache

    clock = {"templates": 0.0, "sql": 0.0, "depth": 0}
    render = Template.render

    def timed_render(self, context=None, request=None):
        clock["depth"] += 1
        started = time.perf_counter()
        try:
            return render(self, context, request)
        finally:
            clock["depth"] -= 1
            if not clock["depth"]:
                clock["templates"] += time.perf_counter() - started

    def timed_sql(execute, sql, params, many, context):
        sent.append((sql, params, many))
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if not clock["depth"]:  # a query a template runs is part of its rendering
                clock["sql"] += time.perf_counter() - started

    def send(queries) -> float:
        """The time of sending ``queries`` as they are, fetching every row: the SQL without the ORM around it."""
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for sql, params, many in queries:
                if many:
                    cursor.executemany(sql, params)
                else:
                    cursor.execute(sql, params)
                    if cursor.description is not None:
                        cursor.fetchall()
        return time.perf_counter() - started

    split: dict[str, list[tuple[float, float, float]]] = {name: [] for name in pages}
    queries: dict[str, list[tuple]] = {}
    sent: list[tuple] = []
    Template.render = timed_render
    try:
        with connection.execute_wrapper(timed_sql):
            for _ in range(ROUNDS):
                for name, (path, headers) in pages.items():
                    page_cache.bump(user.pk)
                    clock.update(templates=0.0, sql=0.0)
                    sent.clear()
                    started = time.perf_counter()
                    get(path, headers)
                    whole = time.perf_counter() - started
                    split[name].append((clock["templates"], clock["sql"], whole - clock["templates"] - clock["sql"]))
                    queries[name] = list(sent)
    finally:
        Template.render = render
    parts = {}
    for name, views in split.items():
        # Only reads go again: a first view writes nothing but a session it may save, sent at most once.
        reads = [q for q in queries[name] if q[0].lstrip().upper().startswith("SELECT")]
        raw = statistics.median(send(reads) for _ in range(ROUNDS))
        parts[name] = (*(statistics.median(part) for part in zip(*views)), raw, len(reads))
    return parts


if __name__ == "__main__":
    opts = common.args()
    # The test client's host, and the production settings otherwise (DEBUG off, https only).
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    common.setup_django()
    from django.core.management import call_command

    # Pages name their static files through the production manifest, which collectstatic writes.
    call_command("collectstatic", interactive=False, verbosity=0)
    for result in run(opts["label"]):
        common.emit(**result)
