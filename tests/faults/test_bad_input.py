"""Hostile and broken archives, end to end through the import job on a real worker.

Each file is skipped record by record with a counted reason, clamped, or
refused with an error a person can read; the worker stays up (the next job
runs), and what alice had stored before is still there. The parsers' own
refusals are tested in tests/platforms; these go through upload, Job, task,
importer and ingest together.
"""

from __future__ import annotations

import json
import random
import threading
import zipfile

import pytest
from django.db import connection
from django.test import Client

from relationships.models import Identity, Interaction, Job, Person, Source
from relationships.services.intake import imports, runs
from tests.builders import mastodon as mb
from tests.builders import x as xb
from tests.faults.conftest import fault_worker_env, sending, workers
from tests.faults.helpers import PEOPLE, duplicate_links, identities, interactions, reference_import, wait_finished
from tests.faults.services import OwnRedis
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]

MB = 1024 * 1024
DEEP = 100_000
DIGITS = "7" * 5000


@pytest.fixture(scope="module")
def broker(django_db_setup, django_db_blocker):
    redis = OwnRedis().start()
    yield redis
    redis.close()


@pytest.fixture(scope="module")
def worker(broker, django_db_setup, django_db_blocker):
    # One worker for the module: every test checks it is still the same live
    # process, and the next test's jobs prove it still works.
    process = WorkerProcess(fault_worker_env(broker, RAPPORT_INGEST_BATCH_SIZE="200")).start()
    yield process
    process.stop()


@pytest.fixture
def alice_history(alice, tmp_path):
    """What alice had before the bad file: an earlier import, which must survive it untouched."""
    reference_import(alice, xb.build_x_archive(tmp_path / "earlier.zip", tweets=[
        xb.tweet(f"18{i:05d}", text=f"hi @{PEOPLE[i % 5].screen}", mentions=[PEOPLE[i % 5]]) for i in range(50)
    ]))
    return interactions(alice), identities(alice)


def import_in_worker(user, path, worker, broker, kind: str = "x") -> Job:
    with sending(broker):
        job = imports.queue_import(user, imports.create_source(user, path, kind))
    return wait_finished(job.pk, [worker], timeout=120)


def settle(user, worker) -> None:
    """Wait for the follow-up jobs a finished import queued (its recompute): the teardown meets an idle worker."""
    for pk in Job.objects.filter(user=user, state__in=[Job.State.QUEUED, Job.State.RUNNING]).values_list("pk", flat=True):
        wait_finished(pk, [worker], timeout=60)


def noise(size: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz") -> str:
    """``size`` random characters: a 10 MB run of one letter would be refused as a zip bomb, not read."""
    return "".join(random.choices(alphabet, k=size))


def assert_still_fine(user, worker, broker, history) -> None:
    assert worker.proc.poll() is None, worker.log()[-3000:]
    assert "WorkerLostError" not in worker.log() and "Process 'ForkPoolWorker" not in worker.log()
    assert (interactions(user), identities(user)) == history
    with sending(broker):
        canary = runs.queue_recompute(user)
    assert wait_finished(canary.pk, [worker], timeout=60).state == Job.State.DONE


def js(name: str, value: str) -> str:
    return f"window.YTD.{name}.part0 = {value}"


# ---------------------------------------------------------------- refused with a clear error


def many_members(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/account.js", js("account", "[]"))
        for n in range(10_000):  # with account.js: 10,001 members
            zf.writestr(f"data/tweets_media/{n}.jpg", b"")
    return path


def long_member_name(path):
    return xb.build_x_archive(path, extra={"data/" + "n" * 2000 + ".js": "[]"})


def deep_tweets(path):
    return xb.build_x_archive(path, extra={"data/tweets.js": js("tweets", "[" * DEEP + "]" * DEEP)})


def deep_objects_in_a_tweet(path):
    nested = '{"a":' * DEEP + "1" + "}" * DEEP
    return xb.build_x_archive(path, extra={"data/tweets.js": js("tweets", f'[{{"tweet": {{"id_str": "1", "x": {nested}}}}}]')})


def deep_account(path):
    return xb.build_x_archive(path, extra={"data/account.js": js("account", "[" * DEEP + "]" * DEEP)})


def huge_number_as_tweet_id(path):
    tweets = json.dumps([xb.tweet("1626922779105759235")])[:-1] + f', {{"tweet": {{"id": {DIGITS}}}}}]'
    return xb.build_x_archive(path, extra={"data/tweets.js": js("tweets", tweets)})


def huge_number_as_account_id(path):
    return xb.build_x_archive(path, extra={"data/account.js": js("account", f'[{{"account": {{"accountId": {DIGITS}}}}}]')},
                              manifest=False)


@pytest.mark.parametrize("build, error", [
    (many_members, "10001 members, more than the 10000"),
    (long_member_name, "is 2008 characters long (limit 1024); refusing the archive"),
    (deep_tweets, "data/tweets.js nests its JSON more than 512 levels deep"),
    (deep_objects_in_a_tweet, "data/tweets.js nests its JSON more than 512 levels deep"),
    (deep_account, "data/account.js nests its JSON more than 512 levels deep"),
    (huge_number_as_tweet_id, "data/tweets.js is not valid JSON (a number longer than 4,300 digits)"),
    (huge_number_as_account_id, "data/account.js is not valid JSON (a number longer than 4,300 digits)"),
])
def test_a_file_no_export_could_be_is_refused_with_a_clear_error(
    alice, alice_history, tmp_path, worker, broker, build, error
):
    done = import_in_worker(alice, build(tmp_path / "bad.zip"), worker, broker)

    assert done.state == Job.State.FAILED
    assert error in done.error, done.error
    assert "Unexpected error" not in done.error
    assert_still_fine(alice, worker, broker, alice_history)


# ---------------------------------------------------------------- skipped or clamped, with reasons


def test_odd_records_are_skipped_or_clamped_with_counted_reasons_and_the_rest_is_stored(
    alice, alice_history, tmp_path, worker, broker
):
    ana, ben = xb.XUser("700", "ana", "Ana"), xb.XUser("701", "ben", "Ben")
    huge_name = xb.XUser("702", noise(10 * MB), noise(10 * MB))
    huge_id = xb.XUser(noise(10 * MB, "0123456789"), "ghost", "Ghost")
    good = [xb.tweet(f"1626922779105759{n:03d}", text=f"hi @ana {n}", mentions=[ana]) for n in range(20)]
    odd = [
        xb.tweet("1626922779105759000", text="hi @ana again", mentions=[ana]),  # the same id as good[0]
        xb.tweet("1626922779105759001", text="hi @ana again", mentions=[ana]),  # and again
        {"tweet": {"full_text": "no id at all", "created_at": "Sat Feb 18 12:33:11 +0000 2023"}},
        {"tweet": {"id_str": "123", "full_text": "no date, and no snowflake to read one from"}},
        "a string where a tweet belongs",
        xb.tweet("1626922779105759500", text="@ben before 1970", mentions=[ben], at=xb.BASE_TIME.replace(year=1969)),
        xb.tweet("1626922779105759501", text="@ben in 9999", mentions=[ben], at=xb.BASE_TIME.replace(year=9999)),
        {"tweet": {"id_str": "9" * 40, "full_text": "@ben", "entities": {"user_mentions": [
            {"id_str": ben.id, "screen_name": ben.screen}]}}},  # a snowflake past any date
        xb.tweet("1626922779105759600", text=noise(10 * MB) + " @ben", mentions=[ben]),
        xb.tweet("1626922779105759601", text="a name of 10 MB", mentions=[huge_name]),
        xb.tweet("1626922779105759602", text="an id of 10 MB", mentions=[huge_id]),
        xb.tweet("1626922779105759603", text="nul \x00 in the text @ben", mentions=[ben]),
        xb.tweet("1626922779105759" + "4" * 4990, text="an id of 5,000 digits @ben", mentions=[ben]),
    ]
    followers = [ana, xb.XUser("", "nobody")]
    path = xb.build_x_archive(tmp_path / "odd.zip", tweets=good + odd, followers=followers)

    done = import_in_worker(alice, path, worker, broker)

    assert done.state == Job.State.DONE, done.error
    skipped = done.counts["skipped"]
    assert skipped == {
        "tweet without an id": 1,
        "tweet without a readable date": 2,  # the plain "123", and the snowflake past any date
        "unreadable tweet": 1,
        "time out of range": 2,
        "id too long": 3,  # the 10 MB account: as an identity and as the one mentioned; the 5,000-digit tweet
        "follower entry without an account id": 1,
    }, skipped
    # The earlier import is of the same account: the file was read into its source.
    earlier_ids = [external_id for _platform, external_id, *_ in alice_history[0]]
    stored = Interaction.objects.filter(user=alice, sources=done.source).exclude(external_id__in=earlier_ids)
    # 20 good tweets (the duplicates add nothing), the 10 MB text, the 10 MB name, the NUL.
    assert stored.count() == 23
    assert done.counts["new"] == 23 and done.counts["known"] == 2
    assert set(stored.values_list("external_id", flat=True)) >= {"1626922779105759600", "1626922779105759603"}
    assert max(len(e) for e in stored.values_list("excerpt", flat=True)) <= 500
    assert "\x00" not in "".join(stored.values_list("excerpt", flat=True))
    named = Identity.objects.get(user=alice, external_id="702")
    assert len(named.handle) == 255 and len(named.display_name) == 255 and len(named.person.name) == 255
    assert not Identity.objects.filter(user=alice, external_id=huge_id.id[:512]).exists()
    assert "skipped" in done.summary and "id too long (3)" in done.summary
    assert duplicate_links(alice) == 0
    earlier = Interaction.objects.filter(user=alice, external_id__in=earlier_ids)
    assert sorted(earlier.values_list("platform", "external_id", "identity__external_id", "kind", "direction",
                                      "occurred_at")) == alice_history[0]
    assert worker.proc.poll() is None
    settle(alice, worker)


def test_unknown_kinds_of_activity_are_counted_not_guessed(alice, alice_history, tmp_path, worker, broker):
    bob = mb.Account("https://social.example/users/bob", "@bob@social.example")
    posts = [mb.note(n, "hi", mentions=[bob]) for n in range(1, 6)]
    posts += [{**mb.note(90 + n, "odd", mentions=[bob]), "type": kind} for n, kind in enumerate(["Like", "Wibble"])]
    path = mb.build_mastodon_archive(tmp_path / "mastodon.zip", posts=posts)

    done = import_in_worker(alice, path, worker, broker, kind="mastodon")

    assert done.state == Job.State.DONE, done.error
    assert done.counts["skipped"] == {"outbox activity of an unknown type": 2}
    assert "outbox activity of an unknown type (2)" in done.summary
    assert Interaction.objects.filter(user=alice, platform="mastodon").count() == 5
    assert worker.proc.poll() is None
    settle(alice, worker)


# ---------------------------------------------------------------- the same file twice at once


def test_the_same_archive_uploaded_twice_at_the_same_moment_ends_as_one_import(
    alice, bob, tmp_path, broker, fast_settings
):
    fast_settings.RAPPORT_INGEST_BATCH_SIZE = 100
    people = [xb.XUser(str(5000 + i), f"pal{i}", f"Pal {i}") for i in range(300)]
    tweets = [xb.tweet(f"17{i:07d}", text=f"hi @{people[i % 300].screen}", mentions=[people[i % 300]])
              for i in range(3000)]
    path = xb.build_x_archive(tmp_path / "twice.zip", tweets=tweets, followers=people[:100])
    content = path.read_bytes()
    reference_import(bob, path)
    start = threading.Barrier(2)
    answers = []

    def post():
        from django.core.files.uploadedfile import SimpleUploadedFile

        client = Client()
        client.force_login(alice)
        try:
            start.wait()
            answers.append(client.post("/sources/upload/", {"archive": SimpleUploadedFile("x.zip", content)}))
        finally:
            connection.close()

    env = fault_worker_env(broker, RAPPORT_INGEST_BATCH_SIZE="100")
    with workers(env, env) as pair:  # two workers: the two imports run side by side
        with sending(broker):
            threads = [threading.Thread(target=post) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert [a.status_code for a in answers] == [302, 302]
        imports_ = Job.objects.filter(user=alice, kind="import")
        assert imports_.count() == 2
        done = [wait_finished(job.pk, pair, timeout=120) for job in imports_]
        logs = "".join(w.log() for w in pair)

    assert all(job.state == Job.State.DONE for job in done), [job.error for job in done]
    assert all("deadlock" not in (job.error or "").lower() for job in done)
    assert logs.count("relationships.import_archive") >= 2
    assert interactions(alice) == interactions(bob) and len(interactions(alice)) == 3000
    assert identities(alice) == identities(bob)
    assert Person.objects.filter(user=alice).count() == Person.objects.filter(user=bob).count() == 300
    assert Identity.objects.filter(user=alice, follows_me=True).count() == 100
    assert duplicate_links(alice) == 0
    # Both uploads are of one account: whichever import learned it second was
    # read into the first one's source, which links every interaction once.
    (source,) = Source.objects.filter(user=alice, kind=Source.Kind.ARCHIVE)
    assert Interaction.objects.filter(sources=source).count() == 3000
    assert set(source.jobs.values_list("pk", flat=True)) == {job.pk for job in done}
    assert source.files.count() == 2
