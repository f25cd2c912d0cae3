"""Suggested merges: one human on two platforms, by name, handle, profile link or rel=me, never a guess on a first name.

alice's community is told through the real ingest service, as a sync or an
import writes it: the keys the suggestions compare are ingest's.
"""

from __future__ import annotations

import pytest

from relationships.models import Identity, NotSamePerson, Person
from relationships.platforms import records as r
from relationships.services import merge_suggestions as suggestions
from relationships.services import people as people_service
from relationships.services.intake import ingest

pytestmark = pytest.mark.django_db

VERIFIED = "2025-02-11T09:30:00.000+00:00"


def account(platform: str, handle: str, name: str, links=None, ext: str = "") -> r.IdentityRecord:
    ext = ext or {
        r.MASTODON: f"https://{handle.partition('@')[2]}/users/{handle.partition('@')[0]}",
        r.BLUESKY: f"did:plc:{handle.replace('.', '')[:24]}",
        r.X: str(abs(hash(handle)) % 10**15),
    }[platform]
    return r.IdentityRecord(platform=platform, external_id=ext, handle=handle, display_name=name,
                            profile_links=tuple(r.ProfileLink(*link) for link in links) if links is not None else None)


def seen(user, make_source, *records: r.IdentityRecord) -> None:
    """Each platform's accounts ingested through a source of that platform, with one reply each."""
    for platform in {rec.platform for rec in records}:
        source = make_source(user, platform=platform, label=f"{user.username} {platform}")
        batch: list[r.Record] = []
        for n, rec in enumerate(x for x in records if x.platform == platform):
            batch.append(rec)
            batch.append(r.InteractionRecord(
                platform=platform, external_id=f"{platform}-post-{rec.external_id}-{n}", identity_id=rec.external_id,
                kind=r.REPLY, direction=r.INBOUND, occurred_at=ingest.timezone.now() - ingest.dt.timedelta(days=3),
            ))
        ingest.ingest(user, source, batch)


def person(user, platform: str, handle: str) -> Person:
    return Identity.objects.get(user=user, platform=platform, handle=handle).person


def pairs(user) -> set[tuple[frozenset, str]]:
    """Each suggestion as ({both handles}, rule)."""
    return {(frozenset({s.identity.handle, s.other_identity.handle}), s.rule) for s in suggestions.for_user(user)}


def pair(a: str, b: str, rule: str) -> tuple[frozenset, str]:
    return frozenset({a, b}), rule


@pytest.fixture
def community(alice, make_source):
    """Overlapping on purpose: two Anas who are not one human, a Chloé written without accents, a handle reused."""
    seen(
        alice, make_source,
        # Lena Berg: the same full name on Mastodon and Bluesky.
        account(r.MASTODON, "lena@social.example", "Lena Berg"),
        account(r.BLUESKY, "lenab.bsky.social", "Lena Berg"),
        # Chloé Moreau on Mastodon is "chloe moreau ✨" on X: only case, accents and an emoji differ.
        account(r.MASTODON, "chloe@fedi.example", "Chloé Moreau"),
        account(r.X, "cmoreau_writes", "chloe moreau ✨"),
        # Two Anas: the same common first name, and short handles of the same first name: two people.
        account(r.MASTODON, "ana@fedi.example", "Ana"),
        account(r.BLUESKY, "ana.bsky.social", "Ana"),
        # Dmitri: different display names, the same handle (punctuation aside) on Mastodon and X.
        account(r.MASTODON, "dmitri_k@toot.example", "Dmitri K."),
        account(r.X, "Dmitri-K", "DK builds things"),
        # Greta's Mastodon profile links to her Bluesky profile (not verified: bsky.app has no rel=me).
        account(r.MASTODON, "greta@social.example", "Greta",
                links=[("Bluesky", "https://bsky.app/profile/gretaweber.bsky.social", "")]),
        account(r.BLUESKY, "gretaweber.bsky.social", "gw"),
        # Hiro's Bluesky handle is his own domain, which his Mastodon profile links to and Mastodon verified.
        account(r.MASTODON, "hiro@fedi.example", "Hiro",
                links=[("Website", "https://www.hiro-ito.example/", VERIFIED)]),
        account(r.BLUESKY, "hiro-ito.example", "伊藤 ひろ"),
        # Noor links to a site whose domain is nobody's handle here: nothing to suggest.
        account(r.MASTODON, "noor@social.example", "Noor", links=[("Blog", "https://noor.example", VERIFIED)]),
        # Two Mastodon accounts of one name: the same platform is never suggested.
        account(r.MASTODON, "lena@toot.example", "Lena Berg"),
    )


def test_each_rule_suggests_its_pair_and_nothing_else(alice, community):
    assert pairs(alice) == {
        pair("lena@social.example", "lenab.bsky.social", suggestions.NAME),
        # The second Mastodon Lena may be the Bluesky one too; never the first Mastodon one.
        pair("lena@toot.example", "lenab.bsky.social", suggestions.NAME),
        pair("chloe@fedi.example", "cmoreau_writes", suggestions.NAME),
        pair("dmitri_k@toot.example", "Dmitri-K", suggestions.HANDLE),
        pair("greta@social.example", "gretaweber.bsky.social", suggestions.LINK),
        pair("hiro@fedi.example", "hiro-ito.example", suggestions.VERIFIED_LINK),
    }


def test_a_second_mastodon_lena_is_suggested_against_bluesky_not_against_the_first(alice, community):
    other = person(alice, r.MASTODON, "lena@toot.example")
    found = suggestions.for_person(other)
    assert [(s.other_identity.handle, s.rule) for s in found] == [("lenab.bsky.social", suggestions.NAME)]


def test_the_reasons_say_what_matched_in_words(alice, community):
    by_handle = {s.identity.handle: s for p in ("lena@social.example", "chloe@fedi.example", "dmitri_k@toot.example",
                                                "hiro@fedi.example", "greta@social.example")
                 for s in suggestions.for_person(person(alice, r.MASTODON, p))}
    assert by_handle["lena@social.example"].reason == (
        "The same name, “Lena Berg”, on Mastodon (@lena@social.example) and Bluesky (lenab.bsky.social).")
    assert by_handle["chloe@fedi.example"].reason == (
        "The same name: “Chloé Moreau” on Mastodon (@chloe@fedi.example) and “chloe moreau ✨” on X (@cmoreau_writes).")
    assert by_handle["dmitri_k@toot.example"].reason == (
        "The same handle: @dmitri_k@toot.example on Mastodon and @Dmitri-K on X.")
    assert by_handle["hiro@fedi.example"].reason == (
        "The Mastodon profile of @hiro@fedi.example links to https://www.hiro-ito.example/, the domain of the Bluesky "
        "handle hiro-ito.example, and Mastodon verified the link (the page links back).")
    assert by_handle["greta@social.example"].question == "Is Greta also gretaweber.bsky.social on Bluesky?"


def test_the_person_page_view_asks_from_either_side(alice, community):
    hiro_bluesky = person(alice, r.BLUESKY, "hiro-ito.example")
    [found] = suggestions.for_person(hiro_bluesky)
    assert found.person == hiro_bluesky and found.other_identity.handle == "hiro@fedi.example"
    assert found.rule == suggestions.VERIFIED_LINK
    assert suggestions.for_person(person(alice, r.MASTODON, "ana@fedi.example")) == []
    assert suggestions.for_person(person(alice, r.MASTODON, "noor@social.example")) == []


def test_a_pair_said_not_the_same_is_never_suggested_again_even_after_a_resync(alice, make_source, community):
    lena, lena_bsky = person(alice, r.MASTODON, "lena@social.example"), person(alice, r.BLUESKY, "lenab.bsky.social")
    assert suggestions.dismiss(lena, lena_bsky) == 1
    assert suggestions.dismiss(lena_bsky, lena) == 1  # said twice: still one row
    assert NotSamePerson.objects.filter(user=alice).count() == 1
    seen(alice, make_source, account(r.BLUESKY, "lenab.bsky.social", "Lena Berg"))
    assert pair("lena@social.example", "lenab.bsky.social", suggestions.NAME) not in pairs(alice)
    assert suggestions.for_person(lena) == []
    # The other Mastodon Lena was not part of what alice said: still suggested with the Bluesky one.
    assert [s.other_identity.handle for s in suggestions.for_person(lena_bsky)] == ["lena@toot.example"]


def test_a_merged_pair_is_gone_and_a_hidden_person_is_never_suggested(alice, community):
    greta, greta_bsky = person(alice, r.MASTODON, "greta@social.example"), person(alice, r.BLUESKY,
                                                                                 "gretaweber.bsky.social")
    people_service.merge(greta, greta_bsky)
    people_service.set_hidden(person(alice, r.X, "Dmitri-K"), True)
    assert {rule_pair[0] for rule_pair in pairs(alice)} == {
        frozenset({"lena@social.example", "lenab.bsky.social"}), frozenset({"lena@toot.example", "lenab.bsky.social"}),
        frozenset({"chloe@fedi.example", "cmoreau_writes"}), frozenset({"hiro@fedi.example", "hiro-ito.example"})}


def test_the_keys_follow_a_renamed_account_and_a_later_sync_keeps_unseen_links(alice, make_source, community):
    # A mention carries no profile fields (None): the verified link stays; the new name is compared from now on.
    seen(alice, make_source, account(r.MASTODON, "hiro@fedi.example", "Hiro Ito"),
         account(r.BLUESKY, "hiroito.bsky.social", "Hiro Ito"))
    hiro = Identity.objects.get(user=alice, handle="hiro@fedi.example")
    assert hiro.name_key == "hiro ito" and hiro.profile_links == [
        {"name": "Website", "url": "https://www.hiro-ito.example/", "verified_at": VERIFIED}]
    rules = {s.other_identity.handle: s.rule for s in suggestions.for_person(hiro.person)}
    assert rules == {"hiro-ito.example": suggestions.VERIFIED_LINK, "hiroito.bsky.social": suggestions.NAME}
    # A profile seen with no fields now ([]): the link is gone, and so is that suggestion.
    seen(alice, make_source, account(r.MASTODON, "hiro@fedi.example", "Hiro Ito", links=[]))
    assert {s.other_identity.handle for s in suggestions.for_person(hiro.person)} == {"hiroito.bsky.social"}


def test_bobs_accounts_are_never_suggested_to_alice(alice, bob, make_source, community):
    seen(bob, make_source, account(r.BLUESKY, "lena.bsky.social", "Lena Berg", ext="did:plc:boblena"),
         account(r.MASTODON, "lenab@fedi.example", "Lena Berg"))
    assert {s.person.user_id for s in suggestions.for_user(alice)} == {alice.pk}
    assert len(suggestions.for_user(bob)) == 1
    assert all(s.other.user_id == alice.pk for s in suggestions.for_person(person(alice, r.MASTODON,
                                                                                  "lena@social.example")))


def test_accounts_on_one_platform_ask_one_small_query_until_a_second_platform_arrives(
        alice, bob, make_source, django_assert_max_num_queries):
    """Every rule pairs two platforms: with all of alice's accounts on Mastodon there is nothing to find, and the
    suggestions do not group or scan her accounts to say so (bob's Bluesky account is not hers)."""
    seen(alice, make_source,
         account(r.MASTODON, "lena@social.example", "Lena Berg"), account(r.MASTODON, "lena@toot.example", "Lena Berg"),
         account(r.MASTODON, "greta@social.example", "Greta",
                 links=[("Bluesky", "https://bsky.app/profile/gretaweber.bsky.social", "")]))
    seen(bob, make_source, account(r.BLUESKY, "gretaweber.bsky.social", "gw"))
    lena = person(alice, r.MASTODON, "lena@social.example")
    with django_assert_max_num_queries(1):
        assert suggestions.for_user(alice) == []
    with django_assert_max_num_queries(1):
        assert suggestions.for_person(lena) == []
    seen(alice, make_source, account(r.BLUESKY, "gretaweber.bsky.social", "gw", ext="did:plc:alicegreta"))
    assert pairs(alice) == {pair("greta@social.example", "gretaweber.bsky.social", suggestions.LINK)}
    assert suggestions.for_person(lena) == []
