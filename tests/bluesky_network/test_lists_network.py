"""Lists, unfollow and follow again, and known followers, end to end on the real local Bluesky network.

People (their own, so the story of test_real_network.py stays as it is):
erin.test connects her account to Rapport; finn.test is whom she lists;
gus.test is whom she follows, unfollows and follows again; hana.test and
finn.test follow gus, and erin follows hana only; ivy.test is whom she
hears less of (Quieter: into a list, then unfollowed).

Every check reads the network's own answers: the repository
(``com.atproto.repo.listRecords``) and the AppView (``app.bsky.graph.getList``,
``getLists``, ``getFollows``, ``getFollowers``, ``getKnownFollowers``), never
what Rapport recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from relationships.models import FollowAttempt, Identity, Person, Rapport, Source
from relationships.platforms import records as r
from relationships.platforms.bluesky.curation import CURATELIST, LIST, LISTITEM
from relationships.services import follow, lists
from relationships.services.intake import connect
from relationships.services.intake.ingest import ingest
from tests.bluesky_network.network import Account, Pds, XrpcError

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]

FOLLOW = "app.bsky.graph.follow"


@dataclass
class People:
    erin: Account
    finn: Account
    gus: Account
    hana: Account
    ivy: Account
    app_password: str


@pytest.fixture(scope="module")
def people(pds: Pds) -> People:
    erin, finn, gus, hana, ivy = (pds.create_account(f"{h}.test") for h in ("erin", "finn", "gus", "hana", "ivy"))
    return People(erin, finn, gus, hana, ivy, pds.create_app_password(erin, "Rapport"))


def connect_erin(user, bluesky_network, people: People) -> Source:
    return connect.connect_bluesky(user, "erin.test", people.app_password, bluesky_network.pds_url)


def person_for(user, source: Source, account: Account) -> Person:
    ingest(user, source, [r.IdentityRecord(platform=r.BLUESKY, external_id=account.did, handle=account.handle)])
    return Identity.objects.get(user=user, platform=r.BLUESKY, external_id=account.did).person


def appview(pds: Pds, people: People, nsid: str, **params):
    return pds.call(nsid, token=people.erin.access_jwt, params=params)


def list_once_indexed(pds: Pds, people: People, uri: str) -> dict:
    """The AppView's ``getList`` of ``uri``, once it holds an item.

    Until the AppView has indexed the list record itself it answers 400
    ``List not found``: not yet, like an empty list.
    """

    def page():
        try:
            found = appview(pds, people, "app.bsky.graph.getList", list=uri)
        except XrpcError as e:
            if e.status == 400 and "List not found" in str(e.body):
                return None
            raise
        return found if found["items"] else None

    return pds.wait_until(page, message=f"the AppView to index the items of {uri}")


def follows_of(pds: Pds, actor: Account, subject: Account) -> list[str]:
    return [x["uri"] for x in pds.list_records(actor.did, FOLLOW) if x["value"].get("subject") == subject.did]


def followed_by_erin(pds: Pds, people: People) -> set[str]:
    return {p["did"] for p in appview(pds, people, "app.bsky.graph.getFollows", actor=people.erin.did, limit=100)["follows"]}


def test_a_curated_list_is_made_and_finn_added_without_a_follow(alice, bluesky_network, pds, people):
    source = connect_erin(alice, bluesky_network, people)
    finn = person_for(alice, source, people.finn)

    result = lists.list_person(finn, alice, new_list="People I learn from")

    assert result.state == "listed", result.reason
    made = pds.list_records(people.erin.did, LIST)
    assert [(x["value"]["name"], x["value"]["purpose"]) for x in made] == [("People I learn from", CURATELIST)]
    items = pds.list_records(people.erin.did, LISTITEM)
    assert [(x["value"]["list"], x["value"]["subject"]) for x in items] == [(made[0]["uri"], people.finn.did)]
    attempt = FollowAttempt.objects.get(user=alice, action="list")
    assert (attempt.list_id, attempt.record_uri) == (made[0]["uri"], items[0]["uri"])
    assert follows_of(pds, people.erin, people.finn) == []  # a curated list needs no follow

    # The AppView's own view of the list: a curated list holding finn.
    view = list_once_indexed(pds, people, made[0]["uri"])
    assert view["list"]["purpose"] == CURATELIST and view["list"]["name"] == "People I learn from"
    assert [item["subject"]["did"] for item in view["items"]] == [people.finn.did]
    own = appview(pds, people, "app.bsky.graph.getLists", actor=people.erin.did)["lists"]
    assert [lst["uri"] for lst in own] == [made[0]["uri"]]

    # Listing finn again, in the list picked by its id, writes nothing more.
    again = lists.list_person(finn, alice, list_id=made[0]["uri"])
    assert (again.state, again.reason) == ("listed", "Already in this list.")
    assert len(pds.list_records(people.erin.did, LISTITEM)) == 1
    assert [pl.name for pl in lists.platform_lists(alice, "bluesky")[0]] == ["People I learn from"]


def test_unfollow_and_follow_again_as_the_network_sees_them(alice, bluesky_network, pds, people):
    source = connect_erin(alice, bluesky_network, people)
    gus = person_for(alice, source, people.gus)
    assert follow.follow_person(gus, alice).state == "following"
    pds.wait_until(lambda: people.gus.did in followed_by_erin(pds, people), message="the AppView to index the follow")
    connector = connect.connector_for("bluesky", bluesky_network.pds_url, Source.objects.get(pk=source.pk).get_credentials())

    connector.unfollow(people.gus.did, "gus.test")

    assert follows_of(pds, people.erin, people.gus) == []
    pds.wait_until(lambda: people.gus.did not in followed_by_erin(pds, people), message="the AppView to index the unfollow")

    undone = connector.follow(people.gus.did, "gus.test")

    assert undone.state == "following"
    assert follows_of(pds, people.erin, people.gus) == [undone.record_uri]
    pds.wait_until(lambda: people.gus.did in followed_by_erin(pds, people), message="the AppView to index the new follow")
    profile = appview(pds, people, "app.bsky.actor.getProfile", actor=people.gus.did)
    assert profile["viewer"]["following"] == undone.record_uri


def test_known_followers_are_who_the_network_says_follows_gus_among_erins_follows(alice, bluesky_network, pds, people):
    pds.follow(people.erin, people.hana)
    pds.follow(people.hana, people.gus)
    pds.follow(people.finn, people.gus)
    pds.wait_until(lambda: appview(pds, people, "app.bsky.graph.getKnownFollowers", actor=people.gus.did)["followers"],
                   message="the AppView to index hana's follow of gus")
    followers = {p["did"] for p in appview(pds, people, "app.bsky.graph.getFollowers", actor=people.gus.did)["followers"]}
    network_says = followers & followed_by_erin(pds, people)
    source = connect_erin(alice, bluesky_network, people)
    connector = connect.connector_for("bluesky", bluesky_network.pds_url, source.get_credentials())

    found = connector.known_followers(people.gus.did, "gus.test")

    assert {i.external_id for i in found} == network_says == {people.hana.did}
    assert [(i.handle, i.platform) for i in found] == [("hana.test", "bluesky")]
    # Through the service: hana, with whom erin talks both ways, by name.
    gus = person_for(alice, source, people.gus)
    hana = person_for(alice, source, people.hana)
    Rapport.objects.update_or_create(person=hana, defaults={"user": alice, "two_way": True, "talks": 3})
    known = lists.known_followers(gus, alice)
    assert known.people == [hana] and known.problems == []


def test_quieter_puts_ivy_in_a_list_and_unfollows_her(alice, bluesky_network, pds, people):
    pds.follow(people.erin, people.ivy)
    pds.wait_until(lambda: people.ivy.did in followed_by_erin(pds, people), message="the AppView to index the follow")
    source = connect_erin(alice, bluesky_network, people)
    ivy = person_for(alice, source, people.ivy)

    result = lists.move_to_list(ivy, alice, new_list="Now and then")

    assert (result.state, result.reason) == ("listed", "In the list, and no longer followed.")
    assert follows_of(pds, people.erin, people.ivy) == []
    quiet = [x for x in pds.list_records(people.erin.did, LIST) if x["value"]["name"] == "Now and then"]
    assert len(quiet) == 1
    items = [x["value"]["subject"] for x in pds.list_records(people.erin.did, LISTITEM)
             if x["value"]["list"] == quiet[0]["uri"]]
    assert items == [people.ivy.did]
    pds.wait_until(lambda: people.ivy.did not in followed_by_erin(pds, people), message="the AppView to index the unfollow")
    view = list_once_indexed(pds, people, quiet[0]["uri"])
    assert [item["subject"]["did"] for item in view["items"]] == [people.ivy.did]


def test_the_reviews_unfollow_and_its_undo_as_the_network_sees_them(alice, bluesky_network, pds, people):
    """Review your follows: erin follows jules on the network; Unfollow deletes the follow record, Undo writes one."""
    from relationships.models import FollowReview
    from relationships.services import review

    jules = pds.create_account("jules.test")
    written = pds.follow(people.erin, jules)
    source = connect_erin(alice, bluesky_network, people)
    ingest(alice, source, [r.IdentityRecord(platform=r.BLUESKY, external_id=jules.did, handle=jules.handle),
                           r.FollowRecord(platform=r.BLUESKY, identity_id=jules.did, i_follow=True)])
    person = Identity.objects.get(user=alice, external_id=jules.did).person
    assert follows_of(pds, people.erin, jules) == [written.uri]

    gone = review.unfollow(person, alice)

    assert gone.done and FollowReview.objects.get(person=person).decision == "unfollowed"
    assert follows_of(pds, people.erin, jules) == []
    pds.wait_until(lambda: jules.did not in followed_by_erin(pds, people), message="the AppView to index the unfollow")

    back = review.undo_unfollow(person, alice)

    assert back.done and not FollowReview.objects.filter(person=person).exists()
    again = follows_of(pds, people.erin, jules)
    assert len(again) == 1 and again != [written.uri]
    pds.wait_until(lambda: jules.did in followed_by_erin(pds, people), message="the AppView to index the new follow")
    profile = appview(pds, people, "app.bsky.actor.getProfile", actor=jules.did)
    assert profile["viewer"]["following"] == again[0]
