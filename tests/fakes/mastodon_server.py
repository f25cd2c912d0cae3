"""A fake Mastodon 4.6 server: the endpoints Rapport uses, shaped like the
answers recorded in /work/shared/samples/mastodon/.

The user is ``alice`` (token :attr:`FakeMastodon.token`). Tests add people
and posts with :meth:`add_account`, :meth:`add_status`, :meth:`favourite`,
:meth:`follow_alice` ...; notifications for alice are created the way the
server does it (a status mentioning her, a favourite of her post), or
directly with :meth:`add_notification`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from typing import Any
from urllib.parse import urlencode

from tests.fakes.base import EPOCH, FakeServer, Reply, Seen
from tests.fakes.mastodon_curation import MastodonCuration

ME = "alice"


def _truthy(value: str | None) -> bool:
    """Rails' boolean casting: Mastodon.py sends 1, browsers and curl send true."""
    return (value or "").lower() in ("1", "true", "t", "on")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class FakeMastodon(MastodonCuration, FakeServer):
    def __init__(self, clock=None):
        super().__init__(clock)
        self._init_curation()
        self.accounts: dict[str, dict] = {}
        self.statuses: dict[str, dict] = {}
        self.notifications: list[dict] = []
        self.favourites: list[tuple[int, str]] = []  # (internal id, status id): alice's likes
        self.relationships: dict[str, dict] = {}
        #: account id -> the id of alice's follow row: what /following pages by (newest follow first).
        self.follow_rows: dict[str, int] = {}
        self._follow_row_ids = itertools.count(7000)
        self.follow_calls: list[str] = []
        self.unfollow_calls: list[str] = []
        self.apps: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.tokens: set[str] = set()
        self.revoked: set[str] = set()
        self.token = "alice-token-" + secrets.token_hex(4)
        self._ids = itertools.count(1)
        self._time = EPOCH - dt.timedelta(days=30)
        self.me: dict = {}

    # -------------------------------------------------------- data

    def seed(self) -> None:
        self.me = self.add_account(ME, display_name="Alice")
        self.tokens.add(self.token)

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def next_time(self, created_at: dt.datetime | None = None) -> dt.datetime:
        if created_at is not None:
            return created_at
        self._time += dt.timedelta(minutes=1)
        return self._time

    def _snowflake(self, moment: dt.datetime) -> str:
        return str((int(moment.timestamp() * 1000) << 16) + next(self._ids) % 65536)

    def add_account(
        self,
        username: str,
        domain: str | None = None,
        *,
        display_name: str = "",
        locked: bool = False,
        bot: bool = False,
        known: bool = True,
        with_uri: bool = True,
    ) -> dict:
        """An account; remote when ``domain`` is given. ``known=False``: only a resolving search finds it."""
        account_id = self._snowflake(EPOCH)
        local = domain is None
        acct = username if local else f"{username}@{domain}"
        account = {
            "id": account_id,
            "username": username,
            "acct": acct,
            "display_name": display_name,
            "locked": locked,
            "bot": bot,
            "discoverable": None,
            "indexable": False,
            "group": False,
            "created_at": "2026-08-01T00:00:00.000Z",
            "note": "",
            "url": f"{self.url}/@{username}" if local else f"https://{domain}/@{username}",
            "uri": f"{self.url}/ap/users/{account_id}" if local else f"https://{domain}/users/{username}",
            "avatar": f"{self.url}/avatars/original/missing.png",
            "avatar_static": f"{self.url}/avatars/original/missing.png",
            "header": f"{self.url}/headers/original/missing.png",
            "header_static": f"{self.url}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": 0,
            "last_status_at": "2026-08-01",
            "emojis": [],
            "fields": [],
            "_known": known,
        }
        if not with_uri:
            del account["uri"]
        self.accounts[account_id] = account
        return account

    def add_status(
        self,
        account: dict,
        text: str = "hello",
        *,
        mentions: list[dict] = (),
        in_reply_to: dict | None = None,
        quote: dict | None = None,
        reblog: dict | None = None,
        visibility: str = "public",
        created_at: dt.datetime | None = None,
        notify: bool = True,
    ) -> dict:
        """A status as the server stores it; alice gets the notification Mastodon would send."""
        moment = self.next_time(created_at)
        status_id = self._snowflake(moment)
        reply_account = None
        if in_reply_to is not None:
            parent_author = in_reply_to["account"]
            # Mastodon's caveat: a self-reply carries the thread's other side down the chain.
            if parent_author["id"] == account["id"] and in_reply_to.get("in_reply_to_account_id"):
                reply_account = in_reply_to["in_reply_to_account_id"]
            else:
                reply_account = parent_author["id"]
        status = {
            "id": status_id,
            "created_at": _iso(moment),
            "in_reply_to_id": in_reply_to["id"] if in_reply_to else None,
            "in_reply_to_account_id": reply_account,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": visibility,
            "language": "en",
            # A status' URI sits under its author's actor URI, on the author's own server.
            "uri": f"{self._actor(account)}/statuses/{status_id}" + ("/activity" if reblog else ""),
            "url": f"{account['url']}/{status_id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "quotes_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": bool(reblog),
            "muted": False,
            "bookmarked": False,
            "content": "" if reblog else f"<p>{text}</p>",
            "filtered": [],
            "reblog": reblog,
            "application": None,
            "account": account,
            "media_attachments": [],
            "mentions": [
                {"id": m["id"], "username": m["username"], "url": m["url"], "acct": m["acct"]} for m in mentions
            ],
            "tags": [],
            "emojis": [],
            "quote": {"state": "accepted", "quoted_status": quote} if quote else None,
            "card": None,
            "poll": None,
        }
        self.statuses[status_id] = status
        if notify and account["id"] != self.me["id"]:
            if any(m["id"] == self.me["id"] for m in mentions):
                self.add_notification("mention", account, status, created_at=moment)
            elif quote is not None and quote["account"]["id"] == self.me["id"]:
                self.add_notification("quote", account, status, created_at=moment)
            elif reblog is not None and reblog["account"]["id"] == self.me["id"]:
                self.add_notification("reblog", account, reblog, created_at=moment)
        return status

    def _actor(self, account: dict) -> str:
        return account.get("uri") or f"https://{account['acct'].partition('@')[2] or self.domain}/users/{account['username']}"

    def delete_status(self, status: dict) -> None:
        """Delete ``status`` the way Mastodon does.

        Its notifications go with it, and its replies keep
        ``in_reply_to_account_id`` but lose ``in_reply_to_id`` (the foreign
        key is ON DELETE SET NULL): the shape seen on real servers.
        """
        self.statuses.pop(status["id"], None)
        self.notifications = [n for n in self.notifications if n.get("status") is not status]
        for other in self.statuses.values():
            if other["in_reply_to_id"] == status["id"]:
                other["in_reply_to_id"] = None

    def add_notification(
        self, kind: str, account: dict, status: dict | None = None, *, created_at=None, filtered: bool = False
    ) -> dict:
        """A notification for alice; ``filtered`` ones are only listed with include_filtered=true."""
        moment = self.next_time(created_at)
        note = {
            "id": str(len(self.notifications) + 1),
            "type": kind,
            "created_at": _iso(moment),
            "group_key": f"ungrouped-{len(self.notifications) + 1}",
            "account": account,
            "_filtered": filtered,
        }
        if status is not None:
            note["status"] = status
        self.notifications.append(note)
        return note

    def favourite_by(self, account: dict, status: dict, **kw) -> dict:
        """``account`` likes one of alice's posts."""
        return self.add_notification("favourite", account, status, **kw)

    def follow_alice(self, account: dict, **kw) -> dict:
        self.relationship(account)["followed_by"] = True
        return self.add_notification("follow", account, **kw)

    def alice_follows(self, account: dict) -> None:
        """alice follows ``account`` (made elsewhere than through Rapport)."""
        self.relationship(account)["following"] = True

    def favourite(self, status: dict) -> None:
        """Alice likes ``status``; the favourite's own id is what /api/v1/favourites pages by."""
        self.favourites.append((len(self.favourites) + 1000, status["id"]))

    def relationship(self, account: dict) -> dict:
        return self.relationships.setdefault(
            account["id"],
            {"following": False, "followed_by": False, "blocking": False, "blocked_by": False, "muting": False,
             "requested": False},
        )

    def revoke(self, token: str | None = None) -> None:
        self.revoked.add(token or self.token)

    # -------------------------------------------------------- rendering

    def rate_headers(self, limit: int, remaining: int, reset: float) -> dict[str, str]:
        moment = dt.datetime.fromtimestamp(reset, dt.UTC)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    @staticmethod
    def _public(entity: Any) -> Any:
        if isinstance(entity, dict):
            return {k: FakeMastodon._public(v) for k, v in entity.items() if not k.startswith("_")}
        if isinstance(entity, list):
            return [FakeMastodon._public(v) for v in entity]
        return entity

    def _rel_json(self, account_id: str) -> dict:
        rel = self.relationships.get(account_id) or self.relationship(self.accounts[account_id])
        return {"id": account_id, "showing_reblogs": True, "notifying": False, "languages": None,
                "muting_notifications": False, "muting_expires_at": None, "requested_by": False,
                "domain_blocking": False, "endorsed": False, "note": self.notes.get(account_id, ""), **rel}

    def _paginate(self, seen: Seen, items: list, key, default: int, maximum: int) -> Reply:
        """Mastodon paging: max_id older, since_id newer, min_id the page right after; newest first."""
        limit = min(int(seen.param("limit") or default), maximum)
        ordered = sorted(items, key=key, reverse=True)
        if seen.param("max_id"):
            ordered = [i for i in ordered if key(i) < int(seen.param("max_id"))]
        if seen.param("since_id"):
            ordered = [i for i in ordered if key(i) > int(seen.param("since_id"))]
        if seen.param("min_id"):
            after = sorted((i for i in ordered if key(i) > int(seen.param("min_id"))), key=key)
            page = list(reversed(after[:limit]))
        else:
            page = ordered[:limit]
        keep = {k: v for k, v in seen.query.items() if k not in ("max_id", "min_id", "since_id")}
        base = f"{self.url}{seen.path}?"
        links = []
        if page and len(page) == limit:
            links.append(f'<{base}{urlencode({**keep, "max_id": key(page[-1])}, doseq=True)}>; rel="next"')
        if page:
            links.append(f'<{base}{urlencode({**keep, "min_id": key(page[0])}, doseq=True)}>; rel="prev"')
        return Reply(200, page, {"Link": ", ".join(links)} if links else {})

    # -------------------------------------------------------- routes

    def route(self, seen: Seen) -> Reply:
        path, method = seen.path, seen.method
        if path == "/api/v1/apps" and method == "POST":
            return self._create_app(seen)
        if path == "/oauth/authorize":
            return self._authorize(seen)
        if path == "/oauth/token" and method == "POST":
            return self._token(seen)
        token = seen.bearer
        if token in self.revoked:
            return Reply(401, {"error": "The access token was revoked"})
        if token not in self.tokens:
            return Reply(401, {"error": "The access token is invalid"})
        reply = self._api(seen, path.rstrip("/").split("/")[1:], method)
        reply.body = self._public(reply.body)
        return reply

    def _api(self, seen: Seen, parts: list[str], method: str) -> Reply:
        me = self.me["id"]
        if parts[:3] == ["api", "v1", "accounts"]:
            return self._accounts_api(seen, parts, method)
        if parts == ["api", "v1", "notifications"]:
            include_filtered = _truthy(seen.param("include_filtered"))
            notes = [n for n in self.notifications if include_filtered or not n["_filtered"]]
            return self._paginate(seen, notes, lambda n: int(n["id"]), 40, 80)
        if parts == ["api", "v1", "favourites"]:
            reply = self._paginate(seen, self.favourites, lambda f: f[0], 20, 40)
            reply.body = [self.statuses[status_id] for _, status_id in reply.body]
            return reply
        if parts == ["api", "v1", "conversations"]:
            reply = self._paginate(seen, self._conversations(me), lambda c: int(c["last_status"]["id"]), 20, 40)
            return reply
        if parts == ["api", "v1", "statuses"]:
            return Reply(200, [self.statuses[i] for i in seen.query.get("id[]", []) if i in self.statuses])
        if parts[:3] == ["api", "v1", "statuses"] and len(parts) == 4:
            status = self.statuses.get(parts[3])
            return Reply(200, status) if status else Reply(404, {"error": "Record not found"})
        if parts == ["api", "v2", "search"]:
            return self._search(seen)
        return self._curation_api(seen, parts, method)

    def _accounts_api(self, seen: Seen, parts: list[str], method: str) -> Reply:
        """/api/v1/accounts/...: named routes first, as Mastodon's router, then ``:id``."""
        rest = parts[3:]
        if rest == ["verify_credentials"]:
            return Reply(200, {**self.me, "source": {"privacy": "public", "note": "", "fields": []}})
        if rest == ["relationships"]:
            ids = [i for i in seen.query.get("id[]", []) if i in self.accounts]
            return Reply(200, [self._rel_json(i) for i in ids])
        if not rest:
            return Reply(200, [self.accounts[i] for i in seen.query.get("id[]", []) if i in self.accounts])
        if len(rest) == 1 and rest[0].isdigit():
            account = self.accounts.get(rest[0])
            return Reply(200, account) if account else Reply(404, {"error": "Record not found"})
        if rest[1:] == ["statuses"]:
            own = [s for s in self.statuses.values() if s["account"]["id"] == rest[0]]
            return self._paginate(seen, own, lambda s: int(s["id"]), 20, 40)
        if rest[1:] == ["following"] and method == "GET":
            return self._following(seen, rest[0])
        if rest[1:] in (["follow"], ["unfollow"]) and method == "POST":
            if not self._allowed(seen.bearer, "write:follows"):
                return self.scope_refused()
            return self._follow(rest[0], seen.form) if rest[1] == "follow" else self._unfollow(rest[0])
        return self._curation_api(seen, parts, method)

    def _conversations(self, me: str) -> list[dict]:
        threads: dict[str, list[dict]] = {}
        for status in self.statuses.values():
            if status["visibility"] != "direct":
                continue
            people = {status["account"]["id"], *(m["id"] for m in status["mentions"])}
            if me not in people:
                continue
            root = status
            while root["in_reply_to_id"] and root["in_reply_to_id"] in self.statuses:
                root = self.statuses[root["in_reply_to_id"]]
            threads.setdefault(root["id"], []).append(status)
        conversations = []
        for root_id, statuses in threads.items():
            last = max(statuses, key=lambda s: int(s["id"]))
            people = {s["account"]["id"] for s in statuses} | {m["id"] for s in statuses for m in s["mentions"]}
            people.discard(me)
            conversations.append({"id": root_id, "unread": False, "last_status": last,
                                  "accounts": [self.accounts[p] for p in sorted(people)]})
        return conversations

    def _following(self, seen: Seen, account_id: str) -> Reply:
        """Whom an account follows (only alice's are known here), paged by follow rows as Mastodon does."""
        if not self._allowed(seen.bearer, "read:accounts"):
            return self.scope_refused()
        if account_id not in self.accounts:
            return Reply(404, {"error": "Record not found"})
        followed = [i for i, rel in self.relationships.items() if rel.get("following")] if account_id == self.me["id"] else []
        for other in followed:
            self.follow_rows.setdefault(other, next(self._follow_row_ids))
        reply = self._paginate(seen, followed, lambda i: self.follow_rows[i], 40, 80)
        reply.body = [self.accounts[i] for i in reply.body]
        return reply

    def _follow(self, account_id: str, form: dict[str, str]) -> Reply:
        self.follow_calls.append(account_id)
        account = self.accounts.get(account_id)
        if account is None:
            return Reply(404, {"error": "Record not found"})
        rel = self.relationship(account)
        if rel["blocking"] or rel["blocked_by"]:
            return Reply(403, {"error": "This action is not allowed"})
        if account["locked"] and not rel["following"]:
            rel["requested"] = True
        else:
            rel["following"] = True
        # A follow also sets its options, when it is repeated too (PLATFORMS.md 1.8).
        rel["showing_reblogs"] = _truthy(form.get("reblogs", "true"))
        return Reply(200, self._rel_json(account_id))

    def _unfollow(self, account_id: str) -> Reply:
        # Like Mastodon (PLATFORMS.md 1.8): 200 with the relationship also when alice did not
        # follow; an unfollow withdraws a pending follow request too.
        self.unfollow_calls.append(account_id)
        if account_id not in self.accounts:
            return Reply(404, {"error": "Record not found"})
        self.relationship(self.accounts[account_id]).update(following=False, requested=False)
        self.follow_rows.pop(account_id, None)
        return Reply(200, self._rel_json(account_id))

    def _search(self, seen: Seen) -> Reply:
        query = (seen.param("q") or "").lstrip("@").lower()
        resolve = _truthy(seen.param("resolve"))
        found = []
        for account in self.accounts.values():
            names = {account["acct"].lower(), str(account.get("uri", "")).lower()}
            if "@" not in account["acct"]:
                names.add(f"{account['acct']}@{self.domain}".lower())
            if query in names and (account["_known"] or resolve):
                account["_known"] = True
                found.append(account)
        return Reply(200, {"accounts": found, "statuses": [], "hashtags": []})

    # -------------------------------------------------------- OAuth

    def _create_app(self, seen: Seen) -> Reply:
        form = seen.form
        redirect = form.get("redirect_uris", "")
        if not redirect or not (redirect.startswith("http") or redirect.startswith("urn:")):
            return Reply(422, {"error": "Validation failed: Redirect URI must be an absolute URI."})
        client_id, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        scopes = (form.get("scopes") or "read").split()
        self.apps[client_id] = {"secret": secret, "redirect_uris": redirect.split(), "scopes": scopes}
        return Reply(200, {"id": str(len(self.apps)), "name": form.get("client_name"), "website": form.get("website"),
                           "scopes": scopes, "redirect_uris": redirect.split(), "redirect_uri": redirect,
                           "client_id": client_id, "client_secret": secret, "client_secret_expires_at": 0})

    def _authorize(self, seen: Seen) -> Reply:
        app = self.apps.get(seen.param("client_id") or "")
        redirect = seen.param("redirect_uri") or ""
        scopes = (seen.param("scope") or "read").split()
        if app is None or redirect not in app["redirect_uris"] or not set(scopes) <= set(app["scopes"]):
            return Reply(400, b"<p>The client is not authorised to request this.</p>", {"Content-Type": "text/html"})
        code = secrets.token_urlsafe(12)
        self.codes[code] = {"client_id": seen.param("client_id"), "redirect_uri": redirect, "scopes": scopes}
        location = f"{redirect}?{urlencode({'code': code, 'state': seen.param('state') or ''})}"
        return Reply(302, None, {"Location": location})

    def _token(self, seen: Seen) -> Reply:
        form = seen.form
        app = self.apps.get(form.get("client_id", ""))
        if app is None or app["secret"] != form.get("client_secret"):
            return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return Reply(400, {"error": "invalid_grant", "error_description": "The provided authorization grant is invalid"})
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        self.grant(token, " ".join(grant["scopes"]))
        return Reply(200, {"access_token": token, "token_type": "Bearer", "scope": " ".join(grant["scopes"]),
                           "created_at": int(self.clock.time())})
