"""The real local Bluesky network, started once per test session.

It needs the Node project of this folder installed (``.ci/run`` does it:
``cd tests/bluesky_network && npm ci``), PostgreSQL and Redis. Without them
the tests skip with the reason, or fail under RAPPORT_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.bluesky_network import network as net
from tests.conftest import REDIS_TEST_URL, need_service, port_open


@pytest.fixture(scope="session")
def bluesky_network():
    """A running PLC directory, PDS and AppView: yields the :class:`~.network.LocalNetwork`."""
    need_service(net.node_binary() is not None, "Node.js is not installed (the local Bluesky network runs on it)")
    need_service(
        net.installed(),
        "the local Bluesky network is not installed: run (cd tests/bluesky_network && npm ci --no-audit --no-fund)",
    )
    pg = urlparse(net.PG_URL)
    need_service(port_open(pg.hostname or "127.0.0.1", pg.port or 5432),
                 f"PostgreSQL is not running at {pg.hostname}:{pg.port} (the AppView stores its index there)")
    redis = urlparse(REDIS_TEST_URL)
    need_service(port_open(redis.hostname or "127.0.0.1", redis.port or 6379),
                 f"Redis is not running at {REDIS_TEST_URL} (the AppView needs REDIS_HOST)")
    network = net.LocalNetwork(redis_host=net.redis_host_of(REDIS_TEST_URL)).start()
    try:
        yield network
    finally:
        network.stop()


@pytest.fixture(scope="session")
def pds(bluesky_network) -> net.Pds:
    return bluesky_network.pds
