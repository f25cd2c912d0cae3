"""Demo data: a believable two-year community across Mastodon, Bluesky and X.

Everything is written through the real ingest service, as records, so the
demo exercises the same path as a real source. The generator is seeded, so
the same external ids come out every time and seeding twice adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils import timezone

from relationships.models import Source
from relationships.platforms import records as r
from relationships.services.intake import ingest
from relationships.services.intake.rescore import rescore

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"

FIRST = (
    "Ana Ben Chloé Dmitri Esi Farid Greta Hiro Ines Jonas Kemi Lars Maya Noor Oskar Priya Quinn Rosa Sami Tess "
    "Uma Viktor Wen Xavi Yara Zoe Aiko Bruno Carmen Dario Elif Femi Gus Hana Ivo Jade Kofi Lena Milo Nia Omar "
    "Paz Rami Sofia Theo Ulla Vera Will Ximena Yusuf"
).split()
LAST = (
    "Alves Berg Castro Dubois Eze Fischer García Haddad Ito Jensen Kowalski Lindqvist Moreau Nakamura Okafor "
    "Petrov Quispe Rossi Sato Tanaka Urban Varga Weber Xu Yilmaz Zhang"
).split()
HOSTS = {r.MASTODON: ["fedi.example", "social.example", "toot.example"], r.BLUESKY: ["bsky.example"], r.X: [""]}

# (archetype, how many, platforms weight) — see _interactions_for for what each does.
ARCHETYPES = [
    ("close", 8),
    ("regular", 24),
    ("candidate", 10),  # talks often, not followed yet: follow nudges
    ("new", 12),
    ("fan", 50),
    ("shows_up", 10),  # replies and shares, never answered: shows_up nudges
    ("one_way", 25),
    ("mass_mention", 18),
    ("drifted", 10),  # many talks long ago, followed: reconnect nudges
    ("quiet", 20),
    ("acquaintance", 15),  # a few exchanges both ways, months ago
    ("bought", 200),  # follow the user, never interact
]
# Archetypes an X archive can show: it holds only what the user did (their
# posts, replies, mentions, quotes, retweets and likes, the likes without
# author), their DMs both ways and the follower lists. Close friends stay: the
# DMs alone show them both ways. Anyone else drawn on X is moved to Mastodon
# or Bluesky (_people), which keeps the community's two-way people two-way.
X_ARCHETYPES = ("close", "one_way", "quiet", "bought")


def x_archive_holds(kind: str, direction: str) -> bool:
    """Whether an X archive can hold this interaction: the user's own posts, and DMs either way.

    The user's likes are in it too, but without the liked post's author:
    demo_records counts them on the source instead (CountRecord), as the X importer does.
    """
    return kind == r.DM or (direction == r.OUTBOUND and kind != r.LIKE)


@dataclass
class DemoPerson:
    index: int
    archetype: str
    platform: str
    external_id: str
    handle: str
    name: str
    # Mastodon profile fields holding a link (records.ProfileLink).
    links: tuple = ()
    # The index of the person this one is the same human as, on another platform (see _twins).
    twin_of: int | None = None


def _account(platform: str, slug: str, index: int, host: str) -> tuple[str, str]:
    """(external id, handle) of a demo account."""
    if platform == r.MASTODON:
        return f"https://{host}/users/{slug}", f"{slug}@{host}"
    if platform == r.BLUESKY:
        return f"did:plc:demo{index:020d}", f"{slug}.bsky.example"
    return str(1_500_000_000_000_000_000 + index), slug


def _people(rng: random.Random) -> list[DemoPerson]:
    people = []
    index = 0
    for archetype, count in ARCHETYPES:
        for _ in range(count):
            platform = rng.choice([r.MASTODON, r.MASTODON, r.BLUESKY, r.BLUESKY, r.X])
            first, last = rng.choice(FIRST), rng.choice(LAST)
            name = f"{first} {last}" if archetype != "bought" else f"{first}{rng.randint(1000, 99999)}"
            slug = f"{first}{last}{index}".lower().replace("é", "e").replace("í", "i")
            moved = platform == r.X and archetype not in X_ARCHETYPES
            if moved:
                # Known by what they did, which an X archive never holds: they live on
                # Mastodon or Bluesky. Chosen by index, not by the generator, so everyone
                # after them keeps the name and platform they always had.
                platform = (r.MASTODON, r.BLUESKY)[index % 2]
            host = ""
            if platform == r.MASTODON:
                host = HOSTS[r.MASTODON][index % 3] if moved else rng.choice(HOSTS[r.MASTODON])
            ext, handle = _account(platform, slug, index, host)
            people.append(DemoPerson(index, archetype, platform, ext, handle, name))
            index += 1
    _twins(people)
    return people


# How each pair of demo accounts of one human shows it, in turn (see _twins).
TWIN_SIGNS = ("name", "name_variant", "handle", "profile_link", "verified_domain")


def _twins(people: list[DemoPerson]) -> None:
    """Make the community's namesakes one human on two platforms, each pair showing it one way.

    The generator draws names from short lists, so fifteen full names come out
    twice (never among the bought followers, whose names carry numbers). The
    second of each pair is the first's account on another platform: moved
    there if both were drawn on one, and showing the link as TWIN_SIGNS says:
    the same name, the same name with accents or an emoji, the same handle, a
    Mastodon profile field linking to the Bluesky profile, or a Bluesky handle
    on a domain that the Mastodon profile links to, verified with rel=me.
    Only platforms, handles, display names and links change: nobody's events,
    so the rest of the community is as it always was.
    """
    first_of: dict[str, DemoPerson] = {}
    pairs = []
    for person in people:
        if person.archetype == "bought":
            continue
        if person.name in first_of:
            pairs.append((first_of[person.name], person))
        else:
            first_of[person.name] = person
    for n, (first, second) in enumerate(pairs):
        second.twin_of = first.index
        if second.platform == first.platform:
            second.platform = r.BLUESKY if first.platform == r.MASTODON else r.MASTODON
        sign = TWIN_SIGNS[n % len(TWIN_SIGNS)]
        if sign in ("profile_link", "verified_domain") and {first.platform, second.platform} != {r.MASTODON, r.BLUESKY}:
            sign = "handle"  # an X account has no profile fields Rapport reads
        slug = (first.handle.split("@")[0].split(".")[0]) if sign == "handle" else second.handle.split("@")[0].split(".")[0]
        second.external_id, second.handle = _account(second.platform, slug, second.index,
                                                     HOSTS[r.MASTODON][second.index % 3])
        mastodon, bluesky = (first, second) if first.platform == r.MASTODON else (second, first)
        if sign == "name_variant":
            plain = _without_accents(second.name)
            second.name = plain if plain != second.name else f"{second.name} 🌿"
        elif sign != "name":
            second.name = second.name.split()[0]
        if sign == "profile_link":
            mastodon.links = (r.ProfileLink("Bluesky", f"https://bsky.app/profile/{bluesky.handle}"),)
        elif sign == "verified_domain":
            domain = f"{_without_accents(first.name).replace(' ', '').lower()}.example"
            if bluesky is second:
                second.handle = domain
            else:
                first.handle = domain
            mastodon.links = (r.ProfileLink("Website", f"https://{domain}", "2025-03-01T10:00:00.000+00:00"),)


def _without_accents(name: str) -> str:
    """The name without accents, case kept: "Quinn García" -> "Quinn Garcia"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))


def _permalink(person: DemoPerson, post_id: str) -> str:
    if person.platform == r.MASTODON:
        host = person.handle.split("@", 1)[1]
        return f"https://{host}/@{person.handle.split('@')[0]}/{post_id}"
    if person.platform == r.BLUESKY:
        return f"https://bsky.app/profile/{person.handle}/post/{post_id}"
    return f"https://x.com/{person.handle}/status/{post_id}"


def _profile_url(person: DemoPerson) -> str:
    if person.platform == r.MASTODON:
        user, host = person.handle.split("@", 1)
        return f"https://{host}/@{user}"
    if person.platform == r.BLUESKY:
        return f"https://bsky.app/profile/{person.handle}"
    return f"https://x.com/{person.handle}"


EXCERPTS = [
    "That's a great point — I hadn't thought of it that way.",
    "Thanks for sharing this, saving it for later.",
    "Are you going to the meetup next week?",
    "Ha, same here. Coffee first, then code.",
    "Could you send me the link to that talk?",
    "Congrats on the launch! 🎉",
    "I tried your recipe, it worked!",
    "Let's pick this up on Monday.",
]


def _events(rng: random.Random, person: DemoPerson, now: dt.datetime) -> Iterator[tuple]:
    """(days_ago, kind, direction, named_count) events for one person."""
    a = person.archetype

    def some(n, lo, hi, kinds, directions=(r.INBOUND, r.OUTBOUND), named=1):
        for _ in range(n):
            yield rng.uniform(lo, hi), rng.choice(kinds), rng.choice(directions), named

    direct = [r.REPLY, r.REPLY, r.MENTION, r.QUOTE]
    if a == "close":
        yield from some(rng.randint(80, 140), 0, 720, direct + [r.DM])
        yield from some(rng.randint(1400, 2000), 0, 720, [r.LIKE, r.LIKE, r.REPOST])
        yield from some(6, 0, 20, [r.REPLY, r.DM])
    elif a == "regular":
        yield from some(rng.randint(15, 30), 0, 400, direct)
        yield from some(rng.randint(200, 400), 0, 400, [r.LIKE, r.REPOST])
    elif a == "candidate":
        yield from some(rng.randint(7, 10), 0, 120, direct)
        yield from some(rng.randint(10, 30), 0, 120, [r.LIKE])
    elif a == "new":
        yield from some(rng.randint(2, 6), 0, 25, direct + [r.LIKE])
    elif a == "fan":
        yield from some(rng.randint(60, 200), 0, 700, [r.LIKE, r.LIKE, r.REPOST], (r.INBOUND,))
    elif a == "shows_up":
        yield from some(rng.randint(6, 10), 0, 50, [r.REPLY, r.MENTION, r.REPOST], (r.INBOUND,))
        yield from some(rng.randint(5, 15), 0, 50, [r.LIKE], (r.INBOUND,))
    elif a == "one_way":
        yield from some(rng.randint(3, 12), 0, 500, [r.REPLY, r.MENTION, r.LIKE], (r.OUTBOUND,))
    elif a == "mass_mention":
        yield from some(rng.randint(30, 80), 0, 300, [r.MENTION], (r.INBOUND,), named=rng.randint(12, 40))
    elif a == "drifted":
        yield from some(rng.randint(14, 24), 120, 500, direct)
        yield from some(rng.randint(20, 60), 120, 500, [r.LIKE, r.REPOST])
    elif a == "acquaintance":
        yield from some(1, 60, 300, [r.REPLY], (r.INBOUND,))
        yield from some(1, 60, 300, [r.REPLY], (r.OUTBOUND,))
        yield from some(rng.randint(0, 2), 60, 300, direct)
        yield from some(rng.randint(3, 15), 30, 300, [r.LIKE])
    elif a == "quiet":
        yield from some(rng.randint(2, 6), 400, 720, direct + [r.LIKE])


def demo_records(platform: str, now: dt.datetime | None = None, seed: int = 7) -> Iterator[r.Record]:
    """Every record of the demo community on one platform, deterministic for a seed."""
    now = now or timezone.now()
    rng = random.Random(seed)
    people = _people(rng)
    own = {
        r.MASTODON: ("https://fedi.example/users/demo", "demo@fedi.example"),
        r.BLUESKY: ("did:plc:demo0000000000000000self", "demo.bsky.example"),
        r.X: ("1000000000000000001", "demo"),
    }[platform]
    yield r.IdentityRecord(platform=platform, external_id=own[0], handle=own[1], display_name="Demo", is_self=True)
    likes_without_author = 0
    for person in people:
        # One generator per person, so each person's events are stable
        # whichever platform is being generated.
        prng = random.Random(seed * 1_000_003 + person.index)
        if person.platform != platform:
            continue
        host = person.handle.split("@", 1)[1] if platform == r.MASTODON else ""
        yield r.IdentityRecord(
            platform=platform,
            external_id=person.external_id,
            handle=person.handle,
            display_name=person.name,
            profile_url=_profile_url(person),
            is_bot=False,
            discoverable=True,
            profile_links=person.links if platform == r.MASTODON else None,
        )
        a = person.archetype
        yield r.FollowRecord(
            platform=platform,
            identity_id=person.external_id,
            i_follow=a in ("close", "regular", "drifted", "one_way") or (a == "quiet" and prng.random() < 0.5),
            follows_me=a in ("close", "regular", "candidate", "fan", "bought", "drifted", "shows_up")
            or prng.random() < 0.2,
        )
        for n, (days_ago, kind, direction, named) in enumerate(_events(prng, person, now)):
            post_id = f"{person.index:04d}{n:05d}"
            when = now - dt.timedelta(days=days_ago, minutes=prng.randint(0, 600))
            if platform == r.X and not x_archive_holds(kind, direction):
                # Left out as an X archive leaves it out; the user's own likes are only counted.
                likes_without_author += kind == r.LIKE and direction == r.OUTBOUND
                continue
            ext = {
                r.MASTODON: f"https://{host}/users/demo-{person.index}/statuses/{post_id}",
                r.BLUESKY: f"at://{person.external_id}/app.bsky.feed.post/demo{post_id}",
                r.X: str(1_600_000_000_000_000_000 + person.index * 100_000 + n),
            }[platform]
            yield r.InteractionRecord(
                platform=platform,
                external_id=ext,
                identity_id=person.external_id,
                kind=kind,
                direction=direction,
                occurred_at=when,
                permalink=_permalink(person, post_id),
                excerpt=prng.choice(EXCERPTS) if kind not in (r.LIKE, r.REPOST) else "",
                thread_id=f"demo-thread-{person.index}-{n // 4}",
                named_count=named,
            )
    if likes_without_author:
        yield r.CountRecord("likes_without_author", likes_without_author)


def seed_records(user, progress=None) -> ingest.IngestResult:
    """Ingest the demo community for ``user``, one demo source per platform."""
    total = ingest.IngestResult()
    for platform in r.PLATFORMS:
        source, _ = Source.objects.get_or_create(
            user=user,
            platform=platform,
            kind=Source.Kind.ARCHIVE,
            label=f"Demo data ({platform})",
        )
        result = ingest.ingest(user, source, demo_records(platform))
        total.records_read += result.records_read
        total.new += result.new
        total.known += result.known
        total.identities_new += result.identities_new
        total.people_touched |= result.people_touched
        total.skipped.update(result.skipped)
        if progress:
            progress(platform, result)
    return total


def seed_history(user, progress, days: int = 16) -> str:
    """Recompute rapport, then generate nudges day by day over the recent past.

    Walking the days keeps the daily nudge budget honest: the demo shows what a
    user who had run Rapport for a little over two weeks would see. Sixteen days, not fourteen: the
    five a day go to follow nudges, then to the 60 people who show up, and what is left to the old
    friends to reconnect with; fourteen days left 1 to 3 of those, by the hour the demo was seeded.
    """
    return str(rescore(user, days=days + 1, progress=progress))
