"""Upgrade tests: put the test database at an earlier migration, fill it with the historical models, migrate forward."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_to(targets: list[tuple[str, str]]):
    """Migrate the test database to ``targets`` (forwards or backwards); return the historical apps there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest():
    """Back to the newest migrations, as the rest of the suite expects; returns the apps there."""
    return migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())
