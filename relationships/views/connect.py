"""Connecting accounts, syncing them, and acting on nudges (follow, snooze, dismiss; Add to a list: views/lists.py).

Every view checks ownership itself: a source or nudge of another user is a
404. Secrets posted here never come back in a page, a message or a log
(``sensitive_post_parameters``, password widgets that do not render values).
"""

from __future__ import annotations

import secrets
import time

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from relationships.forms.connect import (
    BlueskyConnectForm,
    ConfirmFollowForm,
    FollowForm,
    MastodonConnectForm,
    SnoozeForm,
)
from relationships.models import Nudge, Preferences, Source
from relationships.platforms.records import BLUESKY, MASTODON
from relationships.selectors.cards import nudge_cards
from relationships.services import follow, lists, notes
from relationships.services.intake import connect, sync
from relationships.services.scoring import nudges
from relationships.services.scoring.rapport import local_today
from relationships.web.middleware import CONTENT_SECURITY_POLICY

OAUTH_SESSION_KEY = "rapport_mastodon_oauth"
#: An authorization not completed within this time must start again.
OAUTH_MAX_AGE_SECONDS = 15 * 60


# ---------------------------------------------------------------- connecting


def _reconnecting(request, platform: str) -> Source | None:
    pk = request.GET.get("source") or request.POST.get("source")
    if not pk or not str(pk).isdigit():
        return None
    return get_object_or_404(Source, pk=pk, user=request.user, platform=platform, kind=Source.Kind.ACCOUNT)


def _allow_authorize_redirect(response):
    """The Mastodon form's answer is a redirect to the user's server: browsers
    check it against form-action, so this one page widens it to that scheme."""
    schemes = "https: http:" if settings.RAPPORT_ALLOW_PRIVATE_HOSTS else "https:"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'", f"form-action 'self' {schemes}"
    )
    return response


def _connected(request, source: Source):
    sync.queue_sync(source)
    messages.success(request, f"Connected {source}. The first sync has started; it may take a while.")
    return redirect("sources")


@sensitive_variables("token")
@sensitive_post_parameters("token")
@require_http_methods(["GET", "POST"])
def connect_mastodon(request):
    reconnect = _reconnecting(request, MASTODON)
    initial = {"instance": reconnect.base_url} if reconnect else {}
    form = MastodonConnectForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            instance, token = form.cleaned_data["instance"], form.cleaned_data["token"]
            try:
                if token:
                    return _connected(request, connect.connect_mastodon_token(request.user, instance, token))
                state = secrets.token_urlsafe(32)
                redirect_uri = request.build_absolute_uri(reverse("connect_mastodon_callback"))
                url, app = connect.start_mastodon_oauth(instance, redirect_uri, state)
            except connect.ConnectError as e:
                form.add_error(e.field if e.field in form.fields else None, str(e))
            else:
                request.session[OAUTH_SESSION_KEY] = {
                    "state": state, "app": app.pk, "redirect_uri": redirect_uri, "started": time.time(),
                }
                return _allow_authorize_redirect(redirect(url))
    response = render(request, "relationships/connect_mastodon.html", {"form": form, "reconnect": reconnect}, status=status)
    return _allow_authorize_redirect(response)


@require_http_methods(["GET"])
def connect_mastodon_callback(request):
    """Where the user's server sends them back with ``code`` and ``state``."""
    pending = request.session.pop(OAUTH_SESSION_KEY, None)
    state = request.GET.get("state", "")
    form = MastodonConnectForm()
    problem = None
    if not pending or not state or not constant_time_compare(state, str(pending.get("state", ""))):
        problem = "This sign-in did not start here, or it was already used. Nothing was connected; please start again."
    elif time.time() - float(pending.get("started", 0)) > OAUTH_MAX_AGE_SECONDS:
        problem = "This sign-in took too long and expired. Nothing was connected; please start again."
    elif request.GET.get("error"):
        problem = "Your server did not grant access, so nothing was connected."
    elif not request.GET.get("code"):
        problem = "Your server sent no authorization code. Nothing was connected; please start again."
    else:
        try:
            source = connect.finish_mastodon_oauth(
                request.user, pending["app"], request.GET["code"], pending["redirect_uri"]
            )
        except connect.ConnectError as e:
            problem = str(e)
        else:
            return _connected(request, source)
    context = {"form": form, "reconnect": None, "problem": problem}
    response = render(request, "relationships/connect_mastodon.html", context, status=400)
    return _allow_authorize_redirect(response)


@sensitive_variables("app_password")
@sensitive_post_parameters("app_password")
@require_http_methods(["GET", "POST"])
def connect_bluesky(request):
    reconnect = _reconnecting(request, BLUESKY)
    initial = {}
    if reconnect:
        from relationships.platforms.bluesky.connector import DEFAULT_BASE_URL

        own_server = reconnect.base_url if reconnect.base_url != DEFAULT_BASE_URL else ""
        initial = {"handle": reconnect.handle, "service": own_server}
    form = BlueskyConnectForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            app_password = data["app_password"]
            try:
                source = connect.connect_bluesky(request.user, data["handle"], app_password, data["service"] or None)
            except connect.ConnectError as e:
                form.add_error(e.field if e.field in form.fields else None, str(e))
            else:
                return _connected(request, source)
    return render(request, "relationships/connect_bluesky.html", {"form": form, "reconnect": reconnect}, status=status)


# ---------------------------------------------------------------- syncing


@require_POST
def source_sync(request, pk: int):
    """"Sync now": queue a sync unless one is queued or running already."""
    source = get_object_or_404(Source, pk=pk, user=request.user, kind=Source.Kind.ACCOUNT)
    if source.state in (Source.State.NEEDS_REAUTH, Source.State.DISABLED):
        if source.state == Source.State.NEEDS_REAUTH:
            message = f"{source} needs reconnecting before it can sync."
        else:
            message = f"{source} is disabled."
        if request.htmx:
            return render(request, "relationships/connect_sync_refused.html", {"message": message}, status=200)
        messages.error(request, message)
        return redirect("sources")
    job, created = sync.queue_sync(source)
    if request.htmx:
        return render(request, "relationships/sources.html#job", {"job": job})
    if created:
        messages.success(request, f"Syncing {source}…")
    else:
        messages.info(request, f"A sync of {source} is already under way.")
    return redirect("sources")


# ---------------------------------------------------------------- nudges


def _own_nudge(request, pk: int) -> Nudge:
    return get_object_or_404(Nudge.objects.select_related("person"), pk=pk, user=request.user)


def _back_url(request) -> str:
    """Where the button was (a safe ``next`` or Referer), else the dashboard."""
    for target in (request.POST.get("next"), request.headers.get("Referer")):
        if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
            return target
    return reverse("dashboard")


def _back(request):
    return redirect(_back_url(request))


def _card_context(request, nudge: Nudge, *, result=None, error: str = "", **extra) -> dict:
    """``extra``: ``listing`` (the Add to a list form, views/lists.py), ``note`` (the note a follow wrote)."""
    card = nudge_cards(Nudge.objects.filter(pk=nudge.pk))[0]
    return {
        **extra,
        "nudge": card, "result": result, "error": error, "undo": follow.undo_offered(card),
        "today": local_today(Preferences.for_user(request.user)),
        # Checked as the redirect is: the card's forms carry it on, and a full page shows them (_card_page).
        "next": _back_url(request),
    }


def _card(request, nudge: Nudge, *, result=None, error: str = "", status: int = 200, **extra):
    """The nudge's card as it is now, whole (name, evidence, every button), with what just happened."""
    context = _card_context(request, nudge, result=result, error=error, **extra)
    response = render(request, "relationships/includes/nudge_card.html", context, status=status)
    # After the swap, so the dashboard's counts see which cards are still open on screen.
    response["HX-Trigger-After-Settle"] = "nudge-changed"
    return response


def _card_page(request, nudge: Nudge, heading: str, *, result=None, error: str = "", **extra):
    """The card as a page of its own, for a button pressed without JavaScript: whole, with its Undo if any.

    Not a redirect with a message: the message had no name and no Undo, and the card's own buttons are forms.
    """
    context = {**_card_context(request, nudge, result=result, error=error, **extra), "heading": heading,
               "back": _back_url(request)}
    return render(request, "relationships/nudge_card_page.html", context)


def _answer(request, nudge: Nudge, *, error: str = "", success: str = "", status: int = 200):
    """What a card's button answers: the card for htmx, else a message and the way back."""
    if request.htmx:
        return _card(request, nudge, error=error, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, success)
    return _back(request)


@require_POST
def nudge_follow(request, pk: int):
    """Follow the nudge's person for real (or, for X, hand back the profile to follow by hand)."""
    nudge = _own_nudge(request, pk)
    form = FollowForm(request.POST)
    if not form.is_valid():
        return _answer(request, nudge, error="That account is not one of this person's.", status=400)
    try:
        result = follow.follow_person(nudge, request.user, identity_id=form.cleaned_data["identity"])
    except follow.FollowRefused as e:
        return _answer(request, nudge, error=str(e))
    note = notes.write_reason(result, request.user)
    if request.htmx:
        return _card(request, nudge, result=result, note=note)
    if result.state == follow.MANUAL:
        # Following by hand: the card as htmx shows it (evidence, profile link, "I followed them", Not now, Never).
        return _card_page(request, nudge, f"Follow {nudge.person.display_name}", result=result)
    if result.succeeded:
        # The card, not a redirect: its Undo is there for the moment a mistaken click can be taken back.
        return _card_page(request, nudge, nudge.person.display_name, result=result, note=note)
    messages.error(request, f"Could not follow {nudge.person.display_name}: {result.reason}")
    return _back(request)


@require_POST
def nudge_follow_confirm(request, pk: int):
    """"I followed them": the user followed by hand (X); record it and act on the nudge."""
    nudge = _own_nudge(request, pk)
    form = ConfirmFollowForm(request.POST)
    if not form.is_valid():
        return _answer(request, nudge, error="That account is not one of this person's.", status=400)
    try:
        result = follow.confirm_manual_follow(nudge, request.user, form.cleaned_data["identity"])
    except follow.FollowRefused as e:
        return _answer(request, nudge, error=str(e))
    if request.htmx:
        return _card(request, nudge, result=result)
    messages.success(request, f"{nudge.person.display_name}: {result.reason}")
    return _back(request)


@require_POST
def nudge_snooze(request, pk: int):
    nudge = _own_nudge(request, pk)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        return _answer(request, nudge, error="A snooze lasts 1 to 365 days.", status=400)
    days = form.cleaned_data["days"] or nudges.DEFAULT_SNOOZE_DAYS
    return _set_aside(request, nudge, lambda: nudges.snooze(nudge, days), "Not now")


@require_POST
def nudge_dismiss(request, pk: int):
    nudge = _own_nudge(request, pk)
    return _set_aside(request, nudge, lambda: nudges.dismiss(nudge), "Never")


def _set_aside(request, nudge: Nudge, act, heading: str):
    """Not now or Never: the card with its Undo (htmx), or a page holding it (no JavaScript)."""
    try:
        act()
    except nudges.NudgeStateError as e:
        return _answer(request, nudge, error=str(e))
    if request.htmx:
        return _card(request, nudge)
    return _card_page(request, nudge, f"{heading}: {nudge.person.display_name}")


@require_POST
def nudge_undo(request, pk: int):
    """Take back a Not now, a Never, or a Follow or an Add to a list just made: the nudge is open again
    (nudges.undo, lists.undo)."""
    nudge = _own_nudge(request, pk)
    if nudge.state != Nudge.State.ACTED:
        return _change(request, pk, nudges.undo, lambda nudge: f"Undone: {nudge.person.display_name} is back among your nudges.")
    try:
        result = lists.undo(nudge, request.user)
    except (nudges.NudgeStateError, follow.FollowRefused) as e:
        return _answer(request, nudge, error=str(e))
    if request.htmx:
        return _card(request, nudge, result=result)
    messages.success(request, f"Undone: {nudge.person.display_name} is back among your nudges. {result.reason}")
    return _back(request)


def _change(request, pk: int, change, success):
    """Apply ``change`` (a nudges service) to the user's nudge; answer with the card, or ``success(nudge)``."""
    nudge = _own_nudge(request, pk)
    try:
        change(nudge)
    except nudges.NudgeStateError as e:
        return _answer(request, nudge, error=str(e))
    return _answer(request, nudge, success=success(nudge))
