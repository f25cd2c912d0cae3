"""Fixtures of the sources tests: the live-sync fakes, for an archive and a sync of the same account."""

from tests.sync.conftest import _fake_time_for_platform_sessions, ana, mastodon_source, sent_tasks  # noqa: F401
from tests.fakes.fixtures import clock, fake_mastodon  # noqa: F401
