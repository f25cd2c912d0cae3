"""Archive imports: an uploaded or local export file -> records -> ingest, resumable.

Each committed batch stores the importer's ``position`` in the Job's
checkpoint inside the same transaction, so a redelivered or restarted import
skips exactly what is already stored and the final rows and counts equal an
uninterrupted run.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

from django.conf import settings
from django.db import transaction

from ..models import Interaction, Job, Source
from ..platforms import archives
from ..platforms import records as r
from . import jobs
from .ingest import IngestResult, ingest

PLATFORM_OF_KIND = {
    archives.X: r.X,
    archives.MASTODON: r.MASTODON,
    archives.MASTODON_FOLLOWING: r.MASTODON,
    archives.BLUESKY: r.BLUESKY,
}
KIND_LABELS = {
    archives.X: "X archive",
    archives.MASTODON: "Mastodon archive",
    archives.MASTODON_FOLLOWING: "Mastodon following list",
    archives.BLUESKY: "Bluesky repository",
}


def detect(path: str | os.PathLike, kind: str | None = None) -> str:
    """The archive kind (forced or detected); raises archives.ArchiveError for a refused file."""
    detected = archives.detect_kind(path)
    if kind and kind != detected:
        # Let the importer word the refusal ("This looks like a Mastodon archive, not an X archive").
        with archives.open_archive(path, kind=kind):
            pass
    return kind or detected


def create_source(user, path: str | os.PathLike, kind: str, filename: str = "") -> Source:
    return Source.objects.create(
        user=user,
        platform=PLATFORM_OF_KIND[kind],
        kind=Source.Kind.ARCHIVE,
        label=f"{KIND_LABELS[kind]}{f' ({filename})' if filename else ''}",
        archive_path=str(path),
        archive_kind=kind,
    )


def queue_import(user, source: Source, send_task: bool = True) -> Job:
    return jobs.create(
        user,
        kind="import",
        task_name="relationships.import_archive",
        source=source,
        description=f"Import {source.label}",
        send_task=send_task,
    )


def run_import(job: Job, progress: jobs.Progress, *, on_progress=None, followups: bool = True) -> str:
    """Import the job's archive source; returns the summary sentence.

    ``on_progress(done, total, result)`` is called after each batch (the
    command line draws its bar with it). With ``followups`` the rapport
    recompute for the people touched is queued as a Job; the command line
    runs it in the foreground instead.
    """
    source = job.source
    if source is None or source.user_id != job.user_id or source.kind != Source.Kind.ARCHIVE:
        raise jobs.PermanentJobError("This import has no archive of yours to read.")
    path = Path(source.archive_path)
    if not path.exists():
        raise jobs.PermanentJobError("The uploaded file is no longer on the server; please upload it again.")
    position = int(job.checkpoint.get("position", 0))
    result = IngestResult.from_dict(job.counts) if position else IngestResult()
    try:
        importer = archives.open_archive(path, kind=source.archive_kind, skip=position)
    except archives.ArchiveError as exc:
        raise jobs.PermanentJobError(str(exc)) from None
    progress.update(total=importer.total, done=importer.done if position else 0)

    reader = ReadAhead(importer)

    def on_flush(res: IngestResult, _checkpoints) -> None:
        # Runs inside the batch's transaction: the rows and the position of
        # the last record ingest took commit together, so a restart resumes
        # exactly after this batch.
        done, total = reader.progress
        progress.update(done=done, total=total, counts=res.as_dict(), checkpoint={"position": reader.position})
        if on_progress:
            on_progress(done, total, res)

    try:
        with importer, reader:
            result = ingest(job.user, source, reader, on_flush=on_flush, result=result)
    except archives.ArchiveError as exc:
        # What was committed before the damaged part stays; the job says why it stopped.
        raise jobs.PermanentJobError(f"{exc}. Everything read before this point was kept.") from None
    with transaction.atomic():
        locked = Source.objects.select_for_update().get(pk=source.pk)
        locked.counts = {**locked.counts, **dict(result.counts)}
        locked.save(update_fields=["counts"])
    if followups:
        _queue_followups(job, result, resumed=bool(position))
    job.result = result  # for a foreground caller
    return summarize(result, people_seen(source))


def people_seen(source: Source) -> int:
    return (
        Interaction.objects.filter(sources=source).values("identity__person_id").distinct().count()
    )


class ReadAhead:
    """Parse the archive in a thread while ingest writes: the two overlap.

    The importer runs in a background thread that hands over chunks of
    (record, position, progress) through a small bounded queue, so memory
    stays flat; ``position`` and ``progress`` here describe the records the
    consumer has actually taken, never what the thread has read ahead. An
    error in the thread is raised in the consumer; a consumer that stops
    early (an exception in ingest) stops the thread.
    """

    CHUNK = 500

    def __init__(self, importer, depth: int = 8):
        self.importer = importer
        self.position = getattr(importer, "position", 0)
        self.progress = (0, getattr(importer, "total", 0))
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="archive-read-ahead", daemon=True)
        self._started = False

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        chunk = []
        try:
            for record in self.importer:
                chunk.append((record, self.importer.position, self.importer.progress))
                if len(chunk) >= self.CHUNK:
                    if not self._put(chunk):
                        return
                    chunk = []
            if chunk and not self._put(chunk):
                return
            self._put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def __iter__(self):
        if not self._started:
            self._started = True
            self._thread.start()
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            for record, position, progress in item:
                self.position, self.progress = position, progress
                yield record

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._started:
            self._thread.join(timeout=30)


def _queue_followups(job: Job, result: IngestResult, resumed: bool) -> None:
    from .runs import queue_recompute

    # A resumed run only knows the people of its own batches: recompute everyone.
    if resumed:
        queue_recompute(job.user, None, description="Recompute rapport after the import")
    elif result.people_touched:
        queue_recompute(job.user, result.people_touched, description="Recompute rapport after the import")


def summarize(result: IngestResult, people: int) -> str:
    """"12,403 new interactions with 1,208 people; 41 likes without an author counted; 3 records skipped: …"."""
    parts = [
        f"{result.new:,} new interaction{'s' if result.new != 1 else ''}"
        + (f" with {people:,} {'person' if people == 1 else 'people'}" if people else ""),
    ]
    if result.known:
        parts.append(f"{result.known:,} already known")
    likes = result.counts.get("likes_without_author", 0)
    if likes:
        parts.append(f"{likes:,} like{'s' if likes != 1 else ''} without an author counted (the archive does not say whose posts they were)")
    if result.skipped:
        reasons = ", ".join(f"{reason} ({count:,})" for reason, count in result.skipped.most_common(5))
        total = result.skipped_total
        parts.append(f"{total:,} record{'s' if total != 1 else ''} skipped: {reasons}")
    return "; ".join(parts) + "."


def upload_dir() -> Path:
    path = Path(settings.RAPPORT_UPLOAD_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path
