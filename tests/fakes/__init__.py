"""Fake platform servers over real loopback HTTP, for connector tests."""

from tests.fakes.base import FakeClock, FakeServer, Reply, Seen, self_signed_certificate, stub_resolver
from tests.fakes.bluesky_server import FakeBluesky
from tests.fakes.mastodon_server import FakeMastodon

__all__ = ["FakeBluesky", "FakeClock", "FakeMastodon", "FakeServer", "Reply", "Seen", "self_signed_certificate", "stub_resolver"]
