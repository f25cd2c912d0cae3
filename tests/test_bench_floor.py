"""The benchmarks' ingest floor writes rows the schema accepts: `make bench` is not in CI, this is."""

from __future__ import annotations

import pytest

from bench.floor import floor_insert
from relationships.models import Identity, Interaction, InteractionSource, Person, Source


@pytest.mark.django_db(transaction=True)
def test_the_floor_writes_the_same_rows_ingest_would(django_user_model):
    user = django_user_model.objects.create_user("floor")
    source = Source.objects.create(user=user, platform="x", kind="archive")

    floor_insert(user, source, 60, identities=6)

    assert Person.objects.filter(user=user).count() == 6
    assert Interaction.objects.filter(user=user).count() == 60
    assert InteractionSource.objects.filter(source=source).count() == 60
    identity = Identity.objects.filter(user=user).order_by("pk").first()
    assert (identity.handle_key, identity.name_key) == ("u0", "user 0")
