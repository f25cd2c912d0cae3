from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from relationships import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential under the first key of RAPPORT_ENCRYPTION_KEYS. "
        "Afterwards the other keys can be removed from the setting."
    )

    def handle(self, *args, **options):
        rotated = unreadable = 0
        for model, field in crypto.encrypted_fields():
            for pk, token in model.objects.exclude(**{field: b""}).values_list("pk", field).iterator():
                try:
                    fresh = crypto.rotate(bytes(token))
                except crypto.CredentialsUnreadable:
                    unreadable += 1
                    self.stderr.write(f"{model.__name__} {pk}: cannot be decrypted with any configured key; left as is.")
                    continue
                with transaction.atomic():
                    model.objects.filter(pk=pk).update(**{field: fresh})
                rotated += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {rotated} stored credential(s) under the current key."))
        if unreadable:
            raise CommandError(
                f"{unreadable} credential(s) could not be decrypted; their sources will ask to be reconnected."
            )
