from django.db import migrations, models


class Migration(migrations.Migration):
    """When a sync last read the whole list of accounts a connected account follows.

    No existing row changes meaning: every connected account starts unread, so its next sync reads the list.
    """

    dependencies = [
        ('relationships', '0021_lists_undo_and_notes_that_travel'),
    ]

    operations = [
        migrations.AddField(
            model_name='source',
            name='following_read_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
