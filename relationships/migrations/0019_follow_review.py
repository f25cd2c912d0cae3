import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """The review of whom the user follows: a decision per person, and when Rapport first saw each follow.

    No existing row changes meaning: ``following_seen_at`` starts empty (Rapport did not note it before), and
    the next sync or import that sees the follow fills it in.
    """

    dependencies = [
        ('relationships', '0018_lists_and_app_scopes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='identity',
            name='following_seen_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='FollowReview',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('decision', models.CharField(choices=[('kept', 'Kept'), ('quieter', 'Quieter'), ('unfollowed', 'Unfollowed'), ('skipped', 'Skipped')], max_length=16)),
                ('decided_at', models.DateTimeField()),
                ('show_again_at', models.DateTimeField(blank=True, null=True)),
                ('following_seen_at', models.DateTimeField(blank=True, null=True)),
                ('reason', models.TextField(blank=True)),
                ('identity', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='follow_reviews', to='relationships.identity')),
                ('person', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='follow_reviews', to='relationships.person')),
                ('source', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='follow_reviews', to='relationships.source')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='follow_reviews', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['user', 'show_again_at'], name='follow_review_holding_idx')],
                'constraints': [models.UniqueConstraint(fields=('user', 'person'), name='follow_review_one_per_person')],
            },
        ),
    ]
