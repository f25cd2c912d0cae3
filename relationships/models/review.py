"""The review of the accounts the user follows: one decision per person, each holding for a while."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class FollowReview(models.Model):
    """What the user decided about someone they follow, on the review page (services/review.py).

    One row per person: a new decision replaces the last. Keep, Quieter and
    Unfollow hold until ``show_again_at`` (six months), so the person is not
    shown again before then; Skip puts them at the end of the queue with no
    decision. The rows are the user's progress: leaving the page and coming
    back resumes where they stopped.
    """

    class Decision(models.TextChoices):
        KEPT = "kept"
        QUIETER = "quieter"
        UNFOLLOWED = "unfollowed"
        # "Next": no decision, seen after everyone not yet looked at.
        SKIPPED = "skipped"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follow_reviews")
    person = models.ForeignKey("relationships.Person", on_delete=models.CASCADE, related_name="follow_reviews")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    decided_at = models.DateTimeField()
    # Null for a skip: the person stays in the queue.
    show_again_at = models.DateTimeField(null=True, blank=True)
    # An unfollow: the account and the connected account that unfollowed, so Undo follows again through the
    # same one, and when Rapport had them followed since, to put back.
    identity = models.ForeignKey(
        "relationships.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_reviews"
    )
    source = models.ForeignKey(
        "relationships.Source", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_reviews"
    )
    following_seen_at = models.DateTimeField(null=True, blank=True)
    # What the platform answered, as the card says it.
    reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            # services/review.py decides with update_or_create on this pair: one decision per person.
            models.UniqueConstraint(fields=["user", "person"], name="follow_review_one_per_person"),
        ]
        indexes = [
            # The review queue and its progress: a user's decisions still holding.
            models.Index(fields=["user", "show_again_at"], name="follow_review_holding_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id}: {self.decision}"
