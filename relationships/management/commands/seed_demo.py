from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from relationships.services import demo
from relationships.services.intake import jobs


class Command(BaseCommand):
    help = "Create the demo user (demo/demo) with a believable two-year community. Development only."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates a user with a known password; it runs only with DEBUG on.")
        User = get_user_model()
        user, created = User.objects.get_or_create(username=demo.DEMO_USERNAME, defaults={"email": "demo@example.com"})
        if created:
            user.set_password(demo.DEMO_PASSWORD)
            user.save()

        def report(platform, result):
            self.stdout.write(
                f"  {platform:9} {result.new:>6,} new, {result.known:>6,} already known, "
                f"{result.identities_new:>4} new accounts"
            )

        self.stdout.write("Seeding the demo community through the ingest service…")
        total = demo.seed_records(user, progress=report)
        job = jobs.create(user, kind="seed", task_name="relationships.seed_demo", description="Score the demo community")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo user: username {demo.DEMO_USERNAME!r}, password {demo.DEMO_PASSWORD!r}. "
                f"{total.new:,} new interactions ({total.known:,} already known) with "
                f"{user.people.count():,} people. Scoring queued as job {job.pk} for the worker."
            )
        )
