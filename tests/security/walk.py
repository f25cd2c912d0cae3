"""Every URL pattern of the URLconf, found by walking the resolver, and what the walk needs to request it.

The walk is the contract: a URL added to any urls.py is requested by the
access and CSRF tests the day it is added. The two short lists here say
which URLs are public (``PUBLIC``) and, for a URL with arguments, whose
object of which type fills them (``OBJECT_OF``); a URL with arguments that
is in neither makes ``test_every_url_with_arguments_says_whose_object_it_names``
fail until someone decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import URLResolver, get_resolver, reverse

# Pages anyone may open. Static files are not here: WhiteNoise answers them
# in its middleware before any URL is resolved (see test_headers.py). Nor is
# logout: Django's LogoutView is not exempt from LoginRequiredMiddleware, so
# it is walked like any page (an anonymous visitor is sent to log in).
PUBLIC = frozenset({
    "healthz",
    "login",
    "signup",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
})
# Django's admin: staff only, checked separately (test_url_walk.py, "admin").
ADMIN_NAMESPACE = "admin"


@dataclass(frozen=True)
class Route:
    route: str
    name: str | None
    namespace: str | None
    arguments: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.namespace}:{self.name}" if self.namespace else str(self.name)

    def __str__(self) -> str:
        return f"/{self.route} ({self.qualified})"


def routes() -> list[Route]:
    """Every pattern, includes followed, with the arguments of all its levels."""

    def walk(patterns, prefix: str, namespace: str | None, arguments: tuple[str, ...]):
        for entry in patterns:
            found = arguments + tuple(entry.pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace, found)
            else:
                yield Route(prefix + str(entry.pattern), entry.name, namespace, found)

    return list(walk(get_resolver().url_patterns, "", None, ()))


def admin_routes() -> list[Route]:
    return [r for r in routes() if r.namespace == ADMIN_NAMESPACE]


def walked_routes() -> list[Route]:
    """Everything that must be the signed-in owner's alone: all but the public pages and the admin."""
    return [r for r in routes() if r.namespace != ADMIN_NAMESPACE and r.name not in PUBLIC]


def _pk(attribute: str) -> Callable:
    return lambda world: {"pk": getattr(world, attribute).pk}


# URL name -> the owner's object its arguments name, as kwargs for reverse().
OBJECT_OF: dict[str, Callable] = {
    "person": _pk("person"),
    "person_notes": _pk("person"),
    "person_merge": _pk("person"),
    "person_split": _pk("person"),
    "person_hide": _pk("person"),
    "nudge_reset": _pk("nudge"),
    "nudge_follow": _pk("nudge"),
    "nudge_follow_confirm": _pk("nudge"),
    "nudge_snooze": _pk("nudge"),
    "nudge_dismiss": _pk("nudge"),
    "nudge_undo": _pk("nudge"),
    "source_remove": _pk("account"),
    "source_sync": _pk("account"),
    "job": _pk("job"),
    "job_progress": _pk("job"),
    "nudge_list": _pk("other_nudge"),
    "person_list": _pk("other"),
    "person_list_undo": lambda world: {"pk": world.other.pk, "attempt": world.listing.pk},
    "person_note_push": _pk("other"),
    "person_known": _pk("other"),
    "person_not_same": _pk("person"),
    # The review's actions name a person no connected account reaches: no POST of the walk calls a platform.
    "review_keep": _pk("other"),
    "review_quieter": _pk("other"),
    "review_unfollow": _pk("other"),
    "review_undo": _pk("other"),
    "review_skip": _pk("other"),
}

# URL name -> query string naming the owner's things in other ways (GET and POST alike).
QUERY: dict[str, Callable] = {
    "connect_mastodon": lambda world: {"source": world.account.pk},
    "connect_bluesky": lambda world: {"source": world.bluesky.pk},
    "people": lambda world: {"q": "zzyzx", "hidden": "on"},
    "settings_export": lambda world: {"what": "everything", "format": "json"},
    "person": lambda world: {"merge_q": "zzyzx"},
}


def payload(world) -> dict:
    """One POST body for every URL, naming the owner's rows wherever a form takes an id.

    No server address, handle, token or file: no POST of the walk can make a
    platform call or start an import.
    """
    return {
        "notes": "WRITTEN-BY-THE-WALK",
        "tags": "walk",
        "hidden": "on",
        "other": world.other.pk,
        "identity": world.identity.pk,
        "days": "3",
        "next": "/",
        "confirm": world.user.get_username(),
        "action": "save",
        "old_password": "wrong",
    }


def path_for(route: Route, world) -> str:
    """The URL of ``route`` on ``world``'s objects (raises KeyError for an unmapped URL with arguments)."""
    kwargs = OBJECT_OF[route.name](world) if route.arguments else {}
    return reverse(route.qualified, kwargs=kwargs)


def query_for(route: Route, world) -> dict:
    return QUERY[route.name](world) if route.name in QUERY else {}


# Dummy arguments, for tests that never reach the view (CSRF refuses first).
DUMMY = {"pk": 1, "attempt": 1, "object_id": "1", "content_type_id": "1", "id": "1", "uidb64": "MQ", "token": "set-password",
         "app_label": "relationships", "url": "x"}


def sample_path(route: Route) -> str:
    return reverse(route.qualified, kwargs={name: DUMMY[name] for name in route.arguments})
