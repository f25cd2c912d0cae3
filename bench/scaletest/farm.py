"""Platform servers for the scale test: many accounts on one fake Mastodon instance or one fake PDS.

One process serves one platform host. Each account is a tenant: a whole
:class:`tests.fakes.mastodon_server.FakeMastodon` or
:class:`tests.fakes.bluesky_server.FakeBluesky` (its own "alice", the people
she talks with, their posts), picked by the request's token. In front of the
tenants, the host enforces the limits the real servers enforce, in real time,
keyed by what the real servers key them by (PLATFORMS.md 1.9 and 2.6):

* Mastodon: 300 requests / 5 min per access token; 300 / 15 min per user for
  paging requests (``max_id``, ``min_id``, ``since_id``); 300 / 5 min per
  client address for requests without a token.
* Bluesky PDS: 3,000 requests / 5 min per client address for everything;
  ``createSession`` 30 / 5 min per identifier and address.

Every request waits ``--latency`` seconds first, as a server across a network
does. Requests from the host's own addresses (``--own``: the audit, which
runs on the same host and reaches every farm from the host's first address)
are neither limited nor counted. ``GET /__farm/stats`` reports, for each
limit, the most requests any key *attempted* in one window, and the 429s
answered, with the keys (client addresses, tokens) that were refused.

    python -m bench.scaletest.farm --platform mastodon --listen 10.77.0.21 --port 8000 \
        --accounts 0:700 --seed 1 --latency 0.05 --activity-every 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.fakes.base import Reply, Seen, read_request, send_reply
from tests.fakes.bluesky_server import FakeBluesky
from tests.fakes.mastodon_server import FakeMastodon

MASTODON, BLUESKY = "mastodon", "bluesky"


class RealClock:
    """The wall clock, in the shape of tests.fakes.base.FakeClock."""

    def time(self) -> float:
        return time.time()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


CLOCK = RealClock()


def mastodon_token(index: int) -> str:
    return f"scale-mastodon-{index:06d}"


def bluesky_handle(index: int) -> str:
    return f"u{index:06d}.pds.test"


def bluesky_did(index: int) -> str:
    return f"did:plc:scale{index:019d}"


APP_PASSWORD = "scal-etes-tpas-swrd"


class MastodonTenant(FakeMastodon):
    """One account of a shared instance: its URLs are the instance's, its user is ``alice`` of this tenant."""

    def __init__(self, base_url: str, token: str):
        super().__init__(clock=CLOCK)
        self._base_url = base_url
        self.token = token

    @property
    def url(self) -> str:
        return self._base_url

    @property
    def domain(self) -> str:
        return urlsplit(self._base_url).netloc


class BlueskyTenant(FakeBluesky):
    def __init__(self, index: int):
        super().__init__(clock=CLOCK)
        self.me = bluesky_did(index)
        self.handle = bluesky_handle(index)
        self.app_password = APP_PASSWORD


def build_tenant(platform: str, index: int, base_url: str, seed: int):
    """A tenant with a believable past: a few people who mention, like and get replies, over 30 days."""
    rng = random.Random(seed * 1_000_003 + index)
    if platform == MASTODON:
        tenant = MastodonTenant(base_url, mastodon_token(index))
        tenant.seed()
        mine = [tenant.add_status(tenant.me, f"post {n}") for n in range(rng.randint(2, 6))]
        for p in range(rng.randint(3, 10)):
            other = tenant.add_account(f"p{index}x{p}", None if p % 3 else "elsewhere.example", display_name=f"P {p}")
            theirs = tenant.add_status(other, "their post")
            for _ in range(rng.randint(0, 3)):
                tenant.add_status(other, "hi @alice", mentions=[tenant.me])
            for _ in range(rng.randint(0, 2)):
                tenant.favourite_by(other, rng.choice(mine))
            if rng.random() < 0.5:
                tenant.add_status(tenant.me, "a reply", in_reply_to=theirs, mentions=[other])
            if rng.random() < 0.3:
                tenant.favourite(theirs)
        return tenant
    tenant = BlueskyTenant(index)
    tenant.seed()
    mine = [tenant.add_post(tenant.me, f"post {n}") for n in range(rng.randint(2, 6))]
    for p in range(rng.randint(3, 10)):
        other = tenant.add_account(f"p{index}x{p}.pds.test", did=f"did:plc:p{index:09d}x{p:013d}")
        theirs = tenant.add_post(other, "their post")
        for _ in range(rng.randint(0, 3)):
            tenant.add_post(other, "hi", mentions=[tenant.me])
        for _ in range(rng.randint(0, 2)):
            tenant.add_like(other, rng.choice(mine))
        if rng.random() < 0.5:
            tenant.add_post(tenant.me, "a reply", reply_to=theirs)
    return tenant


def add_activity(platform: str, tenant, rng: random.Random) -> None:
    """Something new happens to this account now: someone mentions it."""
    now = dt.datetime.now(dt.UTC)
    if platform == MASTODON:
        other = rng.choice([a for a in tenant.accounts.values() if a["id"] != tenant.me["id"]])
        tenant.add_status(other, "new @alice", mentions=[tenant.me], created_at=now)
    else:
        other = rng.choice([d for d in tenant.accounts if d != tenant.me])
        tenant.add_post(other, "new", mentions=[tenant.me], at=now)


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window: float


MASTODON_LIMITS = {
    "per-token": Limit("per-token", 300, 300.0),
    "paging-per-user": Limit("paging-per-user", 300, 900.0),
    "unauthenticated-per-ip": Limit("unauthenticated-per-ip", 300, 300.0),
}
BLUESKY_LIMITS = {
    "global-ip": Limit("global-ip", 3000, 300.0),
    "create-session": Limit("create-session", 30, 300.0),
}


class Ledger:
    """Fixed windows (aligned to the period, as Rails and the PDS align them), counted per key."""

    def __init__(self, limits: dict[str, Limit]):
        self.limits = limits
        self.counts: dict[tuple[str, str, float], int] = defaultdict(int)
        self.most: dict[str, int] = defaultdict(int)
        self.throttled: dict[str, int] = defaultdict(int)
        #: limit -> key -> 429s answered to it
        self.refused: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.first_throttle_at: float | None = None
        self.requests = 0
        self.lock = threading.Lock()

    def spend(self, keys: list[tuple[str, str]], now: float) -> tuple[bool, dict]:
        """Count one attempt under each (limit, key); refuse if any is over. Returns (allowed, closest limit)."""
        with self.lock:
            self.requests += 1
            closest, allowed = None, True
            for name, key in keys:
                limit = self.limits[name]
                start = now // limit.window * limit.window
                slot = (name, key, start)
                self.counts[slot] += 1
                used = self.counts[slot]
                self.most[name] = max(self.most[name], used)
                if used > limit.limit:
                    allowed = False
                    self.throttled[name] += 1
                    self.refused[name][key] += 1
                    if self.first_throttle_at is None:
                        self.first_throttle_at = now
                remaining = max(0, limit.limit - used)
                if closest is None or remaining < closest[1]:
                    closest = (limit, remaining, start + limit.window)
            return allowed, {"limit": closest[0].limit, "remaining": closest[1], "reset": closest[2],
                             "window": closest[0].window} if closest else {}

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": self.requests,
                "limits": {n: {"limit": l.limit, "window": l.window, "most_attempted_in_a_window": self.most.get(n, 0),
                               "throttled": self.throttled.get(n, 0), "refused": dict(self.refused.get(n, {}))}
                           for n, l in self.limits.items()},
                "first_throttle_at": self.first_throttle_at,
            }


class Farm:
    def __init__(self, platform: str, base_url: str, indices: range, seed: int, latency: float, own: set[str]):
        self.platform, self.latency, self.own = platform, latency, own
        self.ledger = Ledger(MASTODON_LIMITS if platform == MASTODON else BLUESKY_LIMITS)
        self.tenants = {i: build_tenant(platform, i, base_url, seed) for i in indices}
        self.locks = {i: threading.Lock() for i in indices}
        self.by_token: dict[str, int] = {}
        self.by_handle: dict[str, int] = {}
        for i, t in self.tenants.items():
            if platform == MASTODON:
                self.by_token[t.token] = i
            else:
                self.by_handle[t.handle] = i
                self.by_handle[t.me] = i
        self.activity = 0
        self.quiet = False
        self.last_activity: dict[int, float] = {}
        self.token_lock = threading.Lock()

    # -------------------------------------------------------- limits

    def _keys(self, seen: Seen, client: str, tenant: int | None) -> list[tuple[str, str]]:
        if self.platform == MASTODON:
            if seen.bearer is None:
                return [("unauthenticated-per-ip", client)]
            keys = [("per-token", seen.bearer)]
            if any(seen.param(p) for p in ("max_id", "min_id", "since_id", "page")):
                keys.append(("paging-per-user", str(tenant)))
            return keys
        keys = [("global-ip", client)]
        if seen.path.endswith("com.atproto.server.createSession"):
            ident = (seen.json or {}).get("identifier", "")
            keys.append(("create-session", f"{ident}|{client}"))
        return keys

    def _headers(self, budget: dict) -> dict[str, str]:
        if not budget:
            return {}
        if self.platform == MASTODON:
            reset = dt.datetime.fromtimestamp(budget["reset"], dt.UTC)
            return {"X-RateLimit-Limit": str(budget["limit"]), "X-RateLimit-Remaining": str(budget["remaining"]),
                    "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        return {"ratelimit-limit": str(budget["limit"]), "ratelimit-remaining": str(budget["remaining"]),
                "ratelimit-reset": str(int(-(-budget["reset"] // 1))),
                "ratelimit-policy": f"{budget['limit']};w={int(budget['window'])}"}

    def _too_many(self, budget: dict) -> Reply:
        body = ({"error": "Too many requests"} if self.platform == MASTODON
                else {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"})
        return Reply(429, body, self._headers({**budget, "remaining": 0}))

    # -------------------------------------------------------- dispatch

    def tenant_of(self, seen: Seen) -> int | None:
        if self.platform == MASTODON:
            return self.by_token.get(seen.bearer or "")
        if seen.path.endswith("com.atproto.server.createSession"):
            return self.by_handle.get((seen.json or {}).get("identifier", ""))
        with self.token_lock:
            return self.by_token.get(seen.bearer or "")

    def answer(self, seen: Seen, client: str) -> Reply:
        if seen.path == "/__farm/stats":
            return Reply(200, {**self.ledger.stats(), "activity": self.activity, "tenants": len(self.tenants)})
        if seen.path == "/__farm/activity":
            return Reply(200, {str(i): at for i, at in self.last_activity.items()})
        if seen.path == "/__farm/quiet" and seen.method == "POST":
            self.quiet = True
            return Reply(200, {"activity": self.activity})
        audit = client in self.own
        if not audit and self.latency:
            time.sleep(self.latency)
        index = self.tenant_of(seen)
        budget = {}
        if not audit:
            allowed, budget = self.ledger.spend(self._keys(seen, client, index), time.time())
            if not allowed:
                return self._too_many(budget)
        if index is None:
            if self.platform == MASTODON:
                return Reply(401, {"error": "The access token is invalid"})
            return Reply(400, {"error": "InvalidToken", "message": "Token could not be verified"})
        tenant = self.tenants[index]
        with self.locks[index]:
            reply = tenant.route(seen)
            if hasattr(reply.body, "keys"):
                reply.body = tenant._public(reply.body) if self.platform == MASTODON else reply.body
        if self.platform == BLUESKY and reply.status == 200 and isinstance(reply.body, dict):
            with self.token_lock:
                for name in ("accessJwt", "refreshJwt"):
                    if reply.body.get(name):
                        self.by_token[reply.body[name]] = index
        reply.headers = {**self._headers(budget), **reply.headers}
        return reply

    def activity_loop(self, every: float, seed: int) -> None:
        rng = random.Random(seed)
        indices = list(self.tenants)
        while every > 0 and not self.quiet:
            time.sleep(every)
            if self.quiet:
                break
            index = rng.choice(indices)
            with self.locks[index]:
                add_activity(self.platform, self.tenants[index], rng)
                self.last_activity[index] = time.time()
            self.activity += 1


def handler_for(farm: Farm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # noqa: A002
            pass

        def date_time_string(self, timestamp=None):
            return email.utils.formatdate(time.time(), usegmt=True)

        def _serve(self):
            seen = read_request(self)
            try:
                reply = farm.answer(seen, self.client_address[0])
            except Exception as e:  # a tenant bug must show, not hang the client
                reply = Reply(500, {"error": f"farm: {type(e).__name__}: {e}"})
            send_reply(self, reply)

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

    return Handler


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--platform", choices=[MASTODON, BLUESKY], required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--accounts", required=True, help="first:end account indices")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--activity-every", type=float, default=0.0)
    parser.add_argument("--own", default="", help="more addresses of this host, comma-separated (the audit's)")
    return parser.parse_args(argv)


def own_addresses(args: argparse.Namespace) -> set[str]:
    """The addresses whose requests the farm neither limits nor counts."""
    return {args.listen, "127.0.0.1", *filter(None, args.own.split(","))}


def main() -> None:
    args = arguments()
    first, end = (int(x) for x in args.accounts.split(":"))
    base_url = f"http://{args.listen}:{args.port}"
    farm = Farm(args.platform, base_url, range(first, end), args.seed, args.latency, own_addresses(args))
    server = ThreadingHTTPServer((args.listen, args.port), handler_for(farm))
    server.daemon_threads = True
    server.request_queue_size = 256
    threading.Thread(target=farm.activity_loop, args=(args.activity_every, args.seed), daemon=True).start()
    print(f"ready {args.platform} {base_url} tenants={len(farm.tenants)}", flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
