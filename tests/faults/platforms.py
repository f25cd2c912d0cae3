"""A fake Mastodon that can also drop a connection, and timestamps every request.

tests/fakes answers errors (503, 429, 401) but always answers; a connection
the server closes without a word is the other fault a platform shows. The
timestamps let a test measure the waits of a worker in another process.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.fakes.base import Seen
from tests.fakes.mastodon_server import FakeMastodon


class FlakyMastodon(FakeMastodon):
    def __init__(self, clock=None):
        super().__init__(clock)
        self._drops: dict[str, int] = {}
        self._drop_lock = threading.Lock()
        # (monotonic time, path, status) of every request, dropped ones with status 0.
        self.timeline: list[tuple[float, str, int]] = []

    def drop_next(self, path: str, times: int = 1) -> None:
        """Close the connection of the next ``times`` requests to ``path`` without answering."""
        with self._drop_lock:
            self._drops[path] = self._drops.get(path, 0) + times

    def _take_drop(self, path: str) -> bool:
        with self._drop_lock:
            if self._drops.get(path, 0) > 0:
                self._drops[path] -= 1
                return True
            return False

    def _process(self, seen: Seen):
        reply, truncate = super()._process(seen)
        self.timeline.append((time.monotonic(), seen.path, reply.status))
        return reply, truncate

    def start(self, tls=None) -> FlakyMastodon:
        super().start(tls)
        server = self
        base = self._httpd.RequestHandlerClass

        class Handler(base):
            def _serve(self):
                path = urlsplit(self.path).path
                if server._take_drop(path):
                    server.timeline.append((time.monotonic(), path, 0))
                    self.close_connection = True  # no status line, no headers: the client sees a dropped connection
                    return
                base._serve(self)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

        self._httpd.RequestHandlerClass = Handler
        return self

    def times(self, path: str) -> list[tuple[float, int]]:
        return [(at, status) for at, seen_path, status in list(self.timeline) if seen_path == path]


@pytest.fixture
def flaky_mastodon(clock):
    server = FlakyMastodon(clock).start()
    yield server
    server.stop()
