"""A user's account as a whole: export all of its data, or delete it with every row and file."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from relationships.models import (
    ArchiveFile,
    CommunityHeadline,
    CommunitySnapshot,
    Identity,
    Interaction,
    InteractionSource,
    Job,
    Nudge,
    Person,
    Preferences,
    Rapport,
    Source,
)
from relationships.services import export

# Children before parents. Plain DELETE statements: Django's cascade would
# load every interaction into memory first (a million rows for a busy user).
_BY_USER = (
    ArchiveFile, Interaction, Nudge, Rapport, Identity, Person, CommunitySnapshot, CommunityHeadline, Job, Source,
    Preferences,
)


def delete_account(user) -> None:
    """Delete ``user`` with all their data, then the archives Rapport stored for them.

    Whatever else points at the user (rows added by other apps) goes through
    Django's own cascade at the end.
    """
    paths = {p for p in Source.objects.filter(user=user).values_list("archive_path", flat=True) if p}
    paths |= set(ArchiveFile.objects.filter(user=user).values_list("path", flat=True))
    qn = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        _detach_others(user)
        cursor.execute(
            f"DELETE FROM {qn(InteractionSource._meta.db_table)} WHERE {qn('source_id')} IN "
            f"(SELECT {qn('id')} FROM {qn(Source._meta.db_table)} WHERE {qn('user_id')} = %s)",
            [user.pk],
        )
        for model in _BY_USER:
            cursor.execute(f"DELETE FROM {qn(model._meta.db_table)} WHERE {qn('user_id')} = %s", [user.pk])
        user.delete()
    upload_dir = Path(settings.RAPPORT_UPLOAD_DIR).resolve()
    for path in paths:
        # Only files Rapport stored itself; a path given to `import_archive` is the user's own.
        if Path(path).resolve().is_relative_to(upload_dir):
            Path(path).unlink(missing_ok=True)


def _detach_others(user) -> None:
    """Rows of models not listed here that point at the user's rows: deleted or unlinked first, via the ORM.

    Keeps the plain DELETEs above correct when another part of the app adds
    a model with a foreign key to, say, Identity or Source.
    """
    handled = set(_BY_USER) | {InteractionSource}
    for model in _BY_USER:
        for rel in model._meta.related_objects:
            if rel.related_model in handled or not isinstance(rel.field, models.ForeignKey):
                continue
            rows = rel.related_model._default_manager.filter(**{f"{rel.field.name}__user": user})
            if rel.on_delete is models.SET_NULL:
                rows.update(**{rel.field.name: None})
            else:
                rows.delete()


# -- Export ------------------------------------------------------------------------------------

INTERACTION_FIELDS = ["id", "platform", "person_id", "person", "handle", "kind", "direction", "occurred_at", "day",
                      "permalink", "excerpt", "thread_id", "named_count"]
_CHUNK = 2000


def _interaction_rows(user):
    rows = (
        Interaction.objects.filter(user=user)
        .order_by("pk")
        .values_list("pk", "platform", "identity__person_id", "identity__person__name", "identity__handle", "kind",
                     "direction", "occurred_at", "day", "permalink", "excerpt", "thread_id", "named_count")
    )
    for row in rows.iterator(chunk_size=_CHUNK):
        values = dict(zip(INTERACTION_FIELDS, row))
        values["occurred_at"] = export._utc(values["occurred_at"])
        values["day"] = values["day"].isoformat()
        yield values


def write_interactions(user, fmt: str, out) -> int:
    """Every interaction of ``user``, oldest id first, as CSV or a JSON array; returns how many."""
    return export.write_items(
        out, fmt, _interaction_rows(user), INTERACTION_FIELDS,
        lambda values: [values[name] if values[name] is not None else "" for name in INTERACTION_FIELDS],
    )


def write_everything(user, out) -> None:
    """All of the user's data as one JSON object: account, settings, sources (never credentials), people, interactions.

    People are in services/export.py's shape plus the user's own notes, tags
    and hidden flag.
    """
    prefs = Preferences.for_user(user)
    head = {
        "exported_at": export._utc(timezone.now()),
        "account": {"username": user.get_username(), "email": user.email},
        "preferences": {
            "time_zone": prefs.time_zone, "weights": prefs.weights, "half_life_days": prefs.half_life_days,
            "follow_threshold": prefs.follow_threshold, "mass_mention_cut": prefs.mass_mention_cut,
            "daily_nudge_budget": prefs.daily_nudge_budget, "digest_opt_in": prefs.digest_opt_in,
        },
        "sources": [
            {"platform": s.platform, "kind": s.kind, "label": s.label, "handle": s.handle, "base_url": s.base_url,
             "state": s.state, "last_synced_at": export._utc(s.last_synced_at)}
            for s in Source.objects.filter(user=user).order_by("pk")
        ],
    }
    out.write(json.dumps(head, ensure_ascii=False)[:-1])
    out.write(', "people": [')
    first = True
    for person in export._people(user).iterator(chunk_size=500):
        item = export.person_dict(person, prefs)
        item.update({"notes": person.notes, "tags": person.tags, "hidden": person.hidden})
        out.write("\n" if first else ",\n")
        out.write(json.dumps(item, ensure_ascii=False))
        first = False
    out.write('], "interactions": ')
    write_interactions(user, "json", out)
    out.write("}\n")
