"""A sync reads whom alice follows, once a day, against the fake Mastodon and Bluesky servers.

alice talks with ana (on remote.example) and follows her; she also follows
85 people she never talked with (more than one page of 80), among them
dora, whom she later unfollows in another app. On Bluesky she follows ben,
with whom she talks, and 110 others (more than one page of 100). The
review (relationships/selectors/review.py) walks whoever Rapport knows
alice follows: these tests read it, never only the flags.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from relationships.models import Identity, Job, Person, Source
from relationships.selectors import review as review_selectors
from relationships.services.intake import sync
from tests.builders.mastodon import build_following_csv
from tests.sync.helpers import import_and_sync, run_sync, talks

pytestmark = [pytest.mark.django_db, pytest.mark.services, pytest.mark.postgres_only]

FOLLOWED = 85
BLUESKY_FOLLOWED = 110


def following_path(server) -> str:
    return f"/api/v1/accounts/{server.me['id']}/following"


def a_day_later(source: Source) -> None:
    """The last full read of the list is more than a day old: the next sync reads it again."""
    Source.objects.filter(pk=source.pk).update(following_read_at=timezone.now() - sync.FOLLOWING_EVERY - dt.timedelta(minutes=1))


def followed(user, platform: str = "mastodon") -> set[str]:
    return set(Identity.objects.filter(user=user, platform=platform, i_follow=True).values_list("handle", flat=True))


def in_review(user) -> set[str]:
    return {p.name for p in review_selectors.queue(user)}


@pytest.fixture
def follows(fake_mastodon, ana):
    """alice talks with ana and follows her and 85 quiet accounts: ana first, the 85 after."""
    server = fake_mastodon
    talks(server, server.me, ana, days=2)
    server.alice_follows(ana)
    quiet = []
    for n in range(FOLLOWED):
        name = "dora" if n == 40 else f"quiet{n:02d}"
        account = server.add_account(name, "far.example", display_name=name.title())
        server.alice_follows(account)
        quiet.append(account)
    return {"ana": ana, "quiet": quiet, "dora": quiet[40]}


# ---------------------------------------------------------------- Mastodon


def test_a_sync_records_the_accounts_alice_follows_but_never_talked_with(alice, fake_mastodon, follows, mastodon_source):
    job = run_sync(mastodon_source)

    assert job.state == Job.State.DONE, job.error
    assert f"Read the {FOLLOWED + 1} accounts you follow." in job.summary
    pages = fake_mastodon.calls(following_path(fake_mastodon))
    assert [(p.param("limit"), p.param("max_id") is not None) for p in pages] == [("80", False), ("80", True)]
    assert followed(alice) == {"ana@remote.example", *(f"{a['acct']}" for a in follows["quiet"])}
    dora = Identity.objects.get(user=alice, external_id="https://far.example/users/dora")
    assert (dora.handle, dora.display_name, dora.person.name) == ("dora@far.example", "Dora", "Dora")
    assert dora.following_seen_at is not None and not dora.interactions.exists()
    # The review walks them all, the people alice never talked with first.
    queue = list(review_selectors.queue(alice))
    assert len(queue) == FOLLOWED + 1 and queue[-1].name == "Ana"
    mastodon_source.refresh_from_db()
    assert mastodon_source.following_read_at is not None
    assert "following" not in mastodon_source.cursors


def test_the_same_list_read_twice_creates_no_duplicates(alice, fake_mastodon, follows, mastodon_source):
    run_sync(mastodon_source)
    first_seen = dict(Identity.objects.filter(user=alice).values_list("external_id", "following_seen_at"))
    a_day_later(mastodon_source)

    again = run_sync(mastodon_source)

    assert again.state == Job.State.DONE, again.error
    assert len(fake_mastodon.calls(following_path(fake_mastodon))) == 4
    assert f"Read the {FOLLOWED + 1} accounts you follow." in again.summary
    assert Identity.objects.filter(user=alice).count() == Person.objects.filter(user=alice).count() == FOLLOWED + 1
    # "Following since" stays the first sync that saw it.
    assert dict(Identity.objects.filter(user=alice).values_list("external_id", "following_seen_at")) == first_seen


def test_an_account_unfollowed_elsewhere_is_cleared_after_a_full_read(alice, fake_mastodon, follows, mastodon_source):
    run_sync(mastodon_source)
    assert "Dora" in in_review(alice)
    fake_mastodon.relationship(follows["dora"])["following"] = False  # alice unfollows dora in another app
    a_day_later(mastodon_source)

    job = run_sync(mastodon_source)

    assert f"Read the {FOLLOWED} accounts you follow; 1 account you no longer follow there marked unfollowed." in job.summary
    dora = Identity.objects.get(user=alice, handle="dora@far.example")
    assert (dora.i_follow, dora.following_seen_at) == (False, None)
    assert "Dora" not in in_review(alice)
    assert len(in_review(alice)) == FOLLOWED
    assert Identity.objects.get(user=alice, handle="ana@remote.example").i_follow is True


@pytest.mark.parametrize("fault", ["429", "malformed"])
def test_a_read_that_failed_on_page_two_clears_nothing_and_the_next_sync_reads_it_again(
    alice, fake_mastodon, clock, follows, mastodon_source, fault
):
    run_sync(mastodon_source)
    fake_mastodon.relationship(follows["dora"])["following"] = False
    newcomer = fake_mastodon.add_account("eli", "far.example", display_name="Eli")
    fake_mastodon.alice_follows(newcomer)  # the newest follow: on page 1
    a_day_later(mastodon_source)
    read_before = Source.objects.get(pk=mastodon_source.pk).following_read_at
    path = following_path(fake_mastodon)
    if fault == "429":
        fake_mastodon.fail_next(429, after=1, path=path, reset_in=600)
    else:
        fake_mastodon.fail_next(200, after=1, path=path, body={"error": "not a list"})

    job = run_sync(mastodon_source)

    assert job.state == Job.State.DONE, job.error
    assert "The list of accounts you follow could not be read to the end" in job.summary
    assert ("rate limit was reached" if fault == "429" else "answered something unreadable") in job.summary
    assert "next sync reads it again" in job.summary
    assert len(fake_mastodon.calls(path)) == 4  # two the first day, page 1 and the failed page 2 now
    # Nothing cleared, the first page's newcomer kept, and the list still due.
    assert Identity.objects.get(user=alice, handle="dora@far.example").i_follow is True
    assert Identity.objects.get(user=alice, handle="eli@far.example").i_follow is True
    assert Source.objects.get(pk=mastodon_source.pk).following_read_at == read_before
    if fault == "429":
        clock.advance(600)

    retried = run_sync(mastodon_source)

    assert retried.state == Job.State.DONE, retried.error
    assert "1 account you no longer follow there marked unfollowed" in retried.summary
    assert Identity.objects.get(user=alice, handle="dora@far.example").i_follow is False
    assert followed(alice) == {"ana@remote.example", "eli@far.example",
                               *(a["acct"] for a in follows["quiet"] if a is not follows["dora"])}


def test_the_list_is_read_at_most_once_a_day(alice, fake_mastodon, follows, mastodon_source):
    run_sync(mastodon_source)
    path = following_path(fake_mastodon)
    assert len(fake_mastodon.calls(path)) == 2
    fake_mastodon.relationship(follows["dora"])["following"] = False

    later = run_sync(mastodon_source)
    Source.objects.filter(pk=mastodon_source.pk).update(following_read_at=timezone.now() - dt.timedelta(hours=23))
    next_morning = run_sync(mastodon_source)

    assert len(fake_mastodon.calls(path)) == 2
    assert "accounts you follow" not in later.summary and "accounts you follow" not in next_morning.summary
    assert Identity.objects.get(user=alice, handle="dora@far.example").i_follow is True
    a_day_later(mastodon_source)

    next_day = run_sync(mastodon_source)

    assert len(fake_mastodon.calls(path)) == 4
    assert "1 account you no longer follow there marked unfollowed" in next_day.summary


def test_a_follow_made_through_rapport_minutes_ago_is_not_cleared_by_a_list_without_it(
    alice, fake_mastodon, follows, mastodon_source
):
    run_sync(mastodon_source)
    dora = Identity.objects.get(user=alice, handle="dora@far.example")
    fake_mastodon.relationship(follows["dora"])["following"] = False
    # As services/follow.py records a follow: the list read now may predate it.
    Identity.objects.filter(pk=dora.pk).update(followed_since=timezone.now() - dt.timedelta(minutes=5))
    a_day_later(mastodon_source)

    run_sync(mastodon_source)

    assert Identity.objects.get(pk=dora.pk).i_follow is True


def test_with_a_second_mastodon_account_in_rapport_nothing_is_cleared(
    alice, fake_mastodon, follows, mastodon_source
):
    run_sync(mastodon_source)
    Source.objects.create(user=alice, platform="mastodon", kind=Source.Kind.ACCOUNT, handle="alice@other.example",
                          account_external_id="https://other.example/users/alice")
    fake_mastodon.relationship(follows["dora"])["following"] = False
    a_day_later(mastodon_source)

    job = run_sync(mastodon_source)

    assert "none was marked unfollowed, because another Mastodon account of yours is in Rapport too" in job.summary
    assert Identity.objects.get(user=alice, handle="dora@far.example").i_follow is True


@pytest.mark.parametrize("archive_first", [True, False], ids=["csv-then-sync", "sync-then-csv"])
def test_a_following_csv_and_a_sync_of_the_same_account_agree(
    alice, fake_mastodon, ana, mastodon_source, tmp_path, archive_first
):
    """The CSV names accounts by user@host (a guessed actor URI); the API by their real one."""
    fay = fake_mastodon.add_account("fay", "newer.example", display_name="Fay")
    fay["uri"] = "https://newer.example/ap/users/114000"  # Mastodon 4.4's numeric actor URIs: not the guess
    for account in (ana, fay):
        fake_mastodon.alice_follows(account)
    csv = build_following_csv(tmp_path / "following_accounts.csv",
                              ["ana@remote.example,true,false,", "fay@newer.example,true,false,"])
    imported, synced = import_and_sync(alice, csv, mastodon_source, archive_first=archive_first)

    assert imported.state == synced.state == Job.State.DONE, (imported.error, synced.error)
    assert "Read the 2 accounts you follow." in synced.summary
    stored = set(Identity.objects.filter(user=alice).values_list("external_id", "handle", "i_follow", "provisional"))
    assert stored == {
        ("https://remote.example/users/ana", "ana@remote.example", True, False),
        ("https://newer.example/ap/users/114000", "fay@newer.example", True, False),
    }
    assert Person.objects.filter(user=alice).count() == 2
    assert not Identity.objects.filter(user=alice, following_seen_at=None).exists()
    assert in_review(alice) == {"Ana", "Fay"}


# ---------------------------------------------------------------- Bluesky


@pytest.fixture
def bluesky_follows(fake_bluesky, ben):
    server = fake_bluesky
    server.add_post(ben, "hey alice", mentions=[server.me])
    server.add_follow(server.me, ben)
    others = []
    for n in range(BLUESKY_FOLLOWED):
        did = server.add_account(f"q{n:03d}.test", display_name=f"Q {n}")
        server.add_follow(server.me, did)
        others.append(did)
    return others


def test_a_bluesky_sync_reads_every_page_and_clears_an_account_unfollowed_elsewhere(
    alice, fake_bluesky, ben, bluesky_follows, bluesky_source
):
    job = run_sync(bluesky_source)

    assert job.state == Job.State.DONE, job.error
    assert f"Read the {BLUESKY_FOLLOWED + 1} accounts you follow." in job.summary
    pages = fake_bluesky.calls("/xrpc/app.bsky.graph.getFollows")
    assert [(p.param("actor"), p.param("limit"), p.param("cursor") is not None) for p in pages] == [
        (fake_bluesky.me, "100", False), (fake_bluesky.me, "100", True)]
    assert followed(alice, "bluesky") == {"ben.test", *(f"q{n:03d}.test" for n in range(BLUESKY_FOLLOWED))}
    assert Identity.objects.get(user=alice, external_id=bluesky_follows[7]).display_name == "Q 7"

    del fake_bluesky.follows[(fake_bluesky.me, bluesky_follows[7])]  # unfollowed in the Bluesky app
    a_day_later(bluesky_source)
    again = run_sync(bluesky_source)

    assert "1 account you no longer follow there marked unfollowed" in again.summary
    assert Identity.objects.get(user=alice, external_id=bluesky_follows[7]).i_follow is False
    assert "Q 7" not in in_review(alice) and "Q 8" in in_review(alice)
    assert Identity.objects.filter(user=alice, platform="bluesky").count() == BLUESKY_FOLLOWED + 1


def test_a_bluesky_read_refused_on_page_two_clears_nothing(alice, fake_bluesky, bluesky_follows, bluesky_source):
    run_sync(bluesky_source)
    del fake_bluesky.follows[(fake_bluesky.me, bluesky_follows[3])]
    a_day_later(bluesky_source)
    fake_bluesky.fail_next(200, after=1, path="/xrpc/app.bsky.graph.getFollows", body={"cursor": 7})

    job = run_sync(bluesky_source)

    assert job.state == Job.State.DONE, job.error
    assert "The list of accounts you follow could not be read to the end (Bluesky answered something unreadable" in job.summary
    assert Identity.objects.get(user=alice, external_id=bluesky_follows[3]).i_follow is True
