"""records.Post: the one place a post's doings become kinds (dm > reply > quote > mention)."""

import datetime as dt

from relationships.platforms import records as r
from relationships.platforms.records import Post, post_records

AT = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


def test_each_account_gets_the_first_kind_that_applies_in_reply_quote_mention_order():
    post = Post(reply_to="bob", quotes=("carol", "bob"), mentions=("dave", "carol", "bob"))
    assert post.kinds("me") == {"bob": r.REPLY, "carol": r.QUOTE, "dave": r.MENTION}


def test_a_direct_message_is_a_dm_to_each_recipient_whatever_else_it_does():
    post = Post(reply_to="bob", mentions=("carol",), dm=True, recipients=("carol", "erin", "carol"))
    assert post.kinds("me") == {"carol": r.DM, "erin": r.DM}
    assert post.kind_towards("bob") == r.DM


def test_the_author_and_unknown_accounts_are_never_concerned():
    post = Post(reply_to="me", quotes=("",), mentions=("me", "bob"))
    assert post.kinds("me") == {"bob": r.MENTION}
    assert post.kind_towards("zed") is None
    assert Post().kind_towards("") is None


def test_the_named_count_counts_mentions_and_the_reply_target_but_not_the_author():
    assert Post(reply_to="bob", mentions=("bob", "carol", "me")).named_count("me") == 2
    assert Post(quotes=("bob",)).named_count("me") == 1
    assert Post(reply_to="me").named_count("me") == 1


def test_post_records_announce_each_account_before_its_interaction():
    post = Post(reply_to="bob", mentions=("carol",))
    records = post_records(post, "me", lambda account: [r.IdentityRecord(platform=r.X, external_id=account)],
                           platform=r.X, external_id="1", direction=r.OUTBOUND, occurred_at=AT)
    assert [type(record).__name__ for record in records] == [
        "IdentityRecord", "InteractionRecord", "IdentityRecord", "InteractionRecord"]
    assert [(i.identity_id, i.kind, i.named_count) for i in records[1::2]] == [("bob", r.REPLY, 2),
                                                                               ("carol", r.MENTION, 2)]
