"""The ingest service: bulk, idempotent, bounded, and owned by one user."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from relationships.models import Identity, Interaction, InteractionSource, Person, Source
from relationships.platforms import records as r
from relationships.services.intake.ingest import ingest

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def ident(ext, handle=None, platform=r.MASTODON, **kw):
    return r.IdentityRecord(platform=platform, external_id=ext, handle=handle, **kw)


def talk(post, who, kind=r.REPLY, direction=r.INBOUND, when=T0, platform=r.MASTODON, named=1):
    return r.InteractionRecord(
        platform=platform, external_id=post, identity_id=who, kind=kind, direction=direction, occurred_at=when,
        named_count=named,
    )


def snapshot(user):
    identities = sorted(
        Identity.objects.filter(user=user).values_list(
            "platform", "external_id", "handle", "display_name", "i_follow", "follows_me"
        )
    )
    interactions = sorted(
        Interaction.objects.filter(user=user).values_list(
            "platform", "external_id", "identity__external_id", "kind", "direction", "occurred_at", "named_count"
        )
    )
    return identities, interactions, Person.objects.filter(user=user).count()


def test_a_post_that_names_two_people_is_two_interactions(alice, make_source):
    source = make_source(alice)
    result = ingest(alice, source, [talk("p1", "https://a.example/users/ana"), talk("p1", "https://b.example/users/ben", kind=r.MENTION)])
    assert result.new == 2
    assert Interaction.objects.filter(user=alice, external_id="p1").count() == 2
    assert Person.objects.filter(user=alice).count() == 2


def test_ingesting_the_same_records_twice_adds_nothing_and_counts_them_as_known(alice, make_source):
    source = make_source(alice)
    batch = [ident("https://a.example/users/ana", "ana@a.example", display_name="Ana")] + [
        talk(f"p{i}", "https://a.example/users/ana", when=T0 + dt.timedelta(hours=i)) for i in range(10)
    ]
    first = ingest(alice, source, batch)
    second = ingest(alice, source, batch)
    assert (first.new, first.known) == (10, 0)
    assert (second.new, second.known) == (0, 10)
    assert Interaction.objects.filter(user=alice).count() == 10
    assert Identity.objects.filter(user=alice).count() == 1


def test_each_interaction_remembers_every_source_that_saw_it(alice, make_source):
    archive = make_source(alice, kind=Source.Kind.ARCHIVE)
    account = make_source(alice, kind=Source.Kind.ACCOUNT)
    ingest(alice, archive, [talk("p1", "ana"), talk("p2", "ana")])
    ingest(alice, account, [talk("p2", "ana"), talk("p3", "ana")])
    seen = {
        ext: sorted(Interaction.objects.get(user=alice, external_id=ext).sources.values_list("pk", flat=True))
        for ext in ("p1", "p2", "p3")
    }
    assert seen == {"p1": [archive.pk], "p2": sorted([archive.pk, account.pk]), "p3": [account.pk]}


@pytest.mark.parametrize("archive_first", [True, False])
def test_a_post_two_sources_classify_differently_keeps_the_first_kind_that_applies_with_both_sources(
    alice, make_source, archive_first
):
    # The archive lost the deleted parent of p1 (a mention there); the API still says whose it was.
    archive = make_source(alice, kind=Source.Kind.ARCHIVE)
    account = make_source(alice, kind=Source.Kind.ACCOUNT)
    ana = "https://a.example/users/ana"
    from_archive = [talk("p1", ana, kind=r.MENTION, direction=r.OUTBOUND), talk("p2", ana, kind=r.MENTION)]
    from_account = [talk("p1", ana, kind=r.REPLY, direction=r.OUTBOUND), talk("p2", ana, kind=r.MENTION)]
    runs = [(archive, from_archive), (account, from_account)]
    if not archive_first:
        runs.reverse()
    first, second = (ingest(alice, source, records) for source, records in runs)

    assert (first.new, first.known) == (2, 0)
    assert (second.new, second.known) == (0, 2)
    rows = {
        (i.external_id, i.kind, i.direction): sorted(i.sources.values_list("pk", flat=True))
        for i in Interaction.objects.filter(user=alice)
    }
    both = sorted([archive.pk, account.pk])
    assert rows == {("p1", r.REPLY, r.OUTBOUND): both, ("p2", r.MENTION, r.INBOUND): both}


def test_one_source_naming_a_post_twice_for_one_person_keeps_one_row(alice, make_source):
    result = ingest(alice, make_source(alice), [
        talk("p1", "ana", kind=r.MENTION), talk("p1", "ana", kind=r.DM), talk("p1", "ana", kind=r.REPLY),
        talk("p1", "ana", kind=r.LIKE),
    ])
    assert (result.new, result.known) == (2, 2)
    assert sorted(Interaction.objects.filter(user=alice).values_list("kind", flat=True)) == [r.DM, r.LIKE]


def test_the_users_own_account_never_becomes_a_person_and_self_replies_are_skipped(alice, make_source):
    source = make_source(alice, platform=r.BLUESKY)
    me = "did:plc:alice"
    result = ingest(
        alice,
        source,
        [
            ident(me, "alice.test", platform=r.BLUESKY, is_self=True),
            talk("at://did:plc:alice/app.bsky.feed.post/1", me, platform=r.BLUESKY),
            talk("at://did:plc:ana/app.bsky.feed.post/2", "did:plc:ana", platform=r.BLUESKY),
        ],
    )
    assert not Identity.objects.filter(user=alice, external_id=me).exists()
    assert Identity.objects.filter(user=alice).count() == 1
    assert result.skipped["with your own account"] == 1
    source.refresh_from_db()
    assert source.account_external_id == me
    # Known from now on, even in a later run that does not say so again.
    later = ingest(alice, source, [talk("at://did:plc:alice/app.bsky.feed.post/9", me, platform=r.BLUESKY)])
    assert later.new == 0 and later.skipped["with your own account"] == 1


def test_another_users_data_is_never_touched(alice, bob, make_source):
    ingest(alice, make_source(alice), [ident("ana", "ana@a.example", display_name="Ana"), talk("p1", "ana")])
    ingest(bob, make_source(bob), [ident("ana", "ana@a.example", display_name="Ana B."), talk("p1", "ana")])
    assert Identity.objects.get(user=alice).display_name == "Ana"
    assert Interaction.objects.filter(user=alice).count() == 1
    assert Interaction.objects.filter(user=bob).count() == 1


def test_an_identity_known_only_by_id_gets_its_handle_and_name_when_a_later_source_learns_it(alice, make_source):
    source = make_source(alice, platform=r.X)
    ingest(alice, source, [r.FollowRecord(platform=r.X, identity_id="12345", follows_me=True)])
    person = Person.objects.get(user=alice)
    assert person.name == "12345"
    ingest(alice, source, [ident("12345", "ana_x", platform=r.X, display_name="Ana")])
    person.refresh_from_db()
    identity = Identity.objects.get(user=alice)
    assert (identity.handle, identity.follows_me, person.name) == ("ana_x", True, "Ana")


def test_a_name_the_user_typed_is_never_overwritten(alice, make_source):
    source = make_source(alice)
    ingest(alice, source, [ident("ana", "ana@a.example")])
    Person.objects.filter(user=alice).update(name="Ana from the book club")
    ingest(alice, source, [ident("ana", "ana@a.example", display_name="Ana Alves")])
    assert Person.objects.get(user=alice).name == "Ana from the book club"


def test_a_guessed_mastodon_key_is_corrected_in_place_when_the_real_uri_is_seen(alice, make_source):
    source = make_source(alice)
    guessed = "https://a.example/users/ana"
    ingest(
        alice,
        source,
        [
            ident(guessed, "ana@a.example", provisional=True),
            r.FollowRecord(platform=r.MASTODON, identity_id=guessed, i_follow=True),
        ],
    )
    real = "https://a.example/ap/users/98765"
    ingest(alice, source, [ident(real, "ana@a.example", display_name="Ana"), talk("p1", real)])
    identity = Identity.objects.get(user=alice)
    assert (identity.external_id, identity.provisional, identity.i_follow) == (real, False, True)
    assert Person.objects.filter(user=alice).count() == 1
    # And a later CSV naming the same account maps onto it instead of making a twin.
    ingest(alice, source, [ident(guessed, "ana@a.example", provisional=True)])
    assert Identity.objects.filter(user=alice).count() == 1


def test_bad_records_are_skipped_with_a_reason_and_good_ones_kept(alice, make_source):
    source = make_source(alice)
    result = ingest(
        alice,
        source,
        [
            talk("p1", "ana"),
            talk("p2", "ana", kind="wave"),
            talk("p3", "ana", when=dt.datetime(1960, 1, 1, tzinfo=dt.UTC)),
            talk("p4", "ana", when=dt.datetime(2200, 1, 1, tzinfo=dt.UTC)),
            talk("p5", "ana", when=dt.datetime(2026, 1, 1)),  # naive
            r.SkipRecord("a post the importer could not read"),
            r.CountRecord("likes_without_author", 41),
        ],
    )
    assert result.new == 1
    assert result.skipped == {
        "unknown interaction kind": 1,
        "time out of range": 2,
        "interaction without a time zone-aware time": 1,
        "a post the importer could not read": 1,
    }
    assert result.counts == {"likes_without_author": 41}


def test_the_day_of_an_interaction_is_counted_in_the_users_time_zone(alice, make_source):
    alice.preferences.time_zone = "Pacific/Auckland"
    alice.preferences.save()
    ingest(alice, make_source(alice), [talk("p1", "ana", when=dt.datetime(2026, 3, 1, 20, 0, tzinfo=dt.UTC))])
    assert Interaction.objects.get(user=alice).day == dt.date(2026, 3, 2)


def test_records_are_consumed_in_batches_never_materialized(alice, make_source, django_assert_max_num_queries):
    source = make_source(alice)
    flushed_before_end = []

    def records():
        for i in range(50):
            if i == 45:
                flushed_before_end.append(Interaction.objects.filter(user=alice).count())
            yield talk(f"p{i}", f"who{i % 7}", when=T0 + dt.timedelta(minutes=i))

    result = ingest(alice, source, records(), batch_size=10)
    assert result.new == 50
    # By record 45, four batches of ten had been written: the generator was
    # read lazily, batch by batch.
    assert flushed_before_end and flushed_before_end[0] >= 40


def test_queries_per_batch_do_not_grow_with_batch_size(alice, make_source, django_assert_max_num_queries):
    source = make_source(alice)
    records = [talk(f"p{i}", f"who{i % 50}", when=T0 + dt.timedelta(minutes=i)) for i in range(800)]
    with django_assert_max_num_queries(25):
        ingest(alice, source, records, batch_size=1000)


def test_checkpoints_flush_and_reach_the_callback_inside_the_batch_transaction(alice, make_source):
    source = make_source(alice)
    seen = []

    def on_flush(result, checkpoints):
        seen.append((result.new, [c.cursor for c in checkpoints]))

    ingest(
        alice,
        source,
        [talk("p1", "ana"), r.CheckpointRecord("notifications", "100"), talk("p2", "ana"), r.CheckpointRecord("notifications", "200")],
        on_flush=on_flush,
    )
    assert seen[:2] == [(1, ["100"]), (2, ["200"])]


def test_a_source_that_fails_part_way_keeps_what_it_handed_over_and_the_failure_goes_up(alice, make_source):
    # A platform answering nonsense on its third page: the two pages before
    # are stored (past one full batch, inside the next), then its error is raised.
    source = make_source(alice)
    flushed = []

    def pages():
        for n in range(250):
            yield talk(f"p{n}", f"https://a.example/users/u{n % 7}", when=T0 + dt.timedelta(minutes=n))
        raise ValueError("page 3 is not JSON")

    with pytest.raises(ValueError, match="page 3 is not JSON"):
        ingest(alice, source, pages(), batch_size=100, on_flush=lambda result, _c: flushed.append(result.new))
    assert Interaction.objects.filter(user=alice).count() == 250
    assert flushed == [100, 200, 250]


def test_a_failure_while_writing_a_batch_is_raised_at_once_and_not_written_again(alice, make_source):
    source = make_source(alice)
    calls = []

    def on_flush(result, _checkpoints):
        calls.append(result.new)
        raise RuntimeError("the checkpoint could not be stored")

    with pytest.raises(RuntimeError, match="the checkpoint could not be stored"):
        ingest(alice, source, [talk(f"p{n}", "ana") for n in range(50)], batch_size=20, on_flush=on_flush)
    assert len(calls) == 1
    assert Interaction.objects.filter(user=alice).count() == 0  # its transaction rolled back


# --- Properties ---------------------------------------------------------------------------

_example_numbers = itertools.count()
PEOPLE = [f"https://h.example/users/u{i}" for i in range(6)]


def _identity_for(ext: str) -> r.IdentityRecord:
    # Fields are a function of the key, as they are for one real account at one time.
    n = PEOPLE.index(ext)
    return ident(ext, f"u{n}@h.example", display_name=f"User {n}")


interaction_strategy = st.builds(
    lambda post, who, kind, direction, minutes, named: talk(
        f"post-{post}", who, kind=kind, direction=direction, when=T0 + dt.timedelta(minutes=post * 7), named=named
    ),
    post=st.integers(0, 30),
    who=st.sampled_from(PEOPLE),
    kind=st.sampled_from(r.KINDS),
    direction=st.sampled_from(r.DIRECTIONS),
    minutes=st.integers(0, 10_000),
    named=st.just(1),
)
follow_strategy = st.builds(
    lambda who, follow: r.FollowRecord(platform=r.MASTODON, identity_id=who, i_follow=follow),
    who=st.sampled_from(PEOPLE),
    follow=st.just(True),
)
record_lists = st.lists(
    st.one_of(interaction_strategy, follow_strategy, st.sampled_from(PEOPLE).map(_identity_for)), max_size=40
)


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=record_lists, shuffle_seed=st.randoms(use_true_random=False), batch_size=st.integers(1, 15))
def test_same_rows_whatever_the_order_repetition_or_batching(django_user_model, records, shuffle_seed, batch_size):
    n = next(_example_numbers)
    one = django_user_model.objects.create_user(f"one-{n}")
    two = django_user_model.objects.create_user(f"two-{n}")
    ingest(one, Source.objects.create(user=one, platform=r.MASTODON), records, batch_size=1000)
    shuffled = list(records) * 2
    shuffle_seed.shuffle(shuffled)
    ingest(two, Source.objects.create(user=two, platform=r.MASTODON), shuffled, batch_size=batch_size)
    assert snapshot(one) == snapshot(two)
    assert InteractionSource.objects.filter(interaction__user=two).count() == Interaction.objects.filter(user=two).count()
