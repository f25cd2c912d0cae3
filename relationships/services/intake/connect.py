"""Connecting accounts: Mastodon (OAuth or a pasted token) and Bluesky (app password).

Every function here checks the server address against the address policy
(``RAPPORT_ALLOW_PRIVATE_HOSTS``), talks to the platform only through a
connector or the OAuth helpers on the project's HTTP session, and stores
credentials only encrypted (``Source.set_credentials``). Failures a person
must read come out as :class:`ConnectError`, never as a platform exception,
and never with a secret in the message.
"""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from relationships.crypto import CredentialsUnreadable
from relationships.models import MastodonApp, Source
from relationships.platforms.base import Connector, get_connector
from relationships.platforms.errors import (
    AuthError,
    MalformedResponse,
    NotFound,
    PlatformError,
    RateLimited,
    TransientError,
    UnsafeURL,
)
from relationships.platforms.http import SafeSession, make_session, validate_base_url
from relationships.platforms.mastodon import oauth as mastodon_oauth
from relationships.platforms.ratelimit import LocalBudgets
from relationships.platforms.shared_budget import RedisBudgets
from relationships.platforms.records import BLUESKY, MASTODON, IdentityRecord

#: Test seam: extra keyword arguments for every ``make_session`` made here
#: (a fake clock and sleep). Empty in production.
SESSION_OPTIONS: dict[str, Any] = {}

#: In a web request, wait at most this long for a rate limit, and retry a
#: failed read once, before telling the user: they are watching a spinner.
INTERACTIVE = {"max_wait": 10.0, "retries": 1}

PLATFORM_NAMES = {MASTODON: "Mastodon", BLUESKY: "Bluesky"}


class ConnectError(Exception):
    """Connecting failed for a reason a person can act on.

    ``field`` names the form field the message belongs to, when there is one.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# ---------------------------------------------------------------- plumbing


def session(*, interactive: bool = True, **options: Any) -> SafeSession:
    """The project's HTTP session with the install's address policy and rate-limit budgets.

    ``interactive`` (a web request or a command waiting on it) gives up
    sooner; ``options`` go to :func:`~relationships.platforms.http.make_session`.
    """
    defaults = {"budgets": shared_budgets(), **(INTERACTIVE if interactive else {})}
    return make_session(settings.RAPPORT_ALLOW_PRIVATE_HOSTS, **{**defaults, **SESSION_OPTIONS, **options})


def shared_budgets() -> LocalBudgets | RedisBudgets:
    """The rate-limit budgets every platform call of this install spends from.

    With ``REDIS_URL``, in Redis: every worker on every machine, and the web
    processes, pace against one budget per platform host and client, and a
    429 pauses that host for all of them. Without (the embedded mode), this
    process's own.
    """
    return _budgets(settings.REDIS_URL)


@functools.cache
def _budgets(redis_url: str) -> LocalBudgets | RedisBudgets:
    return RedisBudgets(redis_url) if redis_url else LocalBudgets()


def connector_for(
    platform: str, base_url: str | None, credentials: dict, *, interactive: bool = True, **options: Any
) -> Connector:
    """A live connector for ``platform``; raises the platform's errors (UnsafeURL, AuthError, ...)."""
    cls = get_connector(platform)
    http = session(interactive=interactive, rate_scope=cls.rate_limit_scope, **options)
    return cls(base_url, credentials, session=http)


def check_server(url_or_domain: str, field: str = "instance") -> str:
    """``https://host[:port]`` of a server the user typed; ConnectError when it may not be contacted."""
    try:
        return validate_base_url(url_or_domain, settings.RAPPORT_ALLOW_PRIVATE_HOSTS)
    except UnsafeURL as e:
        raise ConnectError(f"This server address cannot be used: {e}.", field) from None
    except TransientError as e:
        raise ConnectError(f"This server cannot be found right now ({e}). Check the address and try again.", field) from None


def as_connect_error(error: PlatformError, platform: str, secret_field: str | None = None) -> ConnectError:
    """A platform error as a sentence for the connect form."""
    name = PLATFORM_NAMES.get(platform, platform)
    if isinstance(error, AuthError):
        return ConnectError(f"{name} refused the credentials: {error}.", secret_field)
    if isinstance(error, RateLimited):
        when = timezone.localtime(error.reset_at).strftime("%H:%M")
        return ConnectError(f"{name} asks Rapport to slow down. Try again after {when}.")
    if isinstance(error, TransientError):
        return ConnectError(f"{name} could not be reached right now ({error}). Try again in a moment.")
    if isinstance(error, UnsafeURL):
        field = "instance" if platform == MASTODON else "service"
        return ConnectError(f"This server address cannot be used: {error}.", field)
    if isinstance(error, (MalformedResponse, NotFound)):
        return ConnectError(f"The server did not answer like a {name} server: {error}.")
    return ConnectError(f"{name} refused: {error}.")


def connector_for_source(source: Source, credentials: dict, **options: Any) -> Connector:
    """:func:`connector_for` a stored account, which re-reads its stored credentials when
    a renewed session is refused (another process renewed it first)."""
    connector = connector_for(source.platform, source.base_url or None, credentials, **options)
    connector.stored_credentials = lambda: Source.objects.get(pk=source.pk).get_credentials()
    return connector


@sensitive_variables("credentials")
def save_credentials(source: Source, credentials: dict) -> None:
    """Encrypt and store ``credentials`` on ``source`` (and in the database) right away."""
    source.set_credentials(credentials)
    Source.objects.filter(pk=source.pk).update(credentials_ciphertext=source.credentials_ciphertext)


@sensitive_variables("credentials")
def store_account(user, platform: str, base_url: str, me: IdentityRecord, credentials: dict) -> Source:
    """Create the user's Source for the account ``me``, or refresh the one they already have.

    Reconnecting the same account keeps its Source, its cursors and what it
    saw; the state goes back to ``active``.
    """
    with transaction.atomic():
        source = (
            Source.objects.select_for_update()
            .filter(user=user, platform=platform, kind=Source.Kind.ACCOUNT, account_external_id=me.external_id)
            .order_by("pk")
            .first()
        )
        if source is None:
            source = Source(user=user, platform=platform, kind=Source.Kind.ACCOUNT, account_external_id=me.external_id)
        source.base_url = base_url
        source.handle = (me.handle or "")[:255]
        source.label = f"{PLATFORM_NAMES.get(platform, platform)} @{me.handle or me.external_id}"[:200]
        source.state = Source.State.ACTIVE
        source.state_reason = ""
        source.set_credentials(credentials)
        source.save()
    return source


# ---------------------------------------------------------------- Mastodon


@sensitive_variables("token", "credentials")
def connect_mastodon_token(user, instance: str, token: str) -> Source:
    """Connect the Mastodon account an access token belongs to; ConnectError when refused."""
    base_url = check_server(instance)
    token = (token or "").strip()
    if not token:
        raise ConnectError("Paste the access token.", "token")
    try:
        connector = connector_for(MASTODON, base_url, {"access_token": token})
        me = connector.verify()
    except PlatformError as e:
        raise as_connect_error(e, MASTODON, "token") from None
    return store_account(user, MASTODON, base_url, me, {"access_token": token})


@sensitive_variables("secret")
def mastodon_app(base_url: str, redirect_uri: str) -> MastodonApp:
    """Rapport's app on this instance for this redirect URI, registered on first use.

    Registration happens once per (instance, redirect URI): a stored app whose
    secret cannot be decrypted any more (keys replaced), or that was
    registered with other scopes than Rapport asks for now (an authorization
    may only ask for the app's own), is registered again.
    """
    app = MastodonApp.objects.filter(base_url=base_url, redirect_uri=redirect_uri).first()
    if app is not None:
        try:
            app.get_secret()
            if app.scopes == mastodon_oauth.SCOPES:
                return app
        except CredentialsUnreadable:
            pass
        app.delete()
    try:
        client_id, secret = mastodon_oauth.register_app(base_url, redirect_uri, session())
    except PlatformError as e:
        raise as_connect_error(e, MASTODON) from None
    fresh = MastodonApp(base_url=base_url, redirect_uri=redirect_uri, client_id=client_id, scopes=mastodon_oauth.SCOPES)
    fresh.set_secret(secret)
    try:
        with transaction.atomic():
            fresh.save()
    except IntegrityError:
        # Another request registered the same app meanwhile: use theirs, ours is simply unused.
        return MastodonApp.objects.get(base_url=base_url, redirect_uri=redirect_uri)
    return fresh


def start_mastodon_oauth(instance: str, redirect_uri: str, state: str) -> tuple[str, MastodonApp]:
    """Where to send the browser to grant access, and the app it is for."""
    base_url = check_server(instance)
    app = mastodon_app(base_url, redirect_uri)
    return mastodon_oauth.authorize_url(base_url, app.client_id, redirect_uri, state), app


@sensitive_variables("code", "token")
def finish_mastodon_oauth(user, app_id: int, code: str, redirect_uri: str) -> Source:
    """Trade the authorization code for a token and connect the account it belongs to."""
    app = MastodonApp.objects.filter(pk=app_id).first()
    if app is None or app.redirect_uri != redirect_uri:
        raise ConnectError("This authorization is for an app Rapport no longer knows. Please start again.")
    try:
        base_url = check_server(app.base_url)
        token = mastodon_oauth.exchange_code(base_url, app.client_id, app.get_secret(), redirect_uri, code, session())
        me = connector_for(MASTODON, base_url, {"access_token": token}).verify()
    except CredentialsUnreadable:
        app.delete()
        raise ConnectError("Rapport's registration on this server cannot be read any more. Please start again.") from None
    except PlatformError as e:
        raise as_connect_error(e, MASTODON) from None
    return store_account(user, MASTODON, base_url, me, {"access_token": token})


# ---------------------------------------------------------------- Bluesky


@sensitive_variables("app_password", "credentials", "stored")
def connect_bluesky(user, handle: str, app_password: str, service: str | None = None) -> Source:
    """Log in with an app password once, and keep the session (and the app password, to log in
    again should the session ever be lost) encrypted."""
    from relationships.platforms.bluesky.connector import DEFAULT_BASE_URL

    base_url = check_server(service, "service") if service else DEFAULT_BASE_URL
    handle = (handle or "").strip().lstrip("@")
    credentials = {"handle": handle, "app_password": (app_password or "").strip()}
    try:
        connector = connector_for(BLUESKY, base_url, credentials)
        me = connector.verify()
    except PlatformError as e:
        raise as_connect_error(e, BLUESKY, "app_password") from None
    stored = connector.updated_credentials or credentials
    return store_account(user, BLUESKY, base_url, me, stored)

