"""Rate-limit budgets shared by every worker: what one worker learns, the others respect.

"Workers" here are separate HTTP sessions, as each Celery process makes its
own; they share a budget store as the install's processes share Redis. The
Redis tests need a real Redis (``RAPPORT_TEST_REDIS_URL``): they skip on a
laptop without one and fail under ``RAPPORT_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections import Counter

import pytest

from relationships.platforms.http import PER_ADDRESS, PER_TOKEN, RateLimited, make_session
from relationships.platforms.ratelimit import PROBE_WAIT, LocalBudgets, RatePacer, in_flight_reserve, merge_observed
from relationships.platforms.shared_budget import RedisBudgets
from tests.conftest import need_service, port_open
from tests.fakes.mastodon_server import FakeMastodon
from tests.fakes.base import WallClock
from tests.fakes.fixtures import _plain_static_storage, clock, fake_bluesky, fake_mastodon  # noqa: F401


@pytest.fixture(params=["local", "redis"])
def budgets(request):
    """The install's budgets: this process's, or Redis's (every machine's)."""
    if request.param == "local":
        return LocalBudgets()
    return RedisBudgets(request.getfixturevalue("redis_url"))


def worker(budgets, clock, **options):
    return make_session(True, sleep=clock.sleep, clock=clock.time, budgets=budgets, **options)


def verify(session, server):
    return session.get(f"{server.url}/api/v1/accounts/verify_credentials",
                       headers={"Authorization": f"Bearer {server.token}"})


def each_at_once(sessions, server, requests: int) -> Counter:
    """Every session sends ``requests`` in a thread of its own, all starting together; the server's answers by status."""
    barrier = threading.Barrier(len(sessions))

    def work(session):
        barrier.wait()
        for _ in range(requests):
            try:
                verify(session, server)
            except RateLimited:  # the budget is spent and its reset further off than the session waits
                return

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return Counter(s.status for s in server.requests)


def test_a_spent_budget_seen_by_one_worker_stops_another_before_it_asks(budgets, fake_mastodon, clock):
    fake_mastodon.rate_limit(3, window=3600)
    first, second = (worker(budgets, clock, rate_scope=PER_TOKEN, max_wait=10) for _ in range(2))
    for _ in range(3):
        assert verify(first, fake_mastodon).status_code == 200

    with pytest.raises(RateLimited):
        verify(second, fake_mastodon)

    assert [s.status for s in fake_mastodon.requests] == [200] * 3  # no 429: the second never asked


def test_without_a_shared_budget_the_second_worker_runs_into_the_429(fake_mastodon, clock):
    fake_mastodon.rate_limit(3, window=3600)
    first, second = (worker(LocalBudgets(), clock, rate_scope=PER_TOKEN, max_wait=10) for _ in range(2))
    for _ in range(3):
        verify(first, fake_mastodon)
    with pytest.raises(RateLimited):
        verify(second, fake_mastodon)
    assert [s.status for s in fake_mastodon.requests] == [200, 200, 200, 429]


def test_a_429_pauses_the_host_for_every_worker_until_its_reset(budgets, fake_bluesky, clock):
    fake_bluesky.fail_next(429, reset_in=600)
    refused = worker(budgets, clock, max_wait=10)
    other = worker(budgets, clock, max_wait=10)
    url = f"{fake_bluesky.url}/xrpc/app.bsky.actor.getProfile"

    with pytest.raises(RateLimited) as first:
        refused.get(url)
    with pytest.raises(RateLimited) as second:
        other.get(url)

    assert len(fake_bluesky.requests) == 1  # the other worker never asked
    assert abs((second.value.reset_at - first.value.reset_at).total_seconds()) <= 2
    clock.advance(602)
    assert other.get(url).status_code != 429 and len(fake_bluesky.requests) == 2


def test_a_pds_counts_every_account_an_install_syncs_there_together_and_mastodon_each_token_apart():
    pds = [RatePacer.key("https://pds.example/xrpc/a"), RatePacer.key("https://PDS.example/xrpc/b")]
    tokens = [RatePacer.key("https://m.example/api", "Bearer one"), RatePacer.key("https://m.example/api", "Bearer two")]
    assert pds[0] == pds[1] and tokens[0] != tokens[1]
    assert "Bearer" not in tokens[0] and "one" not in tokens[0]
    by_address = make_session(True, rate_scope=PER_ADDRESS, budgets=LocalBudgets())
    by_token = make_session(True, rate_scope=PER_TOKEN, budgets=LocalBudgets())
    assert by_address._rate_token({"headers": {"Authorization": "Bearer one"}}) is None
    assert by_token._rate_token({"headers": {"Authorization": "Bearer one"}}) == "Bearer one"


def test_logins_announcing_their_own_per_account_limit_do_not_spend_the_hosts_budget(budgets, fake_bluesky, clock):
    """A PDS answers createSession with its own 30-per-account limit; 40 accounts logging in is no reason to stop."""
    fake_bluesky.rate_limit(30, window=300)  # what every createSession answer announces, as the PDS does
    session = worker(budgets, clock, max_wait=10)
    login = f"{fake_bluesky.url}/xrpc/com.atproto.server.createSession"
    for _ in range(30):
        session.post(login, json={"identifier": fake_bluesky.handle, "password": fake_bluesky.app_password})
    fake_bluesky.rate_limit(3000, window=300)

    profile = session.get(f"{fake_bluesky.url}/xrpc/app.bsky.actor.getProfile")

    assert profile.status_code != 429 and clock.sleeps == []  # neither refused nor held back by the logins' budget


@pytest.mark.parametrize(
    "stored, seen, expected",
    [
        ((None, None), (10, 1060.0), (10, 1060.0)),  # first answer
        ((10, 1060.0), (12, 1060.5), (10, 1060.5)),  # same window: only lower
        ((10, 1060.0), (7, 1059.0), (7, 1060.0)),
        ((3, 1060.0), (290, 1360.0), (287, 1360.0)),  # a new window: 1% held back for requests in flight
        ((290, 1360.0), (2, 1060.0), (290, 1360.0)),  # a stale answer from the last window
        ((5, 990.0), (8, 1050.0), (8, 1050.0)),  # the stored window has passed
        ((5, 990.0), (2, 980.0), (300, None)),  # ...and the answer is from it: the next is counted from its limit
        ((5, 1060.0), (4, None), (4, 1060.0)),  # no reset announced
        ((27, None), (29, 1060.0), (27, 1060.0)),  # a window counted down from its limit: only lower
        ((27, None), (5, 990.0), (27, None)),  # an answer from the window before it
    ],
)
def test_redis_and_the_process_merge_answers_alike(redis_url, stored, seen, expected):
    now = 1000.0
    local, shared = LocalBudgets(), RedisBudgets(redis_url)
    for store in (local, shared):
        if stored != (None, None):
            stored_at = now if stored[1] is None or stored[1] > now else stored[1] - 1
            store.observe("k", stored[0], 300, stored[1], stored_at)
        store.observe("k", seen[0], 300, seen[1], now)
    assert merge_observed(*stored, *seen, now, 300) == expected
    assert (local.peek("k").remaining, local.peek("k").reset) == expected
    assert (shared.peek("k").remaining, shared.peek("k").reset) == expected


def test_after_the_reset_a_window_is_counted_down_from_its_limit_until_an_answer_tells_its_reset(budgets):
    budgets.observe("k", 0, 30, 1060.0, 1000.0)
    assert budgets.take("k", 1000.0).remaining == 0  # spent: the caller waits
    budgets.take("k", 1061.0)
    budgets.take("k", 1061.5)
    assert (budgets.peek("k").remaining, budgets.peek("k").reset) == (28, None)
    budgets.observe("k", 29, 30, 1120.0, 1062.0)  # the first answer knew of one request only
    assert (budgets.peek("k").remaining, budgets.peek("k").reset) == (28, 1120.0)


def test_a_worker_that_waited_for_the_reset_holds_a_place_in_the_next_window(budgets, clock):
    pacer = RatePacer(clock=clock.time, sleep=clock.sleep, max_wait=120, budgets=budgets)
    url = "https://social.example/api/v1/timelines/home"
    budgets.observe(pacer.key(url, "t"), 0, 300, clock.time() + 40, clock.time())
    pacer.before(url, "t")
    assert clock.sleeps == [40.0]
    assert budgets.peek(pacer.key(url, "t")).remaining == 299


def test_pacing_a_low_budget_ends_before_the_reset(clock):
    pacer = RatePacer(clock=clock.time, sleep=clock.sleep, max_wait=120)
    url = "https://social.example/api/v1/timelines/home"
    pacer.budgets.observe(pacer.key(url), 2, 300, clock.time() + 21, clock.time())
    pacer.before(url)
    pacer.before(url)
    assert clock.sleeps == [10.0, 10.0]  # the last goes out a second before the reset, not at it


def test_workers_taking_from_one_redis_budget_at_once_never_spend_more_than_is_left(redis_url):
    shared = RedisBudgets(redis_url)
    shared.observe("host token", 100, 300, 2000.0, 1000.0)
    barrier = threading.Barrier(8)
    got: Counter = Counter()

    def spend():
        mine = RedisBudgets(redis_url)
        barrier.wait()
        for _ in range(40):
            budget = mine.take("host token", 1000.0)
            got["granted" if budget.remaining > 0 else "refused"] += 1

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert got == {"granted": 100, "refused": 220}
    assert shared.peek("host token").remaining == 0


def test_workers_pacing_against_redis_at_once_stay_inside_the_servers_limit(redis_url):
    # Real time: the workers' waits for a reset overlap as real workers' do.
    # Windows of 3 s keep the test short and still apart from SAME_WINDOW.
    clock = WallClock()
    server = FakeMastodon(clock).start()
    try:
        server.rate_limit(30, window=3)
        verify(worker(RedisBudgets(redis_url), clock, rate_scope=PER_TOKEN), server)  # the budget is known

        sessions = [worker(RedisBudgets(redis_url), clock, rate_scope=PER_TOKEN) for _ in range(4)]
        statuses = each_at_once(sessions, server, 20)
    finally:
        server.stop()

    assert statuses[200] == 81 and statuses[429] == 0, statuses


def test_an_unreachable_redis_leaves_each_worker_pacing_alone(fake_mastodon, clock):
    gone = RedisBudgets("redis://127.0.0.1:9/0")
    fake_mastodon.rate_limit(2, window=60)
    session = worker(gone, clock, rate_scope=PER_TOKEN)
    for _ in range(4):
        assert verify(session, fake_mastodon).status_code == 200
    assert [s.status for s in fake_mastodon.requests] == [200] * 4
    assert gone.down


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, on a free port, that the test may restart as an operator would."""
    binary = shutil.which("redis-server")
    need_service(binary is not None, "redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = _RedisServer(binary, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class _RedisServer:
    def __init__(self, binary: str, port: int):
        self.binary, self.port, self.process = binary, port, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def restart(self) -> None:
        """Stopped and started again, empty: the install's Redis keeps nothing on disk."""
        self.stop()
        self.start()


def test_after_redis_restarts_empty_mid_window_workers_learn_the_budget_again_without_a_429(own_redis):
    # The server's window is partly spent when Redis comes back knowing nothing. Four workers that
    # each send at once would each be answered a "remaining" that does not count the others' requests
    # in flight; one request finds the budget out while the others wait for its answer. The window is
    # long and the workers stop at the spent budget (RateLimited) rather than wait for its reset, so
    # only what a restart does is measured, not a window's turn (docs/SCALING.md: still open).
    clock = WallClock()
    while clock.time() % 60 > 45:  # the whole test inside one of the server's 60 s windows
        time.sleep(0.5)
    server = FakeMastodon(clock).start()
    try:
        server.rate_limit(30, window=60)
        server.delay = 0.05  # requests are in flight a while, as over a network
        sessions = [worker(RedisBudgets(own_redis.url), clock, rate_scope=PER_TOKEN, max_wait=1) for _ in range(4)]
        for session in sessions:
            for _ in range(3):
                verify(session, server)  # 12 of the window's 30 spent, and known in Redis
        own_redis.restart()
        statuses = each_at_once(sessions, server, 12)
    finally:
        server.stop()

    assert statuses[200] == 30 and statuses[429] == 0, statuses


def test_a_bucket_no_answer_has_told_of_lets_one_request_find_it_out_while_the_others_wait(budgets):
    assert budgets.take("k", 1000.0) is None  # this request goes, alone
    waiting = budgets.take("k", 1000.1)
    assert waiting.probe_until == 1000.0 + PROBE_WAIT and waiting.remaining is None
    budgets.observe("k", 17, 30, 1060.0, 1000.2)  # its answer: what is left, with nothing else in flight
    assert budgets.take("k", 1000.3).remaining == 17
    assert budgets.peek("k").remaining == 16


def test_a_request_sent_to_find_a_bucket_out_that_never_answers_holds_the_others_back_only_a_while(budgets, clock):
    pacer = RatePacer(clock=clock.time, sleep=clock.sleep, max_wait=120, budgets=budgets)
    url = "https://pds.example/xrpc/app.bsky.feed.getAuthorFeed"
    budgets.take(pacer.key(url), clock.time())  # a worker that sent the first request, then died
    pacer.before(url)
    assert sum(clock.sleeps) == pytest.approx(PROBE_WAIT)
    assert budgets.take(pacer.key(url), clock.time()).probe_until > clock.time()  # this one went to find out


def test_a_host_that_announces_no_limits_is_heard_once_and_then_never_waited_for(budgets, clock):
    pacer = RatePacer(clock=clock.time, sleep=clock.sleep, max_wait=120, budgets=budgets)
    url = "https://quiet.example/api/v1/notifications"
    login = "https://pds.example/xrpc/com.atproto.server.createSession"
    for target in (url, login):
        pacer.before(target)
        pacer.observe(target, type("Answer", (), {"headers": {"Date": "Sun, 06 Dec 2026 05:00:00 GMT"}})())
        for _ in range(3):
            pacer.before(target)
    assert clock.sleeps == []


def test_an_answer_that_opens_the_next_window_holds_back_a_share_for_the_requests_still_in_flight(budgets):
    """The reset is known to the second: requests sent as the window turns are counted in the one they left."""
    budgets.observe("k", 900, 3000, 1300.0, 1000.0)
    for _ in range(6):
        budgets.take("k", 1299.6)  # six senders' requests leave just before this install's reset...
    budgets.observe("k", 2999, 3000, 1600.0, 1299.8)  # ...and the first answer is from the next window
    assert (budgets.peek("k").remaining, budgets.peek("k").reset) == (2999 - in_flight_reserve(3000), 1600.0)
    assert in_flight_reserve(3000) == 30 and in_flight_reserve(300) == 3 and in_flight_reserve(30) == 1


def test_a_window_spent_before_any_answer_told_its_reset_waits_for_the_first_answer(budgets, clock):
    """Answers without limits (or none yet) while the window's limit is taken must not let senders go uncounted."""
    url = "https://pds.example/xrpc/app.bsky.feed.getAuthorFeed"
    key = RatePacer.key(url)
    start = clock.time()
    budgets.observe(key, 0, 3, start + 1, start)
    clock.sleep(2)  # the window turned: it is counted down from its limit, 3
    told = []

    def sleep(seconds):
        clock.sleep(seconds)
        if not told and clock.time() - start > 2.5:  # the first answer of the window tells its reset
            told.append(budgets.observe(key, 0, 3, start + 32, clock.time()))

    pacer = RatePacer(clock=clock.time, sleep=sleep, max_wait=120, budgets=budgets)
    for _ in range(3):
        pacer.before(url)
    assert clock.time() == start + 2  # the window's three places
    pacer.before(url)
    assert told and clock.time() >= start + 32  # waited for the answer, then for the reset it told


def test_a_window_spent_while_answers_announce_nothing_is_waited_for_only_a_while(budgets, clock):
    url = "https://pds.example/xrpc/app.bsky.feed.getAuthorFeed"
    key = RatePacer.key(url)
    budgets.observe(key, 0, 2, clock.time() + 1, clock.time())
    clock.sleep(2)
    pacer = RatePacer(clock=clock.time, sleep=clock.sleep, max_wait=120, budgets=budgets)
    before = clock.time()
    for _ in range(3):
        pacer.before(url)
    assert clock.time() - before == pytest.approx(PROBE_WAIT)
