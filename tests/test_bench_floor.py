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


IDENTITY_FIELDS = ("platform", "external_id", "handle", "display_name", "profile_links", "name_key", "handle_key")
INTERACTION_FIELDS = ("identity__external_id", "platform", "external_id", "kind", "direction", "occurred_at", "day",
                      "permalink", "excerpt", "thread_id", "named_count")


def _stored(user):
    return (
        sorted(Identity.objects.filter(user=user).values_list(*IDENTITY_FIELDS)),
        sorted(Interaction.objects.filter(user=user).values_list(*INTERACTION_FIELDS)),
        Person.objects.filter(user=user).count(),
        InteractionSource.objects.filter(interaction__user=user).count(),
    )


@pytest.mark.django_db(transaction=True)
def test_the_ingest_benchs_floor_writes_what_ingest_writes_for_its_records(django_user_model):
    """The ingest bench times ingest against rows_from_records: both must store the same rows.

    A floor that lagged the schema (identity keys added later) made `make bench` stop at its first row.
    """
    from bench.common import synthetic_records
    from bench.floor import rows_from_records, write
    from relationships.services.intake.ingest import ingest

    records = list(synthetic_records(120, identities=9))
    floor_user = django_user_model.objects.create_user("floor")
    floor_source = Source.objects.create(user=floor_user, platform="mastodon", kind="archive")
    write(rows_from_records(floor_user, floor_source, records))
    by_floor = _stored(floor_user)
    # The floor's ids start at 1 (empty tables); ingest's come from the sequences: one after the other.
    InteractionSource.objects.all().delete()
    Interaction.objects.all().delete()
    Identity.objects.all().delete()
    Person.objects.all().delete()

    user = django_user_model.objects.create_user("ingest")
    source = Source.objects.create(user=user, platform="mastodon", kind="archive")
    assert ingest(user, source, records).new == 120

    assert by_floor[2:] == (9, 120)
    assert by_floor == _stored(user)
