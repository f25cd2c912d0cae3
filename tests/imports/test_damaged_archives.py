"""A damaged archive keeps everything read before the damage, then fails with its reason.

Each import runs the task a Celery worker runs (``tasks.import_archive``):
the archive is parsed in the reader's child process and written by ingest in
batches of the configured size (20,000 records on SQLite, 5,000 on
PostgreSQL), so the damage lands inside a frame of the child and inside a
batch of ingest, past zero, one or two full batches.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from relationships import tasks
from relationships.models import Interaction, Job
from relationships.services.intake import imports
from tests.builders import mastodon as mb
from tests.builders import x as xb

pytestmark = pytest.mark.django_db

KEPT = "Everything read before this point was kept"
PEOPLE = [xb.XUser(str(880_000 + n), f"friend{n}", f"Friend {n}") for n in range(40)]
LATE = xb.XUser("889999", "latecomer", "Latecomer")


def import_file(user, path, kind):
    source = imports.create_source(user, path, kind, filename=path.name)
    job = imports.queue_import(user, source, send_task=False)
    tasks.import_archive.run(job.pk)
    job.refresh_from_db()
    return job


def stored(user, platform):
    return set(
        Interaction.objects.filter(user=user, platform=platform).values_list("external_id", "identity__external_id",
                                                                            "kind")
    )


def x_tweets(count: int) -> tuple[list[dict], set[tuple[str, str, str]]]:
    """``count`` valid tweets of every kind, and the interactions they must give.

    The first tweet quotes an account that only a later tweet ties to an id,
    so the importer sets it aside until the end of the tweets.
    """
    tweets = [xb.quote("1700000000000000000", of=LATE)]
    expected = {("1700000000000000000", LATE.id, "quote")}
    for n in range(1, count):
        tweet_id = str(1_700_000_000_000_000_000 + n)
        who = LATE if n == 1 else PEOPLE[n // 4 % len(PEOPLE)]  # each named by a mention before a quote
        at = xb.BASE_TIME + dt.timedelta(minutes=n)
        shape = n % 4
        if n == 1 or shape == 0:
            tweets.append(xb.tweet(tweet_id, f"hello @{who.screen}", mentions=[who], at=at))
            expected.add((tweet_id, who.id, "mention"))
        elif shape == 1:
            tweets.append(xb.reply(tweet_id, to=who, at=at))
            expected.add((tweet_id, who.id, "reply"))
        elif shape == 2:
            tweets.append(xb.quote(tweet_id, of=who, at=at))
            expected.add((tweet_id, who.id, "quote"))
        else:
            tweets.append(xb.retweet(tweet_id, of=who, at=at))
            expected.add((tweet_id, who.id, "repost"))
    return tweets, expected


def damaged_x_archive(path, tweets: list[dict]):
    """The tweets, then one cut short: the JSON of data/tweets.js breaks there."""
    text = xb.js("YTD.tweets.part0", tweets)
    assert text.endswith("\n]")
    text = text[:-2] + ',\n  {\n    "tweet" : {\n      "id_str" : "1799999999999999999",\n      "full_text" : "cut'
    return xb.build_x_archive(path, tweets=tweets, likes=3, followers=PEOPLE[:5],
                              extra={"data/tweets.js": text})


@pytest.mark.parametrize("count", [100, 4_000, 12_000])
def test_every_tweet_before_broken_json_is_stored_and_the_job_fails_with_its_reason(alice, tmp_path, count):
    tweets, expected = x_tweets(count)
    path = damaged_x_archive(tmp_path / "twitter-2024-01-02-damaged.zip", tweets)

    job = import_file(alice, path, "x")

    assert job.state == Job.State.FAILED
    assert "data/tweets.js is not valid JSON" in job.error and KEPT in job.error
    assert stored(alice, "x") == expected
    assert job.counts["new"] == len(expected)


def test_the_same_damaged_archive_twice_loses_nothing_and_adds_nothing(alice, tmp_path):
    tweets, expected = x_tweets(4_000)
    earlier = xb.build_x_archive(tmp_path / "twitter-2023.zip", tweets=tweets[:1_500])
    damaged = damaged_x_archive(tmp_path / "twitter-2024-damaged.zip", tweets)

    assert import_file(alice, earlier, "x").state == Job.State.DONE
    first = import_file(alice, damaged, "x")
    after_first = stored(alice, "x")
    second = import_file(alice, damaged, "x")

    assert first.state == second.state == Job.State.FAILED
    assert after_first == stored(alice, "x") == expected
    assert first.counts["new"] == len(expected) - 1_500 and first.counts["known"] == 1_500
    assert second.counts["new"] == 0 and second.counts["known"] == len(expected)


def test_every_post_before_a_damaged_mastodon_outbox_is_stored(alice, tmp_path):
    friends = [mb.Account(f"https://social.example/users/friend{n}", f"@friend{n}@social.example") for n in range(30)]
    posts, expected = [], set()
    for n in range(3_000):
        who = friends[n % len(friends)]
        at = mb.BASE_TIME + dt.timedelta(minutes=n)
        if n % 2:
            post = mb.note(109_000 + n, "so true", mentions=[who], in_reply_to=who.status(5_000 + n), at=at)
            expected.add((post["object"]["id"], who.uri, "reply"))
        else:
            post = mb.note(109_000 + n, "look", mentions=[who], at=at)
            expected.add((post["object"]["id"], who.uri, "mention"))
        posts.append(post)
    outbox = mb.outbox_json(posts)
    cut = outbox[: -len(json.dumps(posts[-1])) - 2] + ', {"id": "https://inst.example/users/alice/statuses/9", "ty'
    path = mb.build_mastodon_archive(tmp_path / "archive-20240102-damaged.zip", posts=posts,
                                     extra={"outbox.json": cut})
    del posts[-1]
    expected = {e for e in expected if e[0] != f"{mb.ME_URI}/statuses/{109_000 + 2_999}"}

    job = import_file(alice, path, "mastodon")

    assert job.state == Job.State.FAILED
    assert "outbox.json is not valid JSON" in job.error and KEPT in job.error
    assert stored(alice, "mastodon") == expected


def test_every_record_before_the_cut_of_a_truncated_car_is_stored(alice, tmp_path):
    import libipld

    from tests.builders import bluesky as bb

    authors = [f"did:plc:friend{n:02d}xk6bqk2s4nvd4cm3k" for n in range(30)]
    records = {bb.tid_key(bb.LIKE, n): bb.like(bb.post_uri(authors[n % 30], bb.tid(n)), at=bb.BASE_TIME)
               for n in range(6_000)}
    data = bb.build_bluesky_car(tmp_path / "whole.car", records=records).path.read_bytes()
    # The builder writes the record blocks last, in key order: cut the file
    # inside the 4,501st, as a download that stopped there would.
    keys = sorted(records)
    sizes = [len(bb._varint(36 + len(b))) + 36 + len(b) for b in (libipld.encode_dag_cbor(records[k]) for k in keys)]
    cut = len(data) - sum(sizes[4_500:]) + 20
    path = tmp_path / "repo-cut.car"
    path.write_bytes(data[:cut])

    job = import_file(alice, path, "bluesky")

    assert job.state == Job.State.FAILED
    assert f"The CAR file is truncated or damaged (it ends inside a block at byte {cut - 20:,}" in job.error
    assert KEPT in job.error
    assert stored(alice, "bluesky") == {
        (f"at://{bb.ME}/{key}", records[key]["subject"]["uri"][5:].split("/")[0], "like") for key in keys[:4_500]
    }


def test_every_tweet_and_message_before_a_damaged_direct_messages_file_is_stored(alice, tmp_path):
    tweets, expected = x_tweets(2_000)
    conversations = []
    for n, friend in enumerate(PEOPLE[:20]):
        messages = [xb.dm(str(1_600_000_000_000_000_000 + n * 100 + m), sender=friend if m % 2 else xb.ME,
                          recipient=xb.ME if m % 2 else friend, at=xb.BASE_TIME + dt.timedelta(hours=n, minutes=m))
                    for m in range(50)]
        conversations.append(xb.conversation(*messages, between=(friend, xb.ME)))
        expected |= {(m["messageCreate"]["id"], friend.id, "dm") for m in messages}
    text = xb.js("YTD.direct_messages.part0", conversations)
    # Cut inside the last conversation's last message: its 49 others were read before the damage.
    cut = text.rindex('"messageCreate"')
    last = conversations[-1]["dmConversation"]["messages"][-1]["messageCreate"]["id"]
    path = xb.build_x_archive(tmp_path / "twitter-dms-damaged.zip", tweets=tweets, dms=conversations,
                              extra={"data/direct-messages.js": text[:cut] + '"messageCreate" : {"recipientId" : "'})

    job = import_file(alice, path, "x")

    assert job.state == Job.State.FAILED
    assert "direct-messages.js is not valid JSON" in job.error and KEPT in job.error
    assert stored(alice, "x") == {e for e in expected if e[0] != last}


def test_what_a_damaged_archive_kept_is_scored_like_any_import(alice, tmp_path):
    """The kept rows must not sit unscored behind "No interactions yet" until the nightly refresh."""
    from relationships.models import Rapport

    tweets, expected = x_tweets(400)
    job = import_file(alice, damaged_x_archive(tmp_path / "twitter-damaged.zip", tweets), "x")
    assert job.state == Job.State.FAILED

    recompute = Job.objects.get(user=alice, kind="recompute")
    tasks.recompute.run(**recompute.task_kwargs)
    scored = dict(Rapport.objects.filter(user=alice).values_list("person__identities__external_id", "talks"))
    assert set(scored) == {who for _post, who, _kind in expected}
    assert all(talks > 0 for talks in scored.values())  # each was mentioned, replied to or quoted


def test_the_command_line_scores_what_a_damaged_archive_kept_then_fails_with_the_reason(alice, tmp_path):
    from django.core.management import CommandError, call_command

    from relationships.models import Rapport

    tweets, expected = x_tweets(400)
    path = damaged_x_archive(tmp_path / "twitter-damaged.zip", tweets)
    with pytest.raises(CommandError, match="data/tweets.js is not valid JSON"):
        call_command("import_archive", "--user", "alice", str(path), stdout=open("/dev/null", "w"),
                     stderr=open("/dev/null", "w"))
    people = {who for _post, who, _kind in expected}
    assert set(Rapport.objects.filter(user=alice, talks__gt=0).values_list("person__identities__external_id",
                                                                             flat=True)) == people
