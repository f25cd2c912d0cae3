"""Mastodon OAuth: register the app on an instance, send the user to authorize, trade the code.

Done with the project's session rather than ``Mastodon.create_app`` /
``log_in``: ``create_app`` reads the body without checking the status (a
refused redirect URI became a KeyError) and ``log_in`` hides every failure
behind ``MastodonIllegalArgumentError``.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from relationships.platforms.errors import AuthError, MalformedResponse
from relationships.platforms.http import SafeSession, json_body, raise_for_status

#: PLATFORMS.md 1.2: the least the connector needs, plus lists and private
#: notes (mastodon/curation.py). Sent identically to /api/v1/apps,
#: /oauth/authorize and /oauth/token; an app registered with another set is
#: registered again (services/intake/connect.py).
SCOPES = (
    "read:accounts read:notifications read:statuses read:favourites read:follows read:search write:follows"
    " read:lists write:lists write:accounts"
)
CLIENT_NAME = "Rapport"
_SCOPE_SETS = {"read": "read:", "write": "write:"}
_FOLLOW_SCOPE = {"read:blocks", "read:follows", "read:mutes", "write:blocks", "write:follows", "write:mutes"}


def origin(base_url: str) -> str:
    """``scheme://host[:port]`` of a URL or bare domain."""
    parts = urlsplit(base_url if "://" in base_url else f"https://{base_url}")
    return f"{parts.scheme}://{parts.netloc}"


def register_app(base_url: str, redirect_uri: str, session: SafeSession, *, website: str | None = None) -> tuple[str, str]:
    """Register Rapport on one instance; return ``(client_id, client_secret)``. Cache the pair per instance."""
    data = {"client_name": CLIENT_NAME, "redirect_uris": redirect_uri, "scopes": SCOPES}
    if website:
        data["website"] = website
    response = session.post(f"{origin(base_url)}/api/v1/apps", data=data)
    raise_for_status(response, "registering the app")
    body = json_body(response, dict)
    if not body.get("client_id") or not body.get("client_secret"):
        raise MalformedResponse("app registration answered no client credentials")
    return str(body["client_id"]), str(body["client_secret"])


def authorize_url(base_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where to send the user's browser to grant access; the instance redirects
    back to ``redirect_uri`` with ``code`` and ``state``."""
    query = urlencode(
        {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": SCOPES, "state": state}
    )
    return f"{origin(base_url)}/oauth/authorize?{query}"


def exchange_code(
    base_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str, session: SafeSession
) -> str:
    """Trade the authorization ``code`` for an access token.

    Raises :class:`AuthError` when the code or the client is refused (the
    user must start again) or when the server granted fewer scopes than asked.
    """
    response = session.post(
        f"{origin(base_url)}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
        },
    )
    if response.status_code in (400, 401, 403):
        raise AuthError(f"the server refused the authorization ({response.status_code})", status=response.status_code)
    raise_for_status(response, "exchanging the authorization code")
    body = json_body(response, dict)
    token = body.get("access_token")
    if not token:
        raise MalformedResponse("token exchange answered no access token")
    missing = set(SCOPES.split()) - _expand_scopes(str(body.get("scope") or SCOPES))
    if missing:
        raise AuthError(f"the server did not grant {' '.join(sorted(missing))}")
    return str(token)


def _expand_scopes(granted: str) -> set[str]:
    scopes = set(granted.split())
    wanted = set(SCOPES.split())
    for parent, prefix in _SCOPE_SETS.items():
        if parent in scopes:
            scopes |= {s for s in wanted if s.startswith(prefix)}
    if "follow" in scopes:
        scopes |= _FOLLOW_SCOPE
    return scopes
