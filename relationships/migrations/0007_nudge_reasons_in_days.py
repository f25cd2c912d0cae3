"""Nudge reasons stored before talks were said as days get today's words.

A reason is written when its nudge is made and refreshed only while the
nudge is still called for, so old words would stay on open cards, in the
digest and in the history of acted nudges. The figure was always a number
of days: "You've talked with Ana 6 times" becomes "You've talked with Ana on
6 different days", the same number, in every state (an acted nudge keeps the
figure it was acted on). An open or snoozed nudge about someone who never
answered (a reconnect nudge made before it needed both sides) was never
about a talk: it gets the words of the person page for that one-way history.
"""

import re

from django.db import migrations

_OLD = re.compile(
    r"^You've talked with (?P<name>.*) (?P<n>once|twice|\d+ times)"
    r"(?P<rest> — follow them\?|, but not in the last \d+ days — say hello\?)$"
)
_PENDING = ("open", "snoozed")


def _count(words: str) -> int:
    return {"once": 1, "twice": 2}.get(words) or int(words.split()[0])


def forward(apps, schema_editor):
    # The live sentences module on purpose: this migration exists to write the
    # words the code now says, and it reads only a name and counts.
    from relationships.services.scoring.rapport import both_ways
    from relationships.services.scoring.sentences import on_days, talk_sentence

    Nudge = apps.get_model("relationships", "Nudge")
    Rapport = apps.get_model("relationships", "Rapport")
    changed = []
    for nudge in Nudge.objects.filter(kind__in=["follow", "reconnect"]).select_related("person").iterator():
        match = _OLD.match(nudge.reason)
        if match is None:
            continue  # already in today's words, or written by hand
        reason = f"You've talked with {match['name']} {on_days(_count(match['n']))}{match['rest']}"
        if nudge.state in _PENDING:
            row = Rapport.objects.filter(person_id=nudge.person_id).first()
            if row is not None and row.talks and not both_ways(row.inbound or {}, row.outbound or {}):
                reason = talk_sentence(nudge.person, row.talks, row.inbound or {}, row.outbound or {}) or reason
        nudge.reason = reason
        changed.append(nudge)
    Nudge.objects.bulk_update(changed, ["reason"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("relationships", "0006_merged_person"),
    ]

    # Backwards: the new words read correctly under the old code too.
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
