"""Suggested merges: two of the user's people who look like one human on two platforms.

Nothing is merged here: the user confirms each suggestion (services/people.py
merge) or says "Not the same" (dismiss), which is remembered per pair of
accounts so it is never suggested again. The rules, strongest first:

* a Mastodon profile field links to the other account, or to the domain of
  a Bluesky handle, and Mastodon verified the link (rel=me);
* the same link, not verified;
* the same handle (its local part: lena of lena@social.example, lena.bsky.social, @lena),
  at least identity_keys.HANDLE_MIN_LENGTH characters once folded;
* the same full name (at least two words), once case, accents and punctuation are folded.

Two accounts on the same platform are never suggested (two accounts there are
more often two people), nor a hidden person.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q, Subquery
from django.db.models.functions import Lower

from relationships.models import Identity, NotSamePerson, Person
from relationships.platforms import records as r
from relationships.services import identity_keys
from relationships.services.people import account_label
from relationships.services.writes import chunks

VERIFIED_LINK, LINK, HANDLE, NAME = "verified_link", "link", "handle", "name"
STRENGTH = {VERIFIED_LINK: 4, LINK: 3, HANDLE: 2, NAME: 1}
_FIELDS = ("id", "user_id", "person_id", "platform", "external_id", "handle", "display_name", "name_key",
           "handle_key", "profile_links")


@dataclass(frozen=True)
class Match:
    """Why account ``a`` and account ``b`` (of two people) look like one human."""

    rule: str
    a: Identity
    b: Identity
    url: str = ""


@dataclass
class Suggestion:
    """``other`` may be ``person`` elsewhere: ``identity`` is the person's account, ``other_identity`` the other's."""

    person: Person
    other: Person
    identity: Identity
    other_identity: Identity
    rule: str
    reason: str

    @property
    def question(self) -> str:
        return f"Is {self.person.display_name} also {account_label(self.other_identity)} on " \
               f"{self.other_identity.get_platform_display()}?"


def for_user(user) -> list[Suggestion]:
    """Every open suggestion of the user, strongest first, then by name; each pair of people once.

    The person kept by a merge is the one known longest (the lower id).
    """
    if _one_platform(user):
        return []
    found = _matches(user, _identities(user, Q(name_key__in=_shared(user, "name_key"))),
                     _identities(user, Q(handle_key__in=_shared(user, "handle_key"))),
                     _identities(user, Q(platform=r.MASTODON) & ~Q(profile_links=[])))
    return _suggestions(user, found, None)


def for_person(person: Person) -> list[Suggestion]:
    """The open suggestions that concern ``person``, told from their side ("Is Lena also @lena on X?")."""
    user = person.user_id  # an id: every query below filters on it (person.user would be one more query)
    if _one_platform(user):
        return []
    mine = list(Identity.objects.filter(person=person).only(*_FIELDS))
    names = {i.name_key for i in mine if " " in i.name_key}
    handles = {i.handle_key for i in mine if len(i.handle_key) >= identity_keys.HANDLE_MIN_LENGTH}
    # Mastodon profiles that may link to one of the person's accounts: theirs, and any naming one of its handles.
    linked = Q(person=person, platform=r.MASTODON)
    for ident in mine:
        if ident.platform != r.MASTODON and ident.handle:
            linked |= Q(platform=r.MASTODON, profile_links__icontains=ident.handle)
    found = _matches(user, _identities(user, Q(name_key__in=names)), _identities(user, Q(handle_key__in=handles)),
                     _identities(user, linked))
    return _suggestions(user, [m for m in found if person.pk in (m.a.person_id, m.b.person_id)], person)


def dismiss(person: Person, other: Person) -> int:
    """"Not the same": remember every pair of their accounts, so neither is suggested as the other again.

    Both people must be the same user's (the view checks); returns the number of pairs stored.
    """
    if person.user_id != other.user_id or person.pk == other.pk:
        raise ValueError("Not the same is said of two people of one user.")
    pairs = [
        NotSamePerson(user_id=person.user_id, first_id=min(a, b), second_id=max(a, b))
        for a in Identity.objects.filter(person=person).values_list("pk", flat=True)
        for b in Identity.objects.filter(person=other).values_list("pk", flat=True)
    ]
    with transaction.atomic():
        NotSamePerson.objects.bulk_create(pairs, ignore_conflicts=True)
    return len(pairs)


def _one_platform(user) -> bool:
    """Whether all the user's accounts are on one platform (or none): then no rule can match, as every rule pairs
    two platforms (a link from a Mastodon profile to Bluesky or X, the same handle or name on two platforms).

    One query of two index seeks (identity_handle_idx): the first platform, then
    any account on a later one. The rules' own queries group or scan every
    account of the user: 4-5 ms with 10,000 people, on each view of the people
    list and of a person. The later account is read in platform order, not
    with EXISTS: PostgreSQL plans before it knows the first platform, and
    without an order to keep it scanned all 10,000 accounts (2.6 ms against
    0.3 ms, EXPLAIN ANALYZE on the bench's data).
    """
    accounts = Identity.objects.filter(user=user)
    first = accounts.order_by("platform").values("platform")[:1]
    return accounts.filter(platform__gt=Subquery(first)).order_by("platform").values_list("platform").first() is None


def _shared(user, column: str) -> list[str]:
    """The keys of ``column`` that the user's identities hold on more than one platform (identity_*_key_idx)."""
    keys = (
        Identity.objects.filter(user=user).exclude(**{column: ""})
        .values(column).annotate(platforms=Count("platform", distinct=True)).filter(platforms__gt=1)
        .values_list(column, flat=True)
    )
    if column == "name_key":
        return [k for k in keys if len(k.split()) >= identity_keys.NAME_MIN_WORDS]
    return [k for k in keys if len(k) >= identity_keys.HANDLE_MIN_LENGTH]


def _identities(user, where: Q) -> list[Identity]:
    return list(Identity.objects.filter(where, user=user).only(*_FIELDS).order_by("pk"))


def _same_key(identities: Iterable[Identity], column: str, rule: str) -> list[Match]:
    groups: dict[str, list[Identity]] = defaultdict(list)
    for ident in identities:
        groups[getattr(ident, column)].append(ident)
    return [
        Match(rule, a, b)
        for group in groups.values()
        for i, a in enumerate(group)
        for b in group[i + 1:]
        if a.platform != b.platform and a.person_id != b.person_id
    ]


def _link_matches(user, mastodon: Iterable[Identity]) -> list[Match]:
    """Mastodon profile links that name another account: a bsky.app or X profile, or a Bluesky handle's domain."""
    wanted: list[tuple[Identity, str, str, str, bool]] = []
    for ident in mastodon:
        for link in ident.profile_links or []:
            kind, target = identity_keys.link_target(str(link.get("url") or ""))
            if target:
                platform = r.BLUESKY if kind == "domain" else kind
                wanted.append((ident, platform, target, str(link.get("url")), bool(link.get("verified_at"))))
    targets: dict[tuple[str, str], list[Identity]] = defaultdict(list)
    for platform in (r.BLUESKY, r.X):
        names = sorted({t for _, p, t, _, _ in wanted if p == platform})
        for chunk in chunks(names):
            # Bluesky handles are lower case, DIDs are the external id; X handles are matched case-insensitively.
            rows = Identity.objects.filter(user=user, platform=platform).only(*_FIELDS).annotate(lower=Lower("handle"))
            where = Q(lower__in=chunk) | Q(external_id__in=chunk) if platform == r.BLUESKY else Q(lower__in=chunk)
            for found in rows.filter(where):
                for key in {found.lower, found.external_id}:
                    targets[(platform, key)].append(found)
    return [
        Match(VERIFIED_LINK if verified else LINK, ident, other, url)
        for ident, platform, target, url, verified in wanted
        for other in targets.get((platform, target), [])
        if other.person_id != ident.person_id
    ]


def _matches(user, by_name: list[Identity], by_handle: list[Identity], mastodon: list[Identity]) -> list[Match]:
    return [*_link_matches(user, mastodon), *_same_key(by_handle, "handle_key", HANDLE),
            *_same_key(by_name, "name_key", NAME)]


def _dismissed(user, ids: set[int]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for chunk in chunks(sorted(ids)):
        pairs.update(NotSamePerson.objects.filter(user=user, first_id__in=chunk).values_list("first_id", "second_id"))
    return pairs


def _suggestions(user, found: list[Match], seen_from: Person | None) -> list[Suggestion]:
    """The strongest match of each pair of people, neither hidden, not dismissed, as suggestions."""
    dismissed = _dismissed(user, {m.a.pk for m in found} | {m.b.pk for m in found})
    best: dict[tuple[int, int], Match] = {}
    for match in found:
        if (min(match.a.pk, match.b.pk), max(match.a.pk, match.b.pk)) in dismissed:
            continue
        key = (min(match.a.person_id, match.b.person_id), max(match.a.person_id, match.b.person_id))
        if key not in best or STRENGTH[match.rule] > STRENGTH[best[key].rule]:
            best[key] = match
    people = Person.objects.filter(user=user, hidden=False).prefetch_related("identities")
    by_id = {p.pk: p for chunk in chunks(sorted({pk for key in best for pk in key})) for p in people.filter(pk__in=chunk)}
    out = []
    for (low, high), match in best.items():
        if low not in by_id or high not in by_id:
            continue
        kept = seen_from.pk if seen_from is not None else low
        mine, theirs = (match.a, match.b) if match.a.person_id == kept else (match.b, match.a)
        out.append(Suggestion(by_id[kept], by_id[high if kept == low else low], mine, theirs, match.rule,
                              reason(match.rule, mine, theirs, match.url)))
    out.sort(key=lambda s: (-STRENGTH[s.rule], s.person.display_name.casefold(), s.other.display_name.casefold(),
                            s.person.pk, s.other.pk))
    return out


def reason(rule: str, mine: Identity, theirs: Identity, url: str = "") -> str:
    """Why the two accounts look like one human, in a sentence that names both."""
    a, b = account_label(mine), account_label(theirs)
    pa, pb = mine.get_platform_display(), theirs.get_platform_display()
    if rule in (LINK, VERIFIED_LINK):
        source, target = (mine, theirs) if mine.platform == r.MASTODON and url in _urls(mine) else (theirs, mine)
        kind, _ = identity_keys.link_target(url)
        what = (f"the domain of the Bluesky handle {account_label(target)}" if kind == "domain"
                else f"the {target.get_platform_display()} profile of {account_label(target)}")
        verified = ", and Mastodon verified the link (the page links back)" if rule == VERIFIED_LINK else ""
        return f"The Mastodon profile of {account_label(source)} links to {url}, {what}{verified}."
    if rule == HANDLE:
        return f"The same handle: {a} on {pa} and {b} on {pb}."
    if mine.display_name == theirs.display_name:
        return f"The same name, “{mine.display_name}”, on {pa} ({a}) and {pb} ({b})."
    return f"The same name: “{mine.display_name}” on {pa} ({a}) and “{theirs.display_name}” on {pb} ({b})."


def _urls(ident: Identity) -> set[str]:
    return {str(link.get("url")) for link in ident.profile_links or []}
