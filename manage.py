#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def read_development_env() -> None:
    """After `make run`, a command typed in a new terminal runs with its settings.

    `make run` writes var/dev.env (DEBUG on, open sign-up, the generated
    encryption key). Without it, `.venv/bin/python manage.py ...` in another
    terminal would stop at "SECRET_KEY must be set when DEBUG is off". Only
    the command line reads it, never gunicorn or a worker; a variable already
    set in the environment wins, so production's own settings are untouched.
    """
    from dotenv import load_dotenv

    var = Path(os.environ.get("RAPPORT_VAR_DIR") or ROOT / "var")
    load_dotenv(var / "dev.env", override=False)


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    read_development_env()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
