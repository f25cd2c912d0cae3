""""Followed by Ana and Ben, whom you talk with": known followers, remembered for a while.

Asking the platforms takes a request or two per connected account, so the
pages ask for it lazily (an htmx request once the card is on screen) and the
answer is kept in the cache per person: a dashboard seen again asks no
platform. A platform that cannot answer (an outage, a 429, a missing scope)
leaves the line out, is asked again sooner, and never breaks a page.
Names only: never how many follow them.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

from relationships.models import Person
from relationships.services.follow import FollowRefused
from relationships.services.lists import known_followers

log = logging.getLogger(__name__)

#: How long an answer is kept: who follows whom changes slowly.
KEEP_SECONDS = 6 * 60 * 60
#: How long a platform that could not answer is left alone.
KEEP_FAILED_SECONDS = 5 * 60
_KEY = "rapport:known:{}:{}"


def followed_by(person: Person, user) -> list[tuple[int, str]]:
    """(person id, name) of the people the user talks with both ways who follow ``person``; [] when unknown."""
    key = _KEY.format(user.pk, person.pk)
    kept = cache.get(key)
    if kept is not None:
        return [tuple(pair) for pair in kept]
    try:
        answer = known_followers(person, user)
    except FollowRefused:
        return []
    found = [(p.pk, p.display_name) for p in answer.people]
    if answer.problems:
        log.info("Known followers of person %s only in part: %s", person.pk, "; ".join(answer.problems))
    cache.set(key, found, KEEP_FAILED_SECONDS if answer.problems else KEEP_SECONDS)
    return found

