from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from relationships.models import Job, Source
from relationships.services.intake import jobs, sync


class Command(BaseCommand):
    help = (
        "Sync a user's connected accounts in the foreground, with progress; then recompute rapport and nudges for "
        "the people touched and print a summary. Exits non-zero with the reason when a sync fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)
        parser.add_argument("--source", type=int, help="Only this source (its id, as connect_* printed it).")

    def handle(self, *args, user, source, **options):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}.")
        sources = sync.syncable().filter(user=owner).order_by("pk")
        if source is not None:
            sources = sources.filter(pk=source)
            if not sources.exists():
                raise CommandError(f"{owner.username} has no connected account with id {source}.")
        else:
            sources = sources.filter(state__in=[Source.State.ACTIVE, Source.State.ERROR])
            if not sources.exists():
                raise CommandError(f"{owner.username} has no connected account to sync.")
        failures = []
        for item in sources:
            problem = self._sync(item)
            if problem:
                failures.append(f"{item}: {problem}")
        if failures:
            raise CommandError("Sync failed. " + " ".join(failures))

    def _sync(self, source: Source) -> str | None:
        """Run one source's sync here; return why it failed, or None."""
        job, _ = sync.queue_sync(source, send_task=False)
        self.stdout.write(f"Syncing {source} (job {job.pk})…")

        def show(stream, result):
            self.stderr.write(
                f"  {stream or 'sync'}: {result.records_read:,} records read, {result.new:,} new, "
                f"{result.known:,} already known"
            )

        outcome = jobs.execute(job.pk, lambda job, progress: sync.run_sync(job, progress, on_progress=show))
        job.refresh_from_db()
        if outcome.state == "busy":
            return f"a worker is running this sync right now (job {job.pk}); try again when it is done."
        if outcome.state == "retry":
            # Nobody retries a foreground run: end it, so the next sync starts afresh from the stored cursors.
            jobs.finish(job, Job.State.FAILED, error=job.error)
            wait = f" Try again in about {int(outcome.retry_in)} seconds." if outcome.retry_in else ""
            return f"{job.error}{wait}"
        if job.state != Job.State.DONE:
            return job.error or f"the sync ended as {outcome.state}."
        self.stdout.write(self.style.SUCCESS(job.summary))
        return None
