"""Settings: time zone, scoring knobs with a preview, the digest, export, and deleting the account."""

from __future__ import annotations

import io
import tempfile

from django.contrib import messages
from django.contrib.auth import logout
from django.http import FileResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from relationships.forms.pages import DeleteAccountForm, ExportForm, SettingsForm
from relationships.models import Preferences
from relationships.services import account, export, preferences
from relationships.services.intake import runs
from relationships.services.scoring.rapport import weights_for
from relationships.views.common import render_page

# A file past this size spools to disk while it is written, so a large export never sits in memory.
_SPOOL_BYTES = 8 * 1024 * 1024


def _context(request, form=None, **extra) -> dict:
    prefs = Preferences.for_user(request.user)
    return {
        "form": form or SettingsForm(initial=SettingsForm.initial_for(request.user, prefs)),
        "prefs": prefs,
        "delete_form": DeleteAccountForm(user=request.user),
        "export_form": ExportForm(),
        "preview": None,
        **extra,
    }


@vary_on_headers("HX-Request")
def settings_page(request):
    """GET shows the settings; POST with action=preview shows the preview, with action=save saves."""
    if request.method != "POST":
        return render_page(request, "relationships/settings.html", _context(request))
    form = SettingsForm(request.POST)
    if not form.is_valid():
        partial = "preview" if request.POST.get("action") == "preview" else "form"
        # htmx swaps a 400 in place like a page shows it (the htmx-config in base.html).
        return render_page(request, "relationships/settings.html", _context(request, form), partial, status=400)
    data = form.cleaned_data
    if data["action"] == "preview":
        result = preferences.preview(
            request.user, weights=form.weights(), half_life_days=data["half_life_days"],
            follow_threshold=data["follow_threshold"],
        )
        return render_page(request, "relationships/settings.html", _context(request, form, preview=result), "preview")
    _save(request, form)
    return redirect("settings")


def _save(request, form: SettingsForm) -> None:
    user, data = request.user, form.cleaned_data
    prefs = Preferences.for_user(user)
    rescore = (
        form.weights() != weights_for(prefs)
        or data["half_life_days"] != prefs.half_life_days
        or data["follow_threshold"] != prefs.follow_threshold
    )
    Preferences.objects.filter(pk=prefs.pk).update(
        weights=form.weights(), half_life_days=data["half_life_days"], follow_threshold=data["follow_threshold"],
        digest_opt_in=data["digest_opt_in"], note_on_mastodon=data["note_on_mastodon"],
    )
    if data["email"] != user.email:
        user.email = data["email"]
        user.save(update_fields=["email"])
    notes = ["Settings saved."]
    if data["time_zone"] != prefs.time_zone:
        changed = preferences.change_time_zone(user, data["time_zone"])
        rescore = True
        notes.append(f"Days are now counted in {data['time_zone']} ({changed:,} interactions moved to another day).")
    if rescore:
        # Talks, tiers, scores and nudges depend on these; the worker recomputes them.
        runs.queue_recompute(user, description="Recompute after a settings change")
        notes.append("Your scores are being recomputed in the background.")
    messages.success(request, " ".join(notes))


def settings_export(request):
    """Download the user's data: people or interactions as CSV or JSON, or everything as JSON."""
    form = ExportForm(request.GET)
    if not form.is_valid():
        return render_page(request, "relationships/settings.html", _context(request, export_form=form), status=400)
    what, fmt = form.cleaned_data["what"], form.cleaned_data["format"]
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES, mode="w+b")
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
    if what == "people":
        export.write(request.user, fmt, text)
    elif what == "interactions":
        account.write_interactions(request.user, fmt, text)
    else:
        account.write_everything(request.user, text)
    text.flush()
    text.detach()
    spool.seek(0)
    stamp = timezone.now().strftime("%Y-%m-%d")
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    response = FileResponse(spool, as_attachment=True, filename=f"rapport-{what}-{stamp}.{fmt}",
                            content_type=content_type)
    return response


@require_POST
@sensitive_post_parameters("confirm")
def account_delete(request):
    """Delete the account and all its data once the user typed their username."""
    form = DeleteAccountForm(request.POST, user=request.user)
    if not form.is_valid():
        return render_page(request, "relationships/settings.html", _context(request, delete_form=form), status=400)
    account.delete_account(request.user)
    logout(request)
    messages.success(request, "Your account and all its data are deleted.")
    return redirect("login")
