"""Rapport's domain: who the user talks with, and what came of it.

Every row belongs to one user; views and tasks always filter by that user.
The names follow ../shared/DESIGN.md: Source -> Identity -> Person,
Interaction, Rapport, Nudge, Job.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from relationships.models.jobs import Heartbeat, Job, JobQuerySet
from relationships.models.review import FollowReview
from relationships.models.merges import NotSamePerson
from relationships.models.sources import PLATFORM_CHOICES, ArchiveFile, MastodonApp, Source
from relationships.platforms import records

KIND_CHOICES = [(kind, records.KIND_WORDS[kind].one) for kind in records.KINDS]
DIRECTION_CHOICES = [(records.INBOUND, "from them"), (records.OUTBOUND, "from you")]


def _default_weights() -> dict[str, float]:
    return {"dm": 3.0, "reply": 3.0, "quote": 2.0, "mention": 2.0, "repost": 1.0, "like": 0.5}


class Preferences(models.Model):
    """Per-user settings: time zone and the knobs of scoring and nudging."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences")
    time_zone = models.CharField(max_length=64, default="UTC")
    weights = models.JSONField(default=_default_weights)
    half_life_days = models.FloatField(default=90.0)
    follow_threshold = models.PositiveIntegerField(default=5, help_text="Talks before a follow nudge.")
    mass_mention_cut = models.PositiveIntegerField(
        default=5, help_text="A mention in a post naming more people than this is a weak signal, never a talk."
    )
    daily_nudge_budget = models.PositiveIntegerField(default=5)
    digest_opt_in = models.BooleanField(default=False)
    # Notes that travel (services/notes.py): a follow or listing made here writes why into the Mastodon private note.
    note_on_mastodon = models.BooleanField(default=False)
    digest_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"Preferences of {self.user}"

    @property
    def tzinfo(self) -> dt.tzinfo:
        try:
            return zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return dt.UTC

    @classmethod
    def for_user(cls, user) -> Preferences:
        prefs, _ = cls.objects.get_or_create(user=user)
        return prefs


class Person(models.Model):
    """Someone the user knows; holds one or more platform identities."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="people")
    name = models.CharField(max_length=255, blank=True)
    notes = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    hidden = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "people"
        indexes = [
            # The people list: a user's visible people, searched by name.
            models.Index(fields=["user", "hidden", "name"], name="person_list_idx"),
        ]

    def __str__(self) -> str:
        return self.name or f"Person {self.pk}"

    @property
    def display_name(self) -> str:
        return self.name or "Someone"


class MergedPerson(models.Model):
    """A person merged into another (services/people.py merge): the old page's address leads to the one kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="merged_people")
    # The merged-away Person's id: that row is gone, so no foreign key.
    merged_id = models.BigIntegerField()
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="merged_away")
    merged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # The person page's lookup of an old address, always with its owner (views/person.py).
            models.UniqueConstraint(fields=["user", "merged_id"], name="merged_person_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.merged_id} -> {self.person_id}"


class Identity(models.Model):
    """A platform account someone uses, with the follow state as last seen."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="identities")
    platform = models.CharField(max_length=16, choices=PLATFORM_CHOICES)
    # Mastodon actor URI, Bluesky DID or X numeric id: see platforms/records.py.
    external_id = models.CharField(max_length=512)
    # True while the key was guessed (user@host from a CSV) rather than seen.
    provisional = models.BooleanField(default=False)
    handle = models.CharField(max_length=255, null=True, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    avatar_url = models.URLField(max_length=1024, blank=True)
    profile_url = models.URLField(max_length=1024, blank=True)
    is_bot = models.BooleanField(null=True)
    discoverable = models.BooleanField(null=True)
    i_follow = models.BooleanField(null=True)
    follows_me = models.BooleanField(null=True)
    blocked = models.BooleanField(null=True)
    muted = models.BooleanField(null=True)
    followed_since = models.DateTimeField(null=True, blank=True)
    # When Rapport first saw the user follow this account (a sync or an import; ingest sets it), for the review's
    # "you follow them since". Not followed_since: a follow record's date there may be of their follow of the user.
    following_seen_at = models.DateTimeField(null=True, blank=True)
    # Mastodon profile fields holding a link: [{"name", "url", "verified_at"}] (records.ProfileLink).
    profile_links = models.JSONField(default=list, blank=True)
    # The display name and the handle's local part as merge suggestions compare them
    # (services/identity_keys.py), written by ingest.
    name_key = models.CharField(max_length=255, blank=True, default="")
    handle_key = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            # Ingest upserts on this key; re-syncs and re-imports never duplicate.
            models.UniqueConstraint(fields=["user", "platform", "external_id"], name="identity_unique_key"),
        ]
        indexes = [
            # Provisional-key correction and search look identities up by handle.
            models.Index(fields=["user", "platform", "handle"], name="identity_handle_idx"),
            # Merge suggestions: a user's names and handles held on more than one platform (GROUP BY key).
            models.Index(fields=["user", "name_key", "platform"], name="identity_name_key_idx"),
            models.Index(fields=["user", "handle_key", "platform"], name="identity_handle_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.handle or self.external_id}"


class Interaction(models.Model):
    """One event between the user and one identity, in one direction."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="interactions")
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="interactions")
    platform = models.CharField(max_length=16, choices=PLATFORM_CHOICES)
    # The post / record / message id that carries the event (see records.py).
    external_id = models.CharField(max_length=512)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    direction = models.CharField(max_length=3, choices=DIRECTION_CHOICES)
    occurred_at = models.DateTimeField()
    # The day in the user's time zone, stored so "talks" (distinct days) is a
    # plain COUNT(DISTINCT day) in SQL; rewritten when the time zone changes.
    day = models.DateField()
    permalink = models.URLField(max_length=1024, blank=True)
    excerpt = models.CharField(max_length=500, blank=True)
    thread_id = models.CharField(max_length=512, blank=True)
    named_count = models.PositiveIntegerField(default=1)
    sources = models.ManyToManyField(Source, through="InteractionSource", related_name="interactions")

    class Meta:
        constraints = [
            # Ingest upserts on this key: a post naming two people is two rows,
            # and the same post seen again (re-sync, re-import) is the same row.
            models.UniqueConstraint(
                fields=["user", "platform", "external_id", "identity", "kind", "direction"],
                name="interaction_unique_key",
            ),
        ]
        indexes = [
            # The person timeline (one identity's interactions, newest first)
            # and the incremental rapport recompute after an ingest: the
            # trailing columns are all services/scoring/rapport.py reads, so it scans
            # this index alone (index-only) instead of one heap page per
            # interaction: 1 ms instead of 30-80 ms for 100 people on
            # PostgreSQL (bench/rapport_bench.py).
            models.Index(
                fields=["identity", "occurred_at", "direction", "kind", "day", "named_count"],
                name="interaction_timeline_idx",
            ),
            # Dashboard and digest: a user's recent interactions.
            models.Index(fields=["user", "occurred_at"], name="interaction_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.direction} {self.identity_id} @ {self.occurred_at:%Y-%m-%d}"


class InteractionSource(models.Model):
    """Which sources saw an interaction, so removing a source removes only what it alone saw."""

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE)
    source = models.ForeignKey(Source, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["interaction", "source"], name="interaction_source_unique"),
        ]
        indexes = [
            # Source removal: every interaction a source saw.
            models.Index(fields=["source", "interaction"], name="interaction_source_idx"),
        ]


class Rapport(models.Model):
    """Per-person figures, recomputed from interactions (services/scoring/rapport.py)."""

    class Tier(models.TextChoices):
        SILENT = "silent"
        CLOSE = "close"
        REGULAR = "regular"
        NEW = "new"
        FAN = "fan"
        # Capitalised like the labels Django makes of the others: this mapping is every
        # tier's name on screen (legend, filter, rows, person page, nudge cards).
        ONE_WAY = "one_way", "One way"
        QUIET = "quiet"
        ACQUAINTANCE = "acquaintance"

    person = models.OneToOneField(Person, on_delete=models.CASCADE, primary_key=True, related_name="rapport")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rapports")
    score = models.FloatField(default=0.0)
    # At least one direct exchange from each side: the conversation group
    # people are ranked by first (services/scoring/rapport.py, RANK_ORDER).
    two_way = models.BooleanField(default=False)
    talks = models.PositiveIntegerField(default=0)
    reciprocity = models.FloatField(default=0.0)
    inbound = models.JSONField(default=dict, blank=True)
    outbound = models.JSONField(default=dict, blank=True)
    first_interaction_at = models.DateTimeField(null=True, blank=True)
    last_interaction_at = models.DateTimeField(null=True, blank=True)
    last_talk_on = models.DateField(null=True, blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.SILENT)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The people list, ranked by rapport: two-way people first, then by score (RANK_ORDER).
            models.Index(fields=["user", "-two_way", "-score"], name="rapport_rank_idx"),
            # Dashboard counts by tier.
            models.Index(fields=["user", "tier"], name="rapport_tier_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person}: {self.tier} ({self.score:.2f})"


class Nudge(models.Model):
    class Kind(models.TextChoices):
        FOLLOW = "follow"
        SHOWS_UP = "shows_up", "shows up"
        RECONNECT = "reconnect"

    class State(models.TextChoices):
        OPEN = "open"
        ACTED = "acted"
        SNOOZED = "snoozed"
        DISMISSED = "dismissed"

    class Outcome(models.TextChoices):
        """What came of the nudge, one word each, whoever saw it happen.

        A follow made here and one a sync found on the platform are both
        ``following``: whether Rapport made it (and can undo it) is its
        FollowAttempt's to say. ``failed`` is on an open nudge: the last Follow did not work.
        """

        FOLLOWING = "following"
        REQUESTED = "requested"
        # Added to a list instead of followed (services/lists.py).
        LISTED = "listed"
        REPLIED = "replied"
        FAILED = "failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="nudges")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="nudges")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    reason = models.TextField()
    strength = models.FloatField(default=0.0)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    opened_on = models.DateField(null=True, blank=True, help_text="Day it last became open; the daily budget counts these.")
    outcome = models.CharField(max_length=32, blank=True, choices=Outcome.choices)
    outcome_reason = models.TextField(blank=True)
    # "Why I followed": the interactions that led to acting on the nudge.
    evidence = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One nudge per person and kind, ever: generating twice, or from two
            # workers at once, cannot duplicate; a dismissed one stays dismissed.
            models.UniqueConstraint(fields=["person", "kind"], name="nudge_one_per_person_kind"),
        ]
        indexes = [
            # Dashboard cards and the daily budget: a user's nudges by state.
            models.Index(fields=["user", "state", "opened_on"], name="nudge_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} nudge for {self.person} ({self.state})"


class CommunitySnapshot(models.Model):
    """One month of the user's community, for the dashboard chart.

    Written by services/scoring/community.py:store_community when rapport is
    recomputed, so showing the dashboard never aggregates interactions.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="community_months")
    # The first day of the month, in the user's time zone.
    month = models.DateField()
    # People with at least one direct exchange from each side in the month.
    two_way = models.PositiveIntegerField(default=0)
    # Of those, people whose first interaction with the user was in the month.
    newcomers = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # store_community replaces a user's months in one transaction; the
            # dashboard reads them by (user, month).
            models.UniqueConstraint(fields=["user", "month"], name="community_month_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.month:%Y-%m}: {self.two_way} two-way"


class CommunityHeadline(models.Model):
    """The dashboard's headline figures for one user, stored with the monthly snapshots."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="community_headline"
    )
    # People with a direct exchange from each side in the last 30 / 90 days.
    talked_30 = models.PositiveIntegerField(default=0)
    talked_90 = models.PositiveIntegerField(default=0)
    # Regular or close now, and not before the first day of this month.
    new_regulars = models.PositiveIntegerField(default=0)
    # Regular or close, but no talk in the last 60 days (within the last year).
    drifting = models.PositiveIntegerField(default=0)
    # A few person ids of each group, strongest first, so the dashboard can
    # name them with one indexed query: {"new_regulars": [...], "drifting": [...]}.
    examples = models.JSONField(default=dict, blank=True)
    # The user's local day the figures describe.
    computed_on = models.DateField()
    computed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user}: {self.talked_30} / {self.talked_90} two-way"


class FollowAttempt(models.Model):
    """One Follow (or Add to a list, or Quieter) click and what came of it: "why I followed" stays with it.

    ``evidence`` holds the interactions that led to it (ids, kinds, dates,
    permalinks), copied at the time, so it survives a re-import or a merge.
    """

    class Action(models.TextChoices):
        FOLLOW = "follow"
        # Added to a list (services/lists.py): on Bluesky without following,
        # on Mastodon followed into it. "Why you listed them" is the evidence.
        LIST = "list"
        # Kept following without their boosts (Mastodon).
        QUIETER = "quieter"

    class State(models.TextChoices):
        PENDING = "pending"
        FOLLOWING = "following"
        REQUESTED = "requested"
        LISTED = "listed"
        FAILED = "failed"
        # Taken back with the card's Undo: unfollowed on the platform (or, for a
        # follow by hand, no longer claimed), so "why I followed" shows nothing.
        UNDONE = "undone"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follow_attempts")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="follow_attempts")
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="follow_attempts")
    nudge = models.ForeignKey(Nudge, null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_attempts")
    platform = models.CharField(max_length=16, choices=PLATFORM_CHOICES)
    # The connected account that followed: Undo unfollows through the same one,
    # never through another account of the user that may follow them on its own.
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_attempts")
    # True when the user followed by hand (X) and confirmed it here.
    manual = models.BooleanField(default=False)
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.FOLLOW)
    # The list of a LIST action: its platform id (Mastodon) or record AT-URI (Bluesky), and its name then.
    list_id = models.CharField(max_length=512, blank=True)
    list_name = models.CharField(max_length=200, blank=True)
    # Rapport followed the account for the list (a Mastodon list holds only followed accounts): Undo unfollows too.
    followed = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    reason = models.TextField(blank=True)
    # The platform record holding the follow or the list item (Bluesky), for taking it back.
    record_uri = models.CharField(max_length=512, blank=True)
    evidence = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # services/follow.py: one follow in flight per account, so a double
            # click cannot write two Bluesky follow records.
            models.UniqueConstraint(
                fields=["identity"], condition=Q(state="pending"), name="follow_attempt_one_pending"
            ),
        ]
        indexes = [
            # The hourly follow budget and a person's follow history.
            models.Index(fields=["user", "created_at"], name="follow_attempt_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"follow {self.identity} ({self.state})"


__all__ = [
    "ArchiveFile",
    "CommunityHeadline",
    "CommunitySnapshot",
    "DIRECTION_CHOICES",
    "FollowAttempt",
    "FollowReview",
    "Heartbeat",
    "Identity",
    "Interaction",
    "InteractionSource",
    "Job",
    "JobQuerySet",
    "KIND_CHOICES",
    "MastodonApp",
    "MergedPerson",
    "NotSamePerson",
    "Nudge",
    "PLATFORM_CHOICES",
    "Person",
    "Preferences",
    "Rapport",
    "Source",
]
