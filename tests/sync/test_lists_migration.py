"""Upgrading a database from before lists: every attempt stays a follow, every app names its old scopes."""

from __future__ import annotations

import pytest

from relationships.platforms.mastodon.oauth import SCOPES
from tests.migrating import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("relationships", "0017_interaction_kind_words")]
AFTER = [("relationships", "0018_lists_and_app_scopes")]
OLD_SCOPES = "read:accounts read:notifications read:statuses read:favourites read:follows read:search write:follows"


@pytest.fixture
def old_apps():
    apps = migrate_to(BEFORE)
    yield apps
    migrate_to_latest()


def test_attempts_become_follows_and_apps_keep_the_scopes_they_were_registered_with(old_apps):
    User = old_apps.get_model("auth", "User")
    Person = old_apps.get_model("relationships", "Person")
    Identity = old_apps.get_model("relationships", "Identity")
    FollowAttempt = old_apps.get_model("relationships", "FollowAttempt")
    MastodonApp = old_apps.get_model("relationships", "MastodonApp")
    alice = User.objects.create(username="alice")
    ana = Person.objects.create(user=alice, name="Ana")
    identity = Identity.objects.create(user=alice, person=ana, platform="bluesky", external_id="did:plc:ana")
    rows = {
        state: FollowAttempt.objects.create(user=alice, person=ana, identity=identity, platform="bluesky", state=state,
                                            reason=f"was {state}", record_uri="at://did:plc:me/app.bsky.graph.follow/3k",
                                            evidence=[{"kind": "reply"}])
        for state in ("following", "requested", "failed", "undone")
    }
    app = MastodonApp.objects.create(base_url="https://social.example", redirect_uri="https://r.example/cb",
                                     client_id="cid", secret_ciphertext=b"x")

    new_apps = migrate_to(AFTER)

    FollowAttempt = new_apps.get_model("relationships", "FollowAttempt")
    after = {a.pk: a for a in FollowAttempt.objects.all()}
    assert set(after) == {a.pk for a in rows.values()}
    for state, old in rows.items():
        row = after[old.pk]
        assert (row.action, row.state, row.reason, row.record_uri, row.evidence) == (
            "follow", state, f"was {state}", old.record_uri, [{"kind": "reply"}])
        assert (row.list_id, row.list_name) == ("", "")
    MastodonApp = new_apps.get_model("relationships", "MastodonApp")
    upgraded = MastodonApp.objects.get(pk=app.pk)
    assert upgraded.scopes == OLD_SCOPES != SCOPES
