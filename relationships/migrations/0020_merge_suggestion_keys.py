"""Merge suggestions: each identity's name and handle keys, Mastodon profile links, and "not the same" pairs.

Existing identities get their keys from the display name and handle they
already hold, so suggestions work at once, before the next sync. Profile links
arrive with the next Mastodon sync (archives and older syncs did not keep
them). The folding is written out here, not imported: a migration must keep
meaning what it meant when it ran (services/identity_keys.py is today's).
"""

import unicodedata

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BATCH = 500


def _fold(text):
    plain = "".join(c for c in unicodedata.normalize("NFKD", text or "") if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in plain).split())


def _local_part(platform, handle):
    handle = (handle or "").strip().lstrip("@")
    if platform == "mastodon":
        return handle.split("@", 1)[0]
    return handle.split(".", 1)[0] if platform == "bluesky" else handle


def write_keys(apps, schema_editor):
    Identity = apps.get_model("relationships", "Identity")
    changed = []
    for identity in Identity.objects.only("platform", "handle", "display_name").order_by("pk").iterator(chunk_size=BATCH):
        identity.name_key = _fold(identity.display_name)[:255]
        identity.handle_key = _fold(_local_part(identity.platform, identity.handle)).replace(" ", "")[:255]
        if identity.name_key or identity.handle_key:
            changed.append(identity)
        if len(changed) >= BATCH:
            Identity.objects.bulk_update(changed, ["name_key", "handle_key"])
            changed = []
    Identity.objects.bulk_update(changed, ["name_key", "handle_key"])


class Migration(migrations.Migration):

    dependencies = [
        ('relationships', '0019_follow_review'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='NotSamePerson',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.AddField(
            model_name='identity',
            name='handle_key',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.AddField(
            model_name='identity',
            name='name_key',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.AddField(
            model_name='identity',
            name='profile_links',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddIndex(
            model_name='identity',
            index=models.Index(fields=['user', 'name_key', 'platform'], name='identity_name_key_idx'),
        ),
        migrations.AddIndex(
            model_name='identity',
            index=models.Index(fields=['user', 'handle_key', 'platform'], name='identity_handle_key_idx'),
        ),
        migrations.AddField(
            model_name='notsameperson',
            name='first',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='relationships.identity'),
        ),
        migrations.AddField(
            model_name='notsameperson',
            name='second',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='relationships.identity'),
        ),
        migrations.AddField(
            model_name='notsameperson',
            name='user',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='not_same_pairs', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='notsameperson',
            constraint=models.UniqueConstraint(fields=('user', 'first', 'second'), name='not_same_person_unique_pair'),
        ),
        migrations.AddConstraint(
            model_name='notsameperson',
            constraint=models.CheckConstraint(condition=models.Q(('first__lt', models.F('second'))), name='not_same_person_ordered'),
        ),
        migrations.RunPython(write_keys, migrations.RunPython.noop, elidable=True),
    ]
