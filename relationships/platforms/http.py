"""The one outbound HTTP seam of Rapport.

Every request to a platform goes through a session made by :func:`make_session`.
Such a session:

* refuses, before any connection, a URL whose host is or resolves to a
  non-public address (each redirect hop is checked when it is seen), and
  connects to the very address it checked, so DNS rebinding cannot slip a
  private address in between the check and the connection;
* paces requests from the servers' rate-limit headers, in a budget per host
  and client that every worker may share (:mod:`.ratelimit`), waits
  in-process for a short rate-limit reset and raises :class:`RateLimited`
  for a long one;
* retries idempotent requests on 5xx answers, timeouts and connection errors
  with exponential backoff and full jitter, then raises :class:`TransientError`.

Errors form a small hierarchy; ``permanent`` says whether retrying the same
call later can help (the sync service maps them to a source state or a retry).
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from relationships.platforms.errors import (
    AuthError,
    MalformedResponse,
    NotFound,
    PlatformError,
    RateLimited,
    TransientError,
    UnsafeURL,
)
from relationships.platforms.ratelimit import LocalBudgets, RatePacer

__all__ = [
    "AuthError",
    "MalformedResponse",
    "NotFound",
    "PER_ADDRESS",
    "PER_TOKEN",
    "PlatformError",
    "RateLimited",
    "SafeSession",
    "TransientError",
    "URLGuard",
    "UnsafeURL",
    "address_problem",
    "backoff_delay",
    "json_body",
    "make_session",
    "raise_for_status",
    "retry_transient",
    "validate_base_url",
]

log = logging.getLogger(__name__)

Resolver = Callable[..., list]
DEFAULT_TIMEOUT = (5, 30)
MAX_BODY_BYTES = 20 * 1024 * 1024
USER_AGENT = "Rapport/1 (self-hosted; python-requests)"
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
#: Rate-limit scopes: the server counts per access token, or per client address.
PER_TOKEN, PER_ADDRESS = "token", "address"


# ---------------------------------------------------------------- address policy


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(address: str, allow_private_hosts: bool) -> str | None:
    """Why ``address`` may not be connected to, or None when it may.

    With ``allow_private_hosts`` (a self-hosted instance on the LAN, tests),
    loopback and private ranges are allowed; link-local (cloud metadata
    endpoints), multicast, unspecified and reserved addresses never are:
    no social server lives there.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_problem(str(inner), allow_private_hosts)
    if ip.is_loopback:
        # Checked first: ::1 also sits in the reserved ::/8.
        return None if allow_private_hosts else "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_reserved:
        return "reserved"
    if allow_private_hosts:
        return None
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "not public"
    return None


def _literal_ip(host: str) -> str | None:
    """The address a host names literally, in every form getaddrinfo accepts.

    ``inet_aton`` takes the legacy forms (``0x7f000001``, ``127.1``, octal),
    which must be caught here: a stub resolver in tests, or a resolver that
    does not parse them, would otherwise let them through.
    """
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return None


class Target:
    """A checked URL: the address to connect to and the Host header to send."""

    __slots__ = ("address", "hostname", "host_header")

    def __init__(self, address: str, hostname: str, host_header: str):
        self.address = address
        self.hostname = hostname
        self.host_header = host_header


class URLGuard:
    """Checks URLs against the address policy, resolving names with ``resolver``."""

    def __init__(self, allow_private_hosts: bool, resolver: Resolver = socket.getaddrinfo):
        self.allow_private_hosts = allow_private_hosts
        self.resolver = resolver

    def check(self, url: str) -> Target:
        """Return where to connect for ``url``; raise :class:`UnsafeURL` if it may not be fetched."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise UnsafeURL(f"not a valid URL: {url!r}") from e
        scheme = parts.scheme.lower()
        allowed = ("https", "http") if self.allow_private_hosts else ("https",)
        if scheme not in allowed:
            raise UnsafeURL(f"only {' or '.join(allowed)} URLs may be fetched, not {url!r}")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise UnsafeURL(f"URL has no host: {url!r}")
        if parts.username or parts.password:
            raise UnsafeURL("URLs with credentials in them are refused")
        port = port or (443 if scheme == "https" else 80)
        addresses = self._addresses(host, port)
        for address in addresses:
            problem = address_problem(address, self.allow_private_hosts)
            if problem:
                raise UnsafeURL(f"refused {host}: it resolves to {address}, which is {problem}")
        default = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
        shown = f"[{host}]" if ":" in host else host
        return Target(addresses[0], host, shown if default else f"{shown}:{port}")

    def _addresses(self, host: str, port: int) -> list[str]:
        literal = _literal_ip(host)
        if literal:
            return [literal]
        try:
            infos = self.resolver(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            raise TransientError(f"could not resolve {host}: {e}") from e
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not addresses:
            raise TransientError(f"{host} resolves to no address")
        return addresses


def validate_base_url(url_or_domain: str, allow_private_hosts: bool, resolver: Resolver = socket.getaddrinfo) -> str:
    """Normalise a server given as a bare domain or a URL to ``https://host[:port]``.

    Path, query and fragment are dropped (people paste profile URLs); ``http``
    is kept only with ``allow_private_hosts``. Raises :class:`UnsafeURL` when
    the server may not be contacted, :class:`TransientError` when its name
    does not resolve right now.
    """
    text = (url_or_domain or "").strip()
    if not text:
        raise UnsafeURL("no server given")
    if "://" not in text:
        text = "https://" + text.lstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
        host = (parts.hostname or "").rstrip(".").encode("idna").decode("ascii").lower()
    except (ValueError, UnicodeError) as e:
        raise UnsafeURL(f"not a valid server address: {url_or_domain!r}") from e
    scheme = parts.scheme.lower()
    default_port = {"https": 443, "http": 80}.get(scheme)
    shown = f"[{host}]" if ":" in host else host
    origin = f"{scheme}://{shown}" + (f":{port}" if port and port != default_port else "")
    if parts.username or parts.password:
        raise UnsafeURL("server addresses with credentials in them are refused")
    URLGuard(allow_private_hosts, resolver).check(origin + "/")
    return origin


# ---------------------------------------------------------------- transport


class _GuardedAdapter(HTTPAdapter):
    """Checks each hop's URL and connects to the address that was checked."""

    def __init__(self, guard: URLGuard, max_body: int = MAX_BODY_BYTES):
        super().__init__()
        self._guard = guard
        self._max_body = max_body

    def send(self, request, stream=False, **kwargs):
        target = self._guard.check(request.url)
        request = request.copy()
        # The connection goes to the checked address; the name still travels
        # in Host (and in SNI / certificate checks, see below).
        request.headers["Host"] = target.host_header
        request._rapport_target = target
        response = super().send(request, stream=True, **kwargs)
        if not stream:
            self._read_capped(response)
        return response

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        target = getattr(request, "_rapport_target", None)
        if target is not None:
            if host_params["scheme"] == "https":
                pool_kwargs["server_hostname"] = target.hostname
                pool_kwargs["assert_hostname"] = target.hostname
            host_params["host"] = target.address
        return host_params, pool_kwargs

    def _read_capped(self, response: requests.Response) -> None:
        if response._content is not False:  # already read (a transport that buffers)
            return
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > self._max_body:
                    raise MalformedResponse(f"response larger than {self._max_body} bytes", status=response.status_code)
                chunks.append(chunk)
        finally:
            response.close()
        response._content = b"".join(chunks)


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return rand() * min(cap, base * (2**attempt))


def retry_transient(
    call: Callable[[], Any],
    *,
    attempts: int = 4,
    base: float = 0.5,
    cap: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> Any:
    """Call ``call``; on :class:`TransientError` wait (full jitter) and retry, ``attempts`` calls in all."""
    for attempt in range(attempts):
        try:
            return call()
        except TransientError as e:
            if attempt + 1 >= attempts:
                raise
            delay = backoff_delay(attempt, base, cap, rand)
            log.info("transient error (%s), retry %d in %.2fs", e, attempt + 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")


class SafeSession(requests.Session):
    """A requests session bound to the address policy, pacing and retry rules.

    Use :func:`make_session`; Mastodon.py and the atproto bridge use it as a
    plain ``requests.Session``. It never returns a 429 or 5xx response: it
    waits and retries, or raises :class:`RateLimited` / :class:`TransientError`.
    """

    def __init__(
        self, guard: URLGuard, *, timeout, sleep, clock, rand, max_wait: float, retries: int, backoff_base: float,
        budgets: LocalBudgets | None = None, rate_scope: str = PER_ADDRESS,
    ):
        super().__init__()
        # Environment proxies would resolve names themselves and defeat the check.
        self.trust_env = False
        self.max_redirects = 5
        self.headers["User-Agent"] = USER_AGENT
        self.guard = guard
        self.timeout = timeout
        self.retries = retries
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._rand = rand
        self.pacer = RatePacer(clock=clock, sleep=sleep, max_wait=max_wait, budgets=budgets)
        self.rate_scope = rate_scope
        adapter = _GuardedAdapter(guard)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def validate_base_url(self, url_or_domain: str) -> str:
        """:func:`validate_base_url` with this session's policy and resolver."""
        return validate_base_url(url_or_domain, self.guard.allow_private_hosts, self.guard.resolver)

    def retry(self, call: Callable[[], Any]) -> Any:
        """Run an idempotent ``call`` that is not a GET (a Mastodon follow) with this session's retry rules."""
        return retry_transient(call, attempts=1 + self.retries, base=self.backoff_base, sleep=self._sleep, rand=self._rand)

    def request(self, method, url, *args, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        attempts = 1 + self.retries if method.upper() in _IDEMPOTENT else 1
        return retry_transient(
            lambda: self._send_paced(method, url, *args, **kwargs),
            attempts=attempts,
            base=self.backoff_base,
            sleep=self._sleep,
            rand=self._rand,
        )

    def _rate_token(self, kwargs) -> str | None:
        """The token a per-token server counts this request under; None when it counts the address."""
        if self.rate_scope != PER_TOKEN:
            return None
        return (kwargs.get("headers") or {}).get("Authorization") or self.headers.get("Authorization")

    def _send_paced(self, method, url, *args, **kwargs):
        token = self._rate_token(kwargs)
        for _ in range(4):
            self.pacer.before(url, token)
            try:
                response = super().request(method, url, *args, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as e:
                raise TransientError(f"{method} {_safe(url)}: {type(e).__name__}") from e
            except requests.RequestException as e:
                if isinstance(e, requests.TooManyRedirects):
                    raise PlatformError(f"{method} {_safe(url)}: too many redirects", permanent=True) from e
                raise TransientError(f"{method} {_safe(url)}: {type(e).__name__}") from e
            self.pacer.observe(url, response, token)
            if response.status_code == 429:
                self.pacer.wait_after_429(url, response, token)
                continue
            if response.status_code >= 500:
                raise TransientError(f"{method} {_safe(url)} answered {response.status_code}", status=response.status_code)
            return response
        raise RateLimited(self.pacer.reset_at(url, token), "still rate limited after waiting for the reset")


def _safe(url: str) -> str:
    """The URL without its query, which may carry tokens or cursors, for messages and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def make_session(
    allow_private_hosts: bool,
    timeout=DEFAULT_TIMEOUT,
    *,
    resolver: Resolver = socket.getaddrinfo,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    rand: Callable[[], float] = random.random,
    max_wait: float = 15 * 60,
    retries: int = 3,
    backoff_base: float = 0.5,
    budgets: LocalBudgets | None = None,
    rate_scope: str = PER_ADDRESS,
) -> SafeSession:
    """Build the HTTP session every platform call must use.

    ``allow_private_hosts`` allows http and loopback / private addresses (a
    self-hosted server on the LAN, tests). ``resolver`` has the signature of
    ``socket.getaddrinfo``; ``sleep`` and ``clock`` (epoch seconds) drive
    pacing, rate-limit waits and retries; a rate-limit reset more than
    ``max_wait`` seconds away raises :class:`RateLimited` instead of sleeping.
    Idempotent requests are retried ``retries`` times on transient errors.
    ``budgets`` holds the rate-limit budgets (this session's own by default;
    the services pass the install's shared ones); ``rate_scope`` says whether
    the server counts requests per token (:data:`PER_TOKEN`) or per address.
    """
    guard = URLGuard(allow_private_hosts, resolver)
    return SafeSession(
        guard,
        timeout=timeout,
        sleep=sleep,
        clock=clock,
        rand=rand,
        max_wait=max_wait,
        retries=retries,
        backoff_base=backoff_base,
        budgets=budgets,
        rate_scope=rate_scope,
    )


# ---------------------------------------------------------------- answers


def raise_for_status(response: requests.Response, what: str = "") -> None:
    """Raise the :class:`PlatformError` a 4xx answer means; do nothing on success."""
    code = response.status_code
    if code < 400:
        return
    what = what or _safe(response.url or "")
    detail = _error_text(response)
    message = f"{what} answered {code}" + (f": {detail}" if detail else "")
    if code == 401:
        raise AuthError(message, status=code)
    if code == 404:
        raise NotFound(message, status=code)
    if code == 429:
        raise TransientError(message, status=code)
    raise PlatformError(message, status=code, permanent=True)


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message", "error_description") if body.get(k)]
        return ": ".join(parts)[:300]
    return ""


def json_body(response: requests.Response, expect: type | tuple[type, ...] = (dict, list)) -> Any:
    """The JSON body of a successful answer, of type ``expect``; else :class:`MalformedResponse`."""
    try:
        body = response.json()
    except ValueError as e:
        raise MalformedResponse(
            f"{_safe(response.url or '')} answered invalid JSON ({len(response.content)} bytes)",
            status=response.status_code,
        ) from e
    if not isinstance(body, expect):
        raise MalformedResponse(f"{_safe(response.url or '')} answered an unexpected JSON shape", status=response.status_code)
    return body
