import os

from django.core.management.base import BaseCommand, CommandError
from django.views.decorators.debug import sensitive_variables

from relationships.forms.connect import APP_PASSWORD_RE
from relationships.management.commands.connect_mastodon import _connected, _owner, _prompt
from relationships.services.intake import connect


class Command(BaseCommand):
    help = (
        "Connect a Bluesky account with an app password (never the main password) and print the new source's id. "
        "The app password comes from --app-password, RAPPORT_APP_PASSWORD or a prompt."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="The Rapport user who owns the account.")
        parser.add_argument("--handle", required=True, help="The Bluesky handle, e.g. alice.bsky.social.")
        parser.add_argument("--app-password", dest="app_password", help="Prefer RAPPORT_APP_PASSWORD or the prompt.")
        parser.add_argument("--service", help="The PDS URL, for self-hosted servers (default: bsky.social).")

    @sensitive_variables("app_password")
    def handle(self, *args, user, handle, app_password, service, **options):
        owner = _owner(user)
        app_password = app_password or os.environ.get("RAPPORT_APP_PASSWORD")
        app_password = (app_password or _prompt("Bluesky app password: ", "RAPPORT_APP_PASSWORD")).strip().lower()
        if not APP_PASSWORD_RE.match(app_password):
            raise CommandError("That is not an app password (xxxx-xxxx-xxxx-xxxx). Never use your main password.")
        _connected(self, owner, lambda: connect.connect_bluesky(owner, handle, app_password, service or None))
