"""A small story builder over the real ingest service, for rapport and nudge tests.

Every interaction goes through ``relationships.services.intake.ingest.ingest`` as
normalized records, so the tests exercise the same path a real source takes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zlib

from relationships.models import Identity, Person
from relationships.platforms import records as r
from relationships.services.intake import ingest

# The day every story is told on: fixed, so ages and decay are hand-computable.
TODAY = dt.date(2026, 6, 15)
NOON = dt.time(12, 0, tzinfo=dt.UTC)


def at(days_ago: int, time: dt.time = NOON) -> dt.datetime:
    """A moment ``days_ago`` days before TODAY (noon UTC unless told)."""
    return dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), time)


class Story:
    """Builds one user's interactions as records and ingests them."""

    _ids = itertools.count(1)

    def __init__(self, user, source, platform: str = r.MASTODON):
        self.user = user
        self.source = source
        self.platform = platform
        self.pending: list[r.Record] = []

    def key(self, name: str) -> str:
        slug = name.lower().replace(" ", "")
        if self.platform == r.MASTODON:
            return f"https://fedi.example/users/{slug}"
        if self.platform == r.BLUESKY:
            return f"did:plc:{slug}"
        return str(zlib.crc32(slug.encode()))

    def someone(self, name: str, **fields) -> Story:
        handle = f"{name.lower()}@fedi.example" if self.platform == r.MASTODON else name.lower()
        self.pending.append(
            r.IdentityRecord(platform=self.platform, external_id=self.key(name), handle=handle, display_name=name, **fields)
        )
        return self

    def did(self, name: str, kind: str, direction: str, days_ago: int = 1, *, when: dt.datetime | None = None,
            named_count: int = 1, post: str | None = None) -> Story:
        """One interaction: ``direction`` r.INBOUND (they did it) or r.OUTBOUND (the user did)."""
        post = post or f"https://fedi.example/statuses/{next(self._ids)}"
        self.pending.append(
            r.InteractionRecord(
                platform=self.platform, external_id=post, identity_id=self.key(name), kind=kind,
                direction=direction, occurred_at=when or at(days_ago), named_count=named_count,
            )
        )
        return self

    def said(self, name: str, kind: str = r.REPLY, days_ago: int = 1, **kw) -> Story:
        return self.did(name, kind, r.INBOUND, days_ago, **kw)

    def answered(self, name: str, kind: str = r.REPLY, days_ago: int = 1, **kw) -> Story:
        return self.did(name, kind, r.OUTBOUND, days_ago, **kw)

    def follow_state(self, name: str, **state) -> Story:
        self.pending.append(r.FollowRecord(platform=self.platform, identity_id=self.key(name), **state))
        return self

    def save(self) -> ingest.IngestResult:
        records, self.pending = self.pending, []
        return ingest.ingest(self.user, self.source, records)

    def person(self, name: str) -> Person:
        return Identity.objects.get(user=self.user, platform=self.platform, external_id=self.key(name)).person


def issue_community(story: Story) -> Story:
    """The ranking issue's community, pending on ``story``: Faye, a fan, likes a post a day for two months;
    Reggie talked with the user on 7 days, both ways, half a year ago; the user replied to Pal, whom they
    follow, 13 times, and Pal never answered."""
    story.someone("Faye")
    for day in range(1, 61):
        story.said("Faye", r.LIKE, day)
    story.someone("Reggie")
    for day in range(200, 207):
        story.said("Reggie", r.REPLY, day)
        story.answered("Reggie", r.REPLY, day)
    story.someone("Pal").follow_state("Pal", i_follow=True)
    for day in range(70, 83):
        story.answered("Pal", r.REPLY, day)
    return story
