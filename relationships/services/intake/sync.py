"""Live sync of connected accounts: claim the source, fetch, ingest, recompute, nudge.

One sync per source at a time, however many workers run: a sync claims its
source with a conditional UPDATE of ``Source.sync_claimed_until`` (a lease
that each committed batch extends; an expired lease can be taken over), and
a second sync of a claimed source ends at once as a no-op.

When each account is synced: ``Source.next_sync_at``. Beat's sweep claims the
due sources with a conditional UPDATE that moves their time on (so a second
beat, or two sweeps at once, queue no sync twice) and queues a sync of each;
a finished sync sets the next time, sooner for an account where something
happened, later for a quiet one (:func:`interval`).

Cursors are stored with the rows they cover: the ingest batch that ends at a
connector checkpoint writes the checkpoint's cursor into ``Source.cursors``
in the same transaction, so a sync stopped by a rate limit, a crash or an
error resumes exactly there, and what was committed stays.

Errors, by what can fix them:

* ``AuthError`` / unreadable credentials: the source becomes ``needs_reauth``,
  no retry (the user reconnects);
* ``RateLimited``: retried when the limit resets, from the stored cursors;
* ``TransientError`` (5xx, timeouts): retried with exponential backoff and
  jitter until ``RAPPORT_JOB_MAX_ATTEMPTS``;
* ``MalformedResponse`` and other permanent refusals: the job fails with the
  reason; ``UnsafeURL`` also puts the source in ``error``.

Whom the account follows: after the streams, once a day at most
(:data:`FOLLOWING_EVERY`, from ``Source.following_read_at``), the sync reads
the whole list (:meth:`Connector.following`) through the same paced session;
ingest records it and unfollows what it no longer holds
(services/intake/following.py). That read is not worth a failed or retried
sync: a page it cannot have (a 429 past the wait, an unreadable answer, a
refusal) ends it with what was stored kept and nothing cleared, the job's
summary says so, and the next sync reads the list again. Only ``AuthError``
goes on as above.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable, Iterable, Iterator
from itertools import chain

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from relationships.crypto import CredentialsUnreadable
from relationships.models import Job, Source
from relationships.platforms.base import Connector, live_platforms
from relationships.platforms.bluesky import classify as bluesky_classify
from relationships.platforms.errors import (
    AuthError,
    MalformedResponse,
    PlatformError,
    RateLimited,
    TransientError,
    UnsafeURL,
)
from relationships.platforms.records import CheckpointRecord, Record
from relationships.services.intake import connect, following, jobs
from relationships.services.intake.ingest import IngestResult, ingest
from relationships.services.intake.rescore import rescore

log = logging.getLogger(__name__)

KIND = "sync"
TASK_NAME = "relationships.sync_source"
#: A rate-limit reset closer than this is waited for in-process; a later one
#: ends the attempt and the job is retried at the reset (a worker never idles long).
MAX_WAIT_SECONDS = 30.0
#: Sources one sweep claims per statement (and per transaction).
CLAIM_BATCH = 500
#: How often a sync reads the whole list of accounts the user follows.
FOLLOWING_EVERY = dt.timedelta(days=1)
#: Quiet syncs counted at most: the interval stops doubling long before.
_QUIET_CAP = 16
#: Skip reasons that deserve a standing note on the source, not just a count.
NOTICES = {
    bluesky_classify.CHAT_NOT_ALLOWED: (
        "Bluesky chat is not allowed for this app password, so direct messages are not read. "
        "To include them, create an app password with “Allow access to your direct messages” and reconnect."
    ),
    "Bluesky chat is not available on this server": (
        "This Bluesky server offers no chat service, so direct messages are not read."
    ),
    bluesky_classify.CHAT_UNREACHABLE: (
        "Bluesky's chat service did not answer, so direct messages were not read in the last sync; "
        "the next sync tries again."
    ),
}

ProgressCallback = Callable[[str | None, IngestResult], None]


def lease() -> dt.timedelta:
    """How long a claim holds without a committed batch; a crashed sync's claim
    expires when the stale-job sweep would queue its job again."""
    return dt.timedelta(minutes=settings.RAPPORT_STALE_JOB_MINUTES)


def syncable():
    """Connected accounts on platforms with a live connector."""
    return Source.objects.filter(kind=Source.Kind.ACCOUNT, platform__in=live_platforms())


def _sync_in_flight():
    return Exists(Job.objects.running().filter(source=OuterRef("pk"), kind=KIND))


# ---------------------------------------------------------------- queueing


def queue_sync(source: Source, *, send_task: bool = True) -> tuple[Job, bool]:
    """Queue a sync Job for ``source`` unless one is queued or running; return (job, created).

    Two "Sync now" clicks or two beat firings at once queue one job: the
    check and the insert run under a lock on the source row (PostgreSQL row
    lock; SQLite's IMMEDIATE transactions serialize writers).
    """
    with transaction.atomic():
        locked = Source.objects.select_for_update().get(pk=source.pk)
        existing = Job.objects.running().filter(source=locked, kind=KIND).order_by("pk").first()
        if existing is not None:
            return existing, False
        job = jobs.create(
            locked.user, kind=KIND, task_name=TASK_NAME, source=locked, description=f"Sync {locked}",
            send_task=send_task,
        )
    return job, True


def interval(quiet_syncs: int) -> dt.timedelta:
    """How long after a sync the next is due: ``RAPPORT_SYNC_INTERVAL_MINUTES`` after one
    that found something new, doubled for each quiet sync since, never past
    ``RAPPORT_SYNC_MAX_INTERVAL_MINUTES``."""
    shortest = dt.timedelta(minutes=settings.RAPPORT_SYNC_INTERVAL_MINUTES)
    return min(_longest_interval(), shortest * 2 ** min(quiet_syncs, _QUIET_CAP))


def _longest_interval() -> dt.timedelta:
    return dt.timedelta(minutes=max(settings.RAPPORT_SYNC_INTERVAL_MINUTES, settings.RAPPORT_SYNC_MAX_INTERVAL_MINUTES))


def reschedule(source: Source, *, active: bool, now: dt.datetime | None = None) -> dt.datetime:
    """Set when ``source`` is next due after a finished sync that found something new (``active``) or not.

    A little jitter (up to a tenth of the interval, within the longest) keeps
    accounts connected together from staying in step.
    """
    now = now or timezone.now()
    quiet = 0 if active else min(source.quiet_syncs + 1, _QUIET_CAP)
    wait = min(_longest_interval(), interval(quiet) * random.uniform(1.0, 1.1))
    Source.objects.filter(pk=source.pk).update(next_sync_at=now + wait, quiet_syncs=quiet)
    source.next_sync_at, source.quiet_syncs = now + wait, quiet
    return source.next_sync_at


def _due(now: dt.datetime) -> Q:
    """Due now: its next sync time has come, or it has none and its last sync is one interval old."""
    cutoff = now - interval(0)
    unscheduled = Q(next_sync_at__isnull=True) & (Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=cutoff))
    return Q(next_sync_at__lte=now) | unscheduled


def due_sources(now: dt.datetime | None = None):
    """Active connected accounts whose next sync is due, with credentials, no
    claim held and no sync job queued or running; the most overdue first."""
    now = now or timezone.now()
    return (
        syncable()
        .filter(state=Source.State.ACTIVE)
        .exclude(credentials_ciphertext=b"")
        .filter(_due(now))
        .filter(Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lt=now))
        .exclude(_sync_in_flight())
        .order_by(F("next_sync_at").asc(nulls_first=True), "last_synced_at", "pk")
    )


def claim_due(now: dt.datetime | None = None, limit: int = CLAIM_BATCH) -> list[int]:
    """Take up to ``limit`` due sources with one conditional UPDATE; return their ids.

    The UPDATE moves each taken source's ``next_sync_at`` one lease ahead, so
    any other sweep (a second beat, a sweep on another worker) takes other
    sources or none. PostgreSQL locks the picked rows ``FOR UPDATE SKIP
    LOCKED``: concurrent sweeps pass over each other's rows instead of
    waiting; SQLite runs the statement under its single writer lock. If the
    sync is never queued, the source is due again when the lease ends.
    """
    now = now or timezone.now()
    quote = connection.ops.quote_name
    table, pk = quote(Source._meta.db_table), quote(Source._meta.pk.column)
    column = quote(Source._meta.get_field("next_sync_at").column)
    until = connection.ops.adapt_datetimefield_value(now + lease())
    with transaction.atomic():
        picked = due_sources(now).only("pk")
        if connection.features.has_select_for_update_skip_locked:
            picked = picked.select_for_update(skip_locked=True, of=("self",))
        sql, params = picked[:limit].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {pk} IN ({sql}) RETURNING {pk}", [until, *params])
            return sorted(row[0] for row in cursor.fetchall())


def sync_due_sources(now: dt.datetime | None = None) -> dict[str, int]:
    """The beat sweep: claim the due sources batch by batch and queue a sync of
    each; one failure never stops the others, and two sweeps at once never
    queue one source twice.

    Returns a readable summary: how many were queued, already queued, or failed to queue.
    """
    jobs.beat("beat")
    summary = {"queued": 0, "already_queued": 0, "failed": 0}
    while taken := claim_due(now):
        for source in Source.objects.filter(pk__in=taken).order_by("pk"):
            try:
                _, created = queue_sync(source)
            except Exception:  # one broken row must not stop the sweep
                log.exception("could not queue a sync of source %s", source.pk)
                summary["failed"] += 1
                continue
            summary["queued" if created else "already_queued"] += 1
    return summary


# ---------------------------------------------------------------- claiming


def claim(source_id: int, now: dt.datetime | None = None) -> dt.datetime | None:
    """Claim the source for one sync with a conditional UPDATE; return the lease end, or None if held."""
    now = now or timezone.now()
    until = now + lease()
    taken = (
        Source.objects.filter(pk=source_id)
        .filter(Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lt=now))
        .update(sync_claimed_until=until)
    )
    return until if taken else None


def release(source_id: int, held: dt.datetime) -> None:
    """Give the claim back, unless it expired and someone else holds it now."""
    Source.objects.filter(pk=source_id, sync_claimed_until=held).update(sync_claimed_until=None)


class _LostClaim(Exception):
    """The lease expired and another sync took the source over."""


# ---------------------------------------------------------------- running


def run_sync(
    job: Job,
    progress: jobs.Progress,
    *,
    on_progress: ProgressCallback | None = None,
) -> str:
    """Sync the job's source; return the summary sentence (the work of a ``sync`` Job).

    Raises ``jobs.PermanentJobError`` / ``jobs.TransientJobError`` as described
    in the module docstring. ``on_progress(stream, result)`` is called after
    each committed batch (the command line prints with it).
    """
    source = job.source
    if source is None or source.user_id != job.user_id or source.kind != Source.Kind.ACCOUNT:
        raise jobs.PermanentJobError("This sync has no connected account of yours to read.")
    if source.platform not in live_platforms():
        raise jobs.PermanentJobError(f"{source.get_platform_display()} accounts cannot be synced live.")
    if source.state == Source.State.NEEDS_REAUTH:
        raise jobs.PermanentJobError(f"{source} needs reconnecting first. {source.state_reason}".strip())
    if source.state == Source.State.DISABLED:
        raise jobs.PermanentJobError(f"{source} is disabled.")
    held = claim(source.pk)
    if held is None:
        return f"Another sync of {source} was already running; this one had nothing to do."
    run = _Run(job, progress, source, held, on_progress)
    try:
        result = run.fetch_and_ingest()
    except _LostClaim:
        return f"Another sync of {source} took over; this one stopped."
    finally:
        run.save_credentials()
        release(source.pk, run.held)
    summary = run.finish(result)
    reschedule(source, active=result.new > 0)
    return summary


class _Run:
    def __init__(self, job, progress, source, held, on_progress):
        self.job = job
        self.progress = progress
        self.source = source
        self.held = held
        self.on_progress = on_progress
        self.connector: Connector | None = None
        self.saved_credentials: dict | None = None
        self.cursors: dict[str, str] = dict(source.cursors or {})
        self.stream: str | None = None
        # A retried job resumes its counts; its earlier attempts' people are not known.
        self.resumed = bool(job.counts)
        # Why the list of accounts the user follows could not be read whole, if it could not.
        self.following_problem = ""

    # -------------------------------------------------------- credentials

    def save_credentials(self) -> None:
        """Store credentials the connector refreshed: after every call, also one that raised."""
        fresh = self.connector.updated_credentials if self.connector is not None else None
        if fresh and fresh != self.saved_credentials:
            connect.save_credentials(self.source, fresh)
            self.saved_credentials = fresh

    def _watched(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            self.save_credentials()
            yield record

    # -------------------------------------------------------- the work

    def fetch_and_ingest(self) -> IngestResult:
        source = self.source
        try:
            credentials = source.get_credentials()
            if not credentials:
                raise AuthError("no credentials are stored")
            self.saved_credentials = credentials
            self.connector = connect.connector_for_source(
                source, credentials, interactive=False, max_wait=MAX_WAIT_SECONDS
            )
            since = timezone.now() - dt.timedelta(days=settings.RAPPORT_BACKFILL_DAYS)
            records = self._watched(chain(self.connector.fetch(dict(self.cursors), since), self._following()))
            result = IngestResult.from_dict(self.job.counts) if self.resumed else IngestResult()
            return ingest(source.user, source, records, on_flush=self._on_flush, result=result)
        except (AuthError, CredentialsUnreadable) as e:
            reason = _reauth_reason(source, e)
            Source.objects.filter(pk=source.pk).update(state=Source.State.NEEDS_REAUTH, state_reason=reason)
            raise jobs.PermanentJobError(reason) from None
        except RateLimited as e:
            # Waiting for a reset is not a failure: it must not use up the job's attempts.
            self.job.attempts = max(0, self.job.attempts - 1)
            Job.objects.filter(pk=self.job.pk).update(attempts=self.job.attempts)
            wait = e.retry_after() + 1.0
            raise jobs.TransientJobError(
                f"{source.get_platform_display()} rate limit reached; continuing after the reset "
                f"(about {wait:.0f}s). Nothing synced so far is lost.",
                retry_in=wait,
            ) from None
        except TransientError as e:
            raise jobs.TransientJobError(
                f"{source.get_platform_display()} could not be reached: {e}. Will try again.",
                retry_in=_backoff(self.job.attempts),
            ) from None
        except UnsafeURL as e:
            reason = f"The server address is refused: {e}."
            Source.objects.filter(pk=source.pk).update(state=Source.State.ERROR, state_reason=reason)
            raise jobs.PermanentJobError(reason) from None
        except MalformedResponse as e:
            raise jobs.PermanentJobError(
                f"{source.get_platform_display()} answered something unreadable ({e}). "
                "Everything synced before this point was kept; the next sync continues from there."
            ) from None
        except PlatformError as e:
            raise jobs.PermanentJobError(
                f"{source.get_platform_display()} refused the sync: {e}. Everything synced before this point was kept."
            ) from None

    def _following(self) -> Iterator[Record]:
        """The whole list of accounts the user follows, when it is due; see the module docstring."""
        read = self.source.following_read_at
        if read is not None and timezone.now() - read < FOLLOWING_EVERY:
            return
        try:
            yield from self.connector.following()
        except AuthError:
            raise
        except PlatformError as e:
            self.following_problem = _following_problem(self.source, e)

    def _on_flush(self, result: IngestResult, checkpoints: list[CheckpointRecord]) -> None:
        # Inside the batch's transaction: the cursor commits with the rows it
        # covers, and the claim is extended only while we still hold it.
        for checkpoint in checkpoints:
            self.stream = checkpoint.stream
            if checkpoint.cursor is None:
                self.cursors.pop(checkpoint.stream, None)
            else:
                self.cursors[checkpoint.stream] = checkpoint.cursor
        until = timezone.now() + lease()
        kept = Source.objects.filter(pk=self.source.pk, sync_claimed_until=self.held).update(
            cursors=self.cursors, sync_claimed_until=until
        )
        if not kept:
            raise _LostClaim()
        self.held = until
        self.progress.update(done=result.records_read, counts=result.as_dict(), checkpoint={"stream": self.stream})
        if self.on_progress:
            self.on_progress(self.stream, result)

    def finish(self, result: IngestResult) -> str:
        source = self.source
        notices = [text for reason, text in NOTICES.items() if result.skipped.get(reason)]
        Source.objects.filter(pk=source.pk).update(
            last_synced_at=timezone.now(), state=Source.State.ACTIVE, state_reason="", notices=notices
        )
        rescored = rescore(source.user, None if self.resumed else result.people_touched)
        said = [summarize(source, result, len(result.people_touched), self.resumed),
                following_sentence(source, result, self.following_problem), str(rescored)]
        return " ".join(part for part in said if part)


def _following_problem(source: Source, error: PlatformError) -> str:
    name = source.get_platform_display()
    if isinstance(error, RateLimited):
        return f"{name}'s rate limit was reached part-way"
    if isinstance(error, MalformedResponse):
        return f"{name} answered something unreadable: {error}"
    if isinstance(error, TransientError):
        return f"{name} could not be reached: {error}"
    return f"{name} refused: {error}"


def _reauth_reason(source: Source, error: Exception) -> str:
    name = source.get_platform_display()
    if isinstance(error, CredentialsUnreadable):
        return f"The stored {name} credentials cannot be decrypted any more. Please reconnect {source}."
    return f"{name} no longer accepts Rapport's access ({error}). Please reconnect {source}."


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter for a retried sync: about 30 s, 60 s, 120 s … up to 10 minutes."""
    return min(600.0, 30.0 * 2 ** max(0, attempt - 1)) * random.uniform(0.5, 1.0)


def following_sentence(source: Source, result: IngestResult, problem: str = "") -> str:
    """What the sync learnt of whom the user follows: "Read the 312 accounts you follow; 2 …", or why not."""
    if problem:
        return (f"The list of accounts you follow could not be read to the end ({problem}); what Rapport knew of "
                "your follows is kept, and the next sync reads it again.")
    if following.READ not in result.counts:
        return ""
    listed = result.counts[following.READ]
    said = f"Read the {jobs.counted(listed, 'account')} you follow" if listed else "You follow no one there"
    if result.counts.get(following.SHARED):
        return (f"{said}; none was marked unfollowed, because another {source.get_platform_display()} account "
                "of yours is in Rapport too.")
    cleared = result.counts.get(following.CLEARED, 0)
    if cleared:
        return f"{said}; {jobs.counted(cleared, 'account')} you no longer follow there marked unfollowed."
    return f"{said}."


def summarize(source: Source, result: IngestResult, people: int, resumed: bool = False) -> str:
    """"Synced Mastodon @ana@host: 12 new interactions (4 people); 30 already known; 3 skipped: …"."""
    new = f"{result.new:,} new interaction{'s' if result.new != 1 else ''}"
    if people and not resumed:
        new += f" ({people:,} {'person' if people == 1 else 'people'})"
    parts = [f"Synced {source}: {new}"]
    if result.known:
        parts.append(f"{result.known:,} already known")
    if result.skipped:
        reasons = ", ".join(f"{reason} ({count:,})" for reason, count in result.skipped.most_common(5))
        parts.append(f"{result.skipped_total:,} skipped: {reasons}")
    return "; ".join(parts) + "."
