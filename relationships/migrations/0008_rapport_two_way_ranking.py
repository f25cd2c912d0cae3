# People are now ranked by conversation group first (two-way before one-sided),
# then by score: every stored Rapport row gets its group, so the lists are in
# the new order from the first page load after the upgrade, before any recompute.

from django.conf import settings
from django.db import migrations, models

# The rule as it stood when this migration was written (services/scoring/rapport.py
# both_ways): frozen here, as a migration must not follow later code changes.
_DIRECT_KINDS = ("reply", "mention", "quote", "dm")
_CHUNK = 500


def _direct(counts):
    counts = counts if isinstance(counts, dict) else {}
    total = sum(int(counts.get(kind) or 0) for kind in _DIRECT_KINDS)
    return total - int(counts.get("mass_mention") or 0)


def group_every_rapport_row(apps, schema_editor):
    """Set two_way on every stored row from its own counts by kind and direction.

    The score and the tier keep their formula; only the ranking gained the
    group, and the counts it needs are on each row: an exact recompute of the
    new field without re-reading the interactions.
    """
    Rapport = apps.get_model("relationships", "Rapport")
    rows = Rapport.objects.order_by("pk").values_list("pk", "inbound", "outbound")
    two_way = [pk for pk, inbound, outbound in rows.iterator(chunk_size=2000)
               if _direct(inbound) > 0 and _direct(outbound) > 0]
    for i in range(0, len(two_way), _CHUNK):
        Rapport.objects.filter(pk__in=two_way[i : i + _CHUNK]).update(two_way=True)


def withdraw_one_sided_reconnects(apps, schema_editor):
    """Open and snoozed reconnect nudges toward people who never talked back go (services/scoring/nudges.py,
    withdraw_one_sided_reconnects): their sentence said "you've talked with" of a one-way history.
    Acted and dismissed ones are the user's decisions and stay."""
    Nudge = apps.get_model("relationships", "Nudge")
    Nudge.objects.filter(kind="reconnect", state__in=["open", "snoozed"], person__rapport__two_way=False).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('relationships', '0007_nudge_reasons_in_days'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='rapport',
            name='rapport_rank_idx',
        ),
        migrations.AddField(
            model_name='rapport',
            name='two_way',
            field=models.BooleanField(default=False),
        ),
        # Before the index, so it is built once over the final values.
        migrations.RunPython(group_every_rapport_row, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(withdraw_one_sided_reconnects, migrations.RunPython.noop, elidable=False),
        migrations.AddIndex(
            model_name='rapport',
            index=models.Index(fields=['user', '-two_way', '-score'], name='rapport_rank_idx'),
        ),
    ]
