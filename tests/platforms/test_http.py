"""The outbound HTTP seam: address checks, redirects, retries, rate limits."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from relationships.platforms.http import (
    MalformedResponse,
    RateLimited,
    TransientError,
    UnsafeURL,
    backoff_delay,
    json_body,
    make_session,
    retry_transient,
    validate_base_url,
)
from relationships.platforms.ratelimit import RatePacer
from tests.fakes import FakeServer, Reply, self_signed_certificate, stub_resolver
from tests.fakes.fixtures import _plain_static_storage, clock, fake_bluesky, fake_mastodon  # noqa: F401

PUBLIC = "93.184.216.34"


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything reaches the transport."""
    calls = []

    def refuse(self, request, **kwargs):
        calls.append(request.url)
        raise AssertionError(f"connection attempted to {request.url}")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", refuse)
    return calls


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "https://127.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://0x7f000001/",
        "https://127.1/",
        "https://017700000001/",
        "https://[::ffff:10.0.0.1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://10.0.0.1/",
        "https://192.168.1.1/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://[fe80::1]/",
        "https://[fc00::1]/",
        "https://240.0.0.1/",
    ],
)
def test_a_non_public_address_is_refused_before_any_connection(url, no_network):
    def resolver(*args, **kwargs):
        raise AssertionError("literal addresses must not reach the resolver")

    with pytest.raises(UnsafeURL):
        make_session(False, resolver=resolver).get(url)
    assert no_network == []


def test_a_hostname_resolving_to_a_private_address_is_refused(no_network):
    session = make_session(False, resolver=stub_resolver({"intranet.example": ["10.1.2.3"]}))
    with pytest.raises(UnsafeURL, match="10.1.2.3"):
        session.get("https://intranet.example/api")
    assert no_network == []


def test_one_private_address_among_public_ones_is_enough_to_refuse(no_network):
    session = make_session(False, resolver=stub_resolver({"mixed.example": [PUBLIC, "127.0.0.1"]}))
    with pytest.raises(UnsafeURL):
        session.get("https://mixed.example/")


def test_plain_http_is_refused_even_for_a_public_host(no_network):
    session = make_session(False, resolver=stub_resolver({"social.example": [PUBLIC]}))
    with pytest.raises(UnsafeURL, match="https"):
        session.get("http://social.example/")


def test_metadata_and_multicast_addresses_stay_refused_when_private_hosts_are_allowed(no_network):
    session = make_session(True)
    for url in ("http://169.254.169.254/", "http://[fe80::1]/", "http://224.0.0.1/", "http://0.0.0.0/"):
        with pytest.raises(UnsafeURL):
            session.get(url)


def test_a_redirect_to_a_private_address_is_refused_when_seen(monkeypatch):
    hops = []

    def transport(self, request, **kwargs):
        hops.append(request.url)
        response = requests.Response()
        response.status_code = 302
        response.headers["Location"] = "https://internal.example/admin"
        response.url, response.request, response._content = request.url, request, b""
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", transport)
    resolver = stub_resolver({"public.example": [PUBLIC], "internal.example": ["192.168.1.5"]})
    with pytest.raises(UnsafeURL, match="192.168.1.5"):
        make_session(False, resolver=resolver).get("https://public.example/start")
    assert hops == ["https://public.example/start"]


def test_a_real_redirect_from_a_server_to_the_metadata_address_is_refused(fake_mastodon):
    fake_mastodon.route = lambda seen: Reply(302, None, {"Location": "http://169.254.169.254/latest/meta-data/"})
    with pytest.raises(UnsafeURL, match="link-local"):
        make_session(True).get(f"{fake_mastodon.url}/go")
    assert [s.path for s in fake_mastodon.requests] == ["/go"]


def test_the_connection_goes_to_the_checked_address_with_the_name_in_host(fake_bluesky):
    resolver = stub_resolver({"pds.example": ["127.0.0.1"]})
    response = make_session(True, resolver=resolver).get(f"http://pds.example:{fake_bluesky.port}/xrpc/nothing")
    assert response.status_code == 401  # the fake answered (it wants a token): no real DNS was used
    assert fake_bluesky.requests[-1].headers["host"] == f"pds.example:{fake_bluesky.port}"


def test_https_to_the_checked_address_still_verifies_the_certificate_for_the_name(tmp_path):
    cert, key = self_signed_certificate(tmp_path, "pds.example")
    server = FakeServer().start(tls=(cert, key))
    server.route = lambda seen: Reply(200, {"ok": True})
    try:
        resolver = stub_resolver({"pds.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
        session = make_session(True, resolver=resolver, retries=0)
        session.verify = cert
        assert session.get(f"https://pds.example:{server.port}/").json() == {"ok": True}
        assert server.requests[-1].headers["host"] == f"pds.example:{server.port}"
        with pytest.raises(TransientError, match="SSLError"):
            session.get(f"https://other.example:{server.port}/")  # the certificate names pds.example only
    finally:
        server.stop()


def test_a_bare_domain_or_a_pasted_profile_url_gives_the_server_origin():
    resolver = stub_resolver({"mastodon.social": [PUBLIC], "pds.example.com": [PUBLIC]})
    assert validate_base_url("Mastodon.Social", False, resolver) == "https://mastodon.social"
    assert validate_base_url("https://mastodon.social/@alice?x=1", False, resolver) == "https://mastodon.social"
    assert validate_base_url("pds.example.com:8443", False, resolver) == "https://pds.example.com:8443"
    assert validate_base_url("https://pds.example.com:443/", False, resolver) == "https://pds.example.com"


def test_a_server_address_on_a_private_network_is_refused_unless_allowed():
    resolver = stub_resolver({"pds.lan": ["192.168.1.20"]})
    with pytest.raises(UnsafeURL):
        validate_base_url("pds.lan", False, resolver)
    assert validate_base_url("http://pds.lan:2583", True, resolver) == "http://pds.lan:2583"
    with pytest.raises(UnsafeURL):
        validate_base_url("https://user:secret@pds.lan", True, resolver)
    with pytest.raises(UnsafeURL):
        validate_base_url("", True, resolver)


def test_two_503s_then_success_retry_with_growing_jittered_delays(fake_mastodon, clock):
    fake_mastodon.fail_next(503, times=2)
    session = make_session(True, sleep=clock.sleep, clock=clock.time, rand=lambda: 0.9)
    response = session.get(f"{fake_mastodon.url}/api/v1/accounts/verify_credentials",
                           headers={"Authorization": f"Bearer {fake_mastodon.token}"})
    assert response.status_code == 200
    assert [s.status for s in fake_mastodon.requests] == [503, 503, 200]
    assert clock.sleeps == pytest.approx([0.45, 0.9])


def test_full_jitter_stays_under_the_growing_ceiling():
    for attempt in range(6):
        ceiling = min(30.0, 0.5 * 2**attempt)
        assert all(0 <= backoff_delay(attempt) <= ceiling for _ in range(50))


def test_a_server_that_keeps_failing_gives_a_transient_error_after_the_retries(fake_mastodon, clock):
    fake_mastodon.fail_next(502, times=10)
    session = make_session(True, sleep=clock.sleep, clock=clock.time, retries=3)
    with pytest.raises(TransientError) as caught:
        session.get(f"{fake_mastodon.url}/api/v1/notifications")
    assert caught.value.status == 502 and not caught.value.permanent
    assert len(fake_mastodon.requests) == 4


def test_a_post_is_not_repeated_after_a_server_error(fake_bluesky, clock):
    fake_bluesky.fail_next(503, times=5)
    session = make_session(True, sleep=clock.sleep, clock=clock.time)
    with pytest.raises(TransientError):
        session.post(f"{fake_bluesky.url}/xrpc/com.atproto.repo.createRecord", json={})
    assert len(fake_bluesky.requests) == 1


def test_a_slow_server_times_out_as_a_transient_error(fake_mastodon):
    fake_mastodon.delay = 0.5
    session = make_session(True, timeout=(1, 0.1), retries=0)
    with pytest.raises(TransientError, match="Timeout"):
        session.get(f"{fake_mastodon.url}/api/v1/notifications")


def test_a_closed_port_is_a_transient_error():
    with pytest.raises(TransientError):
        make_session(True, retries=0).get("http://127.0.0.1:9/")


def test_retry_transient_gives_up_after_the_last_attempt():
    attempts, sleeps = [], []

    def flaky():
        attempts.append(1)
        raise TransientError("down")

    with pytest.raises(TransientError):
        retry_transient(flaky, attempts=3, sleep=sleeps.append, rand=lambda: 1.0)
    assert len(attempts) == 3 and sleeps == [0.5, 1.0]


def test_a_429_waits_for_the_announced_reset_then_repeats_the_same_request(fake_mastodon, clock):
    fake_mastodon.fail_next(429, reset_in=120)
    session = make_session(True, sleep=clock.sleep, clock=clock.time)
    start = clock.time()
    response = session.get(f"{fake_mastodon.url}/api/v1/notifications", params={"max_id": "7"},
                           headers={"Authorization": f"Bearer {fake_mastodon.token}"})
    assert response.status_code == 200
    assert [(s.status, s.query) for s in fake_mastodon.requests] == [(429, {"max_id": ["7"]}), (200, {"max_id": ["7"]})]
    assert 120 <= clock.time() - start <= 123


def test_a_429_resetting_beyond_the_maximum_wait_raises_rate_limited(fake_bluesky, clock):
    fake_bluesky.fail_next(429, reset_in=3600)
    session = make_session(True, sleep=clock.sleep, clock=clock.time, max_wait=900)
    with pytest.raises(RateLimited) as caught:
        session.get(f"{fake_bluesky.url}/xrpc/app.bsky.actor.getProfile")
    expected = clock.now() + dt.timedelta(seconds=3600)
    assert abs((caught.value.reset_at - expected).total_seconds()) <= 2
    assert clock.sleeps == [] and not caught.value.permanent


def test_a_low_budget_is_spread_until_the_reset_so_no_429_is_hit(fake_mastodon, clock):
    fake_mastodon.rate_limit(20, window=60)
    session = make_session(True, sleep=clock.sleep, clock=clock.time)
    for _ in range(45):
        session.get(f"{fake_mastodon.url}/api/v1/accounts/verify_credentials",
                    headers={"Authorization": f"Bearer {fake_mastodon.token}"})
    assert all(s.status == 200 for s in fake_mastodon.requests)
    assert len(clock.sleeps) > 5 and max(clock.sleeps) <= 60


class _Answer:
    def __init__(self, headers):
        self.headers = requests.structures.CaseInsensitiveDict(headers)


def test_mastodon_iso_and_bluesky_epoch_resets_land_on_the_local_clock(clock):
    pacer = RatePacer(clock=clock.time, sleep=clock.sleep, max_wait=900)
    server_now = clock.now() + dt.timedelta(hours=1)  # a server clock one hour ahead
    pacer.observe("https://m.example/x", _Answer({
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": (server_now + dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "Date": server_now.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    }))
    pacer.observe("https://b.example/x", _Answer({"ratelimit-remaining": "0",
                                                    "ratelimit-reset": str(int(clock.time()) + 40)}))
    assert pacer.reset_at("https://m.example/") == clock.now() + dt.timedelta(seconds=30)
    assert pacer.reset_at("https://b.example/") == clock.now() + dt.timedelta(seconds=40)
    pacer.before("https://m.example/next")
    assert clock.sleeps == [30]


def test_truncated_json_is_a_malformed_response(fake_mastodon):
    fake_mastodon.truncate_next()
    response = make_session(True).get(f"{fake_mastodon.url}/api/v1/accounts/verify_credentials",
                                      headers={"Authorization": f"Bearer {fake_mastodon.token}"})
    with pytest.raises(MalformedResponse) as caught:
        json_body(response)
    assert caught.value.permanent
