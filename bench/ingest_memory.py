"""Peak RSS of ingesting n synthetic records streamed from a generator."""

import time

from bench import common

opts = common.args()
common.setup_django()

from django.contrib.auth import get_user_model  # noqa: E402

from relationships.models import Source  # noqa: E402
from relationships.services.intake.ingest import ingest  # noqa: E402

user = get_user_model().objects.create_user("bench")
source = Source.objects.create(user=user, platform="mastodon", kind="archive")
started = time.perf_counter()
result = ingest(user, source, common.synthetic_records(opts["n"]))
elapsed = time.perf_counter() - started
assert result.new == opts["n"], result.as_dict()
common.emit(
    row="ingest-memory", variant=opts["label"], measure="peak RSS", value=f"{common.peak_rss_mb():.0f} MB",
    rss_mb=common.peak_rss_mb(), floor="", note=f"{opts['n'] / elapsed:,.0f} records/s",
)
