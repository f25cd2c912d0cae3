"""What the views share: a page or its htmx partial, and the history entries htmx pushes."""

from __future__ import annotations

import functools

from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def wants_partial(request) -> bool:
    """An htmx request that swaps part of the page; Back and Forward (a history restore) need the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def push_url_only_when_changed(view):
    """For a view whose htmx requests push their URL (hx-push-url): no new history entry for the address shown.

    htmx pushes whatever the element says, even the same URL again: typing a search and then leaving the field
    (its "change" event resubmits the form) left two entries, so Back had to be pressed twice. The answer's
    HX-Push-Url: false overrides the attribute. Outside page_cache, which would keep the header for every page.
    """

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if wants_partial(request) and request.htmx.current_url_abs_path == request.get_full_path():
            response["HX-Push-Url"] = "false"
        patch_vary_headers(response, ("HX-Current-URL",))
        return response

    return wrapped


def render_page(request, template: str, context: dict, partial: str | None = None, status: int = 200):
    """The whole page, or ``template#partial`` for an htmx request (one view, one template).

    The answer varies on the htmx headers, so no cache (the browser's
    included) ever hands the partial out as the page, or the page as the partial.
    """
    name = f"{template}#{partial}" if partial and wants_partial(request) else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))
    return response
