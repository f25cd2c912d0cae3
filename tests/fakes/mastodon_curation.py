"""The fake Mastodon's lists, private notes, familiar followers and token scopes.

Shaped like Mastodon 4.6 (app/controllers/api/v1/lists*, accounts/notes,
accounts/familiar_followers; List, ListAccount, AccountNote):

* ``GET /api/v1/lists`` → ``[{"id", "title", "replies_policy", "exclusive"}]``
  (``exclusive`` since 4.2: :attr:`MastodonCuration.exclusive_lists` False
  plays an older server that leaves it out);
* ``POST /api/v1/lists`` → the list; past ``List::PER_ACCOUNT_LIMIT`` 422
  ``Validation failed: You have reached the maximum number of lists``;
* ``POST /api/v1/lists/:id/accounts`` (``account_ids[]``) → ``{}``; 404 for
  another's or a missing list, and (``Follow.find_by!``) for an account
  alice neither follows nor, since 4.3, has asked to follow; 422
  ``Validation failed: Account has already been taken`` for a member;
* ``DELETE /api/v1/lists/:id/accounts?account_ids[]=`` → ``{}``; 404 for another's or a missing list;
* ``GET /api/v1/accounts/:id/lists`` → alice's lists that hold the account;
* ``POST /api/v1/accounts/:id/note`` (``comment``) → the relationship with ``note``;
* ``GET /api/v1/accounts/familiar_followers?id[]=`` →
  ``[{"id", "accounts": [...]}]``: accounts alice follows that follow it.

A token without the scope an endpoint needs gets what Doorkeeper answers:
403 ``{"error": "This action is outside the authorized scopes"}``.
"""

from __future__ import annotations

import itertools
from urllib.parse import parse_qs

from tests.fakes.base import Reply, Seen

#: Which scope each endpoint needs, besides its parent (``read`` / ``write``).
_NEEDS = {
    ("GET", "lists"): "read:lists",
    ("POST", "lists"): "write:lists",
    ("POST", "list_accounts"): "write:lists",
    ("DELETE", "list_accounts"): "write:lists",
    ("GET", "account_lists"): "read:lists",
    ("POST", "note"): "write:accounts",
    ("GET", "familiar_followers"): "read:follows",
}
LIST_LIMIT = 50


class MastodonCuration:
    """Mixed into :class:`~tests.fakes.mastodon_server.FakeMastodon`."""

    def _init_curation(self) -> None:
        self.lists: dict[str, dict] = {}
        self.list_members: dict[str, list[str]] = {}
        self.notes: dict[str, str] = {}
        #: account id -> ids of the accounts that follow it (alice's own follows are her relationships).
        self.followers: dict[str, set[str]] = {}
        #: token -> granted scopes; a token not in it has them all.
        self.token_scopes: dict[str, set[str]] = {}
        self.exclusive_lists = True
        #: Mastodon 4.3+ lists an account with a pending follow request too.
        self.lists_take_requested = True
        self.list_limit = LIST_LIMIT
        self._list_ids = itertools.count(12000)

    # -------------------------------------------------------- data

    def add_list(self, title: str, *, exclusive: bool = False) -> dict:
        list_id = str(next(self._list_ids))
        self.lists[list_id] = {"id": list_id, "title": title, "replies_policy": "list", "exclusive": exclusive}
        self.list_members[list_id] = []
        return self.lists[list_id]

    def follows(self, follower: dict, account: dict) -> None:
        """``follower`` (not alice) follows ``account``."""
        self.followers.setdefault(account["id"], set()).add(follower["id"])

    def grant(self, token: str, scopes: str) -> None:
        self.token_scopes[token] = set(scopes.split())

    # -------------------------------------------------------- routes

    def _allowed(self, token: str | None, scope: str) -> bool:
        granted = self.token_scopes.get(token or "")
        if granted is None:
            return True
        return scope in granted or scope.split(":")[0] in granted

    @staticmethod
    def scope_refused() -> Reply:
        """What Doorkeeper answers a token without the scope an endpoint needs."""
        return Reply(403, {"error": "This action is outside the authorized scopes"},
                     {"WWW-Authenticate": 'Bearer realm="Doorkeeper", error="insufficient_scope"'})

    def _curation_api(self, seen: Seen, parts: list[str], method: str) -> Reply:
        key, args = self._curation_route(parts, method)
        if key is None:
            return Reply(404, {"error": "Not found"})
        if not self._allowed(seen.bearer, _NEEDS[key]):
            return self.scope_refused()
        return getattr(self, f"_curation_{key[1]}_{method.lower()}")(seen, *args)

    @staticmethod
    def _curation_route(parts: list[str], method: str) -> tuple[tuple[str, str] | None, tuple]:
        if parts == ["api", "v1", "lists"] and method in ("GET", "POST"):
            return (method, "lists"), ()
        if parts[:3] == ["api", "v1", "lists"] and parts[4:] == ["accounts"] and method in ("POST", "DELETE"):
            return (method, "list_accounts"), (parts[3],)
        if parts == ["api", "v1", "accounts", "familiar_followers"] and method == "GET":
            return (method, "familiar_followers"), ()
        if parts[:3] == ["api", "v1", "accounts"] and parts[4:] == ["lists"] and method == "GET":
            return (method, "account_lists"), (parts[3],)
        if parts[:3] == ["api", "v1", "accounts"] and parts[4:] == ["note"] and method == "POST":
            return (method, "note"), (parts[3],)
        return None, ()

    def _list_json(self, item: dict) -> dict:
        return item if self.exclusive_lists else {k: v for k, v in item.items() if k != "exclusive"}

    def _curation_lists_get(self, seen: Seen) -> Reply:
        return Reply(200, [self._list_json(item) for item in self.lists.values()])

    def _curation_lists_post(self, seen: Seen) -> Reply:
        form = seen.form
        if not form.get("title", "").strip():
            return Reply(422, {"error": "Validation failed: Title can't be blank"})
        if len(self.lists) >= self.list_limit:
            return Reply(422, {"error": "Validation failed: You have reached the maximum number of lists"})
        exclusive = self.exclusive_lists and form.get("exclusive", "").lower() in ("1", "true")
        return Reply(200, self._list_json(self.add_list(form["title"], exclusive=exclusive)))

    def _curation_list_accounts_post(self, seen: Seen, list_id: str) -> Reply:
        if list_id not in self.lists:
            return Reply(404, {"error": "Record not found"})
        members = self.list_members[list_id]
        for account_id in parse_qs(seen.body.decode()).get("account_ids[]", []):
            if account_id not in self.accounts:
                return Reply(404, {"error": "Record not found"})
            rel = self.relationship(self.accounts[account_id])
            if not (rel["following"] or (rel["requested"] and self.lists_take_requested)):
                return Reply(404, {"error": "Record not found"})
            if account_id in members:
                return Reply(422, {"error": "Validation failed: Account has already been taken"})
            members.append(account_id)
        return Reply(200, {})

    def _curation_list_accounts_delete(self, seen: Seen, list_id: str) -> Reply:
        if list_id not in self.lists:
            return Reply(404, {"error": "Record not found"})
        gone = set(seen.query.get("account_ids[]", []))
        self.list_members[list_id] = [m for m in self.list_members[list_id] if m not in gone]
        return Reply(200, {})

    def _curation_account_lists_get(self, seen: Seen, account_id: str) -> Reply:
        if account_id not in self.accounts:
            return Reply(404, {"error": "Record not found"})
        return Reply(200, [self._list_json(self.lists[i]) for i, m in self.list_members.items() if account_id in m])

    def _curation_note_post(self, seen: Seen, account_id: str) -> Reply:
        if account_id not in self.accounts:
            return Reply(404, {"error": "Record not found"})
        comment = seen.form.get("comment", "")
        if len(comment) > 2000:
            return Reply(422, {"error": "Validation failed: Comment is too long (maximum is 2000 characters)"})
        self.notes[account_id] = comment
        return Reply(200, {**self._rel_json(account_id), "note": comment})

    def _curation_familiar_followers_get(self, seen: Seen) -> Reply:
        answer = []
        for account_id in seen.query.get("id[]", []):
            followed = [i for i, rel in self.relationships.items() if rel.get("following")]
            known = sorted(self.followers.get(account_id, set()) & set(followed))
            answer.append({"id": account_id, "accounts": [self.accounts[i] for i in known]})
        return Reply(200, answer)
