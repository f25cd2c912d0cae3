"""The admin: staff only, every model registered, no stored credential shown."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from relationships.models import MastodonApp, Source

pytestmark = pytest.mark.django_db


def test_every_model_of_the_app_has_an_admin():
    missing = [m.__name__ for m in apps.get_app_config("relationships").get_models() if m not in admin.site._registry]
    assert missing == []


def test_a_non_staff_user_is_refused_by_the_admin(alice_client):
    response = alice_client.get(reverse("admin:relationships_source_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_see_sources_and_apps_but_never_their_credentials(client, django_user_model):
    staff = django_user_model.objects.create_user("root", password="pw-long-enough-123", is_staff=True, is_superuser=True)
    source = Source.objects.create(user=staff, platform="mastodon", kind=Source.Kind.ACCOUNT, handle="me@x.example")
    source.set_credentials({"access_token": "TOKEN-VISIBLE-NOWHERE"})
    source.save()
    app = MastodonApp(base_url="https://x.example", redirect_uri="https://r.example/cb", client_id="cid")
    app.set_secret("SECRET-VISIBLE-NOWHERE")
    app.save()
    client.force_login(staff)
    for url in (
        reverse("admin:relationships_source_change", args=[source.pk]),
        reverse("admin:relationships_source_changelist"),
        reverse("admin:relationships_mastodonapp_change", args=[app.pk]),
    ):
        body = client.get(url).content.decode()
        assert "VISIBLE-NOWHERE" not in body and "ciphertext" not in body
        assert bytes(source.credentials_ciphertext).decode() not in body
