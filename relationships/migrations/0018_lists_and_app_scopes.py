from django.db import migrations, models

#: The scopes every app registered before lists and notes was registered with
#: (platforms/mastodon/oauth.py until then).
SCOPES_BEFORE_LISTS = "read:accounts read:notifications read:statuses read:favourites read:follows read:search write:follows"


class Migration(migrations.Migration):
    """FollowAttempt records Add to a list and Quieter as well as Follow, and a nudge can be acted on
    by listing; MastodonApp remembers its scopes.

    Every earlier attempt was a follow (the new ``action`` defaults to it).
    Every app registered earlier was registered with the scopes of the time:
    they are written on it, so connect registers it again for the new ones.
    """

    dependencies = [
        ('relationships', '0017_interaction_kind_words'),
    ]

    operations = [
        migrations.AddField(
            model_name='followattempt',
            name='action',
            field=models.CharField(choices=[('follow', 'Follow'), ('list', 'List'), ('quieter', 'Quieter')], default='follow', max_length=16),
        ),
        migrations.AddField(
            model_name='followattempt',
            name='list_id',
            field=models.CharField(blank=True, max_length=512),
        ),
        migrations.AddField(
            model_name='followattempt',
            name='list_name',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name='followattempt',
            name='state',
            field=models.CharField(choices=[('pending', 'Pending'), ('following', 'Following'), ('requested', 'Requested'), ('listed', 'Listed'), ('failed', 'Failed'), ('undone', 'Undone')], default='pending', max_length=16),
        ),
        migrations.AlterField(
            model_name='nudge',
            name='outcome',
            field=models.CharField(blank=True, choices=[('following', 'Following'), ('requested', 'Requested'), ('listed', 'Listed'), ('replied', 'Replied'), ('failed', 'Failed')], max_length=32),
        ),
        migrations.AddField(
            model_name='mastodonapp',
            name='scopes',
            field=models.CharField(blank=True, default=SCOPES_BEFORE_LISTS, max_length=500),
            preserve_default=False,
        ),
    ]
