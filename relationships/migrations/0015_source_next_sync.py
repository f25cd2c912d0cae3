"""Each connected account carries when it is next synced.

Beat's sweep used to pick accounts whose last sync was older than
RAPPORT_SYNC_INTERVAL_MINUTES. Existing accounts keep that time: the next
sync is one interval after the last (the interval as configured when the
upgrade runs); an account never synced stays unset, which means due now.
Every account starts with no quiet syncs counted, i.e. the shortest interval.
"""

import datetime as dt

from django.conf import settings
from django.db import migrations, models
from django.db.models import ExpressionWrapper, F


def schedule_from_last_sync(apps, schema_editor):
    Source = apps.get_model("relationships", "Source")
    interval = dt.timedelta(minutes=settings.RAPPORT_SYNC_INTERVAL_MINUTES)
    Source.objects.filter(kind="account", last_synced_at__isnull=False).update(
        next_sync_at=ExpressionWrapper(F("last_synced_at") + interval, output_field=models.DateTimeField())
    )


class Migration(migrations.Migration):

    dependencies = [
        ("relationships", "0014_one_way_tier_label"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="source",
            name="source_due_idx",
        ),
        migrations.AddField(
            model_name="source",
            name="next_sync_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="source",
            name="quiet_syncs",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name="source",
            index=models.Index(fields=["state", "kind", "next_sync_at"], name="source_next_sync_idx"),
        ),
        migrations.RunPython(schedule_from_last_sync, migrations.RunPython.noop),
    ]
