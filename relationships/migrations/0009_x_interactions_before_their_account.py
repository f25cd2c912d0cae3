"""Removes the X interactions earlier imports credited to accounts that did not exist yet.

X fills in a mention's account when an archive is made, by screen name: a
name given up and taken later pointed old mentions at the newcomer, and a
suspended or deleted account came as id ``-1``, one "account" every such
mention merged into. The importer now skips both; re-importing cannot undo
rows already stored (ingest never rewrites a known interaction), so this
removes them here:

* every X interaction of identity ``-1``, and that identity;
* every X interaction dated before its account was made (the account's
  snowflake id says when; ids from before November 2010 say nothing and are
  left alone);
* the other rows of the same post named one person fewer: their
  ``named_count`` drops by the rows removed;
* an identity left with no interaction and no follow state, and then a person
  left with no identity and nothing the user wrote (notes, tags).

Each user whose rows changed gets a queued recompute job, so their rapport
figures are recomputed by the first worker that runs after the upgrade (the
stale-job sweep sends a job queued without a task), not at the nightly refresh.
"""

import datetime as dt
from collections import Counter

from django.db import migrations
from django.db.models import F, Q
from django.db.models.functions import Greatest

_TWITTER_EPOCH_MS = 1288834974657
_BATCH = 200
# An archive's created_at has whole seconds, a snowflake milliseconds.
_SLACK = dt.timedelta(seconds=1)


def _account_made(external_id):
    """When an X account was made, from its snowflake id; None for older (sequential) or odd ids."""
    if not (external_id.isascii() and external_id.isdecimal()) or len(external_id) > 20 or int(external_id) < 2**40:
        return None
    return dt.datetime.fromtimestamp(((int(external_id) >> 22) + _TWITTER_EPOCH_MS) / 1000, tz=dt.timezone.utc)


def _batches(values):
    values = list(values)
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


def _wrong_interactions(Identity, Interaction):
    """(pk, user id, post id, identity id) of every X interaction no account could have had."""
    fields = ("pk", "user_id", "external_id", "identity_id")
    not_accounts = Identity.objects.filter(platform="x", external_id__startswith="-").values_list("pk", flat=True)
    wrong = list(Interaction.objects.filter(identity_id__in=list(not_accounts)).values_list(*fields))
    made = {}
    for pk, external_id in Identity.objects.filter(platform="x").values_list("pk", "external_id").iterator():
        moment = _account_made(external_id)
        if moment is not None:
            made[pk] = moment
    for batch in _batches(made):
        before = Q()
        for pk in batch:
            before |= Q(identity_id=pk, occurred_at__lt=made[pk] - _SLACK)
        wrong += Interaction.objects.filter(before).values_list(*fields)
    return wrong


def forwards(apps, schema_editor):
    Identity = apps.get_model("relationships", "Identity")
    Interaction = apps.get_model("relationships", "Interaction")
    Person = apps.get_model("relationships", "Person")
    Job = apps.get_model("relationships", "Job")
    wrong = _wrong_interactions(Identity, Interaction)
    identities = {identity for *_rest, identity in wrong}
    people = set()
    for batch in _batches(identities):
        people.update(Identity.objects.filter(pk__in=batch).values_list("person_id", flat=True))
    for batch in _batches(pk for pk, *_rest in wrong):
        Interaction.objects.filter(pk__in=batch).delete()
    for (user_id, post), removed in Counter((user, post) for _pk, user, post, _identity in wrong).items():
        Interaction.objects.filter(user_id=user_id, platform="x", external_id=post, named_count__gt=1).update(
            named_count=Greatest(F("named_count") - removed, 1)
        )
    Identity.objects.filter(platform="x", external_id__startswith="-").delete()
    for batch in _batches(identities):
        Identity.objects.filter(pk__in=batch, interactions__isnull=True).exclude(
            Q(i_follow=True) | Q(follows_me=True) | Q(blocked=True) | Q(muted=True)
        ).delete()
    for batch in _batches(people):
        empty = Person.objects.filter(pk__in=batch, identities__isnull=True, notes="").values_list("pk", "tags")
        Person.objects.filter(pk__in=[pk for pk, tags in empty if not tags]).delete()
    for user_id in sorted({user for _pk, user, _post, _identity in wrong}):
        job = Job.objects.create(
            user_id=user_id, kind="recompute", task_name="relationships.recompute",
            description="Recompute rapport after removing X mentions of accounts made later",
        )
        Job.objects.filter(pk=job.pk).update(task_kwargs={"job_id": job.pk})


class Migration(migrations.Migration):
    dependencies = [
        ("relationships", "0008_rapport_two_way_ranking"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True),
    ]
