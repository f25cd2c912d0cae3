"""After new interactions: rapport, then nudges, then the dashboard's community figures.

Every path that stores interactions ends here, a recompute job, a sync, the
demo's history and the ``import_archive`` command alike, so the chain runs in
one order and is said in one sentence. The order is the data's: nudges read
the stored Rapport rows, and the community figures read their tiers (the
dashboard shows stored figures only, so they are refreshed with the scores).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from relationships.models import Preferences
from relationships.services.intake.jobs import counted
from relationships.services.scoring import community, nudges, rapport


@dataclass(frozen=True)
class Rescored:
    """What the chain did: Rapport rows written, nudges opened, over how many days."""

    people: int
    opened: int
    days: int = 1

    def __str__(self) -> str:
        """"Rapport recomputed for 1,208 people; 3 new nudges." (with " over the last 15 days" for a history)."""
        over = f" over the last {self.days} days" if self.days > 1 else ""
        return (
            f"Rapport recomputed for {counted(self.people, 'person', 'people')}; "
            f"{counted(self.opened, 'new nudge', none='no new nudges')}{over}."
        )


def rescore(
    user, person_ids: Iterable[int] | None = None, *, days: int = 1, today: dt.date | None = None, progress=None
) -> Rescored:
    """Recompute ``person_ids``' rapport (None: everyone), open the nudges it calls for, refresh the community figures.

    Nudges are generated for each of the last ``days`` days, oldest first: the
    daily budget then opens what a user who had run Rapport all along would
    have seen (the demo's history). ``today`` (the user's local date) defaults
    to now in the user's time zone. ``progress`` (a ``jobs.Progress``), if
    given, counts the steps: the recompute, each day's nudges, the figures.
    """
    steps = days + 2
    if progress is not None:
        progress.update(done=0, total=steps)
    people = rapport.recompute(user, person_ids, today=today)
    if progress is not None:
        progress.update(done=1)
    if today is None and days > 1:
        today = rapport.local_today(Preferences.for_user(user))
    opened = 0
    for step, back in enumerate(range(days - 1, -1, -1), start=2):
        day = today - dt.timedelta(days=back) if today else None
        opened += sum(nudges.generate(user, today=day).values())
        if progress is not None:
            progress.update(done=step)
    community.store_community(user, today=today)
    if progress is not None:
        progress.update(done=steps)
    return Rescored(people, opened, days)
