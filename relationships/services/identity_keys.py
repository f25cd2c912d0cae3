"""How two accounts are compared when Rapport asks "is this the same person elsewhere?".

Ingest stores ``name_key`` and ``handle_key`` on every identity (both indexed
with the user), so the suggestions of services/merge_suggestions.py are a
GROUP BY on a stored column, not a comparison of every pair in Python.
Changing a key's definition needs a data migration that rewrites it
(see migration 0020).
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

from relationships.platforms import records as r

# A full name is at least two words: "Ana" on Mastodon and "Ana" on Bluesky are
# two people as often as one (merge_suggestions asks for a space in the key).
NAME_MIN_WORDS = 2
# A handle this short ("ana", "jo") is taken by different people on different platforms.
HANDLE_MIN_LENGTH = 5
# Hosts whose pages are profiles of a platform account, not someone's own domain.
BLUESKY_PROFILE_HOSTS = ("bsky.app", "staging.bsky.app")
X_PROFILE_HOSTS = ("x.com", "twitter.com", "mobile.twitter.com", "mobile.x.com")


def fold(text: str) -> str:
    """Lower case, accents and punctuation gone, words separated by one space: "Chloé  O'Brien!" -> "chloe o brien"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in plain).split())


def name_key(display_name: str) -> str:
    """The display name as compared across platforms (an emoji or a title's dot changes nothing)."""
    return fold(display_name)[:255]


def handle_local_part(platform: str, handle: str | None) -> str:
    """The name part of a handle: 'lena' of lena@social.example (Mastodon), lena.bsky.social and lena.example
    (Bluesky: the first label), @lena (X)."""
    handle = (handle or "").strip().lstrip("@")
    if platform == r.MASTODON:
        return handle.split("@", 1)[0]
    if platform == r.BLUESKY:
        return handle.split(".", 1)[0]
    return handle


def handle_key(platform: str, handle: str | None) -> str:
    """The local part folded without separators: lena_berg, Lena-Berg and lenaberg are one key."""
    return fold(handle_local_part(platform, handle)).replace(" ", "")[:255]


def link_target(url: str) -> tuple[str, str]:
    """What a profile link points at: ("bluesky", handle or DID) for a bsky.app profile, ("x", handle) for an X
    profile, else ("domain", host) — a Bluesky handle on that domain is the same owner's. ("", "") if unreadable."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "", ""
    host = (parts.hostname or "").lower().removeprefix("www.")
    if not host:
        return "", ""
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if host in BLUESKY_PROFILE_HOSTS:
        if len(segments) >= 2 and segments[0] == "profile":
            return r.BLUESKY, segments[1].lower()
        return "", ""
    if host in X_PROFILE_HOSTS:
        return (r.X, segments[0].lstrip("@").lower()) if segments else ("", "")
    return "domain", host
