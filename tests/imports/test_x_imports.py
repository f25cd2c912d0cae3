"""X archives end to end, into the database: the shapes real archives have that mislead a naive reader."""

from __future__ import annotations

import datetime as dt

import pytest

from relationships.models import Identity, Interaction, Job, Person, Source
from tests.builders import x as xb
from tests.imports.test_import_service import rows, run

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
# Dee joined in 2012 as @dee_pots and gave the name up; an account made in 2021 took it.
DEE = xb.XUser("514432143", "dee_pots", "Dee")
NEWCOMER = xb.account_made(dt.datetime(2021, 6, 1, tzinfo=UTC), "dee_pots", "Someone Else")
EVA = xb.XUser("98765432", "eva_knits", "Eva")
IN_2014 = dt.datetime(2014, 5, 2, 9, 30, tzinfo=UTC)


def talks_with_dee(n=6):
    """Replies to Dee on n days of 2014, each leading mention written with the newcomer's id."""
    stale = xb.reused_name(DEE, NEWCOMER)
    return [
        xb.reply(xb.snowflake(IN_2014 + dt.timedelta(days=day)), to=DEE, mention_as=stale,
                 also_mention=[EVA] if day == 0 else (), at=IN_2014 + dt.timedelta(days=day))
        for day in range(n)
    ]


def test_replies_whose_mention_was_resolved_later_count_for_their_real_partner_only(alice, tmp_path):
    job, _ = run(alice, xb.build_x_archive(tmp_path / "x.zip", tweets=talks_with_dee()))
    assert job.state == Job.State.DONE, job.error
    assert not Identity.objects.filter(user=alice, external_id=NEWCOMER.id).exists()
    assert Person.objects.filter(user=alice).count() == 2  # Dee and Eva, no third "Dee"
    dee = Interaction.objects.filter(user=alice, identity__external_id=DEE.id)
    assert sorted(dee.values_list("kind", "named_count")) == [("reply", 1)] * 5 + [("reply", 2)]
    assert "6 records skipped: mention resolved to an account created after the tweet" in job.summary


def test_the_same_archive_again_adds_nothing_and_skips_the_same(alice, tmp_path):
    path = xb.build_x_archive(tmp_path / "x.zip", tweets=talks_with_dee())
    run(alice, path)
    job, _ = run(alice, path)
    assert job.counts["new"] == 0 and job.counts["known"] == 7
    assert Identity.objects.filter(user=alice).count() == 2


def test_mentions_of_suspended_accounts_stay_apart_and_are_counted(alice, tmp_path):
    tweets = [
        xb.tweet("9001", "@spam_king @eva_knits look", mentions=[xb.gone("spam_king"), EVA]),
        xb.tweet("9002", "@left_in_2020 miss you", mentions=[xb.gone("left_in_2020")]),
    ]
    job, _ = run(alice, xb.build_x_archive(tmp_path / "x.zip", tweets=tweets))
    assert not Identity.objects.filter(user=alice, external_id="-1").exists()
    assert list(Interaction.objects.filter(user=alice).values_list("identity__external_id", "named_count")) == [
        (EVA.id, 1)]
    assert "mention of a suspended or deleted account (id -1) (2)" in job.summary


# -- Grailbird, the archive X gave until 2018 ------------------------------------------------
CY = xb.XUser("144119186", "cy_sells", "Cy")
IN_2013 = dt.datetime(2013, 11, 28, 22, 5, 9, tzinfo=UTC)


def years_on_x():
    """2013-2017: talks with Cy and Dee, a retweet, a quote, and the reused @dee_pots."""
    tweets = []
    for day in range(0, 1500, 100):
        at = IN_2013 + dt.timedelta(days=day)
        tweets.append(xb.reply(xb.snowflake(at), to=[CY, DEE][day % 200 // 100], at=at,
                               mention_as=xb.reused_name(DEE, NEWCOMER) if day % 200 else None))
    tweets.append(xb.retweet(xb.snowflake(IN_2014, 1), of=CY, at=IN_2014))
    tweets.append(xb.quote(xb.snowflake(IN_2014, 2), of=DEE, at=IN_2014))
    tweets.append(xb.tweet(xb.snowflake(IN_2014, 3), "@cy_sells @eva_knits hi", mentions=[CY, EVA], at=IN_2014))
    return tweets


def test_a_grailbird_archive_is_imported_with_a_readable_summary(alice, tmp_path):
    job, _ = run(alice, xb.build_grailbird_archive(tmp_path / "tweets.zip", tweets=years_on_x()))
    assert job.state == Job.State.DONE, job.error
    assert "19 new interactions with 3 people" in job.summary
    assert "7 records skipped: mention resolved to an account created after the tweet" in job.summary
    assert sorted(Identity.objects.filter(user=alice).values_list("external_id", "handle")) == sorted(
        [(CY.id, "cy_sells"), (DEE.id, "dee_pots"), (EVA.id, "eva_knits")])


def test_a_grailbird_archive_then_a_later_archive_of_the_same_account_count_each_tweet_once(alice, tmp_path):
    old = years_on_x()
    since = dt.datetime(2021, 9, 1, tzinfo=UTC)
    newer = [xb.reply(xb.snowflake(since + dt.timedelta(days=n)), to=CY, at=since + dt.timedelta(days=n))
             for n in range(4)]
    run(alice, xb.build_grailbird_archive(tmp_path / "tweets.zip", tweets=old))
    before = {tuple(key): pk for pk, *key in Interaction.objects.filter(user=alice).values_list(
        "pk", "external_id", "identity__external_id", "kind", "named_count")}

    job, _ = run(alice, xb.build_x_archive(tmp_path / "twitter-2022.zip", tweets=old + newer, followers=[CY]))
    assert job.state == Job.State.DONE, job.error
    assert (job.counts["new"], job.counts["known"]) == (4, 19)
    after = Interaction.objects.filter(user=alice)
    assert after.count() == 23 and Person.objects.filter(user=alice).count() == 3
    # The rows of the first import are the same rows, now seen by both archives:
    # both are of one account, so they are the files of one source.
    again = {tuple(key): pk for pk, *key in after.values_list("pk", "external_id", "identity__external_id", "kind",
                                                       "named_count")}
    assert {key: again[key] for key in before} == before
    (source,) = Source.objects.filter(user=alice)
    assert list(source.files.values_list("name", flat=True)) == ["tweets.zip", "twitter-2022.zip"]
    assert all(list(i.sources.all()) == [source] for i in after)


def test_the_same_grailbird_archive_twice_adds_nothing(alice, tmp_path):
    path = xb.build_grailbird_archive(tmp_path / "tweets.zip", tweets=years_on_x())
    run(alice, path)
    job, _ = run(alice, path)
    assert (job.counts["new"], job.counts["known"]) == (0, 19)
    assert Person.objects.filter(user=alice).count() == 3


def test_a_damaged_grailbird_archive_fails_clearly_and_keeps_what_an_earlier_import_stored(alice, tmp_path):
    run(alice, xb.build_x_archive(tmp_path / "x.zip", tweets=talks_with_dee()))
    before = set(rows(alice))
    broken = xb.build_grailbird_archive(tmp_path / "tweets.zip", tweets=years_on_x(),
                                        extra={"data/js/tweets/2014_05.js": "Grailbird.data.tweets_2014_05 =\n[ {"})
    job, _ = run(alice, broken)
    assert job.state == Job.State.FAILED
    assert "data/js/tweets/2014_05.js" in job.error
    assert before <= set(rows(alice))
