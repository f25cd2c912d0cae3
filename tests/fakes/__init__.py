"""Fake platform servers over real loopback HTTP, for connector tests."""

from .base import FakeClock, FakeServer, Reply, Seen, self_signed_certificate, stub_resolver
from .bluesky_server import FakeBluesky
from .mastodon_server import FakeMastodon

__all__ = ["FakeBluesky", "FakeClock", "FakeMastodon", "FakeServer", "Reply", "Seen", "self_signed_certificate", "stub_resolver"]
