import getpass
import os
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.views.decorators.debug import sensitive_variables

from relationships.services.intake import connect


class Command(BaseCommand):
    help = (
        "Connect a Mastodon account with an access token and print the new source's id. The token comes from "
        "--token, the RAPPORT_TOKEN environment variable or a prompt (so it need not appear in a process list)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="The Rapport user who owns the account.")
        parser.add_argument("--instance", required=True, help="The Mastodon server: a domain or a URL.")
        parser.add_argument("--token", help="An access token (prefer RAPPORT_TOKEN or the prompt).")

    @sensitive_variables("token")
    def handle(self, *args, user, instance, token, **options):
        owner = _owner(user)
        token = token or os.environ.get("RAPPORT_TOKEN") or _prompt("Mastodon access token: ", "RAPPORT_TOKEN")
        _connected(self, owner, lambda: connect.connect_mastodon_token(owner, instance, token))


def _owner(username: str):
    owner = get_user_model().objects.filter(username=username).first()
    if owner is None:
        raise CommandError(f"No user named {username!r}.")
    return owner


def _connected(command: BaseCommand, owner, connecting) -> None:
    """Run ``connecting()``; say what was connected, or refuse with the reason."""
    try:
        source = connecting()
    except connect.ConnectError as exc:
        raise CommandError(str(exc)) from None
    command.stderr.write(f"Connected {source} for {owner.username}.")
    # Only the id on stdout, so scripts can capture it.
    command.stdout.write(str(source.pk))


def _prompt(label: str, variable: str) -> str:
    if not sys.stdin.isatty():
        raise CommandError(f"Pass the secret in {variable} or run in a terminal to be asked for it.")
    return getpass.getpass(label)
