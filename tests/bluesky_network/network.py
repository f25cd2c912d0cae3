"""A real local AT Protocol network for the end-to-end Bluesky tests.

:class:`LocalNetwork` runs ``network.mjs`` (``@atproto/dev-env``: a PLC
directory, a PDS and an AppView on loopback) and :class:`Pds` is the plain
XRPC a test uses to act as other people on it: create accounts and app
passwords, write posts, likes, reposts and follows, read repositories.
Rapport itself talks to the network only through its own connector.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "network.mjs"
DEV_ENV = HERE / "node_modules" / "@atproto" / "dev-env" / "package.json"
#: The network's PostgreSQL (dev-env's AppView and Ozone make schemas there).
PG_URL = os.environ.get("RAPPORT_TEST_ATPROTO_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
START_TIMEOUT = 60.0
#: How long the AppView may take to index a write before a test gives up (it takes about a second).
INDEX_TIMEOUT = 15.0


class NetworkError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_binary() -> str | None:
    return shutil.which("node")


def installed() -> bool:
    return DEV_ENV.exists()


def schema_name() -> str:
    """A fresh schema name per run (dev-env accepts letters and ``_`` only), so runs never share data."""
    return "rapport_net_" + "".join(random.choices(string.ascii_lowercase, k=10))


def drop_schemas(schema: str, pg_url: str = PG_URL) -> None:
    """Drop what dev-env created for ``schema``: the script does this itself on SIGTERM; this is for
    a script that had to be killed."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
        for name in (f"appview_{schema}", f"ozone_{schema}"):
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@dataclass
class LocalNetwork:
    """One ``network.mjs`` process; :meth:`start` returns once its ready line came."""

    redis_host: str
    pg_url: str = PG_URL
    schema: str = field(default_factory=schema_name)
    pds_url: str = ""
    appview_url: str = ""
    plc_url: str = ""
    start_seconds: float = 0.0
    proc: subprocess.Popen | None = None
    _lines: list[str] = field(default_factory=list)
    _errors: list[str] = field(default_factory=list)

    def start(self, timeout: float = START_TIMEOUT) -> LocalNetwork:
        ports = {"--pds-port": free_port(), "--bsky-port": free_port(), "--plc-port": free_port()}
        env = {**os.environ, "DB_POSTGRES_URL": self.pg_url, "REDIS_HOST": self.redis_host}
        # dev-env's own logging is off unless LOG_ENABLED is set; keep it that way so stdout stays ours.
        env.pop("LOG_ENABLED", None)
        args = [node_binary() or "node", str(SCRIPT), "--schema", self.schema, "--exit-with-stdin"]
        for flag, port in ports.items():
            args += [flag, str(port)]
        began = time.monotonic()
        self.proc = subprocess.Popen(
            args, cwd=HERE, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )
        ready = threading.Event()
        info: dict[str, Any] = {}

        def read_stdout():
            for line in self.proc.stdout:
                self._lines.append(line)
                if line.startswith("{"):
                    try:
                        data = json.loads(line)
                    except ValueError:
                        continue
                    if data.get("ready"):
                        info.update(data)
                        ready.set()
            ready.set()  # the script ended: stop waiting

        def read_stderr():
            for line in self.proc.stderr:
                self._errors.append(line)

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        if not ready.wait(timeout) or not info:
            exited = self.proc.poll()
            self.stop()
            why = f"exited with status {exited}" if exited is not None else f"was not ready within {timeout:.0f}s"
            raise NetworkError(f"the local AT Protocol network {why}:\n{self.log()[-4000:]}")
        self.start_seconds = time.monotonic() - began
        self.pds_url, self.appview_url, self.plc_url = info["pds"], info["appview"], info["plc"]
        return self

    def log(self) -> str:
        return "".join(self._lines) + "".join(self._errors)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the script closes the servers and drops its schemas), SIGKILL if it hangs."""
        proc = self.proc
        if proc is None:
            return
        killed = False
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed = True
        if killed or proc.returncode not in (0, None):
            drop_schemas(self.schema, self.pg_url)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                try:
                    stream.close()
                except OSError:
                    pass

    @property
    def pds(self) -> Pds:
        return Pds(self.pds_url)


# ---------------------------------------------------------------- acting as people on the network


def now_iso(moment: dt.datetime | None = None) -> str:
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Account:
    handle: str
    did: str
    password: str
    access_jwt: str

    def __str__(self) -> str:
        return self.handle


@dataclass(frozen=True)
class Ref:
    """A strong reference to a record; ``root`` is the thread root of a post (itself when not a reply)."""

    uri: str
    cid: str
    root_uri: str = ""
    root_cid: str = ""

    def strong(self) -> dict:
        return {"uri": self.uri, "cid": self.cid}

    def root(self) -> dict:
        return {"uri": self.root_uri or self.uri, "cid": self.root_cid or self.cid}


class XrpcError(RuntimeError):
    def __init__(self, status: int, body: Any):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class Pds:
    """Plain XRPC against the network's PDS (``app.bsky.*`` reads are proxied to the AppView)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False

    def call(self, nsid: str, *, token: str | None = None, params: dict | None = None, body: dict | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{self.url}/xrpc/{nsid}"
        if body is None:
            response = self.http.get(url, params=params, headers=headers, timeout=15)
        else:
            response = self.http.post(url, json=body, headers=headers, timeout=15)
        try:
            data = response.json()
        except ValueError:
            data = response.text
        if response.status_code >= 300:
            raise XrpcError(response.status_code, data)
        return data

    # -------------------------------------------------------- accounts

    def create_account(self, handle: str, password: str = "correct-horse-battery") -> Account:
        """A new account, once the AppView knows its profile.

        The AppView indexes a new account a moment after the PDS made it, and until then answers its
        getProfile with 400 "Profile not found": Rapport, asked to list or follow it, would rightly say
        the account cannot be found. A real account exists long before Rapport meets it.
        """
        out = self.call("com.atproto.server.createAccount",
                        body={"handle": handle, "email": f"{handle}@example.com", "password": password})
        account = Account(handle=out["handle"], did=out["did"], password=password, access_jwt=out["accessJwt"])
        self.wait_until(lambda: self._profile_indexed(account), message=f"the AppView to index {handle}'s profile")
        return account

    def _profile_indexed(self, account: Account) -> bool:
        try:
            self.call("app.bsky.actor.getProfile", token=account.access_jwt, params={"actor": account.did})
        except XrpcError as e:
            if e.status == 400 and "not found" in str(e.body).lower():
                return False
            raise
        return True

    def create_app_password(self, account: Account, name: str = "Rapport", privileged: bool = False) -> str:
        out = self.call("com.atproto.server.createAppPassword", token=account.access_jwt,
                        body={"name": name, "privileged": privileged})
        return out["password"]

    # -------------------------------------------------------- records

    def create_record(
        self, account: Account, collection: str, record: dict, created_at: dt.datetime | None = None
    ) -> Ref:
        value = {"$type": collection, "createdAt": now_iso(created_at), **record}
        out = self.call("com.atproto.repo.createRecord", token=account.access_jwt,
                        body={"repo": account.did, "collection": collection, "record": value})
        return Ref(out["uri"], out["cid"])

    def post(self, account: Account, text: str, *, reply_to: Ref | None = None, mention: Account | None = None,
             quote: Ref | None = None, created_at: dt.datetime | None = None) -> Ref:
        record: dict[str, Any] = {"text": text}
        if mention is not None:
            # Facet offsets count UTF-8 bytes.
            needle = f"@{mention.handle}".encode()
            start = text.encode().index(needle)
            record["facets"] = [{
                "index": {"byteStart": start, "byteEnd": start + len(needle)},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": mention.did}],
            }]
        if reply_to is not None:
            record["reply"] = {"root": reply_to.root(), "parent": reply_to.strong()}
        if quote is not None:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": quote.strong()}
        ref = self.create_record(account, "app.bsky.feed.post", record, created_at)
        if reply_to is not None:
            root = reply_to.root()
            return Ref(ref.uri, ref.cid, root["uri"], root["cid"])
        return ref

    def like(self, account: Account, subject: Ref, created_at: dt.datetime | None = None) -> Ref:
        return self.create_record(account, "app.bsky.feed.like", {"subject": subject.strong()}, created_at)

    def repost(self, account: Account, subject: Ref, created_at: dt.datetime | None = None) -> Ref:
        return self.create_record(account, "app.bsky.feed.repost", {"subject": subject.strong()}, created_at)

    def follow(self, account: Account, subject: Account, created_at: dt.datetime | None = None) -> Ref:
        return self.create_record(account, "app.bsky.graph.follow", {"subject": subject.did}, created_at)

    def list_records(self, repo: str, collection: str) -> list[dict]:
        """Every record of ``collection`` in ``repo``, straight from the repository (no AppView)."""
        found, cursor = [], None
        while True:
            page = self.call("com.atproto.repo.listRecords",
                             params={"repo": repo, "collection": collection, "limit": 100, "cursor": cursor})
            found.extend(page.get("records") or [])
            cursor = page.get("cursor")
            if not cursor or not page.get("records"):
                return found

    # -------------------------------------------------------- the AppView, through the PDS

    def notifications(self, account: Account, limit: int = 100) -> list[dict]:
        found, cursor = [], None
        while True:
            page = self.call("app.bsky.notification.listNotifications", token=account.access_jwt,
                             params={"limit": limit, "cursor": cursor})
            found.extend(page.get("notifications") or [])
            cursor = page.get("cursor")
            if not cursor or not page.get("notifications"):
                return found

    def wait_for_notifications(self, account: Account, uris, timeout: float = INDEX_TIMEOUT) -> list[dict]:
        """Wait until the AppView has indexed records that notify ``account`` (by record URI)."""
        wanted = {getattr(u, "uri", u) for u in uris}
        deadline = time.monotonic() + timeout
        while True:
            notes = self.notifications(account)
            if wanted <= {n["uri"] for n in notes}:
                return notes
            if time.monotonic() > deadline:
                missing = wanted - {n["uri"] for n in notes}
                raise AssertionError(f"the AppView did not index {sorted(missing)} within {timeout}s")
            time.sleep(0.2)

    def wait_for_posts(self, account: Account, refs, timeout: float = INDEX_TIMEOUT) -> None:
        """Wait until the AppView has indexed these posts.

        Write a reply only once its parent is indexed, as a person who read
        the parent would: the AppView indexes each repository on its own, and
        a reply indexed before its parent notifies nobody up the thread.
        """
        wanted = [getattr(r, "uri", r) for r in refs]
        for start in range(0, len(wanted), 25):
            chunk = wanted[start : start + 25]
            self.wait_until(
                lambda: len(self.call("app.bsky.feed.getPosts", token=account.access_jwt,
                                      params={"uris": chunk})["posts"]) == len(chunk),
                timeout, f"the AppView to index {chunk}",
            )

    def wait_until(self, predicate, timeout: float = INDEX_TIMEOUT, message: str = "the AppView"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {message}")
            time.sleep(0.2)


def redis_host_of(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}"
