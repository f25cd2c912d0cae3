from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from relationships.models import Job
from relationships.platforms.archives import KINDS, ArchiveError
from relationships.services.intake import imports, jobs
from relationships.services.intake.rescore import rescore


class Command(BaseCommand):
    help = "Import an X, Mastodon or Bluesky export for a user, in the foreground, then recompute rapport."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--user", required=True)
        parser.add_argument("--kind", choices=KINDS, help="Override the detection from the file's contents.")

    def handle(self, *args, path, user, kind, **options):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}.")
        file = Path(path).resolve()
        if not file.is_file():
            raise CommandError(f"{path}: no such file.")
        try:
            kind = imports.detect(file, kind)
        except ArchiveError as exc:
            raise CommandError(f"{path}: {exc}") from None
        source = imports.create_source(owner, file, kind, filename=file.name)
        job = imports.queue_import(owner, source, send_task=False)
        self.stdout.write(f"Importing {source.label} for {owner.username} (job {job.pk})…")
        bar = _Bar(self.stderr)

        def work(job, progress):
            return imports.run_import(job, progress, on_progress=bar.draw, followups=False)

        outcome = jobs.execute(job.pk, work)
        bar.finish()
        job.refresh_from_db()
        if job.state == Job.State.DONE:
            self.stdout.write(job.summary)
        # What was stored is scored even when a damaged file stopped the
        # import part way ("everything read before this point was kept").
        if job.state == Job.State.DONE or job.source_id and job.source.interactions.exists():
            follows_only = bool((job.counts.get("counts") or {}).get("accounts_followed"))
            self._score(owner, job.source, follows_only=follows_only)
        if job.state != Job.State.DONE:
            raise CommandError(job.error or f"The import ended as {outcome.state}.")

    def _score(self, owner, source, *, follows_only: bool) -> None:
        # An archive of an account already imported from was read into that
        # account's source. A following list touches no interaction but the
        # follow state of many people: then everyone is recomputed.
        touched = list(owner.people.values_list("pk", flat=True).filter(identities__interactions__sources=source).distinct())
        self.stdout.write(self.style.SUCCESS(str(rescore(owner, None if follows_only else touched))))


class _Bar:
    def __init__(self, stream):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = -1

    def draw(self, done, total, result):
        percent = int(100 * done / total) if total else 0
        if not self.tty and percent // 10 == self.last // 10:
            return
        self.last = percent
        filled = percent * 30 // 100
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {percent:3d}%  {result.records_read:,} records, {result.new:,} new"
        self.stream.write(("\r" if self.tty else "") + line + ("" if self.tty else "\n"))
        self.stream.flush()

    def finish(self):
        if self.tty:
            self.stream.write("\n")
