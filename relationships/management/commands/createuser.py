import getpass
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.views.decorators.debug import sensitive_variables


class Command(BaseCommand):
    help = "Add a user. The password comes from RAPPORT_PASSWORD or a prompt, never from the command line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--staff", action="store_true", help="Allow this user into the admin.")

    @sensitive_variables("password")
    def handle(self, *args, username, email, staff, **options):
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            raise CommandError(f"A user named {username!r} already exists.")
        password = os.environ.get("RAPPORT_PASSWORD")
        if password is None:
            if not os.isatty(0):
                raise CommandError("Set RAPPORT_PASSWORD or run in a terminal to be asked for the password.")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ.")
        user = User(username=username, email=email, is_staff=staff)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"Created user {username!r} (id {user.pk})."))
