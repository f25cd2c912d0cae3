"""A fake Bluesky PDS (with its AppView and chat proxy folded in), shaped like
/work/shared/samples/bluesky/listNotifications.json.

The user is alice.test (:attr:`FakeBluesky.me`, app password
:attr:`FakeBluesky.app_password`). Tests write records with
:meth:`add_post`, :meth:`add_like`, :meth:`add_repost`, :meth:`add_follow`;
alice's notifications are derived from them the way the AppView does it:
one per post (mention > quote > reply), replies notify ancestors up to five
levels up.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import time
from typing import Any

from tests.fakes.base import EPOCH, FakeServer, Reply, Seen

_S32 = "234567abcdefghijklmnopqrstuvwxyz"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"


def tid(moment: dt.datetime, clock_id: int = 0) -> str:
    value = (int(moment.timestamp() * 1_000_000) << 10) | (clock_id & 1023)
    out = ""
    for _ in range(13):
        out = _S32[value & 31] + out
        value >>= 5
    return out


def rkey(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _jwt(payload: dict) -> str:
    def enc(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{enc({'typ': 'at+jwt', 'alg': 'HS256'})}.{enc(payload)}.c2ln"


class FakeBluesky(FakeServer):
    def __init__(self, clock=None):
        super().__init__(clock)
        self.me = "did:plc:alice0000000000000000000"
        self.handle = "alice.test"
        self.app_password = "abcd-efgh-ijkl-mnop"
        self.accounts: dict[str, dict] = {}
        self.records: dict[str, dict] = {}  # uri -> {"uri", "cid", "author", "value", "indexedAt"}
        self.follows: dict[tuple[str, str], str] = {}  # (author, subject) -> follow uri
        self.blocks: set[tuple[str, str]] = set()
        self.convos: dict[str, dict] = {}
        self.chat_allowed = True
        self.chat_available = True
        #: (status, body) every chat call answers with: what a PDS with no chat service behind it says.
        self.chat_error: tuple[int, dict] | None = None
        #: While True, follows alice writes stay out of viewer.following (the AppView indexes them late).
        self.appview_lags = False
        self._unindexed: set[str] = set()
        self.access: set[str] = set()
        self.expired: set[str] = set()
        self.refresh: set[str] = set()
        self.create_session_calls = 0
        self.pds_in_did_doc: str | None = None
        self._seq = itertools.count(1)
        self._time = EPOCH - dt.timedelta(days=30)

    # -------------------------------------------------------- data

    def seed(self) -> None:
        self.add_account(self.handle, did=self.me, display_name="Alice")

    def next_time(self, at: dt.datetime | None = None) -> dt.datetime:
        if at is not None:
            return at
        self._time += dt.timedelta(minutes=1)
        return self._time

    def add_account(self, handle: str, *, did: str | None = None, display_name: str = "", labels=()) -> str:
        did = did or f"did:plc:{handle.split('.')[0]:0<24}"[:32]
        self.accounts[did] = {"did": did, "handle": handle, "displayName": display_name,
                              "avatar": f"https://cdn.example/{handle}.jpg",
                              "labels": [{"src": did, "uri": f"at://{did}/app.bsky.actor.profile/self",
                                          "val": v, "cts": "2026-08-01T00:00:00.000Z"} for v in labels]}
        return did

    def _write(self, author: str, collection: str, value: dict, at: dt.datetime | None) -> str:
        moment = self.next_time(at)
        uri = f"at://{author}/{collection}/{tid(moment, next(self._seq))}"
        value = {"$type": collection, "createdAt": _iso(moment), **value}
        self.records[uri] = {"uri": uri, "cid": f"bafyrei{abs(hash(uri)) % 10**20:020d}", "author": author,
                             "value": value, "indexedAt": _iso(moment), "at": moment}
        return uri

    def _ref(self, uri: str) -> dict:
        return {"uri": uri, "cid": self.records[uri]["cid"]}

    def add_post(self, author: str, text: str = "hi", *, reply_to: str | None = None, mentions=(), quote: str | None = None,
                 at: dt.datetime | None = None) -> str:
        value: dict[str, Any] = {"text": text}
        if reply_to:
            root = (self.records[reply_to]["value"].get("reply") or {}).get("root") or self._ref(reply_to)
            value["reply"] = {"root": root, "parent": self._ref(reply_to)}
        if mentions:
            value["facets"] = [{"index": {"byteStart": 0, "byteEnd": 1},
                                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": d}]} for d in mentions]
        if quote:
            value["embed"] = {"$type": "app.bsky.embed.record", "record": self._ref(quote)}
        return self._write(author, "app.bsky.feed.post", value, at)

    def add_like(self, author: str, subject: str, at=None) -> str:
        return self._write(author, "app.bsky.feed.like", {"subject": self._ref(subject)}, at)

    def add_repost(self, author: str, subject: str, at=None) -> str:
        return self._write(author, "app.bsky.feed.repost", {"subject": self._ref(subject)}, at)

    def add_follow(self, author: str, subject: str, at=None) -> str:
        uri = self._write(author, "app.bsky.graph.follow", {"subject": subject}, at)
        self.follows[(author, subject)] = uri
        return uri

    def add_convo(self, *members: str) -> str:
        convo_id = f"convo{len(self.convos) + 1}"
        self.convos[convo_id] = {"id": convo_id, "members": [self.me, *members], "messages": []}
        return convo_id

    def add_message(self, convo_id: str, sender: str, text: str = "psst", at=None) -> dict:
        moment = self.next_time(at)
        msg = {"$type": "chat.bsky.convo.defs#messageView", "id": f"msg{next(self._seq)}", "rev": tid(moment),
               "text": text, "sender": {"did": sender}, "sentAt": _iso(moment)}
        self.convos[convo_id]["messages"].append(msg)
        return msg

    def expire_access_tokens(self) -> None:
        self.expired |= self.access
        self.access = set()

    def revoke_refresh_tokens(self) -> None:
        self.refresh = set()

    def follow_records(self, author: str | None = None) -> list[str]:
        return [uri for (a, _), uri in self.follows.items() if author in (None, a)]

    # -------------------------------------------------------- views

    def profile(self, did: str, detailed: bool = False) -> dict:
        account = self.accounts[did]
        view = {k: v for k, v in account.items() if v not in ("", None)}
        if did != self.me:
            viewer = {"muted": False, "blockedBy": (did, self.me) in self.blocks}
            if (self.me, did) in self.follows and self.follows[(self.me, did)] not in self._unindexed:
                viewer["following"] = self.follows[(self.me, did)]
            if (did, self.me) in self.follows:
                viewer["followedBy"] = self.follows[(did, self.me)]
            if (self.me, did) in self.blocks:
                viewer["blocking"] = f"at://{self.me}/app.bsky.graph.block/3kblock"
            view["viewer"] = viewer
        if detailed:
            view["followersCount"] = sum(1 for (_, s) in self.follows if s == did)
        return view

    def post_view(self, uri: str) -> dict:
        rec = self.records[uri]
        view = {"$type": "app.bsky.feed.defs#postView", "uri": uri, "cid": rec["cid"],
                "author": self.profile(rec["author"]), "record": rec["value"], "indexedAt": rec["indexedAt"],
                "likeCount": 0, "repostCount": 0, "replyCount": 0, "quoteCount": 0, "labels": []}
        like = next((u for u, r in self.records.items() if r["author"] == self.me
                     and r["value"]["$type"] == "app.bsky.feed.like" and r["value"]["subject"]["uri"] == uri), None)
        view["viewer"] = {"like": like} if like else {}
        quoted = (rec["value"].get("embed") or {}).get("record", {}).get("uri")
        if quoted in self.records:
            q = self.records[quoted]
            view["embed"] = {"$type": "app.bsky.embed.record#view", "record": {
                "$type": "app.bsky.embed.record#viewRecord", "uri": quoted, "cid": q["cid"],
                "author": self.profile(q["author"]), "value": q["value"], "indexedAt": q["indexedAt"]}}
        return view

    def _of(self, collection: str, author: str | None = None) -> list[dict]:
        return [r for r in self.records.values()
                if r["value"]["$type"] == collection and (author is None or r["author"] == author)]

    def notifications(self) -> list[dict]:
        """Alice's notifications, as the AppView derives them, newest first."""
        notes = []
        for rec in self.records.values():
            author, value, kind = rec["author"], rec["value"], rec["value"]["$type"]
            if author == self.me:
                continue
            reason, subject = None, None
            if kind == "app.bsky.feed.post":
                reason, subject = self._post_reason(value)
            elif kind in ("app.bsky.feed.like", "app.bsky.feed.repost"):
                if value["subject"]["uri"].startswith(f"at://{self.me}/"):
                    reason, subject = kind.rsplit(".", 1)[1], value["subject"]["uri"]
            elif kind == "app.bsky.graph.follow" and value["subject"] == self.me:
                reason = "follow"
            if reason:
                note = {"uri": rec["uri"], "cid": rec["cid"], "author": self.profile(author), "reason": reason,
                        "record": value, "isRead": False, "indexedAt": rec["indexedAt"], "labels": []}
                if subject:
                    note["reasonSubject"] = subject
                notes.append(note)
        return sorted(notes, key=lambda n: (n["indexedAt"], n["uri"]), reverse=True)

    def _post_reason(self, value: dict) -> tuple[str | None, str | None]:
        """Why a post notifies alice, one reason per post (mention > quote > reply to five levels up)."""
        mentions = [f["did"] for facet in value.get("facets", []) for f in facet["features"]]
        quoted = (value.get("embed") or {}).get("record", {}).get("uri")
        if self.me in mentions:
            return "mention", None
        if quoted and quoted.startswith(f"at://{self.me}/"):
            return "quote", quoted
        ancestor, depth = (value.get("reply") or {}).get("parent", {}).get("uri"), 0
        while ancestor and ancestor in self.records and depth < 5:
            if self.records[ancestor]["author"] == self.me:
                return "reply", ancestor
            ancestor = (self.records[ancestor]["value"].get("reply") or {}).get("parent", {}).get("uri")
            depth += 1
        return None, None

    # -------------------------------------------------------- paging, limits

    @staticmethod
    def _page(seen: Seen, items: list, key, default: int = 50) -> tuple[list, str | None]:
        """Cursor paging over items sorted newest first; the cursor encodes the last item's key."""
        limit = max(1, min(int(seen.param("limit") or default), 100))
        cursor = seen.param("cursor")
        if cursor:
            after = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            items = [i for i in items if list(key(i)) < after]
        page = items[:limit]
        more = len(items) > limit
        next_cursor = base64.urlsafe_b64encode(json.dumps(list(key(page[-1]))).encode()).decode() if more else None
        return page, next_cursor

    def rate_headers(self, limit: int, remaining: int, reset: float) -> dict[str, str]:
        return {"ratelimit-limit": str(limit), "ratelimit-remaining": str(remaining),
                "ratelimit-reset": str(int(-(-reset // 1))), "ratelimit-policy": f"{limit};w=300"}

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
        return {"error": "InternalServerError", "message": "Internal Server Error"}

    # -------------------------------------------------------- routes

    def _tokens(self) -> dict:
        now = int(time.time())
        access = _jwt({"scope": "com.atproto.appPass", "sub": self.me, "iat": now, "exp": now + 7200,
                       "n": next(self._seq)})
        refresh = _jwt({"scope": "com.atproto.refresh", "sub": self.me, "iat": now, "exp": now + 90 * 86400,
                        "jti": str(next(self._seq))})
        self.access.add(access)
        self.refresh.add(refresh)
        session = {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.me, "active": True}
        if self.pds_in_did_doc:
            session["didDoc"] = {
                "@context": ["https://www.w3.org/ns/did/v1"], "id": self.me, "alsoKnownAs": [f"at://{self.handle}"],
                "verificationMethod": [], "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                                                       "serviceEndpoint": self.pds_in_did_doc}]}
        return session

    def route(self, seen: Seen) -> Reply:
        method = seen.path.removeprefix("/xrpc/")
        if method == "com.atproto.server.createSession":
            self.create_session_calls += 1
            body = seen.json or {}
            if body.get("identifier") not in (self.handle, self.me) or body.get("password") != self.app_password:
                return Reply(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
            return Reply(200, self._tokens())
        if method == "com.atproto.server.refreshSession":
            if seen.bearer not in self.refresh:
                return Reply(400, {"error": "ExpiredToken", "message": "Token has been revoked"})
            self.refresh.discard(seen.bearer)
            return Reply(200, self._tokens())
        token = seen.bearer
        if token is None:
            return Reply(401, {"error": "AuthenticationRequired", "message": "Authentication Required"})
        if token in self.expired:
            return Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
        if token not in self.access:
            return Reply(400, {"error": "InvalidToken", "message": "Token could not be verified"})
        if method.startswith("chat.bsky."):
            return self._chat(seen, method)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        return handler(seen) if handler else Reply(501, {"error": "MethodNotImplemented", "message": method})

    def _com_atproto_server_getSession(self, seen: Seen) -> Reply:
        return Reply(200, {"handle": self.handle, "did": self.me, "active": True})

    def _resolve(self, actor: str | None) -> str | None:
        if actor in self.accounts:
            return actor
        return next((d for d, a in self.accounts.items() if a["handle"] == actor), None)

    def _app_bsky_actor_getProfile(self, seen: Seen) -> Reply:
        did = self._resolve(seen.param("actor"))
        if did is None:
            return Reply(400, {"error": "InvalidRequest", "message": "Profile not found"})
        return Reply(200, self.profile(did, detailed=True))

    def _app_bsky_actor_getProfiles(self, seen: Seen) -> Reply:
        actors = seen.query.get("actors", [])
        if len(actors) > 25:
            return Reply(400, {"error": "InvalidRequest", "message": "actors must not have more than 25 elements"})
        dids = [d for d in (self._resolve(a) for a in actors) if d]
        return Reply(200, {"profiles": [self.profile(d, detailed=True) for d in dids]})

    def _app_bsky_notification_listNotifications(self, seen: Seen) -> Reply:
        page, cursor = self._page(seen, self.notifications(), lambda n: (n["indexedAt"], n["uri"]))
        body = {"notifications": page, "priority": False, "seenAt": _iso(self.clock.now())}
        return Reply(200, {**body, "cursor": cursor} if cursor else body)

    def _app_bsky_feed_getAuthorFeed(self, seen: Seen) -> Reply:
        actor = self._resolve(seen.param("actor"))
        items = []
        for rec in self._of("app.bsky.feed.post", actor):
            item: dict[str, Any] = {"post": self.post_view(rec["uri"])}
            reply = rec["value"].get("reply")
            if reply and reply["parent"]["uri"] in self.records:
                item["reply"] = {"root": self.post_view(reply["root"]["uri"]), "parent": self.post_view(reply["parent"]["uri"])}
            items.append((rec["indexedAt"], rec["uri"], item))
        for rec in self._of("app.bsky.feed.repost", actor):
            reason = {"$type": "app.bsky.feed.defs#reasonRepost", "by": self.profile(actor),
                      "indexedAt": rec["indexedAt"], "uri": rec["uri"], "cid": rec["cid"]}
            items.append((rec["indexedAt"], rec["uri"], {"post": self.post_view(rec["value"]["subject"]["uri"]),
                                                         "reason": reason}))
        items.sort(key=lambda t: (t[0], t[1]), reverse=True)
        page, cursor = self._page(seen, items, lambda t: (t[0], t[1]))
        body = {"feed": [t[2] for t in page]}
        return Reply(200, {**body, "cursor": cursor} if cursor else body)

    def _app_bsky_feed_getActorLikes(self, seen: Seen) -> Reply:
        actor = self._resolve(seen.param("actor"))
        if actor != self.me:
            return Reply(400, {"error": "InvalidRequest", "message": "Profile not found"})
        likes = sorted(self._of("app.bsky.feed.like", self.me), key=lambda r: r["uri"].rsplit("/", 1)[1], reverse=True)
        page, cursor = self._page(seen, likes, lambda r: (r["uri"].rsplit("/", 1)[1],))
        body = {"feed": [{"post": self.post_view(r["value"]["subject"]["uri"])} for r in page]}
        return Reply(200, {**body, "cursor": cursor} if cursor else body)

    def _com_atproto_repo_createRecord(self, seen: Seen) -> Reply:
        body = seen.json or {}
        if body.get("repo") not in (self.me, self.handle):
            return Reply(400, {"error": "InvalidRequest", "message": "repo does not match the session"})
        record = body.get("record") or {}
        if body.get("collection") == "app.bsky.graph.follow":
            uri = self.add_follow(self.me, record["subject"])
            if self.appview_lags:
                self._unindexed.add(uri)
        else:
            uri = self._write(self.me, body.get("collection"), record, None)
        return Reply(200, {"uri": uri, "cid": self.records[uri]["cid"], "validationStatus": "valid",
                           "commit": {"cid": "bafyreicommit", "rev": tid(self.clock.now())}})

    def _com_atproto_repo_getRecord(self, seen: Seen) -> Reply:
        repo = self._resolve(seen.param("repo"))
        uri = f"at://{repo}/{seen.param('collection')}/{seen.param('rkey')}"
        if uri not in self.records:
            # What the reference PDS answers (PLATFORMS.md 2.5 for the shape of record calls).
            return Reply(400, {"error": "RecordNotFound", "message": f"Could not locate record: {uri}"})
        record = self.records[uri]
        return Reply(200, {"uri": uri, "cid": record["cid"], "value": record["value"]})

    def _com_atproto_repo_deleteRecord(self, seen: Seen) -> Reply:
        """Deleting a record that does not exist is accepted, as on the reference PDS."""
        body = seen.json or {}
        if body.get("repo") not in (self.me, self.handle):
            return Reply(400, {"error": "InvalidRequest", "message": "repo does not match the session"})
        uri = f"at://{self.me}/{body.get('collection')}/{body.get('rkey')}"
        self.records.pop(uri, None)
        for key, follow_uri in list(self.follows.items()):
            if follow_uri == uri:
                del self.follows[key]
        return Reply(200, {"commit": {"cid": "bafyreicommit", "rev": tid(self.clock.now())}})

    def _com_atproto_repo_listRecords(self, seen: Seen) -> Reply:
        """The repository itself (no AppView): newest first, as the reference PDS lists by default."""
        repo = self._resolve(seen.param("repo"))
        if repo is None:
            return Reply(400, {"error": "InvalidRequest", "message": "Could not find repo"})
        found = sorted(self._of(seen.param("collection") or "", repo), key=lambda r: rkey(r["uri"]), reverse=True)
        page, cursor = self._page(seen, found, lambda r: (rkey(r["uri"]),))
        body = {"records": [{"uri": r["uri"], "cid": r["cid"], "value": r["value"]} for r in page]}
        return Reply(200, {**body, "cursor": cursor} if cursor else body)

    def _app_bsky_graph_getFollows(self, seen: Seen) -> Reply:
        """Whom ``actor`` follows, newest follow first, as the AppView pages it (50 by default, 100 at most)."""
        actor = self._resolve(seen.param("actor"))
        if actor is None:
            return Reply(400, {"error": "InvalidRequest", "message": "Profile not found"})
        followed = sorted(((rkey(uri), subject) for (author, subject), uri in self.follows.items()
                           if author == actor and subject in self.accounts), reverse=True)
        page, cursor = self._page(seen, followed, lambda item: (item[0],))
        body = {"subject": self.profile(actor), "follows": [self.profile(subject) for _, subject in page]}
        return Reply(200, {**body, "cursor": cursor} if cursor else body)

    def _app_bsky_graph_getKnownFollowers(self, seen: Seen) -> Reply:
        """Followers of ``actor`` whom alice follows (the AppView's view, without lag here)."""
        did = self._resolve(seen.param("actor"))
        if did is None:
            return Reply(400, {"error": "InvalidRequest", "message": "Profile not found"})
        known = sorted(a for (a, subject) in self.follows if subject == did and (self.me, a) in self.follows)
        return Reply(200, {"subject": self.profile(did), "followers": [self.profile(a) for a in known]})

    def _chat(self, seen: Seen, method: str) -> Reply:
        if self.chat_error is not None:
            return Reply(*self.chat_error)
        if seen.headers.get("atproto-proxy") != CHAT_PROXY or not self.chat_available:
            return Reply(501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"})
        if not self.chat_allowed:
            return Reply(400, {"error": "InvalidToken", "message": "Bad token method"})
        if method == "chat.bsky.convo.listConvos":
            convos = [c for c in self.convos.values() if c["messages"]]
            convos.sort(key=lambda c: (c["messages"][-1]["sentAt"], c["id"]), reverse=True)
            page, cursor = self._page(seen, convos, lambda c: (c["messages"][-1]["sentAt"], c["id"]))
            body = {"convos": [{"id": c["id"], "rev": c["messages"][-1]["rev"], "muted": False, "unreadCount": 0,
                                "members": [{"did": m, "handle": self.accounts[m]["handle"]} for m in c["members"]],
                                "lastMessage": c["messages"][-1]} for c in page]}
            return Reply(200, {**body, "cursor": cursor} if cursor else body)
        if method == "chat.bsky.convo.getMessages":
            convo = self.convos.get(seen.param("convoId") or "")
            if convo is None:
                return Reply(400, {"error": "InvalidRequest", "message": "Convo not found"})
            msgs = sorted(convo["messages"], key=lambda m: (m["sentAt"], m["id"]), reverse=True)
            page, cursor = self._page(seen, msgs, lambda m: (m["sentAt"], m["id"]))
            return Reply(200, {"messages": page, **({"cursor": cursor} if cursor else {})})
        return Reply(501, {"error": "MethodNotImplemented", "message": method})
