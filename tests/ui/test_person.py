"""The person page: explanation, chart, timeline, notes in place, merge, split, hide, nudges."""

from __future__ import annotations

import pytest
from django.urls import reverse

from relationships.models import Identity, Interaction, Nudge, Person, Rapport
from relationships.platforms import records as r
from relationships.services import people as people_service
from relationships.services.scoring import nudges
from tests.rapport.stories import Story
from tests.ui.conftest import score, talk_often, with_permalinks
from tests.ui.test_people import names

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def person(user, name) -> Person:
    return Person.objects.get(user=user, name=name)


def page(client, p, **params) -> str:
    return client.get(reverse("person", args=[p.pk]), params).content.decode()


@pytest.fixture
def bluesky(alice, make_source):
    return Story(alice, make_source(alice, platform=r.BLUESKY), platform=r.BLUESKY)


def test_the_page_lists_accounts_with_profile_links_and_explains_rapport_in_words(alice_client, alice, community):
    Identity.objects.filter(person__name="Ana").update(profile_url="https://fedi.example/@ana", i_follow=False)
    html = page(alice_client, person(alice, "Ana"))
    assert 'href="https://fedi.example/@ana"' in html
    assert "You don't follow this account" in html
    assert "You&#x27;ve talked with Ana on 6 different days — 12 posts: 6 replies from Ana, 6 from you." in html
    assert "Score " in html and 'class="chart-svg"' in html


def test_the_timeline_links_each_post_and_escapes_imported_text(alice_client, alice, story):
    story.someone("Mal")
    story.said("Mal", r.REPLY, 1, post="https://fedi.example/@mal/1")
    story.save()
    with_permalinks(alice)
    Interaction.objects.filter(identity__person__name="Mal").update(excerpt='<script>alert("x")</script>')
    Person.objects.filter(name="Mal").update(name='<img src=x onerror=alert(1)>')
    score(alice)
    html = page(alice_client, Person.objects.get(user=alice, identities__handle="mal@fedi.example"))
    assert 'href="https://fedi.example/@mal/1"' in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_the_timeline_is_paginated(alice_client, alice, story):
    talk_often(story, "Ana", range(1, 20))  # 38 interactions: two pages of 25
    story.save()
    score(alice)
    ana = person(alice, "Ana")
    first = page(alice_client, ana)
    assert "Page 1" in first and "?page=2" in first and "?page=0" not in first and "Newer" not in first
    second = alice_client.get(reverse("person", args=[ana.pk]), {"page": 2}, HTTP_HX_TARGET="timeline", **HTMX)
    html = second.content.decode()
    assert "Page 2" in html and "<html" not in html
    assert "?page=1" in html and "?page=3" not in html  # newer, and no older: 13 on this last page
    assert html.count('<li><span class="what">') == 38 - 25


def test_a_bad_or_huge_timeline_page_is_a_404_never_a_500(alice_client, alice, story):
    talk_often(story, "Ana", range(1, 20))  # 38 interactions: pages 1 and 2
    story.save()
    score(alice)
    url = reverse("person", args=[person(alice, "Ana").pk])
    # The address the tester opened: the page number overflowed the database's OFFSET.
    assert alice_client.get(f"{url}?page=99999999999999999999").status_code == 404
    for bad in ("0", "-1", "abc", "2.5", "1000001", "3", "9"):  # 3 and 9: past the end
        assert alice_client.get(url, {"page": bad}).status_code == 404, bad
        assert alice_client.get(url, {"page": bad}, HTTP_HX_TARGET="timeline", **HTMX).status_code == 404, bad
    assert alice_client.get(url, {"page": "2"}).status_code == 200
    assert alice_client.get(url, {"page": ""}).status_code == 200  # an empty box is the first page


def test_the_timeline_does_not_count_the_whole_history(alice_client, alice, story):
    talk_often(story, "Ana", range(1, 20))
    story.save()
    score(alice)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        page(alice_client, person(alice, "Ana"))
    assert not [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT COUNT(*)")
                and "relationships_interaction" in q["sql"]]


def test_notes_and_tags_are_edited_in_place_with_htmx(alice_client, alice, community):
    ana = person(alice, "Ana")
    url = reverse("person_notes", args=[ana.pk])
    form = alice_client.get(url, **HTMX).content.decode()
    assert form.lstrip().startswith('<div id="about">') and "<textarea" in form
    saved = alice_client.post(url, {"notes": "Met at <b>FOSDEM</b>", "tags": "design, Lisbon, design"}, **HTMX)
    html = saved.content.decode()
    assert saved.status_code == 200 and "<textarea" not in html
    assert "Met at &lt;b&gt;FOSDEM&lt;/b&gt;" in html and '<a class="tag" href="/people/?tag=Lisbon" title="Everyone tagged Lisbon">Lisbon</a>' in html
    ana.refresh_from_db()
    assert ana.notes == "Met at <b>FOSDEM</b>" and ana.tags == ["design", "Lisbon"]


def test_notes_work_without_javascript_too(alice_client, alice, community):
    ana = person(alice, "Ana")
    url = reverse("person_notes", args=[ana.pk])
    assert "<textarea" in alice_client.get(url).content.decode()
    response = alice_client.post(url, {"notes": "plain", "tags": ""})
    assert response.status_code == 302 and response["Location"] == reverse("person", args=[ana.pk])
    too_long = alice_client.post(url, {"notes": "x" * 6000, "tags": ""})
    assert too_long.status_code == 400


def test_merging_moves_identities_keeps_one_nudge_per_kind_and_recomputes(alice_client, alice, story, bluesky):
    talk_often(story, "Ana", range(1, 4))
    story.save()
    talk_often(bluesky, "Ana", range(2, 6))  # day 2 and 3 are talks on both platforms: they count once
    bluesky.save()
    score(alice)
    mastodon_ana = Person.objects.get(user=alice, identities__platform=r.MASTODON, name="Ana")
    bluesky_ana = Person.objects.get(user=alice, identities__platform=r.BLUESKY, name="Ana")
    Nudge.objects.create(user=alice, person=mastodon_ana, kind="follow", reason="open one")
    Nudge.objects.create(user=alice, person=bluesky_ana, kind="follow", reason="dismissed one", state="dismissed")
    mastodon_ana.notes, bluesky_ana.notes, bluesky_ana.tags = "first", "second", ["bsky"]
    mastodon_ana.save()
    bluesky_ana.save()

    response = alice_client.post(reverse("person_merge", args=[mastodon_ana.pk]),
                                 {"other": bluesky_ana.pk, "confirmed": "1"})

    assert response.status_code == 302
    assert not Person.objects.filter(pk=bluesky_ana.pk).exists()
    assert mastodon_ana.identities.count() == 2
    assert list(Nudge.objects.filter(person=mastodon_ana).values_list("state", flat=True)) == ["dismissed"]
    mastodon_ana.refresh_from_db()
    assert mastodon_ana.notes == "first\n\nsecond" and mastodon_ana.tags == ["bsky"]
    assert Rapport.objects.get(person=mastodon_ana).talks == 5  # days 1..5, once each


def test_merge_refuses_another_users_person_and_the_same_person(alice_client, alice, bob, community, bob_story):
    bob_story.someone("Zed").said("Zed", r.REPLY, 1)
    bob_story.save()
    zed = Person.objects.get(user=bob)
    ana = person(alice, "Ana")
    assert alice_client.post(reverse("person_merge", args=[ana.pk]), {"other": zed.pk}).status_code == 400
    assert alice_client.post(reverse("person_merge", args=[ana.pk]), {"other": ana.pk}).status_code == 400
    assert Person.objects.filter(pk=zed.pk, user=bob).exists()
    with pytest.raises(people_service.PeopleError):
        people_service.merge(ana, zed)


def test_splitting_an_identity_off_makes_a_new_person_and_recomputes_both(alice_client, alice, story, bluesky):
    talk_often(story, "Ana", range(1, 4))
    story.save()
    talk_often(bluesky, "Ana", range(10, 12))
    bluesky.save()
    score(alice)
    keep = Person.objects.get(user=alice, identities__platform=r.MASTODON)
    other = Person.objects.get(user=alice, identities__platform=r.BLUESKY)
    people_service.merge(keep, other)
    assert Rapport.objects.get(person=keep).talks == 5
    bsky_identity = keep.identities.get(platform=r.BLUESKY)

    # JavaScript off: the form's POST asks on a page first, naming the account; nothing is split yet.
    asked = alice_client.post(reverse("person_split", args=[keep.pk]), {"identity": bsky_identity.pk, "confirmed": ""})
    assert asked.status_code == 200 and "<h1>Make ana a separate person from Ana?</h1>" in asked.content.decode()
    assert keep.identities.count() == 2

    response = alice_client.post(reverse("person_split", args=[keep.pk]), {"identity": bsky_identity.pk, "confirmed": "1"})

    assert response.status_code == 302
    bsky_identity.refresh_from_db()
    new = bsky_identity.person
    assert new.pk != keep.pk and new.user == alice
    assert Rapport.objects.get(person=keep).talks == 3
    assert Rapport.objects.get(person=new).talks == 2


def test_an_only_identity_cannot_be_split_off(alice_client, alice, community):
    ana = person(alice, "Ana")
    identity = ana.identities.get()
    alice_client.post(reverse("person_split", args=[ana.pk]), {"identity": identity.pk, "confirmed": "1"})
    assert Person.objects.filter(user=alice).count() == 4
    assert "only account" in page(alice_client, ana)


def test_hiding_takes_a_person_off_the_list_and_unhiding_brings_them_back(alice_client, alice, community):
    ben = person(alice, "Ben")
    alice_client.post(reverse("person_hide", args=[ben.pk]), {"hidden": "on"})
    ben.refresh_from_db()
    assert ben.hidden
    assert "Ben" not in names(alice_client.get(reverse("people")).content.decode())
    ben_nudge = Nudge.objects.get(person=ben)
    assert f'id="nudge-{ben_nudge.pk}"' not in alice_client.get(reverse("dashboard")).content.decode()  # nor his card
    alice_client.post(reverse("person_hide", args=[ben.pk]), {"hidden": ""})
    ben.refresh_from_db()
    assert not ben.hidden


def test_searching_for_someone_to_merge_returns_the_candidates_partial(alice_client, alice, community):
    ana = person(alice, "Ana")
    response = alice_client.get(reverse("person", args=[ana.pk]), {"merge_q": "ben"},
                                HTTP_HX_TARGET="merge-candidates", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="merge-candidates"') and "Ben" in html and "Merge" in html


def test_a_dismissed_nudge_can_be_reset_from_the_person_page(alice_client, alice, community):
    ben = person(alice, "Ben")
    nudge = Nudge.objects.get(person=ben)
    nudges.dismiss(nudge)
    assert "Allow this nudge again" in page(alice_client, ben)
    response = alice_client.post(reverse("nudge_reset", args=[nudge.pk]))
    assert response.status_code == 302
    assert not Nudge.objects.filter(pk=nudge.pk).exists()


def test_why_i_followed_shows_the_evidence_of_an_acted_nudge(alice_client, alice, community):
    ana = person(alice, "Ana")
    nudges.act(Nudge.objects.get(person=ana), Nudge.Outcome.FOLLOWING)  # as a sync records a follow it saw
    html = page(alice_client, ana)
    assert "You followed Ana" in html and "Why I followed" in html
    assert "https://fedi.example/@ana/1" in html


def test_why_i_followed_after_a_follow_click(alice_client, alice, community):
    # The Follow button records "following" with the platform's reason (services/follow.py).
    ana = person(alice, "Ana")
    nudges.act(Nudge.objects.get(person=ana), "following", reason="Followed.")
    html = page(alice_client, ana)
    assert "You followed Ana on " in html and "Why I followed" in html
    assert "You acted on it" not in html and "(Followed.)" not in html


def test_open_nudges_show_as_cards_on_the_person_page(alice_client, alice, community):
    html = page(alice_client, person(alice, "Ana"))
    assert 'data-nudge="' in html and "follow them?" in html


@pytest.fixture
def two_lenas(alice, story, bluesky):
    """Lena Berg twice, as people of alice: once on Mastodon, once on Bluesky; both talked with alice."""
    story.pending.append(r.IdentityRecord(platform=r.MASTODON, external_id=story.key("Lena Berg"),
                                          handle="lena@social.example", display_name="Lena Berg"))
    story.said("Lena Berg", r.REPLY, 3).answered("Lena Berg", r.REPLY, 3)
    story.save()
    bluesky.pending.append(r.IdentityRecord(platform=r.BLUESKY, external_id=bluesky.key("Lena Berg"),
                                            handle="lena.bsky.social", display_name="Lena Berg"))
    bluesky.said("Lena Berg", r.REPLY, 5).answered("Lena Berg", r.REPLY, 5)
    bluesky.save()
    score(alice)
    return story.person("Lena Berg"), bluesky.person("Lena Berg")


def test_a_merge_names_both_people_with_their_accounts(alice_client, alice, two_lenas):
    on_mastodon, on_bluesky = two_lenas
    html = page(alice_client, on_bluesky)
    question = "Merge Lena Berg (@lena@social.example) into Lena Berg (lena.bsky.social)?"
    assert f'data-confirm="{question}"' in html  # the suggestion, by the same name
    search = page(alice_client, on_bluesky, merge_q="lena@social")
    assert search.count(f'data-confirm="{question}"') == 2  # and the search result
    assert "Merge<span class=\"visually-hidden\"> Lena Berg (@lena@social.example)</span> into Lena Berg" in html

    response = alice_client.post(reverse("person_merge", args=[on_bluesky.pk]),
                                 {"other": on_mastodon.pk, "confirmed": "1"}, follow=True)
    assert ("Merged Lena Berg (@lena@social.example) into Lena Berg (lena.bsky.social). "
            "Split an account off again if that was a mistake.") in response.content.decode()


def test_a_merge_without_javascripts_confirm_asks_on_a_page_and_only_that_pages_post_merges(
        alice_client, alice, two_lenas):
    on_mastodon, on_bluesky = two_lenas
    # What the person page's form sends with JavaScript off: no window.confirm() set "confirmed".
    asked = alice_client.post(reverse("person_merge", args=[on_bluesky.pk]), {"other": on_mastodon.pk, "confirmed": ""})
    html = asked.content.decode()
    assert asked.status_code == 200
    assert "<h1>Merge Lena Berg (@lena@social.example) into Lena Berg (lena.bsky.social)?</h1>" in html
    assert Person.objects.filter(pk=on_mastodon.pk).exists()  # nothing merged yet
    assert 'name="confirmed" value="1"' in html and f'href="{reverse("person", args=[on_bluesky.pk])}">Cancel' in html

    merged = alice_client.post(reverse("person_merge", args=[on_bluesky.pk]), {"other": on_mastodon.pk, "confirmed": "1"})
    assert merged.status_code == 302 and not Person.objects.filter(pk=on_mastodon.pk).exists()


def test_a_merged_away_persons_address_leads_to_the_person_kept_for_the_owner_only(
        alice_client, client, bob, alice, story, bluesky, two_lenas):
    on_mastodon, on_bluesky = two_lenas
    story.someone("Lena B").said("Lena B", r.REPLY, 2)
    story.save()
    third = story.person("Lena B")
    people_service.merge(on_bluesky, on_mastodon)
    response = alice_client.get(reverse("person", args=[on_mastodon.pk]), {"page": "2"})
    assert response.status_code == 302 and response["Location"] == reverse("person", args=[on_bluesky.pk])

    # A chain: the person kept is merged away in turn; both old addresses lead to the last one, in one hop.
    people_service.merge(third, on_bluesky)
    for old in (on_mastodon, on_bluesky):
        response = alice_client.get(reverse("person", args=[old.pk]))
        assert response.status_code == 302 and response["Location"] == reverse("person", args=[third.pk]), old
    assert alice_client.get(reverse("person", args=[third.pk])).status_code == 200

    # bob gets a 404 for alice's old addresses, as for her people, and learns nothing of where they went.
    client.force_login(bob)
    for pk in (on_mastodon.pk, on_bluesky.pk, third.pk):
        assert client.get(reverse("person", args=[pk])).status_code == 404
    # And a person never merged is a plain 404.
    assert alice_client.get(reverse("person", args=[third.pk + 1000])).status_code == 404
