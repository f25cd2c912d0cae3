"""The scale test's audit: each account's stored interactions against a fresh sync of its platform host.

Runs on rs-plat, whose own addresses the farms neither limit nor count. For
every connected account it syncs the farm again from scratch, with the real
connector and no database writes (tests/fakes/sync.py), and compares the
interaction keys (post id, person's account, kind, direction) with the
Interaction rows stored for that user. Prints one JSON line:
``{"accounts", "checked", "lost", "extra", "examples"}``.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import close_old_connections

    from relationships.models import Interaction, Source
    from relationships.platforms.records import BLUESKY
    from relationships.services.intake.connect import connector_for
    from tests.fakes.sync import run_sync

    sources = list(Source.objects.filter(kind=Source.Kind.ACCOUNT).order_by("pk"))

    def one(source):
        try:
            credentials = source.get_credentials()
            if source.platform == BLUESKY:
                credentials = {"handle": credentials["handle"], "app_password": credentials["app_password"]}
            connector = connector_for(source.platform, source.base_url, credentials, interactive=False)
            run = run_sync(connector)
            if run.error is not None:
                return source.pk, None, None, f"{type(run.error).__name__}: {run.error}"
            expected = run.interactions()
            stored = set(
                Interaction.objects.filter(user_id=source.user_id, platform=source.platform)
                .values_list("external_id", "identity__external_id", "kind", "direction")
            )
            return source.pk, expected, stored, None
        finally:
            close_old_connections()

    lost = extra = checked = 0
    examples, errors = [], []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for pk, expected, stored, error in pool.map(one, sources):
            if error:
                errors.append(f"source {pk}: {error}")
                continue
            checked += len(expected)
            missing, more = expected - stored, stored - expected
            lost += len(missing)
            extra += len(more)
            if (missing or more) and len(examples) < 5:
                examples.append({"source": pk, "lost": sorted(missing)[:3], "extra": sorted(more)[:3]})
    print(json.dumps({"accounts": len(sources), "checked": checked, "lost": lost + 0, "extra": extra,
                      "examples": examples, "errors": errors[:5], "error_count": len(errors)}, default=str))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
