"""Background work as the user sees it, and the heartbeats that say workers and beat are alive."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from relationships.models.sources import Source


class JobQuerySet(models.QuerySet):
    def running(self):
        return self.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING])


class Job(models.Model):
    """One background run (import, sync, recompute), as the user sees it."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    kind = models.CharField(max_length=32)
    description = models.CharField(max_length=255, blank=True)
    # Enough to queue the work again after a dead worker: a task name and ids
    # (never secrets).
    task_name = models.CharField(max_length=200)
    task_kwargs = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    # Where a restarted run resumes: e.g. records already committed.
    checkpoint = models.JSONField(default=dict, blank=True)
    summary = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Sources page history and the stale-job sweep.
            models.Index(fields=["user", "-created_at"], name="job_history_idx"),
            models.Index(fields=["state", "heartbeat_at"], name="job_stale_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running", "done", "failed"]), name="job_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def percent(self) -> int | None:
        if self.state == self.State.DONE:
            # Also when there was nothing to count: an empty file is read to the end.
            return 100
        if not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))


class Heartbeat(models.Model):
    """Last time a worker or beat was heard from; the UI warns when it is old."""

    name = models.CharField(max_length=32, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M}"
