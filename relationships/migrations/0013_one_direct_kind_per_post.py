"""One post gives one direct interaction per person, also in rows stored before ingest enforced it.

Two sources could classify the same post differently (a Mastodon archive
reads a reply whose parent was deleted as a mention; the API says reply),
and both rows were kept: the post counted twice. For each post, person and
direction, the first kind that applies (dm > reply > quote > mention) stays
and takes the other rows' sources; the others go. Each user whose rows
changed gets a queued recompute job (the stale-job sweep sends a job queued
without a task), so their figures are right after the upgrade, not at the
nightly refresh. Reversing cannot tell the merged rows apart: it leaves them
merged.

The ranking is written out here, not imported: a migration must keep
meaning what it meant when it ran.
"""

from django.db import migrations
from django.db.models import Count

RANK = {"dm": 0, "reply": 1, "quote": 2, "mention": 3}


def keep_one_direct_kind(apps, schema_editor):
    Interaction = apps.get_model("relationships", "Interaction")
    InteractionSource = apps.get_model("relationships", "InteractionSource")
    Job = apps.get_model("relationships", "Job")
    direct = Interaction.objects.filter(kind__in=list(RANK))
    groups = (
        direct.values("user_id", "platform", "external_id", "identity_id", "direction")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by()
    )
    changed = set()
    for group in list(groups):
        group.pop("n")
        changed.add(group["user_id"])
        rows = sorted(direct.filter(**group).values_list("kind", "pk"), key=lambda row: (RANK[row[0]], row[1]))
        keeper = rows[0][1]
        losers = [pk for _, pk in rows[1:]]
        seen = set(InteractionSource.objects.filter(interaction_id=keeper).values_list("source_id", flat=True))
        moved = set(InteractionSource.objects.filter(interaction_id__in=losers).values_list("source_id", flat=True))
        InteractionSource.objects.bulk_create(
            [InteractionSource(interaction_id=keeper, source_id=source) for source in sorted(moved - seen)]
        )
        InteractionSource.objects.filter(interaction_id__in=losers).delete()
        Interaction.objects.filter(pk__in=losers).delete()
    queued = Job.objects.bulk_create(
        Job(user_id=user_id, kind="recompute", task_name="relationships.recompute",
            description="Recompute rapport after counting each post once per person")
        for user_id in sorted(changed)
    )
    for job in queued:  # the task's arguments name the job, known only once it is stored
        Job.objects.filter(pk=job.pk).update(task_kwargs={"job_id": job.pk})


class Migration(migrations.Migration):

    dependencies = [
        ("relationships", "0012_mastodon_handles_from_actor_uris"),
    ]

    operations = [
        migrations.RunPython(keep_one_direct_kind, migrations.RunPython.noop),
    ]
