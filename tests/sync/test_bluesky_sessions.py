"""Bluesky sessions are refreshed, never created again while a refresh token lives.

createSession is limited to 30 per 5 minutes and 300 a day per account, and
a refresh token works once: when a sync and a follow (or two workers) both
hold the stored session and both find its access token expired, the second
refresh is refused. It takes the session the first one stored instead of
logging in with the app password.
"""

from __future__ import annotations

import pytest

from relationships.models import Job
from relationships.services.intake import connect
from tests.sync.helpers import run_sync

pytestmark = [pytest.mark.django_db]


def test_a_session_another_process_refreshed_first_is_taken_instead_of_logging_in_again(fake_bluesky, bluesky_source):
    fake_bluesky.expire_access_tokens()
    stored = bluesky_source.get_credentials()
    web, worker = (connect.connector_for_source(bluesky_source, stored) for _ in range(2))

    web.verify()  # refreshes first: the refresh token both hold is spent
    connect.save_credentials(bluesky_source, web.updated_credentials)

    assert worker.verify().external_id == fake_bluesky.me
    assert fake_bluesky.create_session_calls == 1  # the connect's only
    assert fake_bluesky.calls("/xrpc/com.atproto.server.refreshSession")[-1].status == 400


def test_only_a_gone_refresh_token_makes_a_new_session_from_the_app_password(fake_bluesky, bluesky_source):
    fake_bluesky.expire_access_tokens()
    fake_bluesky.revoke_refresh_tokens()

    job = run_sync(bluesky_source)

    assert job.state == Job.State.DONE, job.error
    assert fake_bluesky.create_session_calls == 2
