"""Small template helpers for Rapport's pages."""

from __future__ import annotations

import datetime as dt
from html import escape
from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from relationships.platforms import records as r

register = template.Library()


@register.simple_tag
def url_or_empty(name: str, *args) -> str:
    """``{% url_or_empty "nudge_follow" nudge.pk as follow_url %}``: the URL, or "" while the route does not exist.

    The nudge action endpoints belong to another part of the app; cards render
    without those buttons rather than failing when a route is missing.

    A route of one id is reversed once per name and URL configuration, then
    the id is written into it: a nudge card names six such routes, and on the
    dashboard's first view after a change (six cards) the thirty-odd calls of
    reverse() cost about 1.5 ms of CPU.
    """
    if len(args) == 1 and type(args[0]) is int:
        key = (settings.ROOT_URLCONF, get_urlconf(), get_script_prefix(), name)
        if key not in _ONE_ID_ROUTES:
            _ONE_ID_ROUTES[key] = _reverse_or_empty(name, (_ID_SLOT,))
        return _ONE_ID_ROUTES[key].replace(str(_ID_SLOT), str(args[0]))
    return _reverse_or_empty(name, args)


# (urlconf, script prefix, route name) -> the route reversed with _ID_SLOT for its one id ("" for no such route).
_ONE_ID_ROUTES: dict[tuple, str] = {}
_ID_SLOT = 918273645


def _reverse_or_empty(name: str, args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


@register.filter
def account(identity) -> str:
    """An account as its platform writes it (@lena@social.example, lena.bsky.social, @lena), never a raw URI when a handle is known."""
    from relationships.services.people import account_label

    return account_label(identity)


@register.filter
def days_ago(day, today) -> str:
    """'today', 'yesterday', '5 days ago', '3 months ago', '2 years ago' for a date (or datetime) before ``today``."""
    if not day or not today:
        return ""
    if isinstance(day, dt.datetime):
        day = day.date()
    days = (today - day).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 60:
        return f"{days} days ago"
    if days < 730:
        return f"{days // 30} months ago"
    return f"{days // 365} years ago"


@register.filter
def thousands(n) -> str:
    """17999 -> '17,999': counts on screen read the same as in the summaries."""
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return ""


@register.filter
def initial(name: str) -> str:
    """The letter on an avatar placeholder."""
    for char in name or "":
        if char.isalnum():
            return char.upper()
    return "?"


@register.filter
def hue(pk) -> int:
    """One of six placeholder colours, stable per person."""
    try:
        return int(pk) % 6
    except (TypeError, ValueError):
        return 0


@register.filter
def signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


@register.simple_tag
def describe(interaction, name: str) -> str:
    """'Ana replied to you' / 'You replied to Ana' (autoescaped by the template like any text)."""
    name = (name or "").strip()
    # Interactions, or the dicts kept as a nudge's evidence.
    kind = interaction.get("kind") if isinstance(interaction, dict) else interaction.kind
    direction = interaction.get("direction") if isinstance(interaction, dict) else interaction.direction
    words = r.KIND_WORDS.get(kind)
    if direction == "in":
        return f"{name or 'They'} {words.did.format(who='you', whose='your') if words else 'did something'}"
    who, whose = (name, f"{name}'s") if name else ("them", "their")
    return f"You {words.did.format(who=who, whose=whose)}" if words else f"You did something with {who}"


@register.filter
def kind_word(kind: str) -> str:
    """'reply', 'DM', 'share': what an interaction kind is called on screen."""
    words = r.KIND_WORDS.get(kind)
    return words.one if words else kind


NUDGE_KINDS = {"follow": "Follow suggestion", "shows_up": "Shows up for you", "reconnect": "Reconnect"}


@register.filter
def nudge_kind(kind: str) -> str:
    return NUDGE_KINDS.get(kind, kind)


@register.filter
def absolute(value):
    return abs(value)


# -- Small components drawn in Python: on a list they appear once per row, and measured against template
# partials they kept the lists' first views nearer their floor (the figures are in person_row and
# interaction_line). avatar and follow_state are parts of person_row: in Python, so each is written once.


@register.simple_tag
def avatar(person, large: bool = False):
    """The person's picture (``person.avatar``, set by selectors.people.decorate), or a coloured initial."""
    size = 64 if large else 40
    extra = " avatar-large" if large else ""
    name = escape(person.display_name)
    # html.escape, as person_row: format_html's lazy escaping cost more than the rest of the tag, fifty times a page.
    if getattr(person, "avatar", ""):
        return mark_safe(
            f'<img class="avatar{extra}" src="{escape(person.avatar)}" alt="Profile picture of {name}" width="{size}" '
            f'height="{size}" loading="lazy" referrerpolicy="no-referrer">'
        )
    return mark_safe(
        f'<span class="avatar avatar-letter hue-{hue(person.pk)}{extra}" aria-hidden="true">{escape(initial(person.display_name))}</span>'
    )


_FOLLOW_STATES = {
    (True, True): ("fs-mutual", "⇄ ", "You follow each other"),
    (True, False): ("fs-out", "→ ", "You follow them"),
    (False, True): ("fs-in", "← ", "Follows you"),
}


@register.simple_tag
def follow_state(person):
    """Whether the user follows them and they follow the user, in words (from selectors.people.decorate)."""
    state = _FOLLOW_STATES.get((bool(person.i_follow_any), bool(person.follows_me_any)))
    if state is None:
        return mark_safe('<span class="follow-state"><span class="fs fs-none">Not following each other</span></span>')
    css, arrow, words = state
    # Constant strings of _FOLLOW_STATES, nothing to escape.
    return mark_safe(f'<span class="follow-state"><span class="fs {css}"><span aria-hidden="true">{arrow}</span>{words}</span></span>')


_PLATFORM_NAMES: dict[str, str] = {}
_TIER_NAMES: dict[str, str] = {}


@register.filter
def person_label(person) -> str:
    """``{{ person|person_label }}``: "Lena Berg (@lena@social.example)", the name with the accounts."""
    from relationships.services.people import person_label as label

    return label(person)


@register.filter
def platform_name(platform: str) -> str:
    """"Mastodon" for "mastodon": Identity.get_platform_display without its per-call cost (a list shows many)."""
    if not _PLATFORM_NAMES:
        from relationships.models import PLATFORM_CHOICES

        _PLATFORM_NAMES.update(PLATFORM_CHOICES)
    return _PLATFORM_NAMES.get(platform, platform)


@register.filter
def has_account_on(person, platforms: str) -> bool:
    """Whether one of the person's accounts (``identity_list``) is on one of ``platforms`` ("mastodon,bluesky")."""
    wanted = platforms.split(",")
    return any(identity.platform in wanted for identity in getattr(person, "identity_list", ()))


@register.filter
def tier_name(tier: str) -> str:
    """"Regular" for "regular" (Rapport.get_tier_display, cheaper)."""
    if not _TIER_NAMES:
        from relationships.models import Rapport

        _TIER_NAMES.update(Rapport.Tier.choices)
    return _TIER_NAMES.get(tier, tier)


_PERSON_URL: list[str] = []


@register.filter
def person_url(pk) -> str:
    """The person page's address: ``{% url 'person' pk %}`` reversed once, not once per row."""
    if not _PERSON_URL:
        _PERSON_URL.append(reverse("person", args=[0]).removesuffix("0/"))
    return f"{_PERSON_URL[0]}{int(pk)}/"


@register.simple_tag
def interaction_line(item, name: str, today):
    """One interaction in a list (a nudge card's latest three, the person's timeline): who did what, when,
    where, what was said, and a link to the post.

    In Python and escaped with html.escape, as person_row is: with 10,000
    people, the busiest person's page (25 lines) measured on its first view
    after a change 15.7-15.8 ms (CPU, the trivial page 4.3-4.4) with the lines
    drawn by format_html, 16.8-17.8 ms with them in a template partial.
    """
    what = escape(describe(item, name))
    when = escape(days_ago(item.day, today))
    platform = platform_name(item.platform)
    line = (
        f'<span class="what">{what}</span>\n<span class="when"><time datetime="'
        f'{timezone.localtime(item.occurred_at).isoformat()}">{when}</time>{" · " + escape(platform) if platform else ""}'
        "</span>\n"
    )
    if item.excerpt:
        line += f'<q class="excerpt">{escape(item.excerpt)}</q>\n'
    if item.permalink:
        line += (
            f'<a class="permalink" href="{escape(item.permalink)}" rel="noopener noreferrer" target="_blank">View post'
            f'<span class="visually-hidden"> ({what}, {when}; opens in a new tab)</span></a>'
        )
    return mark_safe(line)


def _talked(rapport) -> bool:
    # Only a history both sides took part in has a "last talked" day.
    from relationships.services.scoring.rapport import both_ways

    return bool(rapport.last_talk_on) and both_ways(rapport.inbound or {}, rapport.outbound or {})


def talk_facts(rapport, person) -> str:
    """'talked on 6 different days', or what a one-way history is: the words of services/scoring/sentences.py."""
    from relationships.services.scoring.sentences import talk_facts as words

    return words(rapport, person)


@register.simple_tag
def talk_header(rapport, person, today) -> str:
    """The person page's line under the name: 'talked on 6 different days · last talked 2 days ago'."""
    text = talk_facts(rapport, person)
    return f"{text} · last talked {days_ago(rapport.last_talk_on, today)}" if _talked(rapport) else text


_ROW = (
    '<li class="person-row">\n      {avatar}\n      <div class="pr-main">\n'
    '        <a class="pr-name" href="{url}">{name}</a>{hidden}\n'
    '        <ul class="handles" aria-label="Accounts">\n          {accounts}\n        </ul>\n'
    '        <p class="pr-why">{why}</p>{tags}\n      </div>\n'
    '      <dl class="pr-facts">\n'
    "        <div><dt>Tier</dt><dd>{tier}</dd></div>\n"
    "        <div><dt>Talks</dt><dd>{talks}</dd></div>\n"
    "        <div><dt>Last talked</dt><dd>{last}</dd></div>\n"
    "        <div><dt>Follow</dt><dd>{follow}</dd></div>\n"
    "      </dl>\n    </li>"
)


@register.simple_tag
def tag_query(tag) -> str:
    """The people list's query string for one tag: ``tag=...``, encoded."""
    return urlencode({"tag": tag})


def _tags(tags) -> str:
    """A row's tags, each a link to the people with that tag."""
    if not tags:
        return ""
    people = person_url(0).removesuffix("0/")
    links = "".join(f'<li><a class="tag" href="{escape(people)}?{escape(tag_query(tag))}">{escape(tag)}</a></li>'
                    for tag in tags)
    return f'\n        <ul class="tags" aria-label="Tags">{links}</ul>'


def _account(identity) -> str:
    shown = escape(identity.handle or identity.external_id)
    if identity.profile_url:
        shown = f'<a href="{escape(identity.profile_url)}" rel="noopener noreferrer">{shown}</a>'
    return f'<li><span class="platform platform-{escape(identity.platform)}">{escape(platform_name(identity.platform))}</span> {shown}</li>'


@register.simple_tag
def person_row(person, today):
    """One person of the people list (a decorated person, see selectors.people.decorate): avatar, name, accounts,
    why they stand where they do, tier, talks, when you last talked, and the follow state.

    In Python, and escaped with the standard library's html.escape (what
    django.utils.html.escape calls) rather than through format_html: the list
    draws fifty rows, and with 10,000 people the first view of the list after
    a change measured (CPU ms, the trivial page 5.0-5.4) 18.8-19.4 ms with the
    rows drawn by format_html, 21.1-22.1 ms with them in a template partial
    of people.html: the page's 3x floor fails either way, the partial by 0.6x more.
    """
    from relationships.services.scoring.sentences import rank_reason

    rapport = getattr(person, "rapport", None)  # None for someone never scored
    if rapport is not None:
        tier = f'<span class="tier tier-{escape(rapport.tier)}">{escape(tier_name(rapport.tier))}</span>'
        talks = talk_facts(rapport, person)
        last = days_ago(rapport.last_talk_on, today) if _talked(rapport) else "never"
    else:
        tier, talks, last = '<span class="muted">not scored yet</span>', "no talk yet", "never"
    return mark_safe(_ROW.format(
        avatar=avatar(person), url=person_url(person.pk), name=escape(person.display_name),
        hidden=' <span class="badge">hidden</span>' if person.hidden else "",
        accounts="\n          ".join(_account(identity) for identity in person.identity_list),
        why=escape(rank_reason(rapport)), tags=_tags(person.__dict__.get("tags")), tier=tier, talks=escape(talks), last=escape(last), follow=follow_state(person),
    ))
