"""Upgrades keep every user's data: a database at an earlier migration, with rows in it, migrated forward."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.migrating import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_MERGED_PERSON = [("relationships", "0005_rapport_covering_timeline_index")]


def test_adding_merged_people_keeps_every_person_identity_and_interaction():
    old = migrate_to(BEFORE_MERGED_PERSON)
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

    new = migrate_to_latest()

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
    old = migrate_to(BEFORE_FOLLOW_SOURCE)
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

    new = migrate_to_latest()

    FollowAttempt = new.get_model("relationships", "FollowAttempt")
    assert sorted(FollowAttempt.objects.values_list(*fields)) == before
    # Not guessed: an earlier attempt does not say which account followed.
    assert set(FollowAttempt.objects.values_list("source_id", flat=True)) == {None}
    # The new state is usable on the upgraded database.
    FollowAttempt.objects.filter(state="following").update(state="undone")
    assert FollowAttempt.objects.filter(state="undone").count() == 1


BEFORE_TRUST = [("relationships", "0011_follow_attempt_undo_and_source")]


def _alice_and_her_archive():
    """The database at BEFORE_TRUST holding alice and her Mastodon archive; the historical models to fill it with."""
    apps = migrate_to(BEFORE_TRUST)
    models = [apps.get_model("relationships", name) for name in ("Person", "Identity", "Interaction", "Source")]
    alice = apps.get_model("auth", "User").objects.create(username="alice")
    archive = models[3].objects.create(user=alice, platform="mastodon", kind="archive", label="Mastodon archive")
    return (*models, alice, archive)


def test_accounts_stored_by_actor_uri_get_their_handle_and_keep_every_row():
    Person, Identity, Interaction, Source, alice, archive = _alice_and_her_archive()

    def someone(external_id, *, name=None, handle=None, display_name="", platform="mastodon"):
        person = Person.objects.create(user=alice, name=name if name is not None else external_id)
        identity = Identity.objects.create(
            user=alice, person=person, platform=platform, external_id=external_id, handle=handle,
            display_name=display_name,
        )
        interaction = Interaction.objects.create(
            user=alice, identity=identity, platform=platform, external_id=f"{external_id}/statuses/1/activity",
            kind="repost", direction="out", occurred_at="2024-03-01T09:00:00Z", day="2024-03-01",
        )
        interaction.sources.add(archive)
        return identity

    boosted = someone("https://mastodon.social/users/s0mmer")
    empty_handle = someone("https://Fosstodon.org/users/kiri", handle="")
    renamed = someone("https://social.lol/users/mcg", name="Mackenzie")  # the user typed this name
    with_display = someone("https://hachyderm.io/users/dee", name="Dee", display_name="Dee")
    numeric = someone("https://new.example/ap/users/117020566092212359")  # no name in the URI
    handled = someone("https://example.net/users/ana", name="ana@example.com", handle="ana@example.com")  # from a Mention
    bluesky = someone("did:plc:ewvi7nxzyoun6zhxrhs64oiz", platform="bluesky")
    counts = (Person.objects.count(), Identity.objects.count(), Interaction.objects.count())

    apps = migrate_to_latest()
    Person = apps.get_model("relationships", "Person")
    Identity = apps.get_model("relationships", "Identity")
    Interaction = apps.get_model("relationships", "Interaction")

    assert (Person.objects.count(), Identity.objects.count(), Interaction.objects.count()) == counts
    assert all(i.sources.count() == 1 for i in Interaction.objects.all())

    def now(identity):
        fresh = Identity.objects.select_related("person").get(pk=identity.pk)
        return fresh.handle, fresh.person.name

    assert now(boosted) == ("s0mmer@mastodon.social", "s0mmer@mastodon.social")
    assert now(empty_handle) == ("kiri@fosstodon.org", "kiri@fosstodon.org")
    assert now(renamed) == ("mcg@social.lol", "Mackenzie")
    assert now(with_display) == ("dee@hachyderm.io", "Dee")
    assert now(numeric) == (None, numeric.external_id)
    assert now(handled) == ("ana@example.com", "ana@example.com")
    assert now(bluesky) == (None, bluesky.external_id)


def test_a_post_stored_twice_for_one_person_under_two_kinds_keeps_the_first_that_applies_and_every_source():
    Person, Identity, Interaction, Source, alice, archive = _alice_and_her_archive()
    account = Source.objects.create(user=alice, platform="mastodon", kind="account", label="Mastodon")
    person = Person.objects.create(user=alice, name="ana@fedi.example")
    ana = Identity.objects.create(user=alice, person=person, platform="mastodon",
                                  external_id="https://fedi.example/users/ana", handle="ana@fedi.example")

    def seen(post, kind, *sources, direction="out"):
        row = Interaction.objects.create(
            user=alice, identity=ana, platform="mastodon", external_id=f"https://inst.example/users/alice/statuses/{post}",
            kind=kind, direction=direction, occurred_at="2024-03-01T09:00:00Z", day="2024-03-01",
        )
        row.sources.add(*sources)
        return row

    seen(1, "mention", archive)  # the archive lost the deleted parent
    seen(1, "reply", account)
    seen(2, "mention", archive, account)
    seen(2, "like", account)  # not a direct kind: stays beside the mention
    seen(3, "quote", archive, account)
    seen(3, "dm", account)
    seen(3, "mention", archive)
    seen(4, "reply", account, direction="in")
    seen(4, "mention", account, direction="out")  # the other direction is another interaction

    apps = migrate_to_latest()
    Interaction = apps.get_model("relationships", "Interaction")
    [recompute] = apps.get_model("relationships", "Job").objects.filter(kind="recompute")
    assert (recompute.user_id, recompute.state, recompute.task_kwargs) == (alice.pk, "queued", {"job_id": recompute.pk})
    rows = {
        (int(i.external_id.rsplit("/", 1)[1]), i.kind, i.direction): sorted(i.sources.values_list("label", flat=True))
        for i in Interaction.objects.all()
    }
    assert rows == {
        (1, "reply", "out"): ["Mastodon", "Mastodon archive"],
        (2, "mention", "out"): ["Mastodon", "Mastodon archive"],
        (2, "like", "out"): ["Mastodon"],
        (3, "dm", "out"): ["Mastodon", "Mastodon archive"],
        (4, "reply", "in"): ["Mastodon"],
        (4, "mention", "out"): ["Mastodon"],
    }


BEFORE_OUTCOMES = [("relationships", "0015_source_next_sync")]


def test_a_follow_a_sync_saw_says_following_like_one_made_here_and_the_undo_keeps_its_rows():
    old = migrate_to(BEFORE_OUTCOMES)
    alice = old.get_model("auth", "User").objects.create(username="alice")
    Person, Identity = old.get_model("relationships", "Person"), old.get_model("relationships", "Identity")
    Nudge, FollowAttempt = old.get_model("relationships", "Nudge"), old.get_model("relationships", "FollowAttempt")

    def nudge(name, kind, state, outcome, made_here=False):
        person = Person.objects.create(user=alice, name=name)
        identity = Identity.objects.create(user=alice, person=person, platform="bluesky", external_id=f"did:plc:{name}")
        row = Nudge.objects.create(user=alice, person=person, kind=kind, state=state, outcome=outcome,
                                   reason=f"You've talked with {name} on 5 different days — follow them?")
        if made_here:
            FollowAttempt.objects.create(user=alice, person=person, identity=identity, nudge=row, platform="bluesky",
                                         state=outcome, reason="Followed.")
        return row.pk

    outcomes = {
        nudge("Ana", "follow", "acted", "followed"): "following",  # a sync saw it
        nudge("Ben", "shows_up", "acted", "followed"): "following",
        nudge("Cy", "follow", "acted", "following", made_here=True): "following",
        nudge("Di", "follow", "acted", "requested", made_here=True): "requested",
        nudge("Ed", "reconnect", "acted", "replied"): "replied",
        nudge("Flo", "follow", "open", "failed"): "failed",
        nudge("Gus", "follow", "open", ""): "",
    }
    before = dict(Nudge.objects.values_list("pk", "state"))

    new = migrate_to_latest()
    Nudge = new.get_model("relationships", "Nudge")
    assert dict(Nudge.objects.values_list("pk", "state")) == before  # nothing lost, no state changed
    assert dict(Nudge.objects.values_list("pk", "outcome")) == outcomes
    assert {value for value, _ in Nudge._meta.get_field("outcome").choices} >= set(outcomes.values()) - {""}

    Nudge = migrate_to(BEFORE_OUTCOMES).get_model("relationships", "Nudge")
    try:
        # Back down, only the follows no attempt made say "followed" again.
        assert sorted(Nudge.objects.filter(outcome="followed").values_list("person__name", flat=True)) == ["Ana", "Ben"]
    finally:
        migrate_to_latest()
