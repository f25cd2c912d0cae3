"""Whom the user follows, end to end on the real local Bluesky network: a sync reads it, the review walks it.

People (their own, so the other modules' stories stay as they are):
jadefern.test connects her account to Rapport; she follows kaisong.test in
the Bluesky app, without a word between them, and later follows
lexmarsh.test and unfollows kai there. Rapport learns both only from the
list a sync reads (``app.bsky.graph.getFollows`` on the AppView); the
review page is read as alice's browser gets it.
"""

from __future__ import annotations

import datetime as dt
import pytest
from django.urls import reverse
from django.utils import timezone

from relationships.models import Identity, Job, Source
from relationships.services.intake import connect, jobs, sync
from tests.bluesky_network.network import Account, Pds, Ref, XrpcError

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]


@pytest.fixture(scope="module")
def people(pds: Pds) -> tuple[Account, Account, Account, str]:
    """jade, kai, lex, and the app password jade gives Rapport."""
    # Full names: the PDS reserves some short handles ("lex" among them).
    jade, kai, lex = (pds.create_account(f"{h}.test") for h in ("jadefern", "kaisong", "lexmarsh"))
    return jade, kai, lex, pds.create_app_password(jade, "Rapport")


def followed_by(pds: Pds, account: Account) -> set[str]:
    """Whom the AppView says ``account`` follows; nobody while it has not indexed the new account itself."""
    try:
        page = pds.call("app.bsky.graph.getFollows", token=account.access_jwt,
                        params={"actor": account.did, "limit": 100})
    except XrpcError as e:
        if e.status == 400 and "Actor not found" in str(e.body):
            return set()
        raise
    return {p["did"] for p in page["follows"]}


def unfollow_in_the_app(pds: Pds, account: Account, follow: Ref) -> None:
    pds.call("com.atproto.repo.deleteRecord", token=account.access_jwt,
             body={"repo": account.did, "collection": "app.bsky.graph.follow", "rkey": follow.uri.rsplit("/", 1)[1]})


def sync_here(source: Source) -> Job:
    job, _ = sync.queue_sync(source, send_task=False)
    jobs.execute(job.pk, sync.run_sync)
    job.refresh_from_db()
    return job


def review_card(client) -> str:
    response = client.get(reverse("review"))
    assert response.status_code == 200
    return response.content.decode()


def test_a_follow_made_in_the_bluesky_app_reaches_the_review_after_a_sync(
    alice, alice_client, bluesky_network, pds, people
):
    jade, kai_account, lex_account, app_password = people
    kai_follow = pds.follow(jade, kai_account)
    pds.wait_until(lambda: kai_account.did in followed_by(pds, jade), message="the AppView to index jade's follow")
    source = connect.connect_bluesky(alice, "jadefern.test", app_password, bluesky_network.pds_url)
    assert "kaisong.test" not in review_card(alice_client)

    job = sync_here(source)

    assert job.state == Job.State.DONE, job.error
    assert "Read the 1 account you follow." in job.summary
    kai = Identity.objects.get(user=alice, platform="bluesky", external_id=kai_account.did)
    assert kai.i_follow and kai.handle == "kaisong.test" and kai.following_seen_at is not None
    assert not kai.interactions.exists()
    html = review_card(alice_client)
    person_url = reverse("person", args=[kai.person_id])
    assert f'id="review-name"><a href="{person_url}">kaisong.test</a>' in html
    assert "<strong>0 of 1</strong> reviewed" in html

    # jade follows lex and unfollows kai in the app; the next day's sync reads the list again.
    pds.follow(jade, lex_account)
    unfollow_in_the_app(pds, jade, kai_follow)
    pds.wait_until(lambda: followed_by(pds, jade) == {lex_account.did},
                   message="the AppView to index the follow of lex and the unfollow of kai")
    Source.objects.filter(pk=source.pk).update(following_read_at=timezone.now() - dt.timedelta(days=1, minutes=1))

    again = sync_here(source)

    assert again.state == Job.State.DONE, again.error
    assert "Read the 1 account you follow; 1 account you no longer follow there marked unfollowed." in again.summary
    kai.refresh_from_db()
    assert (kai.i_follow, kai.following_seen_at) == (False, None)
    html = review_card(alice_client)
    lex = Identity.objects.get(user=alice, platform="bluesky", external_id=lex_account.did)
    assert f'id="review-name"><a href="{reverse("person", args=[lex.person_id])}">lexmarsh.test</a>' in html
    assert "kaisong.test" not in html and "<strong>0 of 1</strong> reviewed" in html
