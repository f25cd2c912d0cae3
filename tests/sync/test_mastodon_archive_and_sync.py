"""alice's Mastodon archive and a live sync of the same account agree: one row per post and person.

ana lives on another server. alice answered one of ana's posts twice (once
naming ana, once not: the archive then knows ana only from the parent's
URI), wrote to her privately, boosted her post, and answered a post ana
later deleted (the API still says it was a reply; the archive cannot).
"""

from __future__ import annotations

import pytest

from relationships.models import Identity, Interaction, InteractionSource, Job, Person, Source
from tests.builders.mastodon import Account, actor_document, boost, build_mastodon_archive, note
from tests.sync.helpers import import_and_sync, interaction_keys

pytestmark = [pytest.mark.django_db, pytest.mark.services, pytest.mark.postgres_only]


@pytest.fixture
def story(fake_mastodon, ana):
    server, me = fake_mastodon, fake_mastodon.me
    post = server.add_status(ana, "Which glaze for stoneware?")
    gone = server.add_status(ana, "First firing!")
    story = {
        "named": server.add_status(me, "@ana celadon", mentions=[ana], in_reply_to=post),
        "unnamed": server.add_status(me, "or a tenmoku", in_reply_to=post),
        "dm": server.add_status(me, "@ana kiln time on Sunday?", mentions=[ana], visibility="direct"),
        "boost": server.add_status(me, reblog=post),
        "post": post,
        "orphan": server.add_status(me, "@ana loved the mug", mentions=[ana], in_reply_to=gone),
    }
    server.delete_status(gone)  # ana deleted the post alice answered
    return story


def alices_archive(path, server, ana, story):
    """The archive alice's server would export for the same posts."""
    me, ana_tag = server.me["uri"], Account(ana["uri"], f"@{ana['acct']}")
    posts = [
        note(story["named"]["id"], "celadon", mentions=[ana_tag], in_reply_to=story["post"]["uri"], actor=me),
        note(story["unnamed"]["id"], "or a tenmoku", in_reply_to=story["post"]["uri"], actor=me),
        note(story["dm"]["id"], "kiln time on Sunday?", mentions=[ana_tag], visibility="direct", actor=me),
        boost(story["boost"]["id"], story["post"]["uri"], author=ana_tag, actor=me),
        # Mastodon's archive leaves out inReplyTo once the parent is gone: the reply reads as a mention.
        note(story["orphan"]["id"], "loved the mug", mentions=[ana_tag], actor=me),
    ]
    return build_mastodon_archive(path, posts=posts, actor=actor_document(me, "alice"))


@pytest.mark.parametrize("archive_first", [True, False], ids=["archive-then-sync", "sync-then-archive"])
def test_an_archive_and_a_sync_of_the_same_account_store_each_post_once(
    alice, fake_mastodon, ana, mastodon_source, story, tmp_path, archive_first
):
    path = alices_archive(tmp_path / "archive-20260801-0123456789abcdef0123456789abcdef.zip", fake_mastodon, ana, story)
    imported, synced = import_and_sync(alice, path, mastodon_source, archive_first=archive_first)
    assert imported.state == synced.state == Job.State.DONE, (imported.error, synced.error)

    expected = {
        (story["named"]["uri"], ana["uri"], "reply", "out"),
        (story["unnamed"]["uri"], ana["uri"], "reply", "out"),
        (story["dm"]["uri"], ana["uri"], "dm", "out"),
        (story["boost"]["uri"], ana["uri"], "repost", "out"),
        (story["orphan"]["uri"], ana["uri"], "reply", "out"),
    }
    assert interaction_keys(alice) == expected
    archive = Source.objects.get(user=alice, kind=Source.Kind.ARCHIVE)
    for interaction in Interaction.objects.filter(user=alice):
        assert set(InteractionSource.objects.filter(interaction=interaction).values_list("source", flat=True)) == {
            archive.pk, mastodon_source.pk
        }
    [identity] = Identity.objects.filter(user=alice)
    assert (identity.external_id, identity.handle) == (ana["uri"], "ana@remote.example")
    assert Person.objects.filter(user=alice).count() == 1
