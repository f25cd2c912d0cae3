"""X archive importer: behaviour on archives shaped like real ones (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from relationships.platforms import records as r
from relationships.platforms.archives import ArchiveError, detect_kind, open_archive
from tests.builders.x import (
    ME,
    XUser,
    account_made,
    build_grailbird_archive,
    build_x_archive,
    conversation,
    dm,
    gone,
    group_conversation,
    group_message,
    js,
    quote,
    reply,
    retweet,
    reused_name,
    snowflake,
    tweet,
)

ANA = XUser("732980797985148928", "empathy2000", "Ana")
BOB = XUser("871182201068683265", "bob_builds", "Bob")
CY = XUser("144119186", "cy_sells", "Cy")
UTC = dt.timezone.utc


def read(path, **kw):
    return list(open_archive(path, **kw))


def interactions(records):
    return [x for x in records if isinstance(x, r.InteractionRecord)]


def skips(records):
    return [x for x in records if isinstance(x, r.SkipRecord)]


def identities(records):
    return {x.external_id: x for x in records if isinstance(x, r.IdentityRecord) and not x.is_self}


@pytest.fixture
def archive(tmp_path):
    def build(**kw):
        return build_x_archive(tmp_path / "twitter-2023-02-18.zip", **kw)

    return build


def test_the_account_is_the_users_own_identity_and_comes_first(archive):
    records = read(archive(tweets=[reply("10", to=ANA)]))
    first = records[0]
    assert first == r.IdentityRecord(platform="x", external_id=ME.id, handle=ME.screen, display_name=ME.name,
                                     profile_url=f"https://x.com/{ME.screen}", is_self=True)


def test_a_reply_is_one_outbound_reply_with_permalink_excerpt_and_thread(archive):
    at = dt.datetime(2023, 2, 18, 12, 33, 11, tzinfo=UTC)
    text = "@empathy2000 did NOT know &amp; now I listen"
    records = read(archive(tweets=[reply("1626922779105759235", to=ANA, text=text,
                                         reply_to_status="1626916612560281601", at=at)]))
    assert interactions(records) == [r.InteractionRecord(
        platform="x", external_id="1626922779105759235", identity_id=ANA.id, kind="reply", direction="out",
        occurred_at=at, permalink="https://x.com/Jack_L_Lance/status/1626922779105759235",
        excerpt="@empathy2000 did NOT know & now I listen", thread_id="1626916612560281601", named_count=1,
    )]
    assert identities(records)[ANA.id].handle == "empathy2000"
    assert identities(records)[ANA.id].display_name == "Ana"


def test_a_reply_that_also_mentions_its_target_is_one_reply(archive):
    records = read(archive(tweets=[reply("10", to=ANA, text="@empathy2000 hi @empathy2000", also_mention=[ANA])]))
    assert [(i.identity_id, i.kind) for i in interactions(records)] == [(ANA.id, "reply")]


def test_a_reply_that_mentions_someone_else_is_a_reply_and_a_mention_naming_two(archive):
    records = read(archive(tweets=[reply("10", to=ANA, also_mention=[BOB])]))
    found = {(i.identity_id, i.kind, i.named_count) for i in interactions(records)}
    assert found == {(ANA.id, "reply", 2), (BOB.id, "mention", 2)}


def test_mentions_of_several_people_are_one_mention_each_with_named_count(archive):
    records = read(archive(tweets=[tweet("10", "@empathy2000 @bob_builds @cy_sells and me @Jack_L_Lance",
                                         mentions=[ANA, BOB, CY, ME])]))
    found = interactions(records)
    assert {i.identity_id for i in found} == {ANA.id, BOB.id, CY.id}
    assert {i.kind for i in found} == {"mention"}
    assert {i.named_count for i in found} == {3}
    assert {i.external_id for i in found} == {"10"}


def test_a_reply_to_oneself_is_not_an_interaction(archive):
    records = read(archive(tweets=[reply("10", to=ME, text="1/ a thread")]))
    assert interactions(records) == []
    assert skips(records) == []


def test_mentions_in_a_reply_to_oneself_still_count(archive):
    records = read(archive(tweets=[reply("10", to=ME, also_mention=[ANA])]))
    assert [(i.identity_id, i.kind, i.named_count) for i in interactions(records)] == [(ANA.id, "mention", 1)]


def test_a_reply_without_screen_name_gets_its_handle_from_another_tweet(archive):
    records = read(archive(tweets=[
        tweet("10", "@empathy2000 hi", reply_to=ANA, reply_screen_name=False),  # no user_mentions either
        tweet("11", "later with @empathy2000", mentions=[ANA]),
    ]))
    assert [(i.external_id, i.kind) for i in interactions(records)] == [("10", "reply"), ("11", "mention")]
    assert identities(records)[ANA.id].handle == "empathy2000"


def test_a_reply_to_someone_never_named_has_no_handle(archive):
    records = read(archive(tweets=[tweet("10", "hi", reply_to=BOB, reply_screen_name=False)]))
    assert [(i.identity_id, i.kind) for i in interactions(records)] == [(BOB.id, "reply")]
    bob = identities(records)[BOB.id]
    assert bob.handle is None
    assert bob.profile_url == f"https://x.com/i/user/{BOB.id}"


def test_a_retweet_is_a_repost_of_the_first_mention_even_when_truncated(archive):
    records = read(archive(tweets=[retweet("10", of=ANA, text="a very long original " * 20)]))
    [found] = interactions(records)
    assert (found.identity_id, found.kind, found.direction, found.named_count) == (ANA.id, "repost", "out", 1)
    assert found.excerpt.startswith("RT @empathy2000: a very long original")


def test_a_retweet_only_adds_its_author_not_the_people_the_original_mentioned(archive):
    rt = retweet("10", of=ANA, text="thanks @bob_builds")
    rt["tweet"]["entities"]["user_mentions"].append({"screen_name": BOB.screen, "id_str": BOB.id, "name": "Bob"})
    records = read(archive(tweets=[rt]))
    assert [(i.identity_id, i.kind) for i in interactions(records)] == [(ANA.id, "repost")]


def test_a_retweet_without_mentions_is_attributed_from_its_rt_prefix(archive):
    # The tweet that ties @empathy2000 to an id comes later: the retweet waits for it.
    records = read(archive(tweets=[
        retweet("10", of=ANA, with_mention=False),
        tweet("11", "hi @empathy2000", mentions=[ANA]),
    ]))
    assert [(i.external_id, i.identity_id, i.kind) for i in interactions(records)] == [
        ("11", ANA.id, "mention"), ("10", ANA.id, "repost")]


def test_a_retweet_of_an_unknown_account_is_skipped_with_a_reason(archive):
    records = read(archive(tweets=[retweet("10", of=ANA, with_mention=False)]))
    assert interactions(records) == []
    assert [s.reason for s in skips(records)] == ["retweet of an account the archive never names"]


@pytest.mark.parametrize("host", ["twitter.com", "x.com", "mobile.twitter.com"])
def test_a_status_link_to_a_known_account_is_a_quote(archive, host):
    records = read(archive(tweets=[
        quote("10", of=ANA, host=host),
        tweet("11", "hi @empathy2000", mentions=[ANA]),
    ]))
    assert [(i.external_id, i.identity_id, i.kind) for i in interactions(records)] == [
        ("11", ANA.id, "mention"), ("10", ANA.id, "quote")]


def test_a_quote_of_an_account_already_named_is_read_in_its_place(archive):
    records = read(archive(tweets=[
        tweet("11", "hi @empathy2000", mentions=[ANA]),
        quote("12", of=ANA),
    ]))
    assert [(i.external_id, i.identity_id, i.kind) for i in interactions(records)] == [
        ("11", ANA.id, "mention"), ("12", ANA.id, "quote")]


def test_a_reply_target_named_only_later_gets_its_handle_and_name(archive):
    # The reply does not carry the screen name; a later mention does, with the display name.
    first = tweet("10", "ok", reply_to=ANA, reply_screen_name=False)
    records = read(archive(tweets=[first, tweet("11", "hi @empathy2000", mentions=[ANA])]))
    last = [rec for rec in records if isinstance(rec, r.IdentityRecord) and rec.external_id == ANA.id][-1]
    assert (last.handle, last.display_name) == (ANA.screen, ANA.name)


def test_a_quote_of_an_account_never_named_is_skipped_with_a_counted_reason(archive):
    records = read(archive(tweets=[quote("10", of=BOB), quote("11", of=CY)]))
    assert interactions(records) == []
    assert [s.reason for s in skips(records)] == ["quote of an account the archive never names"] * 2
    assert "twitter.com/bob_builds/status/" in skips(records)[0].detail


def test_a_quote_that_also_mentions_its_author_is_one_quote(archive):
    q = quote("10", of=ANA, text="look @empathy2000")
    q["tweet"]["entities"]["user_mentions"] = [{"screen_name": ANA.screen, "id_str": ANA.id, "name": "Ana"}]
    records = read(archive(tweets=[q]))
    assert [(i.identity_id, i.kind) for i in interactions(records)] == [(ANA.id, "quote")]


def test_a_reply_that_quotes_its_target_is_one_reply(archive):
    t = reply("10", to=ANA)
    t["tweet"]["entities"]["urls"] = [{"expanded_url": f"https://x.com/{ANA.screen}/status/99"}]
    records = read(archive(tweets=[t]))
    assert [(i.identity_id, i.kind) for i in interactions(records)] == [(ANA.id, "reply")]


def test_quoting_oneself_is_not_an_interaction(archive):
    records = read(archive(tweets=[quote("10", of=ME)]))
    assert interactions(records) == [] and skips(records) == []


def test_direct_messages_go_both_ways_with_the_message_id_and_conversation(archive):
    at = dt.datetime(2016, 1, 27, 1, 34, 58, tzinfo=UTC)
    records = read(archive(dms=[conversation(
        dm("692158825256845316", sender=CY, recipient=ME, text="thanks!", at=at + dt.timedelta(minutes=5)),
        dm("692158825256845315", sender=ME, recipient=CY, text="here's the invoice", at=at),
    )]))
    found = interactions(records)
    assert [(i.external_id, i.identity_id, i.kind, i.direction) for i in found] == [
        ("692158825256845316", CY.id, "dm", "in"), ("692158825256845315", CY.id, "dm", "out")]
    assert found[1].occurred_at == at
    assert found[1].thread_id == f"{CY.id}-{ME.id}"
    assert found[1].excerpt == "here's the invoice"
    assert identities(records)[CY.id].handle is None


def test_a_dm_partner_who_was_mentioned_gets_a_handle(archive):
    records = read(archive(tweets=[tweet("10", "hi @cy_sells", mentions=[CY])],
                           dms=[conversation(dm("5", sender=CY, recipient=ME))]))
    assert identities(records)[CY.id].handle == "cy_sells"


def test_a_group_message_by_the_user_is_a_dm_to_every_other_participant(archive):
    records = read(archive(group_dms=[group_conversation(
        "1481375431256690692", participants=[ME, ANA, BOB],
        messages=[group_message("900", sender=ME, text="hi both")],
    )]))
    found = interactions(records)
    assert sorted((i.identity_id, i.kind, i.direction, i.external_id) for i in found) == sorted([
        (ANA.id, "dm", "out", "900"), (BOB.id, "dm", "out", "900")])
    assert {i.named_count for i in found} == {2}
    assert {i.thread_id for i in found} == {"1481375431256690692"}


def test_group_participants_include_people_who_joined_later(archive):
    records = read(archive(group_dms=[group_conversation(
        "77", participants=[ME, ANA], joined=[CY],
        messages=[group_message("901", sender=ME), group_message("900", sender=BOB)],
    )]))
    outbound = {i.identity_id for i in interactions(records) if i.direction == "out"}
    assert outbound == {ANA.id, BOB.id, CY.id}


def test_a_group_message_from_someone_else_is_an_inbound_dm_from_its_sender(archive):
    records = read(archive(group_dms=[group_conversation(
        "77", participants=[ME, ANA, BOB], messages=[group_message("900", sender=BOB)])]))
    assert [(i.identity_id, i.direction) for i in interactions(records)] == [(BOB.id, "in")]


def test_a_group_message_with_unknown_participants_is_skipped(archive):
    convo = {"dmConversation": {"conversationId": "77", "messages": [group_message("900", sender=ME)]}}
    records = read(archive(group_dms=[convo]))
    assert interactions(records) == []
    assert [s.reason for s in skips(records)] == ["group message whose other participants are unknown"]


def test_likes_are_counted_without_authors_never_interactions(archive):
    records = read(archive(likes=7))
    assert [x for x in records if isinstance(x, r.CountRecord)] == [r.CountRecord("likes_without_author", 7)]
    assert interactions(records) == []


def test_followers_and_following_give_follow_state_and_id_only_identities(archive):
    records = read(archive(followers=[ANA, BOB], following=[BOB]))
    follows = [x for x in records if isinstance(x, r.FollowRecord)]
    assert follows == [
        r.FollowRecord(platform="x", identity_id=ANA.id, follows_me=True),
        r.FollowRecord(platform="x", identity_id=BOB.id, follows_me=True),
        r.FollowRecord(platform="x", identity_id=BOB.id, i_follow=True),
    ]
    assert {k: v.handle for k, v in identities(records).items()} == {ANA.id: None, BOB.id: None}


def test_each_person_is_announced_once_and_before_their_first_interaction(archive):
    records = read(archive(tweets=[reply(str(10 + n), to=ANA) for n in range(5)], followers=[ANA]))
    seen = set()
    for record in records:
        if isinstance(record, r.IdentityRecord):
            seen.add(record.external_id)
        elif isinstance(record, (r.InteractionRecord, r.FollowRecord)):
            assert record.identity_id in seen
    assert sum(isinstance(x, r.IdentityRecord) and x.external_id == ANA.id for x in records) == 1


def test_multipart_tweets_are_all_read_in_part_order(archive):
    tweets = [tweet(str(100 + n), f"hi @empathy2000 {n}", mentions=[ANA]) for n in range(9)]
    path = archive(tweets=tweets, multipart=3)
    import zipfile

    names = zipfile.ZipFile(path).namelist()
    assert {"data/tweets.js", "data/tweets-part1.js", "data/tweets-part2.js"} <= set(names)
    found = [i.external_id for i in interactions(read(path))]
    assert sorted(found) == sorted(str(100 + n) for n in range(9))
    assert found[:3] == ["100", "103", "106"]  # part0 first


def test_parts_are_found_without_a_manifest(archive):
    tweets = [tweet(str(100 + n), "hi @empathy2000", mentions=[ANA]) for n in range(4)]
    assert len(interactions(read(archive(tweets=tweets, multipart=2, manifest=False)))) == 4


def test_a_part_the_manifest_lists_but_the_zip_lacks_is_reported(archive):
    tweets = [tweet(str(100 + n), "hi @empathy2000", mentions=[ANA]) for n in range(4)]
    records = read(archive(tweets=tweets, multipart=2, extra={"data/tweets-part1.js": None}))
    assert len(interactions(records)) == 2
    assert [s.detail for s in skips(records)] == ["data/tweets-part1.js"]


def test_old_tweet_js_archives_and_unwrapped_tweets_are_read(archive):
    records = read(archive(tweets=[tweet("10", "hi @bob_builds", mentions=[BOB], wrapped=False)], old_names=True))
    assert [(i.identity_id, i.kind) for i in interactions(records)] == [(BOB.id, "mention")]


def test_an_archive_rezipped_inside_a_folder_is_read(archive):
    records = read(archive(tweets=[reply("10", to=ANA)], root="twitter-2023-02-18-abc/"))
    assert len(interactions(records)) == 1


def test_the_account_falls_back_to_the_manifest(archive):
    records = read(archive(tweets=[reply("10", to=ANA)], extra={"data/account.js": None}))
    assert records[0].is_self and records[0].external_id == ME.id


def test_an_archive_that_cannot_say_whose_it_is_is_refused(archive):
    path = archive(tweets=[reply("10", to=ANA)], account=None, manifest=False)
    with pytest.raises(ArchiveError, match="which account is yours"):
        read(path)


def test_tweet_times_honour_the_utc_offset_and_fall_back_to_the_snowflake(archive):
    t = tweet("1626922779105759235", "hi @empathy2000", mentions=[ANA])
    t["tweet"]["created_at"] = "Sat Feb 18 14:33:11 +0200 2023"
    u = tweet("1626922779105759236", "hi @empathy2000", mentions=[ANA])
    del u["tweet"]["created_at"]
    found = interactions(read(archive(tweets=[t, u])))
    assert found[0].occurred_at == dt.datetime(2023, 2, 18, 12, 33, 11, tzinfo=UTC)
    assert abs(found[1].occurred_at - dt.datetime(2023, 2, 18, 12, 33, 11, tzinfo=UTC)) < dt.timedelta(seconds=1)


def test_a_tweet_without_any_date_is_skipped(archive):
    t = tweet("12345", "hi @empathy2000", mentions=[ANA])
    del t["tweet"]["created_at"]
    assert [s.reason for s in skips(read(archive(tweets=[t])))] == ["tweet without a readable date"]


def test_a_tweet_of_an_odd_shape_is_skipped_not_fatal(archive):
    bad = tweet("10", "hi")
    bad["tweet"]["entities"] = "not an object"
    records = read(archive(tweets=[bad, reply("11", to=ANA)]))
    assert [s.reason for s in skips(records)] == ["unreadable tweet"]
    assert len(interactions(records)) == 1


def test_the_excerpt_is_about_200_characters(archive):
    records = read(archive(tweets=[tweet("10", "@empathy2000 " + "word " * 100, mentions=[ANA])]))
    excerpt = interactions(records)[0].excerpt
    assert 150 <= len(excerpt) <= 200 and excerpt.endswith("\u2026")


def test_a_wrapper_with_a_trailing_semicolon_is_accepted(archive):
    content = js("YTD.tweets.part0", [tweet("10", "hi @empathy2000", mentions=[ANA])]) + ";\n"
    records = read(archive(extra={"data/tweets.js": content}))
    assert len(interactions(records)) == 1


def test_an_account_or_manifest_of_an_odd_shape_does_not_crash(archive):
    path = archive(tweets=[reply("10", to=ANA)], extra={
        "data/account.js": js("YTD.account.part0", [1]),
        "data/manifest.js": 'window.__THAR_CONFIG = {"userInfo": {"accountId": "2444552670"}, "dataTypes": []}',
    })
    records = read(path)
    assert records[0].external_id == ME.id and records[0].handle is None
    assert len(interactions(records)) == 1


# -- mentions resolved when the archive was made ---------------------------------------
# Dee signed up in 2012 (a sequential id) as @dee_pots, and gave the name up in
# 2019; an account made in 2021 took it. The archive, made in 2023, writes every
# old mention of @dee_pots with the newcomer's id.
DEE = XUser("514432143", "dee_pots", "Dee")
NEWCOMER = account_made(dt.datetime(2021, 6, 1, tzinfo=UTC), "dee_pots", "Someone Else")
IN_2014 = dt.datetime(2014, 5, 2, 9, 30, tzinfo=UTC)


def at_2014(n: int) -> dict:
    return {"at": IN_2014 + dt.timedelta(days=n)}


def test_a_reply_whose_mention_names_a_later_account_is_one_reply_to_its_real_target(archive):
    stale = reused_name(DEE, NEWCOMER)
    records = read(archive(tweets=[
        reply(snowflake(IN_2014), to=DEE, mention_as=stale, **at_2014(0)),
        reply(snowflake(IN_2014, 1), to=DEE, mention_as=stale, also_mention=[CY], **at_2014(0)),
    ]))
    found = {(i.external_id, i.identity_id, i.kind, i.named_count) for i in interactions(records)}
    assert found == {
        (snowflake(IN_2014), DEE.id, "reply", 1),
        (snowflake(IN_2014, 1), DEE.id, "reply", 2), (snowflake(IN_2014, 1), CY.id, "mention", 2),
    }
    assert NEWCOMER.id not in identities(records)
    assert identities(records)[DEE.id].handle == "dee_pots"
    assert [s.reason for s in skips(records)] == [
        "mention resolved to an account created after the tweet (a screen name taken later)"] * 2


def test_a_plain_mention_of_a_later_account_is_dropped_and_not_counted_as_named(archive):
    stale = reused_name(DEE, NEWCOMER)
    records = read(archive(tweets=[
        tweet(snowflake(IN_2014), "@dee_pots @cy_sells see this", mentions=[stale, CY], **at_2014(0)),
    ]))
    assert [(i.identity_id, i.kind, i.named_count) for i in interactions(records)] == [(CY.id, "mention", 1)]
    assert "@dee_pots (%s) in tweet %s" % (NEWCOMER.id, snowflake(IN_2014)) == skips(records)[0].detail


def test_the_newcomer_is_credited_with_what_happened_after_they_existed(archive):
    later = dt.datetime(2022, 3, 1, tzinfo=UTC)
    stale = reused_name(DEE, NEWCOMER)
    records = read(archive(tweets=[
        reply(snowflake(IN_2014), to=DEE, mention_as=stale, **at_2014(0)),
        reply(snowflake(later), to=NEWCOMER, at=later),
    ]))
    assert sorted((i.identity_id, i.occurred_at.year) for i in interactions(records)) == sorted(
        [(DEE.id, 2014), (NEWCOMER.id, 2022)])


def test_a_stale_mention_does_not_teach_whose_screen_name_a_quote_link_names(archive):
    # The quote link only gives "dee_pots": it must go to Dee, whom the reply names, not to the newcomer.
    records = read(archive(tweets=[
        reply(snowflake(IN_2014), to=DEE, mention_as=reused_name(DEE, NEWCOMER), **at_2014(0)),
        quote(snowflake(IN_2014, 5), of=DEE, **at_2014(1)),
    ]))
    assert [(i.identity_id, i.kind) for i in interactions(records)] == [(DEE.id, "reply"), (DEE.id, "quote")]


def test_an_account_made_before_the_tweet_is_believed_even_by_a_second(archive):
    made = dt.datetime(2020, 1, 1, 12, 0, 0, tzinfo=UTC)
    fresh = account_made(made + dt.timedelta(milliseconds=900), "fresh_start")
    records = read(archive(tweets=[
        tweet(snowflake(made + dt.timedelta(seconds=1)), "welcome @fresh_start", mentions=[fresh], at=made),
    ]))
    assert [(i.identity_id, i.kind) for i in interactions(records)] == [(fresh.id, "mention")]
    assert skips(records) == []


def test_ids_from_before_snowflakes_carry_no_date_and_are_kept(archive):
    # 2009: the tweet's and the accounts' ids are sequential; nothing can be judged "newer".
    records = read(archive(tweets=[
        reply("5012345678", to=CY, also_mention=[DEE], at=dt.datetime(2009, 11, 3, tzinfo=UTC)),
    ]))
    assert {(i.identity_id, i.kind) for i in interactions(records)} == {(CY.id, "reply"), (DEE.id, "mention")}


def test_mentions_of_suspended_accounts_never_become_one_account_minus_one(archive):
    records = read(archive(tweets=[
        tweet("10", "@spam_king @empathy2000 hmm", mentions=[gone("spam_king"), ANA]),
        tweet("11", "@left_in_2020 miss you", mentions=[gone("left_in_2020")]),
        reply("12", to=gone("left_in_2020"), text="@left_in_2020 ok"),
    ]))
    assert "-1" not in identities(records)
    assert [(i.external_id, i.identity_id, i.named_count) for i in interactions(records)] == [("10", ANA.id, 1)]
    assert sorted(s.reason for s in skips(records)) == [
        "mention of a suspended or deleted account (id -1)"] * 3 + ["reply to a suspended or deleted account (id -1)"]


def test_a_retweet_whose_leading_mention_names_a_later_account_is_not_credited_to_the_next_mention(archive):
    rt = retweet(snowflake(IN_2014), of=reused_name(DEE, NEWCOMER), text="thanks @cy_sells", **at_2014(0))
    rt["tweet"]["entities"]["user_mentions"].append({"screen_name": CY.screen, "id_str": CY.id, "name": "Cy"})
    records = read(archive(tweets=[rt]))
    assert interactions(records) == []
    assert sorted(s.reason for s in skips(records)) == [
        "mention resolved to an account created after the tweet (a screen name taken later)",
        "retweet of an account the archive never names"]


# -- Grailbird: the archive X gave until 2018 ----------------------------------------------
IN_2013 = dt.datetime(2013, 11, 28, 22, 5, 9, tzinfo=UTC)


def grailbird_story():
    """Five years of an account that left X in 2018: replies, mentions, a quote and retweets."""
    return [
        reply("405123456789012345", to=CY, at=IN_2013, reply_to_status="405100000000000000"),
        tweet("405123456789012999", "@dee_pots @cy_sells lunch?", mentions=[DEE, CY], at=IN_2013),
        retweet(snowflake(IN_2014), of=DEE, text="a long thought " * 12, **at_2014(0)),
        quote(snowflake(IN_2014, 3), of=CY, **at_2014(40)),
        reply(snowflake(IN_2014, 9), to=DEE, mention_as=reused_name(DEE, NEWCOMER), **at_2014(200)),
        tweet(snowflake(dt.datetime(2018, 1, 5, tzinfo=UTC)), "bye all", at=dt.datetime(2018, 1, 5, tzinfo=UTC)),
    ]


def test_a_grailbird_archive_is_detected_as_x(tmp_path):
    assert detect_kind(build_grailbird_archive(tmp_path / "tweets.zip", tweets=grailbird_story())) == "x"


def test_a_grailbird_archive_gives_replies_mentions_and_retweets_with_their_ids_and_times(tmp_path):
    records = read(build_grailbird_archive(tmp_path / "tweets.zip", tweets=grailbird_story()))
    assert records[0] == r.IdentityRecord(platform="x", external_id=ME.id, handle=ME.screen, display_name=ME.name,
                                          profile_url=f"https://x.com/{ME.screen}", is_self=True)
    # A month's file lists its tweets newest first.
    found = sorted((i.external_id, i.identity_id, i.kind, i.occurred_at, i.named_count) for i in interactions(records))
    assert found == sorted([
        ("405123456789012345", CY.id, "reply", IN_2013, 1),
        ("405123456789012999", DEE.id, "mention", IN_2013, 2),
        ("405123456789012999", CY.id, "mention", IN_2013, 2),
        (snowflake(IN_2014), DEE.id, "repost", IN_2014, 1),
        (snowflake(IN_2014, 3), CY.id, "quote", IN_2014 + dt.timedelta(days=40), 1),
        (snowflake(IN_2014, 9), DEE.id, "reply", IN_2014 + dt.timedelta(days=200), 1),
    ])
    [cy_reply] = [i for i in interactions(records) if i.kind == "reply" and i.identity_id == CY.id]
    assert cy_reply.thread_id == "405100000000000000"
    assert cy_reply.permalink == f"https://x.com/{ME.screen}/status/405123456789012345"
    assert cy_reply.excerpt == "@cy_sells did not know that"
    assert identities(records)[DEE.id].handle == "dee_pots" and NEWCOMER.id not in identities(records)
    assert [s.reason for s in skips(records)] == [
        "mention resolved to an account created after the tweet (a screen name taken later)"]


def test_a_grailbird_archive_and_a_later_archive_of_the_same_tweets_give_the_same_records(tmp_path):
    story = grailbird_story()
    old = read(build_grailbird_archive(tmp_path / "tweets.zip", tweets=story))
    new = read(build_x_archive(tmp_path / "twitter-2023.zip", tweets=story))
    key = lambda i: (i.external_id, i.identity_id, i.kind)  # noqa: E731
    assert sorted(interactions(old), key=key) == sorted(interactions(new), key=key)
    assert identities(old) == identities(new)


def test_a_grailbird_retweet_is_credited_to_the_author_of_the_tweet_it_embeds(tmp_path):
    # The leading mention was resolved to the newcomer; retweeted_status.user is Dee by id.
    rt = retweet(snowflake(IN_2014), of=reused_name(DEE, NEWCOMER), **at_2014(0))
    path = build_grailbird_archive(tmp_path / "tweets.zip", tweets=[rt])
    import zipfile

    with zipfile.ZipFile(path) as zf:
        month = zf.read("data/js/tweets/2014_05.js").decode()
    month = month.replace(f'"id_str" : "{NEWCOMER.id}",\n        "profile', f'"id_str" : "{DEE.id}",\n        "profile')
    records = read(build_grailbird_archive(tmp_path / "fixed.zip", tweets=[rt],
                                           extra={"data/js/tweets/2014_05.js": month}))
    assert [(i.identity_id, i.kind) for i in interactions(records)] == [(DEE.id, "repost")]


def test_a_grailbird_archive_rezipped_in_a_folder_with_a_month_missing_is_read_and_says_so(tmp_path):
    story = grailbird_story()
    path = build_grailbird_archive(tmp_path / "tweets.zip", tweets=story, root="old-twitter/",
                                   extra={"data/js/tweets/2014_11.js": None})
    records = read(path)
    assert sorted({i.external_id for i in interactions(records)}) == sorted(
        ["405123456789012345", "405123456789012999", snowflake(IN_2014), snowflake(IN_2014, 3)])
    assert snowflake(IN_2014, 9) not in {i.external_id for i in interactions(records)}
    assert [(s.reason, s.detail) for s in skips(records) if "index" in s.reason] == [
        ("file listed by the tweet index is missing from the archive", "old-twitter/data/js/tweets/2014_11.js")]


def test_a_grailbird_archive_without_user_details_is_refused_with_a_reason(tmp_path):
    path = build_grailbird_archive(tmp_path / "tweets.zip", tweets=grailbird_story(), account=None)
    with pytest.raises(ArchiveError, match="no data/js/user_details.js, so it cannot tell which account is yours"):
        read(path)


def test_a_damaged_grailbird_month_fails_with_the_file_named(tmp_path):
    cut = 'Grailbird.data.tweets_2014_06 =\n[ {"id_str" : '
    path = build_grailbird_archive(tmp_path / "tweets.zip", tweets=grailbird_story(),
                                   extra={"data/js/tweets/2014_06.js": cut})
    with pytest.raises(ArchiveError, match="data/js/tweets/2014_06.js"):
        read(path)


def test_a_quote_or_retweet_by_screen_name_goes_to_who_had_the_name_then(archive):
    # tweets.js lists the newest first: the newcomer is named before Dee is.
    later = dt.datetime(2022, 3, 1, tzinfo=UTC)
    records = read(archive(tweets=[
        reply(snowflake(later), to=NEWCOMER, at=later),
        quote(snowflake(IN_2014, 7), of=DEE, status_id=snowflake(IN_2014), **at_2014(3)),
        retweet(snowflake(IN_2014, 6), of=DEE, with_mention=False, **at_2014(2)),
        reply(snowflake(IN_2014, 5), to=DEE, mention_as=reused_name(DEE, NEWCOMER), **at_2014(1)),
    ]))
    assert sorted((i.identity_id, i.kind, i.occurred_at.year) for i in interactions(records)) == sorted([
        (NEWCOMER.id, "reply", 2022), (DEE.id, "quote", 2014), (DEE.id, "repost", 2014), (DEE.id, "reply", 2014)])


def test_a_quote_of_a_screen_name_only_a_later_account_had_is_skipped_not_given_to_it(archive):
    later = dt.datetime(2022, 3, 1, tzinfo=UTC)
    records = read(archive(tweets=[
        reply(snowflake(later), to=NEWCOMER, at=later),
        quote(snowflake(IN_2014, 7), of=DEE, **at_2014(3)),
        retweet(snowflake(IN_2014, 6), of=DEE, with_mention=False, **at_2014(2)),
    ]))
    assert [(i.identity_id, i.occurred_at.year) for i in interactions(records)] == [(NEWCOMER.id, 2022)]
    assert [s.reason for s in skips(records)] == [
        "screen name known only as an account created after the tweet"] * 2
