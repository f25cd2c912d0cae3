"""Archive imports: an uploaded or local export file -> records -> ingest, resumable.

Each committed batch stores the importer's ``position`` in the Job's
checkpoint inside the same transaction, so a redelivered or restarted import
skips exactly what is already stored and the final rows and counts equal an
uninterrupted run.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from relationships.models import ArchiveFile, InteractionSource, Job, Source
from relationships.platforms import archives
from relationships.platforms import records as r
from relationships.platforms.archives.process import ArchiveReader
from relationships.services.intake import jobs
from relationships.services.intake.ingest import IngestResult, ingest

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


def detect(path: str | os.PathLike, kind: str | None = None, *, quick: bool = False) -> str:
    """The archive kind (forced or detected); raises archives.ArchiveError for a refused file.

    ``quick`` is for the web request, which must not decompress a whole
    tar.gz (gigabytes of media) to list its members: a tar is taken for the
    kind asked, else for a Mastodon archive (the only export that comes as
    one), and the worker's full read refuses it, with the reason, if not.
    """
    detected = archives.detect_kind(path, quick=quick)
    if detected is None:
        return kind or archives.MASTODON
    if kind and kind != detected:
        # Let the importer word the refusal ("This looks like a Mastodon archive, not an X archive").
        with archives.open_archive(path, kind=kind):
            pass
    return kind or detected


def create_source(user, path: str | os.PathLike, kind: str, filename: str = "") -> Source:
    """A new archive source with the file to read; its import may merge it into the account's source."""
    with transaction.atomic():
        source = Source.objects.create(
            user=user,
            platform=PLATFORM_OF_KIND[kind],
            kind=Source.Kind.ARCHIVE,
            label=f"{KIND_LABELS[kind]}{f' ({filename})' if filename else ''}",
            archive_path=str(path),
            archive_kind=kind,
        )
        ArchiveFile.objects.create(
            user=user, source=source, name=filename or Path(path).name, path=str(path), kind=kind
        )
    return source


def queue_import(user, source: Source, send_task: bool = True) -> Job:
    """A Job reading the source's file not yet read (the one just added)."""
    with transaction.atomic():
        job = jobs.create(
            user,
            kind="import",
            task_name="relationships.import_archive",
            source=source,
            description=f"Import {source.label}",
            send_task=send_task,
        )
        file = source.files.filter(job=None).order_by("-pk").first()
        if file is None:
            # A source made without create_source (older rows): its one file.
            file = ArchiveFile.objects.create(
                user=user, source=source, name=Path(source.archive_path).name, path=source.archive_path,
                kind=source.archive_kind,
            )
        ArchiveFile.objects.filter(pk=file.pk).update(job=job)
    return job


def file_of(job: Job) -> ArchiveFile | None:
    return ArchiveFile.objects.filter(job=job).first()


def run_import(job: Job, progress: jobs.Progress, *, on_progress=None, followups: bool = True) -> str:
    """Import the job's archive source; returns the summary sentence.

    ``on_progress(done, total, result)`` is called after each batch (the
    command line draws its bar with it). With ``followups`` the rapport
    recompute for the people touched is queued as a Job; the command line
    runs it in the foreground instead.
    """
    source = job.source
    file = file_of(job)
    if source is None or file is None or source.user_id != job.user_id or source.kind != Source.Kind.ARCHIVE:
        raise jobs.PermanentJobError("This import has no archive of yours to read.")
    path = Path(file.path)
    if not path.exists():
        raise jobs.PermanentJobError("The uploaded file is no longer on the server; please upload it again.")
    position = int(job.checkpoint.get("position", 0))
    result = IngestResult.from_dict(job.counts) if position else IngestResult()

    def on_flush(res: IngestResult, _checkpoints) -> None:
        # Runs inside the batch's transaction: the rows and the position of
        # the last record ingest took commit together, so a restart resumes
        # exactly after this batch.
        done, total = reader.progress
        progress.update(done=done, total=total, counts=res.as_dict(), checkpoint={"position": reader.position})
        if on_progress:
            on_progress(done, total, res)

    # The records are parsed in a child process while this one writes them.
    with ArchiveReader(path, file.kind, skip=position, position=position) as reader:
        try:
            reader.open()  # a file refused at once is refused here, before any record
        except archives.ArchiveError as exc:
            if not position:
                # The Sources page says why this source holds nothing.
                Source.objects.filter(pk=source.pk).update(state=Source.State.ERROR, state_reason=f"{exc}.")
            raise jobs.PermanentJobError(str(exc)) from None
        done, total = reader.progress
        progress.update(total=total, done=done if position else 0)
        head, rest = _until_account(reader, source.platform)
        if not position and head and _is_self(head[-1], source.platform):
            source = adopt_account(source, head[-1])
        elif not position and file.kind == archives.MASTODON_FOLLOWING:
            source = adopt_following_list(source)
        try:
            result = ingest(job.user, source, itertools.chain(head, rest), on_flush=on_flush, result=result)
        except archives.ArchiveError as exc:
            # What was committed before the damaged part stays, and counts:
            # its people are scored like any import's, then the job says why
            # it stopped.
            _keep(job, source, result, resumed=bool(position), followups=followups)
            raise jobs.PermanentJobError(f"{exc}. Everything read before this point was kept.") from None
        # A file with nothing in it never flushes a batch: its job still ends read to the end.
        done, total = reader.progress
        progress.update(done=total, total=total, counts=result.as_dict())
    _keep(job, source, result, resumed=bool(position), followups=followups)
    return summarize(result, None if position else len(result.people_new))


def _keep(job: Job, source: Source, result: IngestResult, *, resumed: bool, followups: bool) -> None:
    """Record what the import stored on its source, and queue the rapport recompute of its people."""
    with transaction.atomic():
        locked = Source.objects.select_for_update().get(pk=source.pk)
        locked.counts = {**locked.counts, **dict(result.counts)}
        locked.save(update_fields=["counts"])
    if followups:
        _queue_followups(job, result, resumed=resumed)
    job.result = result  # for a foreground caller, also when the import then fails


def _is_self(record: r.Record, platform: str) -> bool:
    return isinstance(record, r.IdentityRecord) and record.is_self and record.platform == platform


def _until_account(records, platform: str) -> tuple[list[r.Record], Iterator[r.Record]]:
    """The records up to the archive's own account, and the rest.

    Importers name the account first; the search stops at the first
    interaction or follow, so nothing is linked to a source before the
    account has chosen which source that is.
    """
    rest = iter(records)
    head: list[r.Record] = []
    try:
        for record in rest:
            head.append(record)
            if _is_self(record, platform) or isinstance(record, (r.InteractionRecord, r.FollowRecord)):
                break
    except archives.ArchiveError as exc:
        # Damage this early is raised after the records before it, as ingest
        # stores whatever its source handed over before failing.
        return head, _raise(exc)
    return head, rest


def _raise(exc: Exception) -> Iterator[r.Record]:
    raise exc
    yield  # a generator: raises when ingest reads on


def adopt_account(source: Source, me: r.IdentityRecord) -> Source:
    """The source this archive of ``me``'s account is read into: the user's one archive source of it.

    The first archive of an account keeps its source, now named for the
    account; a later one (the same file again, a newer export) is merged
    into it: its files and jobs move there and this source goes.
    """
    handle = (me.handle or "")[:255]
    label = f"{KIND_LABELS[source.archive_kind]} of {'@' + handle if handle else me.external_id}"[:200]
    mine = Source.objects.filter(
        user=source.user, platform=source.platform, kind=Source.Kind.ARCHIVE, account_external_id=me.external_id
    )
    with transaction.atomic():
        keep = mine.exclude(pk=source.pk).select_for_update().first()
        if keep is None:
            try:
                with transaction.atomic():
                    Source.objects.filter(pk=source.pk).update(
                        account_external_id=me.external_id, handle=handle or source.handle, label=label
                    )
                    source.refresh_from_db()
                    return source
            except IntegrityError:
                # Another import of the same account took it a moment ago.
                keep = mine.exclude(pk=source.pk).select_for_update().get()
        merge_sources(keep, source)
        keep.refresh_from_db()
        return keep


def adopt_following_list(source: Source) -> Source:
    """The source a Mastodon following list is read into: the user's first following list.

    The CSV names no owner, so no account can tell two lists apart; they give
    follow state only (which belongs to the accounts followed, not to a
    source), never an interaction, so one source for all loses nothing.
    """
    with transaction.atomic():
        keep = (
            Source.objects.select_for_update()
            .filter(user=source.user, kind=Source.Kind.ARCHIVE, archive_kind=archives.MASTODON_FOLLOWING,
                    account_external_id="")
            .exclude(pk=source.pk)
            .order_by("pk")
            .first()
        )
        if keep is None:
            return source
        merge_sources(keep, source)
        Source.objects.filter(pk=keep.pk).update(label=f"{KIND_LABELS[archives.MASTODON_FOLLOWING]}s")
        keep.refresh_from_db()
        return keep


def merge_sources(keep: Source, other: Source) -> None:
    """Move everything ``other`` holds into ``keep`` (the same account's archive source), then delete it.

    Run inside a transaction. Links ``keep`` already has are dropped with
    ``other``; every interaction stays linked to at least one of them.
    """
    InteractionSource.objects.filter(source=other).exclude(
        interaction_id__in=InteractionSource.objects.filter(source=keep).values("interaction_id")
    ).update(source=keep)
    Job.objects.filter(source=other).update(source=keep)
    ArchiveFile.objects.filter(source=other).update(source=keep)
    counts = dict(keep.counts)
    for name, value in other.counts.items():
        # Counts of the same account's archives overlap (a newer export holds
        # the older one's likes): the larger is the truer, never the sum.
        counts[name] = max(value, counts.get(name, 0))
    Source.objects.filter(pk=keep.pk).update(
        counts=counts, archive_path=other.archive_path, archive_kind=other.archive_kind,
        state=Source.State.ACTIVE, state_reason="",
    )
    Source.objects.filter(pk=other.pk).delete()


def _queue_followups(job: Job, result: IngestResult, resumed: bool) -> None:
    from relationships.services.intake.runs import queue_recompute

    # A resumed run only knows the people of its own batches: recompute everyone.
    if resumed:
        queue_recompute(job.user, None, description="Recompute rapport after the import")
    elif result.people_touched:
        queue_recompute(job.user, result.people_touched, description="Recompute rapport after the import")


def summarize(result: IngestResult, people: int | None) -> str:
    """"12,403 new interactions with 1,208 people; 797 accounts you follow recorded; 3 records skipped: …".

    It says only what happened: a following list speaks of follows, not of
    "0 new interactions", and a file with nothing to take says so.
    """
    parts = []
    if result.new or result.known:
        parts.append(
            f"{jobs.counted(result.new, 'new interaction')}"
            # The people of this run's new rows: not everyone the source
            # ever saw. Unknown (None) after a resume.
            + (f" with {jobs.counted(people, 'person', 'people')}" if people else "")
        )
    if result.known:
        parts.append(f"{result.known:,} already known")
    followed = result.counts.get("accounts_followed", 0)
    if followed:
        parts.append(f"{jobs.counted(followed, 'account')} you follow recorded")
    likes = result.counts.get("likes_without_author", 0)
    if likes:
        parts.append(f"{jobs.counted(likes, 'like')} without an author counted (the archive does not say whose posts they were)")
    if not parts:
        parts.append("There was nothing to import" + ("" if result.skipped else ": the file holds no interactions, follows or likes"))
    if result.skipped:
        reasons = ", ".join(f"{reason} ({count:,})" for reason, count in result.skipped.most_common(5))
        parts.append(f"{jobs.counted(result.skipped_total, 'record')} skipped: {reasons}")
    return "; ".join(parts) + "."


def is_upload(path: str | os.PathLike) -> bool:
    """Whether Rapport stored this file itself (an upload), not a path given to `import_archive`."""
    return bool(path) and Path(path).resolve().is_relative_to(Path(settings.RAPPORT_UPLOAD_DIR).resolve())


def discard_upload(job_id: int) -> bool:
    """Delete the uploaded file of a finished import; True when one was deleted.

    An archive holds the user's whole history, DMs included, and can weigh
    gigabytes: once its import has ended (done, or refused for good) the rows
    hold all it gave, and a retry is never coming. Until then the file stays,
    so an interrupted import resumes from it.
    """
    job = Job.objects.filter(pk=job_id).first()
    file = file_of(job) if job is not None else None
    if job is None or not job.is_finished or file is None or not is_upload(file.path):
        return False
    path = Path(file.path)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def upload_dir() -> Path:
    path = Path(settings.RAPPORT_UPLOAD_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path
