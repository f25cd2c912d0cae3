"""The words on screen: explanations of Rapport figures and the reasons of nudges.

Every figure a page shows can be said in a sentence here. Sentences use the
person's name, or "they" / "them" when there is none: never a guessed pronoun.
"""

from __future__ import annotations

import datetime as dt

from ..models import Person, Preferences, Rapport
from ..platforms import records as r
from .rapport import MASS_MENTION, local_today, weights_for

_NOUNS = {r.REPLY: ("reply", "replies"), r.MENTION: ("mention", "mentions"), r.QUOTE: ("quote", "quotes"),
          r.DM: ("DM", "DMs")}


def times(n: int) -> str:
    """'once', 'twice', '5 times'."""
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _noun(kind: str, n: int) -> str:
    singular, plural = _NOUNS[kind]
    return f"{n} {singular if n == 1 else plural}"


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _direct_parts(counts: dict[str, int]) -> list[tuple[str, int]]:
    parts = []
    for kind in (r.REPLY, r.MENTION, r.QUOTE, r.DM):
        n = counts.get(kind, 0) - (counts.get(MASS_MENTION, 0) if kind == r.MENTION else 0)
        if n > 0:
            parts.append((kind, n))
    return parts


def _ago(days: int) -> str:
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    return f"{days} days ago"


def names(person: Person) -> tuple[str, str, str]:
    """(subject, object, possessive): ("Ana", "Ana", "Ana's") or ("They", "them", "their")."""
    name = (person.name or "").strip()
    return (name, name, f"{name}'s") if name else ("They", "them", "their")


def explain(
    rapport: Rapport | None,
    person: Person,
    *,
    today: dt.date | None = None,
    prefs: Preferences | None = None,
) -> list[str]:
    """Sentences for every figure of ``rapport``, e.g.

    "You've talked with Ana 5 times — 3 replies from Ana, 2 from you.",
    "Ana liked 12 of your posts.", "Last talked 2 days ago."

    ``prefs`` and ``today`` may be passed to save a query per person.
    """
    prefs = prefs or Preferences.objects.get_or_create(user_id=person.user_id)[0]
    today = today or local_today(prefs)
    subject, obj, possessive = names(person)
    if rapport is None or rapport.tier == Rapport.Tier.SILENT:
        return [f"No interactions with {obj} yet."]
    inbound, outbound = rapport.inbound or {}, rapport.outbound or {}
    sentences = []

    if rapport.talks:
        from_them = _direct_parts(inbound)
        from_you = _direct_parts(outbound)
        pieces = []
        if from_them:
            pieces.append(_and([_noun(k, n) for k, n in from_them]) + f" from {obj}")
        if from_you:
            if len(from_them) == 1 and len(from_you) == 1 and from_them[0][0] == from_you[0][0]:
                pieces.append(f"{from_you[0][1]} from you")  # "3 replies from Ana, 2 from you"
            else:
                pieces.append(_and([_noun(k, n) for k, n in from_you]) + " from you")
        detail = f" — {', '.join(pieces)}" if pieces else ""
        sentences.append(f"You've talked with {obj} {times(rapport.talks)}{detail}.")

    for counts, who, whose in ((inbound, subject, "your"), (outbound, "You", possessive)):
        likes, shares = counts.get(r.LIKE, 0), counts.get(r.REPOST, 0)
        if likes and shares:
            sentences.append(f"{who} liked {likes} of {whose} posts and shared {shares}.")
        elif likes:
            sentences.append(f"{who} liked {likes} of {whose} posts.")
        elif shares:
            sentences.append(f"{who} shared {shares} of {whose} posts.")

    cut = prefs.mass_mention_cut
    if inbound.get(MASS_MENTION):
        sentences.append(
            f"{subject} mentioned you {times(inbound[MASS_MENTION])} in posts naming more than {cut} people;"
            " those count like likes, not as talks."
        )
    if outbound.get(MASS_MENTION):
        sentences.append(
            f"You mentioned {obj} {times(outbound[MASS_MENTION])} in posts naming more than {cut} people;"
            " those count like likes, not as talks."
        )

    if rapport.last_talk_on:
        sentences.append(f"Last talked {_ago((today - rapport.last_talk_on).days)}.")
    elif rapport.last_interaction_at:
        last_day = rapport.last_interaction_at.astimezone(prefs.tzinfo).date()
        sentences.append(f"Last interaction {_ago((today - last_day).days)}; no talk yet.")
    return sentences


def explain_score(rapport: Rapport, prefs: Preferences) -> str:
    """How the score figure is made, in words, with the user's own settings."""
    w = weights_for(prefs)
    boost = round(100 * rapport.reciprocity)
    both = f"; it goes both ways, which raises it by {boost}%" if boost else ""
    return (
        f"Score {rapport.score:.2f}: a reply weighs {w['reply']:g}, a DM {w['dm']:g}, a quote {w['quote']:g}, "
        f"a mention {w['mention']:g}, a share {w['repost']:g} and a like {w['like']:g}, "
        f"each halving every {prefs.half_life_days:g} days{both}."
    )


# -- Nudge reasons ---------------------------------------------------------------------

def follow_reason(person: Person, talks: int) -> str:
    """"You've talked with Ana 5 times — follow them?\""""
    return f"You've talked with {names(person)[1]} {times(talks)} — follow them?"


def shows_up_reason(person: Person, inbound: dict[str, int]) -> str:
    """"Ben replied to you 6 times and shared 4 of your posts — say thanks, or follow?\""""
    parts = []
    replies = inbound.get(r.REPLY, 0)
    mentions = inbound.get(r.MENTION, 0) - inbound.get(MASS_MENTION, 0)
    quotes = inbound.get(r.QUOTE, 0)
    shares = inbound.get(r.REPOST, 0)
    if replies:
        parts.append(f"replied to you {times(replies)}")
    if mentions:
        parts.append(f"mentioned you {times(mentions)}")
    if quotes:
        parts.append(f"quoted you {times(quotes)}")
    if shares:
        parts.append(f"shared {shares} of your posts")
    return f"{names(person)[0]} {_and(parts)} — say thanks, or follow?"


def reconnect_reason(person: Person, talks: int, days_since: int) -> str:
    """"You've talked with Ana 12 times, but not in the last 75 days — say hello?\""""
    return f"You've talked with {names(person)[1]} {times(talks)}, but not in the last {days_since} days — say hello?"
