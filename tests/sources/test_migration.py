"""The upgrade that merges the archive sources users already have of one account.

Built at the migration before it, with the historical models: alice imported
her X archive three times (three sources of one account, overlapping
interactions, a job each), has a second X account's archive, a connected
Mastodon account and a following list. After migrating: the same
interactions, one source per account, every link kept, the files and jobs
carried over, and the other sources untouched.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.migrating import migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

APP = "relationships"
NAME = "archive_sources_one_per_account"


def _nodes():
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    (mine,) = [node for node in graph.nodes if node[0] == APP and node[1].endswith(NAME)]
    (before,) = [parent.key for parent in graph.node_map[mine].parents if parent.key[0] == APP]
    return mine, before


@pytest.fixture(autouse=True)
def _back_to_the_latest_migration():
    """The tests after this one expect the newest schema."""
    yield
    migrate_to_latest()


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    executor.loader.build_graph()
    return executor.loader.project_state(target[0]).apps


def test_duplicate_archive_sources_of_one_account_become_one_with_every_link_file_and_job():
    mine, before = _nodes()
    old = _migrate([before])
    User = old.get_model("auth", "User")
    Source = old.get_model(APP, "Source")
    Person = old.get_model(APP, "Person")
    Identity = old.get_model(APP, "Identity")
    Interaction = old.get_model(APP, "Interaction")
    InteractionSource = old.get_model(APP, "InteractionSource")
    Job = old.get_model(APP, "Job")

    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")

    def archive(user, name, account, likes, platform="x", kind="x"):
        return Source.objects.create(
            user=user, platform=platform, kind="archive", label=f"X archive ({name})", archive_path=f"/uploads/{name}",
            archive_kind=kind, account_external_id=account, handle="jack", counts={"likes_without_author": likes},
        )

    first = archive(alice, "twitter-2023.zip", "2444552670", 10)
    again = archive(alice, "twitter-2023 (1).zip", "2444552670", 10)
    newer = archive(alice, "twitter-2024.zip", "2444552670", 14)
    work = archive(alice, "work.zip", "777", 3)
    following = archive(alice, "following.csv", "", 0, platform="mastodon", kind="mastodon-following")
    account = Source.objects.create(user=alice, platform="x", kind="account", account_external_id="2444552670")
    bobs = archive(bob, "twitter-2023.zip", "2444552670", 10)  # bob's own copy: never merged with alice's
    jobs = {s.pk: Job.objects.create(user=s.user, source=s, kind="import", task_name="relationships.import_archive",
                                     state="done") for s in (first, again, newer, work, bobs)}

    person = Person.objects.create(user=alice, name="Ana")
    ana = Identity.objects.create(user=alice, person=person, platform="x", external_id="1001")
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    seen_by = {}
    for n in range(30):
        interaction = Interaction.objects.create(
            user=alice, identity=ana, platform="x", external_id=str(1700 + n), kind="reply", direction="out",
            occurred_at=when + dt.timedelta(days=n), day=(when + dt.timedelta(days=n)).date(),
        )
        # 0-19 in the 2023 archive (imported twice), 10-29 in the 2024 one,
        # 25-29 also in the work account's, 0-4 also seen by the account.
        holders = []
        if n < 20:
            holders += [first, again]
        if n >= 10:
            holders.append(newer)
        if n >= 25:
            holders.append(work)
        if n < 5:
            holders.append(account)
        for source in holders:
            InteractionSource.objects.create(interaction=interaction, source=source)
        seen_by[interaction.pk] = holders
    interactions_before = sorted(Interaction.objects.values_list("pk", "external_id"))

    new = _migrate([mine])
    Source = new.get_model(APP, "Source")
    InteractionSource = new.get_model(APP, "InteractionSource")
    Interaction = new.get_model(APP, "Interaction")
    ArchiveFile = new.get_model(APP, "ArchiveFile")
    Job = new.get_model(APP, "Job")

    assert sorted(Interaction.objects.values_list("pk", "external_id")) == interactions_before
    assert sorted(Source.objects.filter(user_id=alice.pk).values_list("pk", flat=True)) == sorted(
        [first.pk, work.pk, following.pk, account.pk]
    )
    assert Source.objects.filter(pk=bobs.pk).exists()
    merged = Source.objects.get(pk=first.pk)
    assert merged.counts == {"likes_without_author": 14}
    assert merged.archive_path == "/uploads/twitter-2024.zip"
    # Every interaction keeps a link to the kept source for each merged one that saw it.
    links = {(i, s) for i, s in InteractionSource.objects.values_list("interaction_id", "source_id")}
    merged_away = {first.pk, again.pk, newer.pk}
    for pk, holders in seen_by.items():
        expected = {first.pk if h.pk in merged_away else h.pk for h in holders}
        assert {s for i, s in links if i == pk} == expected, pk
    assert set(Job.objects.filter(source_id=first.pk).values_list("pk", flat=True)) == {
        jobs[first.pk].pk, jobs[again.pk].pk, jobs[newer.pk].pk
    }
    files = list(ArchiveFile.objects.filter(source_id=first.pk).order_by("pk").values_list("name", "job_id", "path"))
    assert files == [
        ("twitter-2023.zip", jobs[first.pk].pk, "/uploads/twitter-2023.zip"),
        ("twitter-2023 (1).zip", jobs[again.pk].pk, "/uploads/twitter-2023 (1).zip"),
        ("twitter-2024.zip", jobs[newer.pk].pk, "/uploads/twitter-2024.zip"),
    ]
    assert ArchiveFile.objects.filter(source_id=work.pk).count() == 1
    assert ArchiveFile.objects.filter(source_id=following.pk).count() == 1
    assert not ArchiveFile.objects.filter(source_id=account.pk).exists()
