"""Mastodon archive (zip and tar.gz) and following CSV importers (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from relationships.platforms import records as r
from relationships.platforms.archives import open_archive
from tests.builders.mastodon import (
    ME,
    ME_URI,
    Account,
    actor_document,
    boost,
    build_following_csv,
    build_mastodon_archive,
    note,
)

BOB = Account("https://social.lol/users/mcg", "@mcg@social.lol")
CAT = Account("https://mastodon.social/users/s0mmer", "@s0mmer@mastodon.social")
DOT = Account("https://inst.example/users/dot", "@dot")  # local to the user's server
MISSKEY = Account("https://misskey.io/users/9abc", "@kei@misskey.io")


def read(path, **kw):
    return list(open_archive(path, **kw))


def interactions(records):
    return [x for x in records if isinstance(x, r.InteractionRecord)]


def found(records):
    return [(i.identity_id, i.kind) for i in interactions(records)]


def skips(records):
    return [x.reason for x in records if isinstance(x, r.SkipRecord)]


def identities(records):
    return {x.external_id: x for x in records if isinstance(x, r.IdentityRecord) and not x.is_self}


@pytest.fixture(params=["zip", "tar.gz"])
def archive(tmp_path, request):
    def build(**kw):
        kw.setdefault("fmt", request.param)
        return build_mastodon_archive(tmp_path / f"archive-20240701-abc.{kw['fmt']}", **kw)

    return build


def test_the_actor_is_the_users_own_identity_and_comes_first(archive):
    records = read(archive(posts=[note(1)]))
    assert records[0] == r.IdentityRecord(platform="mastodon", external_id=ME_URI, handle="alice@inst.example",
                                          display_name="Alice", profile_url="https://inst.example/@alice",
                                          is_self=True)


def test_a_public_reply_is_one_reply_to_the_parent_author_found_by_its_mention(archive):
    at = dt.datetime(2022, 11, 8, 16, 33, 11, tzinfo=dt.timezone.utc)
    records = read(archive(posts=[note(1093, "so <b>true</b> &amp; fun", mentions=[BOB],
                                       in_reply_to=BOB.status(1090), at=at)]))
    [reply] = interactions(records)
    assert reply == r.InteractionRecord(
        platform="mastodon", external_id=f"{ME_URI}/statuses/1093", identity_id=BOB.uri, kind="reply",
        direction="out", occurred_at=at, permalink="https://inst.example/@alice/1093",
        excerpt="@mcg so true & fun", thread_id="tag:inst.example,2022-11-08:objectId=1093:objectType=Conversation",
        named_count=1,
    )
    assert identities(records)[BOB.uri].handle == "mcg@social.lol"


def test_a_reply_that_also_mentions_its_target_is_one_reply(archive):
    records = read(archive(posts=[note(1, mentions=[BOB, BOB], in_reply_to=BOB.status(9))]))
    assert found(records) == [(BOB.uri, "reply")]


def test_a_reply_mentioning_others_is_a_reply_plus_mentions_naming_everyone(archive):
    records = read(archive(posts=[note(1, mentions=[BOB, CAT, DOT], in_reply_to=BOB.status(9))]))
    assert found(records) == [(BOB.uri, "reply"), (CAT.uri, "mention"), (DOT.uri, "mention")]
    assert {i.named_count for i in interactions(records)} == {3}


def test_a_local_mention_gets_the_users_own_host(archive):
    records = read(archive(posts=[note(1, mentions=[DOT])]))
    assert identities(records)[DOT.uri].handle == "dot@inst.example"


def test_a_reply_whose_author_is_only_in_cc_gets_the_handle_its_actor_uri_names(archive):
    records = read(archive(posts=[note(1, in_reply_to=CAT.status(5), extra_cc=[CAT.uri])]))
    assert found(records) == [(CAT.uri, "reply")]
    assert identities(records)[CAT.uri].handle == "s0mmer@mastodon.social"


def test_a_reply_naming_nobody_goes_to_the_author_its_parents_uri_names(archive):
    # The user deleted the mention from the reply: only the parent's URI says whose post it was.
    records = read(archive(posts=[note(1, "agreed", in_reply_to=CAT.status(109440048909776763))]))
    assert found(records) == [(CAT.uri, "reply")]
    assert skips(records) == []
    assert identities(records)[CAT.uri].handle == "s0mmer@mastodon.social"


def test_the_parents_uri_outranks_a_lone_mention_of_someone_else(archive):
    records = read(archive(posts=[note(1, "cc @mcg", mentions=[BOB], in_reply_to=CAT.status(5))]))
    assert found(records) == [(CAT.uri, "reply"), (BOB.uri, "mention")]
    assert {i.named_count for i in interactions(records)} == {2}


def test_a_reply_to_a_newer_mastodons_numeric_actor_uri_goes_to_that_actor_without_a_guessed_handle(archive):
    ana = Account.numeric("mastodon.example", "117020566092212359")
    records = read(archive(posts=[note(1, in_reply_to=ana.status(117020583245459824))]))
    assert found(records) == [(ana.uri, "reply")]
    assert identities(records)[ana.uri].handle is None


def test_a_boosted_author_known_only_by_actor_uri_gets_a_handle_never_the_uri(archive):
    records = read(archive(posts=[boost(1, CAT.status(4), author=CAT)]))
    assert identities(records)[CAT.uri].handle == "s0mmer@mastodon.social"


def test_a_reply_to_a_non_mastodon_post_goes_to_its_single_mention(archive):
    records = read(archive(posts=[note(1, mentions=[MISSKEY], in_reply_to="https://misskey.io/notes/9xyz")]))
    assert found(records) == [(MISSKEY.uri, "reply")]


def test_a_reply_to_a_non_mastodon_post_goes_to_the_one_mention_on_its_host(archive):
    records = read(archive(posts=[note(1, mentions=[BOB, MISSKEY], in_reply_to="https://misskey.io/notes/9xyz")]))
    assert found(records) == [(MISSKEY.uri, "reply"), (BOB.uri, "mention")]


def test_a_reply_whose_author_cannot_be_found_is_skipped_but_mentions_remain(archive):
    records = read(archive(posts=[note(1, mentions=[BOB, CAT], in_reply_to="https://pleroma.example/objects/42")]))
    assert found(records) == [(BOB.uri, "mention"), (CAT.uri, "mention")]
    assert skips(records) == ["reply to a post whose author the archive does not name"]


def test_a_reply_to_oneself_is_not_an_interaction_but_its_mentions_are(archive):
    records = read(archive(posts=[note(2, "2/ thread", in_reply_to=ME.status(1)),
                                  note(3, "3/ thanks", in_reply_to=ME.status(2), mentions=[BOB])]))
    assert found(records) == [(BOB.uri, "mention")]
    assert skips(records) == []


def test_a_direct_post_is_a_dm_to_each_recipient_even_when_it_replies(archive):
    records = read(archive(posts=[note(1, "psst", mentions=[BOB, CAT], visibility="direct",
                                       in_reply_to=BOB.status(3))]))
    assert found(records) == [(BOB.uri, "dm"), (CAT.uri, "dm")]


@pytest.mark.parametrize("visibility", ["public", "unlisted", "private"])
def test_public_unlisted_and_followers_only_posts_are_not_dms(archive, visibility):
    records = read(archive(posts=[note(1, mentions=[BOB], visibility=visibility)]))
    assert found(records) == [(BOB.uri, "mention")]


def test_a_boost_is_a_repost_of_the_first_cc_that_is_not_the_followers(archive):
    records = read(archive(posts=[boost(1094, CAT.status(109440048909776763), author=CAT)]))
    [repost] = interactions(records)
    assert (repost.identity_id, repost.kind, repost.direction) == (CAT.uri, "repost", "out")
    assert repost.external_id == f"{ME_URI}/statuses/1094/activity"
    assert repost.permalink == CAT.status(109440048909776763)


def test_a_boost_whose_cc_names_nobody_goes_to_the_author_its_uri_names_and_a_self_boost_is_ignored(archive):
    records = read(archive(posts=[boost(1, CAT.status(5), author=None), boost(2, ME.status(1), author=ME)]))
    assert found(records) == [(CAT.uri, "repost")]
    assert identities(records)[CAT.uri].handle == "s0mmer@mastodon.social"
    assert skips(records) == []


def test_a_boost_of_a_post_whose_uri_names_no_author_is_skipped(archive):
    records = read(archive(posts=[boost(1, "https://pleroma.example/objects/42", author=None)]))
    assert interactions(records) == []
    assert skips(records) == ["boost of a post whose author the archive does not name"]


def test_a_quote_post_is_a_quote_of_the_mentioned_author(archive):
    records = read(archive(posts=[note(1, "this!", mentions=[BOB, CAT], quote=BOB.status(77))]))
    assert found(records) == [(BOB.uri, "quote"), (CAT.uri, "mention")]


def test_a_quote_of_someone_not_mentioned_goes_to_the_author_its_uri_names(archive):
    records = read(archive(posts=[note(1, "this!", quote=CAT.status(77))]))
    assert found(records) == [(CAT.uri, "quote")]
    assert identities(records)[CAT.uri].handle == "s0mmer@mastodon.social"


def test_likes_are_counted_without_authors(archive):
    records = read(archive(posts=[note(1)], likes=4))
    assert [x for x in records if isinstance(x, r.CountRecord)] == [r.CountRecord("likes_without_author", 4)]
    assert interactions(records) == []


def test_the_duplicated_ordered_items_key_is_read_as_the_last_one(archive):
    posts = [note(n, mentions=[BOB]) for n in range(3)]
    assert len(interactions(read(archive(posts=posts, duplicate_ordered_items=True)))) == 3
    assert len(interactions(read(archive(posts=posts, duplicate_ordered_items=False)))) == 3


def test_without_actor_json_the_user_comes_from_the_activities(archive):
    records = read(archive(posts=[note(1, mentions=[BOB], in_reply_to=ME.status(0))], include_actor=False))
    assert records[0].is_self and records[0].external_id == ME_URI
    assert found(records) == [(BOB.uri, "mention")]


def test_zip_and_tar_gz_archives_give_the_same_records(tmp_path):
    posts = [note(1, mentions=[BOB], in_reply_to=BOB.status(2)), boost(3, CAT.status(4), author=CAT),
             note(5, mentions=[DOT], visibility="direct")]
    a = read(build_mastodon_archive(tmp_path / "a.zip", posts=posts, likes=2))
    b = read(build_mastodon_archive(tmp_path / "b.tar.gz", posts=posts, likes=2, fmt="tar.gz"))
    assert a == b and len(interactions(a)) == 3


def test_an_archive_inside_a_folder_is_read(archive):
    assert found(read(archive(posts=[note(1, mentions=[BOB])], root="archive-2024/"))) == [(BOB.uri, "mention")]


def test_an_identity_is_announced_again_once_a_mention_names_its_handle_and_keeps_it(archive):
    # The account's domain differs from its server's host: only a Mention says so.
    split = Account("https://social.example.net/users/ana", "@ana@example.net")
    posts = [boost(1, split.status(5), author=split), note(2, mentions=[split]), note(3, mentions=[split]),
             boost(4, split.status(6), author=split)]
    records = read(archive(posts=posts))
    announced = [x.handle for x in records if isinstance(x, r.IdentityRecord) and x.external_id == split.uri]
    assert announced == ["ana@social.example.net", "ana@example.net"]


def test_a_post_without_a_date_is_skipped(archive):
    post = note(1, mentions=[BOB])
    del post["object"]["published"], post["published"]
    assert skips(read(archive(posts=[post]))) == ["post without an id or a date"]


def test_followers_collection_from_actor_json_marks_followers_only_posts(archive):
    actor = actor_document()
    actor["followers"] = "https://inst.example/ap/alice/followers-collection"
    post = note(1, mentions=[BOB], visibility="private")
    post["object"]["to"] = [actor["followers"]]
    assert found(read(archive(posts=[post], actor=actor))) == [(BOB.uri, "mention")]


# -- following_accounts.csv ---------------------------------------------------------

def test_each_followed_account_is_a_provisional_identity_and_a_follow(tmp_path):
    rows = ["ana@example.social,true,false,", 'bob@Hachyderm.IO,false,true,"en,de"']
    path = build_following_csv(tmp_path / "export.csv", rows)
    records = read(path)
    assert records == [
        r.IdentityRecord(platform="mastodon", external_id="https://example.social/users/ana",
                         handle="ana@example.social", profile_url="https://example.social/@ana", provisional=True),
        r.FollowRecord(platform="mastodon", identity_id="https://example.social/users/ana", i_follow=True),
        r.CountRecord("accounts_followed"),
        r.IdentityRecord(platform="mastodon", external_id="https://hachyderm.io/users/bob",
                         handle="bob@hachyderm.io", profile_url="https://hachyderm.io/@bob", provisional=True),
        r.FollowRecord(platform="mastodon", identity_id="https://hachyderm.io/users/bob", i_follow=True),
        r.CountRecord("accounts_followed"),
    ]


def test_the_following_csv_tolerates_a_bom_blank_lines_and_reports_bad_rows(tmp_path):
    path = build_following_csv(tmp_path / "f.csv", ["ana@example.social,true,false,", "", "not-an-address,true,false,"],
                               bom=True)
    records = read(path)
    assert [type(x).__name__ for x in records] == ["IdentityRecord", "FollowRecord", "CountRecord", "SkipRecord"]
    assert records[-1].reason == "row without a user@host account address"


def test_the_following_csv_reports_progress_in_rows(tmp_path):
    path = build_following_csv(tmp_path / "f.csv", [f"u{n}@example.social,true,false," for n in range(5)])
    importer = open_archive(path)
    assert (importer.unit, importer.progress) == ("rows", (0, 5))
    list(importer)
    assert importer.progress == (5, 5) and importer.position == 5
