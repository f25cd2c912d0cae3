"""The words on screen: explanations of Rapport figures and the reasons of nudges.

Every figure a page shows can be said in a sentence here. Sentences use the
person's name, or "they" / "them" when there is none: never a guessed pronoun.
"""

from __future__ import annotations

import datetime as dt

from relationships.models import Person, Preferences, Rapport
from relationships.platforms import records as r
from relationships.services.scoring.rapport import MASS_MENTION, both_ways, local_today, weights_for


def times(n: int) -> str:
    """'once', 'twice', '5 times'."""
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _noun(kind: str, n: int) -> str:
    words = r.KIND_WORDS[kind]
    return f"{n} {words.one if n == 1 else words.many}"


def _did(kind: str, n: int | str, who: str = "you", whose: str = "your") -> str:
    """'replied to you 6 times', 'shared 4 of your posts': several of ``kind`` done to someone."""
    return r.KIND_WORDS[kind].did_many.format(n=n, who=who, whose=whose)


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


def on_days(n: int) -> str:
    """'on one day', 'on 5 different days': what a talk count is, said where the number appears."""
    return "on one day" if n == 1 else f"on {n} different days"


def _posts(parts: list[tuple[str, int]]) -> str:
    """'4 replies' for one kind; '6 posts: 4 replies and 2 mentions' for several, so the parts add up."""
    if len(parts) == 1:
        return _noun(*parts[0])
    return f"{sum(n for _, n in parts)} posts: " + _and([_noun(k, n) for k, n in parts])


def answers_unseen(person: Person) -> bool:
    """Whether an answer from ``person`` could not have been seen: all their accounts are on X.

    X data comes only from archives, which hold the user's own posts and DMs,
    never others' replies or mentions; "no answer yet" would be a guess.
    Uses the identities views attach (``identity_list``) or prefetched ones.
    """
    identities = getattr(person, "identity_list", None)
    if identities is None:
        identities = list(person.identities.all())
    return bool(identities) and all(identity.platform == r.X for identity in identities)


def _you_wrote(obj: str, days: int, parts: list[tuple[str, int]]) -> str:
    """'You replied to Pal on 13 different days — 14 replies': the user's side alone."""
    # One kind reads as its verb; several are "wrote to".
    did = _did(parts[0][0], on_days(days), who=obj) if len(parts) == 1 else f"wrote to {obj} {on_days(days)}"
    return f"You {did} — {_posts(parts)}"


def talk_sentence(person: Person, days: int, inbound: dict[str, int], outbound: dict[str, int]) -> str:
    """The first sentence about a person: their talks, or what a one-way history is.

    "Talked with" only when both sides took part (a direct exchange from
    each); ``days`` (Rapport.talks) is then "on N different days" and the
    posts beside it are counted as posts, so a reader can reconcile them:
    "You've talked with Ana on 5 different days — 7 posts: 4 replies from Ana, 3 from you."
    A one-way history is said as what it is: "You replied to Pal on 13
    different days — 14 replies; no answer from Pal yet." (or, when Pal is
    known only from X archives, that the archive cannot show an answer).
    Empty when there was no direct exchange at all.
    """
    subject, obj, _ = names(person)
    from_them, from_you = _direct_parts(inbound), _direct_parts(outbound)
    if from_them and from_you:
        pieces = [_and([_noun(k, n) for k, n in from_them]) + f" from {obj}"]
        if len(from_them) == 1 and len(from_you) == 1 and from_them[0][0] == from_you[0][0]:
            pieces.append(f"{from_you[0][1]} from you")  # "3 replies from Ana, 2 from you"
        else:
            pieces.append(_and([_noun(k, n) for k, n in from_you]) + " from you")
        total = sum(n for _, n in from_them + from_you)
        return f"You've talked with {obj} {on_days(days)} — {total} posts: {', '.join(pieces)}."
    if from_you:
        if answers_unseen(person):
            return f"{_you_wrote(obj, days, from_you)}; an X archive cannot show whether {obj} answered."
        return f"{_you_wrote(obj, days, from_you)}; no answer from {obj} yet."
    if from_them:
        did = _did(from_them[0][0], on_days(days)) if len(from_them) == 1 else f"wrote to you {on_days(days)}"
        return f"{subject} {did} — {_posts(from_them)}; you haven't answered yet."
    return ""


def talk_facts(rapport: Rapport | None, person: Person) -> str:
    """The short form beside a name (person page, people list): "talked on 5 different days",
    "you wrote on 13 different days; no answer yet", "wrote to you on 4 different days; not answered yet",
    or "no talk yet"."""
    if rapport is None or not rapport.talks:
        return "no talk yet"
    inbound, outbound = rapport.inbound or {}, rapport.outbound or {}
    if both_ways(inbound, outbound):
        return f"talked {on_days(rapport.talks)}"
    if _direct_parts(outbound):
        if answers_unseen(person):
            return f"you wrote {on_days(rapport.talks)}; answers are not in X archives"
        return f"you wrote {on_days(rapport.talks)}; no answer yet"
    return f"wrote to you {on_days(rapport.talks)}; not answered yet"


def talk_days(rapport: Rapport | None) -> tuple[int, int]:
    """(days talked, days of a one-way history): Rapport.talks in the column it belongs to.

    Rapport.talks counts days with a direct exchange in either direction;
    only when both sides took part are they talks. Exports and the
    ``rapport`` command print these two rather than one ambiguous figure.
    """
    if rapport is None or not rapport.talks:
        return 0, 0
    if both_ways(rapport.inbound or {}, rapport.outbound or {}):
        return rapport.talks, 0
    return 0, rapport.talks


def rapport_sentences(
    rapport: Rapport | None,
    person: Person,
    *,
    today: dt.date | None = None,
    prefs: Preferences | None = None,
) -> list[str]:
    """Sentences for every figure of ``rapport``, e.g.

    "You've talked with Ana on 5 different days — 5 posts: 3 replies from Ana, 2 from you.",
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
        sentences.append(talk_sentence(person, rapport.talks, inbound, outbound))

    for counts, who, whose in ((inbound, subject, "your"), (outbound, "You", possessive)):
        done = [_did(kind, counts[kind], whose=whose) for kind in (r.LIKE, r.REPOST) if counts.get(kind)]
        if done:
            sentences.append(f"{who} {_and(done)}.")

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
        ago = _ago((today - rapport.last_talk_on).days)
        if both_ways(inbound, outbound):
            sentences.append(f"Last talked {ago}.")
        elif _direct_parts(outbound):
            sentences.append(f"You last wrote to {obj} {ago}.")
        else:
            sentences.append(f"{subject} last wrote to you {ago}.")
    elif rapport.last_interaction_at:
        last_day = rapport.last_interaction_at.astimezone(prefs.tzinfo).date()
        sentences.append(f"Last interaction {_ago((today - last_day).days)}; no talk yet.")
    return sentences


def explain_score(rapport: Rapport, prefs: Preferences) -> str:
    """How the score figure is made, in words, with the user's own settings."""
    w = weights_for(prefs)
    boost = round(100 * rapport.reciprocity)
    # Reciprocity compares the weighted sums of each direction, likes and shares
    # included: a like each way raises it, so it is never worded as a talk
    # ("both ways" is two_way's word, and one like back is not a conversation).
    both = f"; attention from each side to the other (likes included) raises it by {boost}%" if boost else ""
    first, *rest = (r.REPLY, r.DM, r.QUOTE, r.MENTION, r.REPOST, r.LIKE)
    weighs = [f"a {r.KIND_WORDS[first].one} weighs {w[first]:g}"]
    weighs += [f"a {r.KIND_WORDS[kind].one} {w[kind]:g}" for kind in rest]
    return f"Score {rapport.score:.2f}: {_and(weighs)}, each halving every {prefs.half_life_days:g} days{both}."


# -- Nudge reasons ---------------------------------------------------------------------

def note_reason(rapport: Rapport | None, person: Person, prefs: Preferences | None = None) -> str:
    """Why the user follows (or listed) them, for the Mastodon private note: "You talked on 6 different days
    since March 2026: replies and DMs." Outside Rapport there is no page to explain more, so it stands alone."""
    if rapport is None or not rapport.talks:
        return "Followed from Rapport; no talk yet."
    inbound, outbound = rapport.inbound or {}, rapport.outbound or {}
    if not both_ways(inbound, outbound):
        return f"Followed from Rapport: {talk_facts(rapport, person)}."
    used = {kind for kind, _ in _direct_parts(inbound) + _direct_parts(outbound)}
    kinds = [kind for kind in (r.REPLY, r.MENTION, r.QUOTE, r.DM) if kind in used]
    since = ""
    if rapport.first_interaction_at:
        tz = prefs.tzinfo if prefs else dt.UTC
        since = " since " + rapport.first_interaction_at.astimezone(tz).strftime("%B %Y")
    words = _and([r.KIND_WORDS[kind].many for kind in kinds])
    return f"You talked {on_days(rapport.talks)}{since}: {words}."


def follow_reason(person: Person, talks: int) -> str:
    """"You've talked with Ana on 5 different days — follow them?" (follow nudges need both ways)."""
    return f"You've talked with {names(person)[1]} {on_days(talks)} — follow them?"


def shows_up_reason(person: Person, inbound: dict[str, int]) -> str:
    """"Ben replied to you 6 times and shared 4 of your posts — say thanks, or follow?"

    Counts of posts ("6 times"), never talks: the user has not answered.
    """
    counts = {**inbound, r.MENTION: inbound.get(r.MENTION, 0) - inbound.get(MASS_MENTION, 0)}
    parts = [_did(kind, times(counts[kind])) for kind in (r.REPLY, r.MENTION, r.QUOTE) if counts.get(kind)]
    if counts.get(r.REPOST):
        parts.append(_did(r.REPOST, counts[r.REPOST]))
    return f"{names(person)[0]} {_and(parts)} — say thanks, or follow?"


def reconnect_reason(person: Person, talks: int, days_since: int) -> str:
    """"You've talked with Ana on 12 different days, but not in the last 75 days — say hello?\""""
    return (
        f"You've talked with {names(person)[1]} {on_days(talks)}, but not in the last {days_since} days"
        " — say hello?"
    )


# -- The review of whom the user follows ----------------------------------------------

def _months(days: int) -> str:
    if days >= 730:
        return f"{days // 365} years"
    return f"{max(days // 30, 1)} months"


def review_sentence(rapport: Rapport | None, person: Person, today: dt.date) -> str:
    """What happened between the user and someone they follow, in a line, conversation first:

    "No conversation in 14 months; you liked 3 of their posts.", "No conversation yet; Ana shared 2 of
    your posts.", "Last talked 3 days ago." Never whether they follow back.
    """
    subject, _, possessive = names(person)
    inbound, outbound = (rapport.inbound or {}, rapport.outbound or {}) if rapport else ({}, {})
    if rapport and rapport.two_way and rapport.last_talk_on:
        days = (today - rapport.last_talk_on).days
        head = f"Last talked {_ago(days)}" if days < 60 else f"No conversation in {_months(days)}"
    else:
        head = "No conversation yet"
    pieces = [head]
    them = subject if subject != "They" else "they"  # mid-sentence
    for counts, who, whose in ((outbound, "you", possessive), (inbound, them, "your")):
        done = [_did(kind, counts[kind], whose=whose) for kind in (r.LIKE, r.REPOST) if counts.get(kind)]
        if done:
            pieces.append(f"{who} {_and(done)}")
    return "; ".join(pieces) + "."


# -- Why a person stands where they do in a ranked list -------------------------------

def tier_meanings() -> list[tuple[str, str]]:
    """(tier, what it means), closest first, for the legend beside a ranked list."""
    from relationships.services.scoring.rapport import (
        CLOSE_RECENT_DAYS,
        CLOSE_TALKS,
        NEW_DAYS,
        QUIET_DAYS,
        REGULAR_TALKS,
    )

    return [
        (Rapport.Tier.CLOSE, f"Talked on {CLOSE_TALKS} days or more, both ways, at least once in the last {CLOSE_RECENT_DAYS} days."),
        (Rapport.Tier.REGULAR, f"Talked on {REGULAR_TALKS} days or more, both ways."),
        (Rapport.Tier.NEW, f"First interaction in the last {NEW_DAYS} days."),
        (Rapport.Tier.FAN, "Only they reach out: replies, mentions, likes or shares from them, nothing from you."),
        (Rapport.Tier.ONE_WAY, "Only you reach out: nothing from them."),
        (Rapport.Tier.QUIET, f"Nothing either way in {QUIET_DAYS} days."),
        (Rapport.Tier.ACQUAINTANCE, "Everyone else: a little from each side."),
        (Rapport.Tier.SILENT, "No interaction at all, in either direction."),
    ]


#: The ranking rule (services/scoring/rapport.py, RANK_ORDER) in one sentence.
RANKING_RULE = (
    "People you talk with both ways (at least one reply, mention, quote or DM from each side) come first, "
    "everyone else after them; within each group, the higher score ranks higher."
)


def _attention(counts: dict[str, int]) -> str:
    """'40 likes, 3 shares' of one direction's counts, or '' when there are none."""
    return ", ".join(_noun(kind, counts[kind]) for kind in r.KINDS if counts.get(kind))


def rank_reason(rapport: Rapport | None) -> str:
    """Why a person stands where they do in the ranked list, in a line: the group, what made it, the score.

    "Two-way: both of you take part · score 22.50", "One-sided, from them: 40 likes, 3 shares · score 23.35",
    "One-sided, from you: 5 mentions, 1 like; from them: 1 like · score 9.80".
    "Talked" is said only of two-way people: a one-sided history is named by what each side did,
    the side that wrote first.
    """
    if rapport is None or rapport.tier == Rapport.Tier.SILENT:
        return "No interactions yet"
    score = f"score {rapport.score:.2f}"
    if rapport.two_way:
        # How many days is the row's talks column (talk_facts); the reason says what ranks it.
        return f"Two-way: both of you take part · {score}"
    inbound, outbound = rapport.inbound or {}, rapport.outbound or {}
    from_them, from_you = _attention(inbound), _attention(outbound)
    sides = [f"from you: {from_you}"] if from_you else []
    sides += [f"from them: {from_them}"] if from_them else []
    # Who wrote goes first: likes back from the other side do not make it two-way,
    # and the row must not read as if nobody wrote.
    if _direct_parts(inbound) and not _direct_parts(outbound):
        sides.reverse()
    if not sides:
        return f"One-sided, no reply, mention, quote or DM from either side yet · {score}"
    if not _direct_parts(inbound) and not _direct_parts(outbound) and from_them and from_you:
        return f"One-sided, no reply, mention, quote or DM from either side: {'; '.join(sides)} · {score}"
    return f"One-sided, {'; '.join(sides)} · {score}"
