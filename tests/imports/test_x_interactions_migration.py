"""Migration 0009: X interactions stored before their account existed are removed, nothing else is.

The database is built at the previous last migration with the historical
models, filled the way earlier imports filled it (old mentions of a reused
screen name credited to the newcomer, mentions of suspended accounts merged
into one identity "-1"), then migrated forward.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.builders import x as xb
from tests.migrating import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("relationships", "0008_rapport_two_way_ranking")
AFTER = ("relationships", "0009_x_interactions_before_their_account")
UTC = dt.timezone.utc
IN_2014 = dt.datetime(2014, 5, 2, 9, 30, tzinfo=UTC)
IN_2022 = dt.datetime(2022, 3, 1, 12, 0, tzinfo=UTC)
MADE_2021 = dt.datetime(2021, 6, 1, tzinfo=UTC)


def migrate(target):
    return migrate_to([target])


@pytest.fixture
def at_previous_migration():
    apps = migrate(BEFORE)
    yield apps
    migrate_to_latest()


class Story:
    """alice's X history as an earlier import stored it, plus a Mastodon talk and bob's data."""

    def __init__(self, apps):
        self.apps = apps
        User = apps.get_model("auth", "User")
        Source = apps.get_model("relationships", "Source")
        self.alice = User.objects.create(username="alice")
        self.bob = User.objects.create(username="bob")
        self.x = Source.objects.create(user=self.alice, platform="x", kind="archive", label="twitter.zip")
        self.rows = {}

    def person(self, user, name, **fields):
        return self.apps.get_model("relationships", "Person").objects.create(user=user, name=name, **fields)

    def identity(self, user, person, platform, external_id, **fields):
        Identity = self.apps.get_model("relationships", "Identity")
        return Identity.objects.create(user=user, person=person, platform=platform, external_id=external_id, **fields)

    def interaction(self, label, identity, post, kind, at, named=1, source=None):
        Interaction = self.apps.get_model("relationships", "Interaction")
        row = Interaction.objects.create(
            user=identity.user, identity=identity, platform=identity.platform, external_id=post, kind=kind,
            direction="out", occurred_at=at, day=at.date(), named_count=named, excerpt=f"{kind} {label}",
        )
        if source is not None:
            self.apps.get_model("relationships", "InteractionSource").objects.create(interaction=row, source=source)
        self.rows[label] = row.pk
        return row


def build(apps):
    s = Story(apps)
    alice, x = s.alice, s.x
    dee = s.identity(alice, s.person(alice, "Dee"), "x", "514432143", handle="dee_pots")
    newcomer = s.identity(alice, s.person(alice, "Someone Else"), "x", xb.snowflake(MADE_2021), handle="dee_pots")
    phantom = s.identity(alice, s.person(alice, "Phantom"), "x", xb.snowflake(MADE_2021, 1), handle="old_name")
    noted = s.identity(alice, s.person(alice, "Kept", notes="met at the 2013 fair"), "x", xb.snowflake(MADE_2021, 2))
    follower = s.identity(alice, s.person(alice, "Follows"), "x", xb.snowflake(MADE_2021, 3), follows_me=True)
    gone = s.identity(alice, s.person(alice, "-1"), "x", "-1")
    eva = s.identity(alice, s.person(alice, "Eva"), "x", "98765432", handle="eva_knits")
    ana = s.identity(alice, s.person(alice, "Ana"), "mastodon", "https://example.social/users/ana")
    t1, t2, t3, t4, t5 = (xb.snowflake(IN_2014, n) for n in range(5))
    # Kept: what really happened.
    s.interaction("reply to dee", dee, t1, "reply", IN_2014, named=2, source=x)
    s.interaction("newcomer after they existed", newcomer, xb.snowflake(IN_2022), "mention", IN_2022, source=x)
    s.interaction("eva with a suspended account", eva, t4, "mention", IN_2014, named=2, source=x)
    s.interaction("eva with a later account", eva, t3, "mention", IN_2014, named=3, source=x)
    s.interaction("ana on mastodon", ana, "https://example.social/users/ana/statuses/1", "reply", IN_2014)
    # Removed: mentions credited to accounts made in 2021, and the merged "-1".
    s.interaction("newcomer for dee", newcomer, t1, "mention", IN_2014, named=2, source=x)
    s.interaction("phantom", phantom, t2, "mention", IN_2014, source=x)
    s.interaction("noted", noted, t3, "mention", IN_2014, named=3, source=x)
    s.interaction("follower", follower, t3, "mention", IN_2014, named=3, source=x)
    s.interaction("gone in t4", gone, t4, "mention", IN_2014, named=2, source=x)
    s.interaction("gone in t5", gone, t5, "mention", IN_2014, source=x)
    # bob's rows: an X account made in 2021 talked to in 2022, never touched.
    bobs = s.identity(s.bob, s.person(s.bob, "Newer pal"), "x", xb.snowflake(MADE_2021, 9))
    s.interaction("bob's pal", bobs, xb.snowflake(IN_2022, 1), "reply", IN_2022)
    return s


def test_interactions_credited_before_their_account_existed_are_removed_and_the_rest_carried_over(
    at_previous_migration,
):
    story = build(at_previous_migration)
    kept = {label: pk for label, pk in story.rows.items() if label in {
        "reply to dee", "newcomer after they existed", "eva with a suspended account",
        "eva with a later account", "ana on mastodon", "bob's pal"}}

    apps = migrate(AFTER)
    Interaction = apps.get_model("relationships", "Interaction")
    Identity = apps.get_model("relationships", "Identity")
    Person = apps.get_model("relationships", "Person")

    assert set(Interaction.objects.values_list("pk", flat=True)) == set(kept.values())
    named = dict(Interaction.objects.values_list("excerpt", "named_count"))
    assert named == {
        "reply reply to dee": 1,  # it named Dee and the newcomer
        "mention newcomer after they existed": 1,
        "mention eva with a suspended account": 1,
        "mention eva with a later account": 1,  # it named Eva and two accounts made in 2021
        "reply ana on mastodon": 1,
        "reply bob's pal": 1,
    }
    assert sorted(Identity.objects.filter(user_id=story.alice.pk).values_list("person__name", flat=True)) == [
        "Ana", "Dee", "Eva", "Follows", "Someone Else"]
    assert sorted(Person.objects.filter(user_id=story.alice.pk).values_list("name", flat=True)) == [
        "Ana", "Dee", "Eva", "Follows", "Kept", "Someone Else"]
    assert Person.objects.get(name="Kept").notes == "met at the 2013 fair"
    assert Identity.objects.filter(user_id=story.bob.pk).count() == 1
    InteractionSource = apps.get_model("relationships", "InteractionSource")
    assert InteractionSource.objects.filter(source_id=story.x.pk).count() == 4
    Job = apps.get_model("relationships", "Job")
    queued = list(Job.objects.values_list("user_id", "kind", "state", "task_name", "task_kwargs"))
    assert [(user, kind, state, task) for user, kind, state, task, _kwargs in queued] == [
        (story.alice.pk, "recompute", "queued", "relationships.recompute")]  # bob's rows needed no change
    job_id = Job.objects.get().pk
    assert queued[0][4] == {"job_id": job_id}


def test_the_recompute_queued_by_the_migration_brings_the_figures_up_to_date(at_previous_migration):
    """The stale-job sweep sends the queued job to a worker; run here as the worker runs it."""
    story = build(at_previous_migration)
    job_id = migrate(AFTER).get_model("relationships", "Job").objects.get().pk
    migrate_to_latest()

    from relationships import tasks
    from relationships.models import Job, Rapport

    tasks.recompute.run(**Job.objects.get(pk=job_id).task_kwargs)
    assert Job.objects.get(pk=job_id).state == Job.State.DONE
    figures = {row.person.name: row.talks for row in Rapport.objects.filter(user_id=story.alice.pk)}
    assert figures["Dee"] == 1 and figures["Someone Else"] == 1 and "Phantom" not in figures


def test_a_database_with_nothing_to_correct_is_left_as_it_was(at_previous_migration):
    story = Story(at_previous_migration)
    pal = story.identity(story.alice, story.person(story.alice, "Pal"), "x", xb.snowflake(MADE_2021))
    story.interaction("after", pal, xb.snowflake(IN_2022), "reply", IN_2022, named=2, source=story.x)
    apps = migrate(AFTER)
    Interaction = apps.get_model("relationships", "Interaction")
    assert list(Interaction.objects.values_list("pk", "named_count")) == [(story.rows["after"], 2)]
    assert not apps.get_model("relationships", "Job").objects.exists()
