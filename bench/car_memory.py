"""Peak RSS of reading a Bluesky repository export (CAR), against the file's size.

Two files: a repository as a PDS writes it (synthetic records, real MST),
and a repository followed by millions of blocks of a few bytes each, the
most blocks a CAR can hold per byte. The reader must hold either within a
small multiple of the file's size. Each variant runs in its own process,
and the file is written (once, cached under var/bench/data) by another, so
the peak RSS is the reader's own.
"""

import os
import subprocess
import sys
import time

from bench import common

opts = common.args()
label = opts["label"]
path = common.CACHE / f"bluesky-{label}.car"
if not path.exists():
    common.CACHE.mkdir(parents=True, exist_ok=True)
    if opts["shape"] == "repository":
        write = ("from relationships.platforms.archives.synthetic import write_synthetic_archive; "
                 f"write_synthetic_archive('bluesky', {opts['n']}, {str(path)!r})")
    else:
        write = ("from tests.builders.bluesky import build_tiny_block_car; "
                 f"build_tiny_block_car({str(path)!r}, blocks={opts['n']})")
    subprocess.run([sys.executable, "-c", write], cwd=common.ROOT, check=True)

from relationships.platforms.archives.base import ArchiveError  # noqa: E402
from relationships.platforms.bluesky.archive import BlueskyCarImporter  # noqa: E402

size_mb = os.path.getsize(path) / 2**20
before_mb = common.peak_rss_mb()
started = time.perf_counter()
try:
    with BlueskyCarImporter(path) as importer:
        records = sum(1 for _ in importer)
    outcome = f"{records:,} records read"
except ArchiveError as exc:
    outcome = f"refused: {exc}"
elapsed = time.perf_counter() - started
peak_mb = common.peak_rss_mb()
# The interpreter and libipld before the file is opened are not the file's doing.
ratio = (peak_mb - before_mb) / size_mb
common.emit(
    row="car-memory", variant=label, measure=f"peak RSS, {size_mb:.0f} MB CAR, {outcome[:60]}",
    value=f"{peak_mb:.0f} MB",
    floor=f"{size_mb:.0f} MB", ratio=ratio, target="<= 3x", ok=ratio <= 3, rss_mb=peak_mb,
    note=f"{outcome} in {elapsed:.1f}s; {before_mb:.0f} MB before opening it",
    seconds=elapsed,
)
