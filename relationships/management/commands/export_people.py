"""``manage.py export_people --user NAME --format json|csv [--output FILE]``: every Person of a user."""

import os
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from relationships.services import export


class Command(BaseCommand):
    help = "Export every person of a user, with identities, counts and nudges, as JSON or CSV."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, metavar="NAME", help="The username whose people to export.")
        parser.add_argument("--format", required=True, choices=export.FORMATS, dest="fmt")
        parser.add_argument("--output", metavar="FILE", help="Write here instead of standard output.")

    def handle(self, *args, user, fmt, output=None, **options):
        try:
            owner = get_user_model().objects.get_by_natural_key(user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {user!r}.") from None
        if not output:
            # The export writes pieces of lines; the wrapper must not end each with a newline.
            self.stdout.ending = ""
            export.write(owner, fmt, self.stdout)
            return
        target = Path(output)
        if not target.parent.is_dir():
            raise CommandError(f"Cannot write {output}: directory {target.parent} does not exist.")
        # Written beside the target and renamed into place, so a failed export
        # never leaves a half-written file where a script expects a whole one.
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                count = export.write(owner, fmt, out)
            os.replace(tmp, target)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.stderr.write(f"Exported {count} people to {output}.")
