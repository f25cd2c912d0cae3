"""X archives end to end, into the database: the shapes real archives have that mislead a naive reader."""

from __future__ import annotations

import datetime as dt

import pytest

from relationships.models import Identity, Interaction, Job, Person
from tests.builders import x as xb
from tests.imports.test_import_service import run

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
