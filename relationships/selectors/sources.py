"""The Sources page's reads: the user's sources with what each brought in, and their jobs."""

from __future__ import annotations

from django.db.models import Count

from relationships.models import Job, Source

RECENT_JOBS = 20


def sources(user) -> list[Source]:
    """The user's sources, newest first, each with its archive files and ``seen_words`` ("1,204 interactions")."""
    rows = list(
        Source.objects.filter(user=user)
        .annotate(seen=Count("interactions"))
        .prefetch_related("files")
        .order_by("-created_at")
    )
    for source in rows:
        source.seen_words = f"{source.seen:,} interaction{'s' if source.seen != 1 else ''}"
    return rows


def recent_jobs(user):
    return Job.objects.filter(user=user).select_related("source")[:RECENT_JOBS]


def job(user, pk: int) -> Job | None:
    """The user's job ``pk`` with its source, or None (another user's job is not found either)."""
    return Job.objects.filter(user=user, pk=pk).select_related("source").first()
