"""Source removal: remove only what no other source saw."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Exists, OuterRef

from relationships.models import Interaction, InteractionSource, Source
from relationships.services.intake.imports import is_upload

# SQLite caps bound parameters per statement.
DELETE_CHUNK = 900


def _seen_elsewhere(source: Source, outer: str = "interaction_id"):
    # A link of the same interaction to any other source. Counting the
    # source's own links after joining on that same source always gave 1, so
    # every interaction looked like this source's alone.
    return InteractionSource.objects.filter(interaction_id=OuterRef(outer)).exclude(source=source)


def only_seen_by(source: Source):
    """Ids of the interactions this source saw and no other source of the user did."""
    return (
        InteractionSource.objects.filter(source=source)
        .exclude(Exists(_seen_elsewhere(source)))
        .values_list("interaction_id", flat=True)
    )


@dataclass(frozen=True)
class Removal:
    """What removing a source would do: interactions that go, and those that stay."""

    only_here: int
    also_elsewhere: int

    @property
    def sentence(self) -> str:
        return (
            f"{self.only_here:,} interaction{'s' if self.only_here != 1 else ''} only this source saw; "
            f"{self.also_elsewhere:,} also seen by other sources stay."
        )


def preview_removal(source: Source) -> Removal:
    seen = InteractionSource.objects.filter(source=source).count()
    only = only_seen_by(source).count()
    return Removal(only_here=only, also_elsewhere=seen - only)


def remove_source(source: Source) -> str:
    with transaction.atomic():
        # Locks the source's row so a second click (or another tab) waits and
        # then finds it gone, instead of deleting twice.
        source = Source.objects.select_for_update().get(pk=source.pk)
        ids = list(only_seen_by(source))
        kept = InteractionSource.objects.filter(source=source).count() - len(ids)
        touched = set()
        for start in range(0, len(ids), DELETE_CHUNK):
            chunk = Interaction.objects.filter(pk__in=ids[start : start + DELETE_CHUNK])
            touched.update(chunk.values_list("identity__person_id", flat=True).distinct())
            # Checked again at delete time: an import of another source may
            # have seen one of these since they were listed.
            chunk.exclude(Exists(_seen_elsewhere(source, outer="pk"))).delete()
        label = str(source)
        paths = source_files(source)
        source.delete()
        # People left with no interaction and no follow state from any source stay:
        # they are still accounts the user knows. Their rapport is recomputed.
        from relationships.services.intake.runs import queue_recompute

        if touched:
            queue_recompute(source.user, touched, description=f"Recompute rapport after removing {label}")
    # Only files Rapport stored itself; a path given to `import_archive` is the user's own.
    for path in paths:
        if is_upload(path):
            Path(path).unlink(missing_ok=True)
    return (
        f"Removed {label} and the {len(ids):,} interaction{'s' if len(ids) != 1 else ''} only it had seen; "
        f"{kept:,} also seen by other sources stay."
    )


def source_files(source: Source) -> list[str]:
    paths = set(source.files.values_list("path", flat=True))
    return sorted(path for path in paths | {source.archive_path} if path)
