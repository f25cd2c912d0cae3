"""Stored credentials: ciphertext only, keys from RAPPORT_ENCRYPTION_KEYS, rotation, unreadable rows."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from relationships import crypto
from relationships.models import Source

pytestmark = pytest.mark.django_db

SECRET = "app-pass-wxyz-1234-abcd-SECRET"


def raw_credentials(source_id) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials_ciphertext FROM {Source._meta.db_table} WHERE id = %s", [source_id])
        return bytes(cursor.fetchone()[0])


def test_the_database_holds_only_ciphertext(alice):
    source = Source.objects.create(user=alice, platform="bluesky", kind=Source.Kind.ACCOUNT)
    source.set_credentials({"app_password": SECRET})
    source.save()
    raw = raw_credentials(source.pk)
    assert SECRET.encode() not in raw and b"app_password" not in raw
    assert Source.objects.get(pk=source.pk).get_credentials() == {"app_password": SECRET}


def test_the_keys_come_from_the_encryption_setting_not_the_secret_key(alice, settings):
    source = Source.objects.create(user=alice, platform="bluesky", kind=Source.Kind.ACCOUNT)
    source.set_credentials({"app_password": SECRET})
    source.save()
    settings.SECRET_KEY = "something else entirely"
    assert Source.objects.get(pk=source.pk).get_credentials()["app_password"] == SECRET
    settings.RAPPORT_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.CredentialsUnreadable):
        Source.objects.get(pk=source.pk).get_credentials()


def test_rotate_keys_reencrypts_every_row_so_the_old_key_can_be_dropped(alice, settings):
    old = settings.RAPPORT_ENCRYPTION_KEYS[0]
    sources = []
    for n in range(3):
        source = Source.objects.create(user=alice, platform="mastodon", kind=Source.Kind.ACCOUNT)
        source.set_credentials({"access_token": f"token-{n}"})
        source.save()
        sources.append(source)
    new = Fernet.generate_key().decode()
    settings.RAPPORT_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_keys")
    settings.RAPPORT_ENCRYPTION_KEYS = [new]
    assert [Source.objects.get(pk=s.pk).get_credentials()["access_token"] for s in sources] == [
        "token-0", "token-1", "token-2"
    ]


def test_every_ciphertext_field_is_found_for_rotation():
    found = {(model.__name__, name) for model, name in crypto.encrypted_fields()}
    assert ("Source", "credentials_ciphertext") in found
