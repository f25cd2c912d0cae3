"""Source removal: remove only what no other source saw."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction
from django.db.models import Count

from ..models import Interaction, Source
from .imports import is_upload


def only_seen_by(source: Source):
    """Interactions this source saw and no other source of the user did."""
    return Interaction.objects.filter(user=source.user, sources=source).annotate(
        n_sources=Count("sources")
    ).filter(n_sources=1)


def remove_source(source: Source) -> str:
    with transaction.atomic():
        ids = list(only_seen_by(source).values_list("pk", flat=True))
        touched = set(
            Interaction.objects.filter(pk__in=ids).values_list("identity__person_id", flat=True).distinct()
        )
        for start in range(0, len(ids), 900):
            Interaction.objects.filter(pk__in=ids[start : start + 900]).delete()
        label = str(source)
        path = source.archive_path
        source.delete()
        # People left with no interaction and no follow state from any source stay:
        # they are still accounts the user knows. Their rapport is recomputed.
        from .runs import queue_recompute

        if touched:
            queue_recompute(source.user, touched, description=f"Recompute rapport after removing {label}")
    # Only files Rapport stored itself; a path given to `import_archive` is the user's own.
    if is_upload(path):
        Path(path).unlink(missing_ok=True)
    return f"Removed {label} and {len(ids):,} interactions only it had seen."
