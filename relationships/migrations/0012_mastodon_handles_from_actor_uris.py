"""Mastodon identities known only by their actor URI get the handle it names.

Archive imports stored accounts they never saw mentioned (a boost's author,
a reply's parent author) without a handle, so the person was named, and
shown, by the raw URI. ``https://host/users/name`` names ``name@host``: the
identity gets that handle, and a person still called by the raw URI (the
automatic name; a name the user typed is never touched) is called by it.
Reversing leaves the better handles in place.

The pattern is written out here, not imported: a migration must keep
meaning what it meant when it ran.
"""

import re

from django.db import migrations
from django.db.models import Q

ACTOR_URI = re.compile(r"^https?://(?P<host>[^/?#@]+)/users/(?P<name>[\w.-]+)$")
BATCH = 500


def handles_from_actor_uris(apps, schema_editor):
    Identity = apps.get_model("relationships", "Identity")
    Person = apps.get_model("relationships", "Person")
    unnamed = Identity.objects.filter(
        Q(handle__isnull=True) | Q(handle="") | Q(handle__startswith="http"),
        platform="mastodon",
        external_id__contains="/users/",
    ).order_by("pk")
    changed = []
    for identity in unnamed.iterator(chunk_size=BATCH):
        match = ACTOR_URI.match(identity.external_id)
        if not match:
            continue
        raw = identity.handle or identity.external_id
        identity.handle = f"{match['name']}@{match['host'].lower()}"
        changed.append((identity, raw))
        if len(changed) >= BATCH:
            _save(Identity, Person, changed)
            changed = []
    _save(Identity, Person, changed)


def _save(Identity, Person, changed):
    if not changed:
        return
    Identity.objects.bulk_update([identity for identity, _ in changed], ["handle"])
    for identity, raw in changed:
        Person.objects.filter(pk=identity.person_id, name__in={raw, identity.external_id}).update(
            name=identity.display_name or identity.handle
        )


class Migration(migrations.Migration):

    dependencies = [
        ("relationships", "0011_follow_attempt_undo_and_source"),
    ]

    operations = [
        migrations.RunPython(handles_from_actor_uris, migrations.RunPython.noop),
    ]
