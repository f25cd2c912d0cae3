"""What the user said about a suggested merge: "not the same person"."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class NotSamePerson(models.Model):
    """Two accounts the user said belong to different people: never suggested as one again.

    Kept per pair of identities, not of people, so it survives merges and
    splits of either side; it goes with either account (cascade). The lower
    identity id is always ``first`` (services/merge_suggestions.py).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="not_same_pairs")
    first = models.ForeignKey("relationships.Identity", on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey("relationships.Identity", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # "Not the same" twice (two tabs, a double click) stores one row; suggestions read them by user.
            models.UniqueConstraint(fields=["user", "first", "second"], name="not_same_person_unique_pair"),
            models.CheckConstraint(condition=Q(first__lt=F("second")), name="not_same_person_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.first_id} is not {self.second_id}"
