"""Forms of connecting accounts and acting on nudges.

Secrets (access tokens, app passwords) use ``PasswordInput(render_value=False)``:
a form shown again after an error never carries them back into the page.
"""

from __future__ import annotations

import re

from django import forms

from relationships.services.intake import connect

APP_PASSWORD_RE = re.compile(r"^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# A domain handle (two labels or more) or a DID.
HANDLE_RE = re.compile(rf"^(did:[a-z]+:[A-Za-z0-9._:%-]+|{_LABEL}(?:\.{_LABEL})+)$")


def _server(value: str, field: str) -> str:
    try:
        return connect.check_server(value, field)
    except connect.ConnectError as e:
        raise forms.ValidationError(str(e)) from None


class MastodonConnectForm(forms.Form):
    instance = forms.CharField(
        label="Your Mastodon server",
        max_length=255,
        help_text="The address of your server, e.g. mastodon.social.",
        widget=forms.TextInput(attrs={"autocomplete": "url", "placeholder": "mastodon.social", "spellcheck": "false"}),
    )
    token = forms.CharField(
        label="Access token (optional)",
        required=False,
        max_length=500,
        strip=True,
        help_text=(
            "Leave empty to sign in on your server. Or paste a token you made under Preferences → Development, "
            "with the scopes " + connect.mastodon_oauth.SCOPES + "."
        ),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    def clean_instance(self) -> str:
        return _server(self.cleaned_data["instance"], "instance")


class BlueskyConnectForm(forms.Form):
    handle = forms.CharField(
        label="Your Bluesky handle",
        max_length=253,
        help_text="e.g. alice.bsky.social",
        widget=forms.TextInput(attrs={"autocomplete": "username", "placeholder": "alice.bsky.social", "spellcheck": "false"}),
    )
    app_password = forms.CharField(
        label="App password",
        max_length=19,
        help_text=(
            "Never your main password. Create an app password in Bluesky under Settings → Privacy and security → "
            "App passwords; it looks like xxxx-xxxx-xxxx-xxxx. Tick “Allow access to your direct messages” if "
            "Rapport should count your DMs too."
        ),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "placeholder": "xxxx-xxxx-xxxx-xxxx"}),
    )
    service = forms.CharField(
        label="Your PDS address (optional)",
        required=False,
        max_length=255,
        help_text="Only if you host your own Bluesky server (PDS). Leave empty for bsky.social accounts.",
        widget=forms.TextInput(attrs={"autocomplete": "url", "spellcheck": "false"}),
    )

    def clean_handle(self) -> str:
        handle = self.cleaned_data["handle"].strip().lstrip("@")
        if not HANDLE_RE.match(handle):
            raise forms.ValidationError("A handle looks like alice.bsky.social (or your own domain).")
        return handle.lower() if not handle.startswith("did:") else handle

    def clean_app_password(self) -> str:
        password = self.cleaned_data["app_password"].strip().lower()
        if not APP_PASSWORD_RE.match(password):
            raise forms.ValidationError(
                "That is not an app password: they look like xxxx-xxxx-xxxx-xxxx. Never enter your main password here."
            )
        return password

    def clean_service(self) -> str:
        value = self.cleaned_data.get("service") or ""
        return _server(value, "service") if value.strip() else ""


class FollowForm(forms.Form):
    identity = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class ConfirmFollowForm(forms.Form):
    identity = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class SnoozeForm(forms.Form):
    days = forms.IntegerField(required=False, min_value=1, max_value=365, initial=30, label="Snooze for (days)")


class ListForm(forms.Form):
    """Add to a list: one of the user's lists on the platform (``list_id``), or a new one (``new_list``)."""

    list_id = forms.CharField(required=False, max_length=512, label="One of your lists")
    new_list = forms.CharField(required=False, max_length=64, label="Or a new list named",
                               widget=forms.TextInput(attrs={"autocomplete": "off"}))
    exclusive = forms.BooleanField(required=False, label="Keep their posts out of my home feed (an exclusive list)")
