"""Encryption of stored platform credentials.

Keys come from RAPPORT_ENCRYPTION_KEYS (never from SECRET_KEY), the first one
current: MultiFernet decrypts with any of them and encrypts with the first, so
keys rotate with `manage.py rotate_keys`.
"""

from __future__ import annotations

import json

from cryptography.fernet import InvalidToken, MultiFernet, Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialsUnreadable(Exception):
    """Stored credentials cannot be decrypted with any configured key."""


def _fernet() -> MultiFernet:
    keys = settings.RAPPORT_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured(
            "RAPPORT_ENCRYPTION_KEYS is not set: Rapport cannot store or read platform credentials without it."
        )
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt_json(data: dict) -> bytes:
    return _fernet().encrypt(json.dumps(data, separators=(",", ":")).encode())


def decrypt_json(token: bytes) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token))
    except (InvalidToken, ValueError) as exc:
        raise CredentialsUnreadable("The stored credentials cannot be decrypted with the configured keys.") from exc


def rotate(token: bytes) -> bytes:
    """Re-encrypt under the current (first) key."""
    try:
        return _fernet().rotate(token)
    except InvalidToken as exc:
        raise CredentialsUnreadable("The stored credentials cannot be decrypted with the configured keys.") from exc


def encrypted_fields():
    """Every (model, field name) holding ciphertext: fields named ``*_ciphertext``.

    Found from the models rather than listed, so a new encrypted field is
    rotated the day it is added.
    """
    from django.apps import apps

    for model in apps.get_app_config("relationships").get_models():
        for field in model._meta.get_fields():
            if getattr(field, "name", "").endswith("_ciphertext") and field.concrete:
                yield model, field.name
