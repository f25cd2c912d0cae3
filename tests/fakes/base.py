"""A threaded fake HTTP server on 127.0.0.1 with switchable faults.

Platform fakes subclass :class:`FakeServer` and implement :meth:`route`.
Every request is recorded (``server.requests``); tests switch on failures
(``fail_next``), slowness (``delay``), truncated JSON (``truncate_next``)
and rate limits (``rate_limit``). Rate-limit windows and the ``Date`` header
follow a :class:`FakeClock` that the client can share (``sleep=clock.sleep,
clock=clock.time``), so waiting for a reset takes no real time.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

EPOCH = dt.datetime(2026, 8, 1, 12, 0, tzinfo=dt.UTC)


class FakeClock:
    """A clock that only moves when told to (or when something sleeps on it)."""

    def __init__(self, start: dt.datetime = EPOCH):
        self._now = start.timestamp()
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def time(self) -> float:
        with self._lock:
            return self._now

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), dt.UTC)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class WallClock:
    """Real time, for a test whose threads sleep at once.

    A :class:`FakeClock` adds every sleep to one time, so four threads each
    waiting 40 s for the same reset move it 160 s, past windows no real
    worker would skip; real sleeps overlap.
    """

    @staticmethod
    def time() -> float:
        return time.time()

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), dt.UTC)


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int
    times: int
    after: int
    path: str | None
    body: Any
    headers: dict[str, str]
    reset_in: float | None


class FakeServer:
    """Base of the platform fakes: lifecycle, recording, faults and rate limits."""

    def __init__(self, clock: FakeClock | None = None):
        self.clock = clock or FakeClock()
        self.requests: list[Seen] = []
        self.delay = 0.0
        self._faults: list[_Fault] = []
        self._truncate = 0
        self._truncate_path: str | None = None
        self._limit: tuple[int, float, bool] | None = None
        self._window_end = 0.0
        self._window_used = 0
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._scheme = "http"
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------- lifecycle

    def start(self, tls: tuple[str, str] | None = None) -> FakeServer:
        """Serve on an ephemeral port; ``tls`` = (certificate file, key file) serves HTTPS."""
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        self.seed()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the server first"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def seed(self) -> None:
        """Create the data every test starts from (the user's own account)."""

    # -------------------------------------------------------- switches

    def fail_next(
        self,
        status: int = 503,
        times: int = 1,
        *,
        after: int = 0,
        path: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        reset_in: float | None = None,
    ) -> None:
        """Answer ``status`` to ``times`` requests (to ``path`` if given) after letting ``after`` through.

        For a 429, ``reset_in`` seconds (default 60) sets the announced reset.
        """
        with self._lock:
            self._faults.append(_Fault(status, times, after, path, body, headers or {}, reset_in))

    def truncate_next(self, times: int = 1, *, path: str | None = None) -> None:
        """Cut the JSON body of the next ``times`` successful answers (to ``path`` if given) in half."""
        with self._lock:
            self._truncate += times
            self._truncate_path = path

    def rate_limit(self, limit: int, window: float = 300.0, *, announce: bool = True) -> None:
        """Allow ``limit`` requests per ``window`` seconds of the fake clock, then answer 429.

        With ``announce`` the budget is sent on every answer, as the real servers do.
        """
        with self._lock:
            self._limit = (limit, window, announce)
            self._window_end, self._window_used = 0.0, 0

    def calls(self, path: str | None = None, method: str | None = None) -> list[Seen]:
        """Recorded requests, optionally only those to ``path`` (prefix match with ``*``)."""
        def match(seen: Seen) -> bool:
            if method and seen.method != method:
                return False
            if path is None:
                return True
            return seen.path.startswith(path[:-1]) if path.endswith("*") else seen.path == path
        return [s for s in list(self.requests) if match(s)]

    # -------------------------------------------------------- hooks for subclasses

    def route(self, seen: Seen) -> Reply:
        return Reply(404, {"error": "Not found"})

    def rate_headers(self, limit: int, remaining: int, reset: float) -> dict[str, str]:
        return {}

    def error_body(self, status: int) -> Any:
        return {"error": {429: "Too many requests", 503: "Service Unavailable"}.get(status, "Error")}

    # -------------------------------------------------------- request processing

    def _process(self, seen: Seen) -> tuple[Reply, bool]:
        with self._lock:
            self.requests.append(seen)
        if self.delay:
            time.sleep(self.delay)
        fault = self._take_fault(seen)
        if fault is not None:
            headers = dict(fault.headers)
            if fault.status == 429:
                reset = self.clock.time() + (fault.reset_in if fault.reset_in is not None else 60.0)
                limit = self._limit[0] if self._limit else 300
                headers = {**self.rate_headers(limit, 0, reset), **headers}
            body = fault.body if fault.body is not None else self.error_body(fault.status)
            return Reply(fault.status, body, headers), False
        limited, budget = self._spend()
        if limited is not None:
            return limited, False
        reply = self.route(seen)
        reply.headers = {**budget, **reply.headers}
        truncate = False
        if reply.status < 300 and self._truncate and self._truncate_path in (None, seen.path):
            with self._lock:
                if self._truncate:
                    self._truncate -= 1
                    truncate = True
        return reply, truncate

    def _take_fault(self, seen: Seen) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path and fault.path != seen.path:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _spend(self) -> tuple[Reply | None, dict[str, str]]:
        with self._lock:
            if self._limit is None:
                return None, {}
            limit, window, announce = self._limit
            now = self.clock.time()
            if now >= self._window_end:
                self._window_end = (now // window + 1) * window
                self._window_used = 0
            if self._window_used >= limit:
                headers = self.rate_headers(limit, 0, self._window_end)
                return Reply(429, self.error_body(429), headers), {}
            self._window_used += 1
            remaining = limit - self._window_used
            return None, (self.rate_headers(limit, remaining, self._window_end) if announce else {})


def _handler_for(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, each answer would wait for a delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
            pass

        def date_time_string(self, timestamp=None):
            return email.utils.formatdate(server.clock.time(), usegmt=True)

        def _serve(self):
            seen = read_request(self)
            reply, truncate = server._process(seen)
            seen.status = reply.status
            send_reply(self, reply, truncate)

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

    return Handler


def read_request(handler: BaseHTTPRequestHandler) -> Seen:
    """The request a handler is serving, as the fakes record it."""
    parts = urlsplit(handler.path)
    length = int(handler.headers.get("Content-Length") or 0)
    return Seen(
        method=handler.command,
        path=parts.path,
        query=parse_qs(parts.query, keep_blank_values=True),
        headers={k.lower(): v for k, v in handler.headers.items()},
        body=handler.rfile.read(length) if length else b"",
    )


def send_reply(handler: BaseHTTPRequestHandler, reply: Reply, truncate: bool = False) -> None:
    """Write ``reply`` (JSON, bytes or nothing); ``truncate`` cuts the body in half."""
    if isinstance(reply.body, bytes):
        payload, content_type = reply.body, reply.headers.pop("Content-Type", "application/octet-stream")
    elif reply.body is None:
        payload, content_type = b"", None
    else:
        payload, content_type = json.dumps(reply.body).encode(), "application/json; charset=utf-8"
    if truncate:
        payload = payload[: max(1, len(payload) // 2)]
    try:
        handler.send_response(reply.status)
        if content_type:
            handler.send_header("Content-Type", content_type)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass


def self_signed_certificate(directory, hostname: str) -> tuple[str, str]:
    """Write a self-signed certificate for ``hostname`` (and its key) into ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = f"{directory}/{hostname}.pem", f"{directory}/{hostname}.key"
    with open(cert_file, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return cert_file, key_file


def stub_resolver(table: dict[str, list[str]]) -> Callable[..., list]:
    """A ``socket.getaddrinfo`` stand-in answering from ``table`` (host -> addresses)."""
    import socket

    def resolve(host, port, *args, **kwargs):
        if host not in table:
            raise socket.gaierror(f"stub resolver does not know {host}")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in table[host]
        ]

    return resolve
