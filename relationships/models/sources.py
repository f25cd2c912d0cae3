"""Where interactions come from: connected accounts, imported archives, and the OAuth apps behind them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from relationships.platforms import records

PLATFORM_CHOICES = [
    (records.MASTODON, "Mastodon"),
    (records.BLUESKY, "Bluesky"),
    (records.X, "X"),
]


class Source(models.Model):
    """One connected account or one imported archive of a user."""

    class Kind(models.TextChoices):
        ACCOUNT = "account", "connected account"
        ARCHIVE = "archive", "imported archive"

    class State(models.TextChoices):
        ACTIVE = "active"
        NEEDS_REAUTH = "needs_reauth", "needs reconnecting"
        ERROR = "error"
        DISABLED = "disabled"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sources")
    platform = models.CharField(max_length=16, choices=PLATFORM_CHOICES)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ACCOUNT)
    label = models.CharField(max_length=200, blank=True)
    base_url = models.URLField(blank=True, help_text="Instance or PDS URL for connected accounts.")
    handle = models.CharField(max_length=255, blank=True)
    # The user's own account on this platform, as the platform names it; never a Person.
    account_external_id = models.CharField(max_length=512, blank=True)
    # MultiFernet ciphertext of a JSON object; see relationships.crypto. Never rendered.
    credentials_ciphertext = models.BinaryField(blank=True, default=b"", editable=False)
    cursors = models.JSONField(default=dict, blank=True)
    # Imported archives: the newest file read into the source and its kind
    # (every file, with the one each import reads, is an ArchiveFile).
    archive_path = models.CharField(max_length=1024, blank=True)
    archive_kind = models.CharField(max_length=32, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="Things counted without a person, e.g. likes.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    state_reason = models.TextField(blank=True)
    # Sentences about the last sync a person should read, e.g. that the app
    # password does not allow Bluesky chat; replaced by every successful sync.
    notices = models.JSONField(default=list, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Set by the conditional UPDATE that claims a sync; cleared when it ends.
    sync_claimed_until = models.DateTimeField(null=True, blank=True)
    # When beat's sweep next queues a sync (services/intake/sync.py); unset
    # means one interval after the last sync. Each sync that found nothing new
    # adds one to quiet_syncs, which doubles the interval up to the admin's bound.
    next_sync_at = models.DateTimeField(null=True, blank=True)
    quiet_syncs = models.PositiveSmallIntegerField(default=0)
    # When a sync last read the whole list of accounts this account follows (at most daily:
    # services/intake/sync.py); ingest sets it with the follows that list cleared, never after a partial read.
    following_read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The beat sweep: active connected sources whose next sync is due.
            models.Index(fields=["state", "kind", "next_sync_at"], name="source_next_sync_idx"),
        ]
        constraints = [
            # services/intake/imports.py: an archive of an account the user already
            # imported from is read into that source; two imports learning the
            # same account at once cannot both keep a source of their own.
            models.UniqueConstraint(
                fields=["user", "platform", "account_external_id"],
                condition=Q(kind="archive") & ~Q(account_external_id=""),
                name="source_one_archive_per_account",
            ),
        ]

    def __str__(self) -> str:
        return self.label or f"{self.get_platform_display()} {self.handle or self.get_kind_display()}"

    def set_credentials(self, data: dict) -> None:
        from relationships.crypto import encrypt_json

        self.credentials_ciphertext = encrypt_json(data)

    def get_credentials(self) -> dict:
        """Decrypt the stored credentials; raises relationships.crypto.CredentialsUnreadable."""
        from relationships.crypto import decrypt_json

        return decrypt_json(bytes(self.credentials_ciphertext or b""))

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_ciphertext)


class ArchiveFile(models.Model):
    """One export file read into an archive source: its import reads it, the Sources page lists it.

    An archive source gathers every file of the same account (a newer
    archive extends it), so the file an import reads is the job's own, not
    the source's latest.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="archive_files")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="files")
    job = models.OneToOneField(
        "Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="archive_file"
    )
    # The name it was uploaded under (or the path's last part), as the user knows it.
    name = models.CharField(max_length=255, blank=True)
    # Where it is stored; an upload is deleted once its import has ended.
    path = models.CharField(max_length=1024)
    kind = models.CharField(max_length=32)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "pk"]

    def __str__(self) -> str:
        return self.name or self.path


class MastodonApp(models.Model):
    """Rapport's OAuth app on one Mastodon instance, registered once and reused.

    Keyed by the redirect URI too: an install reached under another address
    needs an app that accepts that address.
    """

    base_url = models.URLField()
    redirect_uri = models.URLField(max_length=1024)
    client_id = models.CharField(max_length=255)
    # The scopes it was registered with: an authorization may only ask for these, so
    # an app registered before Rapport asked for more is registered again.
    scopes = models.CharField(max_length=500, blank=True)
    # MultiFernet ciphertext of {"client_secret": ...}; see relationships.crypto.
    secret_ciphertext = models.BinaryField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # services/intake/connect.py: get-or-register; a racing registration loses and reuses the winner.
            models.UniqueConstraint(fields=["base_url", "redirect_uri"], name="mastodon_app_unique"),
        ]

    def __str__(self) -> str:
        return f"Mastodon app on {self.base_url}"

    def set_secret(self, secret: str) -> None:
        from relationships.crypto import encrypt_json

        self.secret_ciphertext = encrypt_json({"client_secret": secret})

    def get_secret(self) -> str:
        """Raises relationships.crypto.CredentialsUnreadable."""
        from relationships.crypto import decrypt_json

        return str(decrypt_json(bytes(self.secret_ciphertext or b"")).get("client_secret", ""))
