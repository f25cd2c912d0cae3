"""Small template helpers for Rapport's pages."""

from __future__ import annotations

import datetime as dt

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.simple_tag
def url_or_empty(name: str, *args) -> str:
    """``{% url_or_empty "nudge_follow" nudge.pk as follow_url %}``: the URL, or "" while the route does not exist.

    The nudge action endpoints belong to another part of the app; cards render
    without those buttons rather than failing when a route is missing.
    """
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


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


_DID = {
    "reply": ("replied to you", "You replied to {}"),
    "mention": ("mentioned you", "You mentioned {}"),
    "quote": ("quoted you", "You quoted {}"),
    "dm": ("sent you a direct message", "You sent {} a direct message"),
    "repost": ("shared your post", "You shared {}'s post"),
    "like": ("liked your post", "You liked {}'s post"),
}


@register.simple_tag
def describe(interaction, name: str) -> str:
    """'Ana replied to you' / 'You replied to Ana' (autoescaped by the template like any text)."""
    name = (name or "").strip()
    # Interactions, or the dicts kept as a nudge's evidence.
    kind = interaction.get("kind") if isinstance(interaction, dict) else interaction.kind
    direction = interaction.get("direction") if isinstance(interaction, dict) else interaction.direction
    inbound, outbound = _DID.get(kind, ("did something", "You did something with {}"))
    if direction == "in":
        return f"{name or 'They'} {inbound}"
    return outbound.format(name or "them").replace("them's", "their")


NUDGE_KINDS = {"follow": "Follow suggestion", "shows_up": "Shows up for you", "reconnect": "Reconnect"}


@register.filter
def nudge_kind(kind: str) -> str:
    return NUDGE_KINDS.get(kind, kind)


@register.filter
def absolute(value):
    return abs(value)
