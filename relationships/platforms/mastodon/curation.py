"""Mastodon: lists, following without boosts, private notes and familiar followers.

What :class:`~relationships.platforms.mastodon.connector.MastodonConnector`
does beyond syncing and following, one function per connector method. Each
takes the connector: the account is found on the user's own instance as a
follow finds it, then asked for with the connector's session and token.

Scopes (asked for at connect time since lists and notes; a token from
before lacks them): ``read:lists`` / ``write:lists`` for lists,
``write:accounts`` for notes, ``read:follows`` for familiar followers.
Mastodon answers 403 ``This action is outside the authorized scopes`` (and
``WWW-Authenticate: ... error="insufficient_scope"``) without them: that
becomes :class:`~relationships.platforms.errors.MissingScope`, which asks
the user to re-authorize.

A list holds only accounts the user follows (or, since Mastodon 4.3, has
asked to follow): :func:`add_to_list` follows first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relationships.platforms.base import FAILED, FOLLOWING, LISTED, REQUESTED, FollowOutcome, ListOutcome, PlatformList
from relationships.platforms.errors import MissingScope, NotFound, PlatformError
from relationships.platforms.http import json_body, raise_for_status
from relationships.platforms.mastodon import classify as mc
from relationships.platforms.records import IdentityRecord

if TYPE_CHECKING:
    from relationships.platforms.mastodon.connector import MastodonConnector

#: Mastodon's AccountNote::COMMENT_SIZE_LIMIT.
NOTE_LIMIT = 2000
NOT_FOUND = "This account could not be found from your Mastodon server."
SCOPE_REFUSED = "outside the authorized scopes"
#: What each scope lets Rapport do, for the sentence that asks to re-authorize.
_SCOPE_USE = {
    "write:follows": "follow or unfollow anyone",
    "read:lists": "read your lists",
    "write:lists": "add people to your lists",
    "write:accounts": "write private notes",
    "read:follows": "see who follows an account",
}


def _scope_refused(response) -> bool:
    if response.status_code != 403:
        return False
    if "insufficient_scope" in response.headers.get("WWW-Authenticate", ""):
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and SCOPE_REFUSED in str(body.get("error") or "")


def missing_scope(scope: str) -> MissingScope:
    """The error for a token without ``scope``, worded for the user."""
    return MissingScope(
        f"Your Mastodon account was connected before Rapport could {_SCOPE_USE.get(scope, 'do this')}: "
        "re-authorize Rapport on Mastodon (connect the account again) to allow it.",
        scope=scope,
    )


def _error_text(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error") or "") if isinstance(body, dict) else ""


def _call(c: MastodonConnector, method: str, path: str, scope: str, **kwargs: Any):
    """One API call with the connector's token; a refused scope raises :func:`missing_scope`.

    A POST is retried on transient errors only through :meth:`SafeSession.retry`: every
    POST here is safe to repeat (follow, list add, note).
    """

    def send():
        response = c.http.request(method, c.base_url + path, headers=c._auth, **kwargs)
        if _scope_refused(response):
            raise missing_scope(scope)
        return response

    return c.http.retry(send) if method == "POST" else send()


OWN = "This is your own account."


def _resolved(c: MastodonConnector, external_id: str, handle: str | None) -> dict | None:
    """The account on the user's instance; PlatformError for their own (nothing here applies to it)."""
    account = c._resolve(external_id, handle)
    if account is not None and str(account.get("id")) == c.ctx.me_id:
        raise PlatformError(OWN, permanent=True)
    return account


def _relationship(c: MastodonConnector, account_id: str) -> dict:
    response = _call(c, "GET", "/api/v1/accounts/relationships", "read:follows", params={"id[]": account_id})
    raise_for_status(response, "reading whether you follow them")
    found = [r for r in json_body(response, list) if isinstance(r, dict) and str(r.get("id")) == account_id]
    return found[0] if found else {}


# ---------------------------------------------------------------- lists


def lists(c: MastodonConnector) -> list[PlatformList]:
    response = _call(c, "GET", "/api/v1/lists", "read:lists")
    raise_for_status(response, "reading your lists")
    return [_list(item) for item in json_body(response, list) if isinstance(item, dict) and item.get("id")]


def _list(item: dict) -> PlatformList:
    return PlatformList(id=str(item["id"]), name=str(item.get("title") or ""), exclusive=item.get("exclusive") is True)


def create_list(c: MastodonConnector, name: str, exclusive: bool) -> PlatformList:
    """The list ``name``; an existing list of that name (any case) is reused, as it is.

    A server before 4.2 ignores ``exclusive``: the list it answers has no
    ``exclusive`` field, so :attr:`PlatformList.exclusive` is False.
    """
    name = " ".join(name.split())
    if not name:
        raise PlatformError("A list needs a name.", permanent=True)
    for existing in lists(c):
        if existing.name.casefold() == name.casefold():
            return existing
    form = {"title": name, "replies_policy": "list", "exclusive": "true" if exclusive else "false"}
    response = _call(c, "POST", "/api/v1/lists", "write:lists", data=form)
    if response.status_code == 422:
        # List::PER_ACCOUNT_LIMIT (50): "Validation failed: You have reached the maximum number of lists".
        raise PlatformError(
            f"Mastodon did not make the list: {_error_text(response) or 'it refused the name'}. "
            "Add them to one of your lists instead.",
            status=422, permanent=True,
        )
    raise_for_status(response, "making the list")
    return _list(json_body(response, dict))


def add_to_list(c: MastodonConnector, list_id: str, external_id: str, handle: str | None) -> ListOutcome:
    account = c._resolve(external_id, handle)
    if account is None or str(account.get("id")) == c.ctx.me_id:
        return ListOutcome(FAILED, OWN if account else NOT_FOUND)
    account_id = str(account["id"])
    relationship = _relationship(c, account_id)
    followed = False
    if not (relationship.get("following") or relationship.get("requested")):
        outcome = c._follow_account(account)
        if outcome.state == FAILED:
            return ListOutcome(FAILED, outcome.reason)
        relationship, followed = {"following": outcome.state == FOLLOWING, "requested": outcome.state == REQUESTED}, True
    waiting = not relationship.get("following")
    response = _call(c, "POST", f"/api/v1/lists/{list_id}/accounts", "write:lists", data={"account_ids[]": account_id})
    if response.status_code == 404:
        if waiting:
            # Servers before 4.3 list only accounts already followed, not requested.
            return ListOutcome(FAILED, "They approve followers by hand and have not yet: Mastodon adds them to a "
                               "list once they accept. The follow request is on its way.", followed=followed)
        return ListOutcome(FAILED, "This list is not on your Mastodon server any more.", followed=followed)
    if response.status_code == 422 and "taken" not in _error_text(response):
        return ListOutcome(FAILED, f"Mastodon did not add them to the list: {_error_text(response)}.", followed=followed)
    if response.status_code != 422:
        # 422 "Account has already been taken": in the list already, which is what was asked.
        raise_for_status(response, "adding to the list")
    if waiting:
        return ListOutcome(REQUESTED, "Listed; they approve followers by hand, so the follow request is waiting.",
                           followed=followed)
    return ListOutcome(LISTED, "Followed and listed." if followed else "Listed.", followed=followed)


def remove_from_list(c: MastodonConnector, list_id: str, external_id: str, handle: str | None) -> None:
    """Take the account out of the list; a list or an account gone means it is not in it: done."""
    account = _resolved(c, external_id, handle)
    if account is None:
        return
    response = _call(c, "DELETE", f"/api/v1/lists/{list_id}/accounts", "write:lists",
                     params={"account_ids[]": str(account["id"])})
    if response.status_code == 404:
        return
    raise_for_status(response, "taking them out of the list")


# ---------------------------------------------------------------- quieter, notes, familiar followers


def follow_quietly(c: MastodonConnector, external_id: str, handle: str | None) -> FollowOutcome:
    account = c._resolve(external_id, handle)
    if account is None or str(account.get("id")) == c.ctx.me_id:
        return FollowOutcome(FAILED, OWN if account else NOT_FOUND)
    outcome = c._follow_account(account, reblogs=False)
    if outcome.state == FOLLOWING:
        return FollowOutcome(FOLLOWING, "Following, without their boosts.")
    return outcome


def set_note(c: MastodonConnector, external_id: str, handle: str | None, text: str) -> None:
    """Write ``text`` into the private note, after what the note holds already (never over it).

    Mastodon's note is one text that a POST replaces: what the user wrote
    there in another app is kept, and a text the note already holds is not
    written twice.
    """
    account = _resolved(c, external_id, handle)
    if account is None:
        raise NotFound(NOT_FOUND)
    current = str(_relationship(c, str(account["id"])).get("note") or "").strip()
    if text.strip() in current:
        return
    text = f"{current}\n\n{text}" if current else text
    if len(text) > NOTE_LIMIT:
        raise PlatformError(f"Mastodon keeps notes of up to {NOTE_LIMIT} characters; this one would be "
                            f"{len(text)} with what the note holds already.", permanent=True)
    response = _call(c, "POST", f"/api/v1/accounts/{account['id']}/note", "write:accounts", data={"comment": text})
    if response.status_code == 404:
        raise NotFound(NOT_FOUND, status=404)
    raise_for_status(response, "writing the note")
    if json_body(response, dict).get("note") != text:
        raise PlatformError("The server did not keep the note.", permanent=False)


def known_followers(c: MastodonConnector, external_id: str, handle: str | None) -> list[IdentityRecord]:
    account = _resolved(c, external_id, handle)
    if account is None:
        raise NotFound(NOT_FOUND)
    response = _call(c, "GET", "/api/v1/accounts/familiar_followers", "read:follows", params={"id[]": account["id"]})
    raise_for_status(response, "reading who follows them")
    found = []
    for entry in json_body(response, list):
        if isinstance(entry, dict) and str(entry.get("id")) == str(account["id"]):
            found.extend(mc.identity(a, c.local_domain) for a in entry.get("accounts") or () if isinstance(a, dict))
    return found
