"""Drive a connector the way the sync service does, without a database.

Records are kept only once a checkpoint covers them and cursors are stored
at each checkpoint, so a run that dies midway leaves exactly what the real
service would have committed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from relationships.platforms.errors import PlatformError
from relationships.platforms.records import CheckpointRecord, InteractionRecord, Record

LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass
class SyncRun:
    records: list[Record] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    error: PlatformError | None = None

    def of(self, kind: type) -> list:
        return [r for r in self.records if isinstance(r, kind)]

    def interactions(self) -> set[tuple[str, str, str, str]]:
        """(external id, identity, kind, direction): the ingest key, without the user."""
        return {(r.external_id, r.identity_id, r.kind, r.direction) for r in self.of(InteractionRecord)}


def run_sync(connector, cursors: dict[str, str] | None = None, since: dt.datetime | None = LONG_AGO) -> SyncRun:
    """One sync; a PlatformError ends it and is kept in ``run.error``, as a task would see it."""
    run = SyncRun(cursors=dict(cursors or {}))
    pending: list[Record] = []
    try:
        for record in connector.fetch(dict(run.cursors), since):
            if isinstance(record, CheckpointRecord):
                run.records.extend(pending)
                pending = []
                run.checkpoints.append(record)
                if record.cursor is None:
                    run.cursors.pop(record.stream, None)
                else:
                    run.cursors[record.stream] = record.cursor
            else:
                pending.append(record)
        run.records.extend(pending)
    except PlatformError as e:
        run.error = e
    return run
