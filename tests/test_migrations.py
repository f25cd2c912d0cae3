"""Upgrades keep every user's data: a database at an earlier migration, with rows in it, migrated forward."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_MERGED_PERSON = [("relationships", "0005_rapport_covering_timeline_index")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes("relationships")


def test_adding_merged_people_keeps_every_person_identity_and_interaction():
    old = _migrate(BEFORE_MERGED_PERSON)
    User = old.get_model("auth", "User")
    Person, Identity = old.get_model("relationships", "Person"), old.get_model("relationships", "Identity")
    Interaction = old.get_model("relationships", "Interaction")
    alice = User.objects.create(username="alice")
    lena = Person.objects.create(user=alice, name="Lena Berg", notes="met at the meetup", tags=["design"])
    ana = Person.objects.create(user=alice, name="Ana")
    identity = Identity.objects.create(user=alice, person=lena, platform="mastodon",
                                       external_id="https://social.example/users/lena", handle="lena@social.example")
    Identity.objects.create(user=alice, person=ana, platform="bluesky", external_id="did:plc:ana",
                            handle="ana.bsky.social")
    Interaction.objects.create(user=alice, identity=identity, platform="mastodon",
                               external_id="https://social.example/@lena/1", kind="reply", direction="in",
                               occurred_at=dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC), day=dt.date(2026, 6, 1))
    before = {
        "people": sorted(Person.objects.values_list("pk", "name", "notes")),
        "identities": sorted(Identity.objects.values_list("pk", "person_id", "handle")),
        "interactions": sorted(Interaction.objects.values_list("pk", "identity_id", "external_id")),
    }

    new = _migrate(_latest())

    Person, Identity = new.get_model("relationships", "Person"), new.get_model("relationships", "Identity")
    Interaction = new.get_model("relationships", "Interaction")
    MergedPerson = new.get_model("relationships", "MergedPerson")
    assert {
        "people": sorted(Person.objects.values_list("pk", "name", "notes")),
        "identities": sorted(Identity.objects.values_list("pk", "person_id", "handle")),
        "interactions": sorted(Interaction.objects.values_list("pk", "identity_id", "external_id")),
    } == before
    # The new table works on the upgraded database: a merge can record where Ana went.
    MergedPerson.objects.create(user_id=alice.pk, merged_id=ana.pk, person_id=lena.pk)
    assert MergedPerson.objects.get().person_id == lena.pk


BEFORE_FOLLOW_SOURCE = [("relationships", "0010_archive_sources_one_per_account")]


def test_remembering_the_account_that_followed_keeps_every_follow_attempt():
    old = _migrate(BEFORE_FOLLOW_SOURCE)
    User = old.get_model("auth", "User")
    Person, Identity = old.get_model("relationships", "Person"), old.get_model("relationships", "Identity")
    Nudge, FollowAttempt = old.get_model("relationships", "Nudge"), old.get_model("relationships", "FollowAttempt")
    alice = User.objects.create(username="alice")
    ana = Person.objects.create(user=alice, name="Ana")
    identity = Identity.objects.create(user=alice, person=ana, platform="bluesky", external_id="did:plc:ana",
                                       handle="ana.bsky.social", i_follow=True)
    nudge = Nudge.objects.create(user=alice, person=ana, kind="follow", state="acted", outcome="following",
                                 reason="You've talked with Ana on 5 different days — follow them?")
    FollowAttempt.objects.create(user=alice, person=ana, identity=identity, nudge=nudge, platform="bluesky",
                                 state="following", reason="Followed.", evidence=[{"id": 1, "kind": "reply"}],
                                 record_uri="at://did:plc:alice/app.bsky.graph.follow/3kq")
    FollowAttempt.objects.create(user=alice, person=ana, identity=identity, platform="bluesky", state="failed",
                                 reason="Interrupted.")
    fields = ("pk", "nudge_id", "state", "reason", "record_uri", "evidence")
    before = sorted(FollowAttempt.objects.values_list(*fields))

    new = _migrate(_latest())

    FollowAttempt = new.get_model("relationships", "FollowAttempt")
    assert sorted(FollowAttempt.objects.values_list(*fields)) == before
    # Not guessed: an earlier attempt does not say which account followed.
    assert set(FollowAttempt.objects.values_list("source_id", flat=True)) == {None}
    # The new state is usable on the upgraded database.
    FollowAttempt.objects.filter(state="following").update(state="undone")
    assert FollowAttempt.objects.filter(state="undone").count() == 1
