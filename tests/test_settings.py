"""Settings come from the environment and fail loudly on values they cannot read."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROD_KEY = "uXGhBz3wq2m4SJN3Zt1V1mY3HQ2Hn3n1o0xGq4H1u2E="


def run_manage(tmp_path, *args, **env):
    base = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "RAPPORT_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("DEBUG", "maybe", "DEBUG must be one of"),
        ("RAPPORT_OPEN_SIGNUP", "sure", "RAPPORT_OPEN_SIGNUP must be one of"),
        ("RAPPORT_UPLOAD_MAX_BYTES", "4GB", "RAPPORT_UPLOAD_MAX_BYTES must be a whole number"),
        ("RAPPORT_BACKFILL_DAYS", "0", "RAPPORT_BACKFILL_DAYS must be at least 1"),
        ("RAPPORT_ENCRYPTION_KEYS", "not-a-key", "RAPPORT_ENCRYPTION_KEYS: key 1 is not a Fernet key"),
        ("DATABASE_URL", "nosuchdb://x", "DATABASE_URL cannot be read"),
    ],
)
def test_a_bad_value_stops_startup_with_a_message_naming_the_variable(tmp_path, variable, value, message):
    result = run_manage(tmp_path, "check", **{"DEBUG": "1", variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_production_mode_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_manage(tmp_path, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_mode_passes_the_deploy_checklist(tmp_path):
    result = run_manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="a-long-random-production-secret-key-with-enough-entropy-0123456789-abcdefgh",
        ALLOWED_HOSTS="rapport.example.com",
        RAPPORT_ENCRYPTION_KEYS=PROD_KEY,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_deploy_checklist_flags_missing_encryption_keys(tmp_path):
    result = run_manage(
        tmp_path,
        "check",
        "--deploy",
        SECRET_KEY="a-long-random-production-secret-key-with-enough-entropy-0123456789-abcdefgh",
        ALLOWED_HOSTS="rapport.example.com",
    )
    assert result.returncode != 0
    assert "RAPPORT_ENCRYPTION_KEYS is not set" in result.stderr


def test_a_task_time_limit_at_or_above_the_redis_visibility_timeout_is_refused(tmp_path):
    result = run_manage(
        tmp_path, "check", DEBUG="1", REDIS_URL="redis://127.0.0.1:6379/15",
        RAPPORT_VISIBILITY_TIMEOUT="600", CELERY_TASK_TIME_LIMIT="900", CELERY_TASK_SOFT_TIME_LIMIT="800",
    )
    assert result.returncode != 0
    assert "must be below the Redis visibility timeout" in result.stderr


def test_there_are_no_model_changes_without_a_migration(tmp_path):
    result = run_manage(tmp_path, "makemigrations", "--check", "--dry-run", DEBUG="1")
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_hashes_passwords_with_django_default_pbkdf2(tmp_path):
    # The suite swaps in a fast hasher (tests/conftest.py); the real settings must not.
    result = run_manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings; print(settings.PASSWORD_HASHERS[0])",
        DEBUG="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "django.contrib.auth.hashers.PBKDF2PasswordHasher"
