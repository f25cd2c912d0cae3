from django.core.management.base import BaseCommand, CommandError

from relationships.platforms.archives.synthetic import write_synthetic_archive


class Command(BaseCommand):
    help = "Write a synthetic archive of N posts (one interaction each) for benchmarks and demos."

    def add_arguments(self, parser):
        parser.add_argument("out")
        parser.add_argument("--kind", required=True, choices=["x", "mastodon", "bluesky"])
        parser.add_argument("--size", type=int, required=True)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, out, kind, size, seed, **options):
        if size < 1:
            raise CommandError("--size must be at least 1.")
        path = write_synthetic_archive(kind, size, out, seed=seed)
        self.stdout.write(self.style.SUCCESS(f"Wrote a synthetic {kind} archive of {size:,} posts to {path}."))
