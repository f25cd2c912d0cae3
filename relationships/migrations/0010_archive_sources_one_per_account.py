"""One archive source per account, and the files read into it.

Each upload used to make a source of its own, so importing the same
account's archive twice (or a newer export) left two sources of one account.
Every archive source gets its file as an ArchiveFile; the archive sources of
one user, platform and account are then merged into the oldest: its links to
interactions become the union of theirs (no interaction loses a source that
saw it), their jobs and files move to it, and the constraint keeps it so.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def carry_files_and_merge(apps, schema_editor):
    Source = apps.get_model("relationships", "Source")
    ArchiveFile = apps.get_model("relationships", "ArchiveFile")
    InteractionSource = apps.get_model("relationships", "InteractionSource")
    Job = apps.get_model("relationships", "Job")

    archives = Source.objects.filter(kind="archive").order_by("pk")
    for source in archives.iterator():
        if not source.archive_path:
            continue
        job = Job.objects.filter(source=source, kind="import").order_by("-created_at", "-pk").first()
        ArchiveFile.objects.create(
            user_id=source.user_id, source=source, job=job, name=_file_name(source), path=source.archive_path,
            kind=source.archive_kind, added_at=source.created_at,
        )

    groups = {}
    rows = archives.exclude(account_external_id="").values_list("pk", "user_id", "platform", "account_external_id")
    for pk, *key in rows:
        groups.setdefault(tuple(key), []).append(pk)
    for pks in groups.values():
        if len(pks) < 2:
            continue
        keep = Source.objects.get(pk=pks[0])
        counts = dict(keep.counts)
        newest = keep
        for other in Source.objects.filter(pk__in=pks[1:]).order_by("pk"):
            InteractionSource.objects.filter(source=other).exclude(
                interaction_id__in=InteractionSource.objects.filter(source=keep).values("interaction_id")
            ).update(source=keep)
            Job.objects.filter(source=other).update(source=keep)
            ArchiveFile.objects.filter(source=other).update(source=keep)
            for name, value in other.counts.items():
                # The same account's archives overlap: the larger count is the truer, never the sum.
                counts[name] = max(value, counts.get(name, 0))
            newest = other
            InteractionSource.objects.filter(source=other).delete()
            other.delete()
        Source.objects.filter(pk=keep.pk).update(
            counts=counts, archive_path=newest.archive_path, archive_kind=newest.archive_kind
        )
    if schema_editor.connection.vendor == "postgresql":
        # The deletes above leave deferred foreign-key checks pending, and
        # PostgreSQL builds no index on a table with pending checks: run them now.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _file_name(source):
    # Labels were "X archive (twitter-2024.zip)": the name the file was uploaded under.
    label = source.label or ""
    if label.endswith(")") and " (" in label:
        return label[label.index(" (") + 2 : -1][:255]
    return source.archive_path.replace("\\", "/").rsplit("/", 1)[-1][:255]


class Migration(migrations.Migration):

    dependencies = [
        ('relationships', '0009_x_interactions_before_their_account'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ArchiveFile',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(blank=True, max_length=255)),
                ('path', models.CharField(max_length=1024)),
                ('kind', models.CharField(max_length=32)),
                ('added_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['added_at', 'pk'],
            },
        ),
        migrations.AddField(
            model_name='archivefile',
            name='job',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='archive_file', to='relationships.job'),
        ),
        migrations.AddField(
            model_name='archivefile',
            name='source',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='files', to='relationships.source'),
        ),
        migrations.AddField(
            model_name='archivefile',
            name='user',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='archive_files', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(carry_files_and_merge, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='source',
            constraint=models.UniqueConstraint(condition=models.Q(('kind', 'archive'), models.Q(('account_external_id', ''), _negated=True)), fields=('user', 'platform', 'account_external_id'), name='source_one_archive_per_account'),
        ),
    ]
