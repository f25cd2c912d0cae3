"""Import of a synthetic X archive (one interaction per tweet), or its floor.

mode "import": the whole path — the archive parsed by its reader process,
records, ingest — timed, with the peak RSS of both processes.
mode "floor": the ingest floor for the same number of interactions (the
foundation benchmark's executemany/COPY of the same rows), in its own process
so its in-memory rows do not weigh on the import's RSS.
"""

import time

from bench import common

opts = common.args()
common.setup_django()

from django.contrib.auth import get_user_model  # noqa: E402

from relationships.models import Source  # noqa: E402
from relationships.platforms.archives.synthetic import write_synthetic_archive  # noqa: E402
from relationships.services.intake import (
    imports,  # noqa: E402
    jobs,
)

n = opts["n"]
User = get_user_model()

if opts["mode"] == "floor":
    from bench.floor import floor_insert

    user = User.objects.create_user("floor")
    source = Source.objects.create(user=user, platform="x", kind="archive")
    elapsed = floor_insert(user, source, n, identities=min(5000, max(10, n // 10)))
    common.emit(row="import", variant=f"{opts['label']}", measure=f"ingest floor, {n:,} interactions",
                value=f"{elapsed:.2f}s", seconds=elapsed, n=n)
else:
    common.CACHE.mkdir(parents=True, exist_ok=True)
    path = common.CACHE / f"x-archive-{n}.zip"
    if not path.exists():
        write_synthetic_archive("x", n, path)
    user = User.objects.create_user("importer")
    source = imports.create_source(user, path, "x")
    job = imports.queue_import(user, source, send_task=False)
    started = time.perf_counter()
    outcome = jobs.execute(job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    assert outcome.state == "done", job.error
    new = job.counts["new"]
    assert new == n, f"expected {n:,} new interactions, got {new:,}: {job.counts}"
    # The archive is parsed in a child process: its memory counts too (both
    # peaks added, as if they had come at the same moment).
    main_mb, child_mb = common.peak_rss_mb(), common.peak_child_rss_mb()
    common.emit(row="import", variant=f"{opts['label']}", measure=f"X archive, {n:,} tweets -> {new:,} interactions",
                value=f"{elapsed:.2f}s", seconds=elapsed, n=n, rss_mb=main_mb + child_mb,
                note=f"{new / elapsed:,.0f} interactions/s, peak RSS {main_mb:.0f} MB + reader {child_mb:.0f} MB")
