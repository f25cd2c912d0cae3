"""Add to a list, notes that travel and "followed by … whom you talk with", from the pages, against the fakes.

Personas: alice talks with ana (Mastodon, another server) on five days and
with ben (Bluesky); cleo follows ana and talks with alice both ways; gus
follows ana too, but never answered alice. bob is another Rapport user, who
gets a 404 for every one of alice's things.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from relationships.models import FollowAttempt, Identity, Nudge, Person, Preferences
from relationships.platforms import records as r
from relationships.services.intake.ingest import ingest
from tests.sync.conftest import OLD_SCOPES
from tests.sync.helpers import follow_nudge, run_sync, talks

pytestmark = [pytest.mark.django_db]


def with_fakes(test):
    """A test against the fake platform servers: in the PostgreSQL pass, as the other fake-server tests."""
    return pytest.mark.services(pytest.mark.postgres_only(test))


HTMX = {"HTTP_HX_REQUEST": "true"}


def _list(client, nudge, htmx=True, **form):
    return client.post(reverse("nudge_list", args=[nudge.pk]), {"next": "/", **form}, **(HTMX if htmx else {}))


def _card(html: str, nudge) -> str:
    card = html[html.index(f'id="nudge-{nudge.pk}"'):]
    return card[: card.index("</article>")]


def _members(fake_mastodon, title: str) -> list[str]:
    found = [i for i, item in fake_mastodon.lists.items() if item["title"] == title]
    return fake_mastodon.list_members[found[0]] if found else []


# ---------------------------------------------------------------- a nudge acted on with Add to a list


@with_fakes
def test_the_card_offers_add_to_a_list_and_its_form_shows_alices_lists_read_from_mastodon(
    alice_client, fake_mastodon, ana_nudge
):
    fake_mastodon.add_list("Friends")
    fake_mastodon.add_list("Quiet ones", exclusive=True)
    dashboard = _card(alice_client.get("/").content.decode(), ana_nudge)
    assert f'href="{reverse("nudge_list", args=[ana_nudge.pk])}"' in dashboard and "Add to a list" in dashboard

    form = _card(alice_client.get(reverse("nudge_list", args=[ana_nudge.pk]), **HTMX).content.decode(), ana_nudge)

    assert "Follow Ana into a list" in form and ">Friends</option>" in form and ">Quiet ones (exclusive)</option>" in form
    assert 'name="new_list"' in form and 'name="exclusive"' in form and "Follow into the list" in form
    assert f'hx-post="{reverse("nudge_list", args=[ana_nudge.pk])}"' in form
    assert fake_mastodon.follow_calls == []  # showing the form does nothing on the platform


@with_fakes
def test_follow_into_a_new_exclusive_list_acts_on_the_nudge_and_keeps_why_you_listed_them(
    alice, alice_client, fake_mastodon, ana, ana_nudge
):
    answer = _list(alice_client, ana_nudge, new_list="Close friends", exclusive="on")

    card = _card(answer.content.decode(), ana_nudge)
    assert answer.status_code == 200 and answer["HX-Trigger-After-Settle"] == "nudge-changed"
    assert "Ana is in your list “Close friends” now." in card and "Followed and listed." in card
    assert "Why you listed them" in card and f'action="{reverse("nudge_undo", args=[ana_nudge.pk])}"' in card
    assert _members(fake_mastodon, "Close friends") == [ana["id"]]
    assert next(iter(fake_mastodon.lists.values()))["exclusive"] is True
    ana_nudge.refresh_from_db()
    assert (ana_nudge.state, ana_nudge.outcome) == (Nudge.State.ACTED, "listed") and ana_nudge.evidence
    attempt = FollowAttempt.objects.get()
    assert (attempt.action, attempt.state, attempt.list_name, attempt.followed) == ("list", "listed", "Close friends", True)
    assert fake_mastodon.calls(method="POST", path=f"/api/v1/accounts/{ana['id']}/note") == []  # the setting is off


@with_fakes
def test_without_javascript_an_existing_list_is_picked_and_the_card_page_keeps_its_undo(
    alice_client, fake_mastodon, ana, ana_nudge
):
    friends = fake_mastodon.add_list("Friends")
    form_page = alice_client.get(reverse("nudge_list", args=[ana_nudge.pk])).content.decode()
    assert "<h1>Add Ana to a list</h1>" in form_page and f'<option value="{friends["id"]}">Friends</option>' in form_page

    page = _list(alice_client, ana_nudge, htmx=False, list_id=friends["id"]).content.decode()

    assert "<html" in page and "<h1>Ana</h1>" in page and "Ana is in your list “Friends” now." in page
    assert f'action="{reverse("nudge_undo", args=[ana_nudge.pk])}"' in page
    assert fake_mastodon.list_members[friends["id"]] == [ana["id"]]


@with_fakes
def test_undo_takes_ana_out_of_the_list_unfollows_her_and_opens_the_nudge_again(
    alice, alice_client, fake_mastodon, ana, ana_nudge
):
    _list(alice_client, ana_nudge, new_list="Close friends")

    answer = alice_client.post(reverse("nudge_undo", args=[ana_nudge.pk]), **HTMX).content.decode()

    card = _card(answer, ana_nudge)
    assert "data-nudge-open" in card and "Undone: Taken out of “Close friends” and unfollowed." in card
    assert _members(fake_mastodon, "Close friends") == [] and fake_mastodon.relationship(ana)["following"] is False
    ana_nudge.refresh_from_db()
    assert (ana_nudge.state, ana_nudge.outcome, ana_nudge.evidence) == (Nudge.State.OPEN, "", [])
    assert FollowAttempt.objects.get().state == "undone"
    assert Identity.objects.get(user=alice, external_id=ana["uri"]).i_follow is False


@with_fakes
def test_undo_of_a_listing_never_ends_a_follow_alice_had_before(alice, alice_client, fake_mastodon, ana, ana_nudge):
    fake_mastodon.relationship(ana)["following"] = True
    _list(alice_client, ana_nudge, new_list="Friends")
    assert FollowAttempt.objects.get().followed is False

    alice_client.post(reverse("nudge_undo", args=[ana_nudge.pk]), **HTMX)

    assert _members(fake_mastodon, "Friends") == [] and fake_mastodon.relationship(ana)["following"] is True
    assert fake_mastodon.calls(path=f"/api/v1/accounts/{ana['id']}/unfollow") == []


# ---------------------------------------------------------------- refusals: a sentence, nothing marked done


@with_fakes
def test_a_token_from_before_lists_gets_a_re_authorize_link_and_nothing_is_done(
    alice_client, fake_mastodon, ana_nudge, mastodon_source
):
    fake_mastodon.grant(fake_mastodon.token, OLD_SCOPES)
    link = f'href="{reverse("connect_mastodon")}?source={mastodon_source.pk}">Re-authorize Rapport on Mastodon</a>'

    form = _card(alice_client.get(reverse("nudge_list", args=[ana_nudge.pk]), **HTMX).content.decode(), ana_nudge)
    assert "connected before Rapport could read your lists" in form and link in form and 'name="new_list"' in form

    card = _card(_list(alice_client, ana_nudge, new_list="Friends").content.decode(), ana_nudge)

    assert "Not added to the list: " in card and "re-authorize Rapport on Mastodon" in card and link in card
    assert "data-nudge-open" in card and 'name="new_list" maxlength="64" autocomplete="off" value="Friends"' in card
    assert fake_mastodon.lists == {} and fake_mastodon.follow_calls == []
    ana_nudge.refresh_from_db()
    assert ana_nudge.state == Nudge.State.OPEN and FollowAttempt.objects.get().state == "failed"


@with_fakes
def test_a_full_list_count_an_account_gone_and_a_429_are_sentences_on_the_card(
    alice, alice_client, fake_mastodon, ana, ana_nudge
):
    fake_mastodon.list_limit = 0
    full = _card(_list(alice_client, ana_nudge, new_list="Friends").content.decode(), ana_nudge)
    assert "You have reached the maximum number of lists" in full

    fake_mastodon.list_limit = 50
    Identity.objects.filter(user=alice, external_id=ana["uri"]).update(
        external_id="https://gone.example/users/nobody", handle="nobody@gone.example")
    gone = _card(_list(alice_client, ana_nudge, new_list="Friends").content.decode(), ana_nudge)
    assert "This account could not be found from your Mastodon server." in gone

    # Last: Rapport then keeps away from Mastodon until the time it gave.
    fake_mastodon.fail_next(429, times=5, path="/api/v1/lists", reset_in=3600)
    slow = _card(_list(alice_client, ana_nudge, new_list="Quiet ones").content.decode(), ana_nudge)
    assert "Mastodon asks Rapport to slow down; try again after" in slow

    assert fake_mastodon.follow_calls == [] and all(not members for members in fake_mastodon.list_members.values())
    ana_nudge.refresh_from_db()
    assert ana_nudge.state == Nudge.State.OPEN
    assert set(FollowAttempt.objects.values_list("state", flat=True)) == {"failed"}


def test_a_list_name_too_long_or_two_lists_named_is_refused_before_any_call(alice, alice_client, make_source):
    source = make_source(alice, platform=r.MASTODON)
    ingest(alice, source, [r.IdentityRecord(platform=r.MASTODON, external_id="https://m.example/users/ana", handle="ana@m.example")])
    nudge = follow_nudge(alice, Identity.objects.get(user=alice))

    long = _list(alice_client, nudge, new_list="x" * 65)
    two = _list(alice_client, nudge, list_id="12", new_list="Friends")

    assert long.status_code == 400 and "A list name is at most 64 characters." in long.content.decode()
    assert "Pick one of your lists, or name a new one." in two.content.decode()
    assert not FollowAttempt.objects.exists()
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.OPEN


# ---------------------------------------------------------------- Bluesky: a curated list, no follow


@with_fakes
def test_bluesky_lists_ben_in_a_curated_list_without_a_follow_and_undo_deletes_the_item(
    alice, alice_client, fake_bluesky, ben, ben_person
):
    nudge = follow_nudge(alice, ben_person.identities.get())
    form = _card(alice_client.get(reverse("nudge_list", args=[nudge.pk]), **HTMX).content.decode(), nudge)
    assert "Add Ben to a list" in form and "you do not follow them" in form and 'name="exclusive"' not in form

    card = _card(_list(alice_client, nudge, new_list="People I learn from").content.decode(), nudge)

    items = [x for x in fake_bluesky.records.values() if x["value"]["$type"] == "app.bsky.graph.listitem"]
    assert [x["value"]["subject"] for x in items] == [ben] and fake_bluesky.follow_records(fake_bluesky.me) == []
    assert "Ben is in your list “People I learn from” now." in card
    nudge.refresh_from_db()
    assert (nudge.state, nudge.outcome) == (Nudge.State.ACTED, "listed")

    undone = _card(alice_client.post(reverse("nudge_undo", args=[nudge.pk]), **HTMX).content.decode(), nudge)
    assert "Undone: Taken out of “People I learn from”." in undone
    assert [x for x in fake_bluesky.records.values() if x["value"]["$type"] == "app.bsky.graph.listitem"] == []


# ---------------------------------------------------------------- notes that travel


@with_fakes
def test_with_the_setting_on_a_follow_writes_why_into_the_mastodon_note(
    alice, alice_client, fake_mastodon, ana, ana_nudge
):
    from tests.ui.test_settings import settings_post

    assert Preferences.for_user(alice).note_on_mastodon is False
    assert settings_post(alice_client, note_on_mastodon="on").status_code == 302
    assert Preferences.for_user(alice).note_on_mastodon is True

    card = _card(alice_client.post(reverse("nudge_follow", args=[ana_nudge.pk]), **HTMX).content.decode(), ana_nudge)

    why = "You talked on 5 different days since July 2026: mentions."
    assert fake_mastodon.notes == {ana["id"]: why}
    assert [s.form["comment"] for s in fake_mastodon.calls(f"/api/v1/accounts/{ana['id']}/note", "POST")] == [why]
    assert "Written into your private note on @ana@remote.example" in card


@with_fakes
def test_with_the_setting_on_a_listing_writes_why_after_what_the_note_held(
    alice, alice_client, fake_mastodon, ana, ana_nudge
):
    Preferences.objects.filter(user=alice).update(note_on_mastodon=True)
    fake_mastodon.notes[ana["id"]] = "Met at the meetup"

    _list(alice_client, ana_nudge, new_list="Friends")

    assert fake_mastodon.notes[ana["id"]] == "Met at the meetup\n\nYou talked on 5 different days since July 2026: mentions."


@with_fakes
def test_with_the_setting_off_a_follow_writes_no_note(alice_client, fake_mastodon, ana, ana_nudge):
    alice_client.post(reverse("nudge_follow", args=[ana_nudge.pk]), **HTMX)

    assert fake_mastodon.follow_calls == [ana["id"]]
    assert fake_mastodon.calls(f"/api/v1/accounts/{ana['id']}/note") == [] and fake_mastodon.notes == {}


@with_fakes
def test_the_person_page_pushes_rapports_notes_to_mastodon_and_says_bluesky_keeps_none(
    alice, alice_client, fake_mastodon, ana, ana_nudge, ben_person
):
    ana_person = ana_nudge.person
    Person.objects.filter(pk=ana_person.pk).update(notes="Runs the Tuesday sketching meetup")
    page = alice_client.get(reverse("person", args=[ana_person.pk])).content.decode()
    assert "Write my notes into the Mastodon private note" in page

    answer = alice_client.post(reverse("person_note_push", args=[ana_person.pk]), HTTP_HX_TARGET="lists", **HTMX)

    assert fake_mastodon.notes == {ana["id"]: "Runs the Tuesday sketching meetup"}
    assert 'id="lists"' in answer.content.decode() and "every Mastodon app shows it" in answer.content.decode()
    ben_page = alice_client.get(reverse("person", args=[ben_person.pk])).content.decode()
    assert "Bluesky has no private notes: your notes on Ben stay in Rapport." in ben_page
    assert "Write my notes into the Mastodon private note" not in ben_page


# ---------------------------------------------------------------- the person page's Add to a list


@with_fakes
def test_the_person_page_follows_ana_into_a_list_and_its_undo_takes_it_back(
    alice, alice_client, fake_mastodon, ana, ana_nudge
):
    url = reverse("person_list", args=[ana_nudge.person_id])
    assert 'name="new_list"' in alice_client.get(url, HTTP_HX_TARGET="lists", **HTMX).content.decode()

    section = alice_client.post(url, {"new_list": "Neighbours"}, **HTMX).content.decode()

    attempt = FollowAttempt.objects.get()
    assert "Ana is in your list “Neighbours” now." in section and attempt.nudge is None
    assert _members(fake_mastodon, "Neighbours") == [ana["id"]]
    undo = reverse("person_list_undo", args=[ana_nudge.person_id, attempt.pk])
    assert f'action="{undo}"' in section
    after = alice_client.post(undo, **HTMX).content.decode()
    assert "Undone: Taken out of “Neighbours” and unfollowed." in after
    assert _members(fake_mastodon, "Neighbours") == [] and fake_mastodon.relationship(ana)["following"] is False


# ---------------------------------------------------------------- followed by … whom you talk with


@with_fakes
def test_known_followers_name_the_people_alice_talks_with_never_a_count(
    alice, alice_client, fake_mastodon, ana_nudge, ana_followers
):
    url = reverse("person_known", args=[ana_nudge.person_id])
    assert f'hx-get="{url}" hx-trigger="revealed"' in _card(alice_client.get("/").content.decode(), ana_nudge)

    line = alice_client.get(url, **HTMX).content.decode().strip()

    cleo = Person.objects.get(user=alice, name="Cleo")
    assert line == f'<p class="known-followers">Followed by <a href="/people/{cleo.pk}/">Cleo</a>, whom you talk with.</p>'
    asked = len(fake_mastodon.calls("/api/v1/accounts/familiar_followers"))
    assert alice_client.get(url, **HTMX).content.decode().strip() == line
    assert len(fake_mastodon.calls("/api/v1/accounts/familiar_followers")) == asked  # kept for a while


@with_fakes
def test_known_followers_say_nothing_when_mastodon_fails_and_the_page_still_works(
    alice, alice_client, fake_mastodon, ana_nudge, ana_followers
):
    fake_mastodon.fail_next(503, times=10, path="/api/v1/accounts/familiar_followers")

    line = alice_client.get(reverse("person_known", args=[ana_nudge.person_id]), **HTMX)

    assert line.status_code == 200 and line.content.decode().strip() == ""
    page = alice_client.get(reverse("person", args=[ana_nudge.person_id]))
    url = reverse("person_known", args=[ana_nudge.person_id])
    assert page.status_code == 200 and f'hx-get="{url}" hx-trigger="revealed"' in page.content.decode()


# ---------------------------------------------------------------- another user's ids


def test_every_list_and_note_address_is_404_for_bob_and_needs_a_login(alice, bob, client, make_source):
    source = make_source(alice, platform=r.MASTODON)
    ingest(alice, source, [r.IdentityRecord(platform=r.MASTODON, external_id="https://m.example/users/ana", handle="ana@m.example")])
    identity = Identity.objects.get(user=alice)
    nudge = follow_nudge(alice, identity)
    attempt = FollowAttempt.objects.create(user=alice, person=identity.person, identity=identity, platform="mastodon",
                                           action="list", state="listed", list_id="1", list_name="Friends")
    pk = identity.person_id
    urls = [
        ("get", reverse("nudge_list", args=[nudge.pk])), ("post", reverse("nudge_list", args=[nudge.pk])),
        ("get", reverse("person_list", args=[pk])), ("post", reverse("person_list", args=[pk])),
        ("post", reverse("person_list_undo", args=[pk, attempt.pk])), ("post", reverse("person_note_push", args=[pk])),
        ("get", reverse("person_known", args=[pk])),
    ]
    for method, url in urls:
        anonymous = getattr(client, method)(url, {"new_list": "Friends"})
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/"), url
    client.force_login(bob)
    for method, url in urls:
        assert getattr(client, method)(url, {"new_list": "Friends"}).status_code == 404, url
        assert getattr(client, method)(url, {"new_list": "Friends"}, **HTMX).status_code == 404, url
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.OPEN and FollowAttempt.objects.get().state == "listed"
