"""A nudge's outcome is one of Nudge.Outcome: a follow a sync saw is ``following``, like one made here.

Rows stored before said ``followed`` when a sync (or a follow from the
person page) found the follow on the platform; they now say ``following``.
Whether Rapport made a follow is its FollowAttempt's to say. Reversing
gives ``followed`` back to the following nudges no follow attempt of theirs
made, which are exactly the rows the forward step rewrote.

The words are written out here, not imported: a migration must keep
meaning what it meant when it ran.
"""

from django.db import migrations, models
from django.db.models import Exists, OuterRef


def say_following(apps, schema_editor):
    Nudge = apps.get_model("relationships", "Nudge")
    Nudge.objects.filter(outcome="followed").update(outcome="following")


def say_followed(apps, schema_editor):
    Nudge = apps.get_model("relationships", "Nudge")
    FollowAttempt = apps.get_model("relationships", "FollowAttempt")
    made_here = Exists(FollowAttempt.objects.filter(nudge=OuterRef("pk"), state__in=["following", "requested"]))
    Nudge.objects.filter(outcome="following").exclude(made_here).update(outcome="followed")


class Migration(migrations.Migration):

    dependencies = [
        ("relationships", "0015_source_next_sync"),
    ]

    operations = [
        migrations.RunPython(say_following, say_followed),
        migrations.AlterField(
            model_name="nudge",
            name="outcome",
            field=models.CharField(
                blank=True,
                choices=[("following", "Following"), ("requested", "Requested"), ("replied", "Replied"), ("failed", "Failed")],
                max_length=32,
            ),
        ),
    ]
