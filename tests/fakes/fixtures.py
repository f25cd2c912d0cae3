"""Pytest fixtures starting the fake servers.

Use with ``pytest_plugins = ["tests.fakes.fixtures"]`` in the root conftest,
or import the fixtures into a test module. Each test gets fresh servers on
ephemeral ports and a shared :class:`FakeClock` (``clock``) to hand to the
connector as its ``sleep`` / ``clock``.
"""

from __future__ import annotations

import pytest

from tests.fakes.base import FakeClock
from tests.fakes.bluesky_server import FakeBluesky
from tests.fakes.mastodon_server import FakeMastodon


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_mastodon(clock):
    server = FakeMastodon(clock).start()
    yield server
    server.stop()


@pytest.fixture
def fake_bluesky(clock):
    server = FakeBluesky(clock).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _plain_static_storage():
    """Platform tests use no Django. Imported into a test module, this
    overrides tests/conftest.py's autouse fixture of the same name, which
    needs pytest-django's ``settings`` and would break ``-p no:django``."""
