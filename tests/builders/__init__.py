"""Builders of realistic platform exports for tests.

Each builder writes a file shaped like a real export (PLATFORMS.md sections
3-5), quirks included, from a short description:

* ``tests.builders.x``: ``build_x_archive`` (2019+) and ``build_grailbird_archive``
  (until 2018), tweet / DM helpers, snowflake ids and the mention shapes X
  writes for reused screen names and suspended accounts;
* ``tests.builders.mastodon``: ``build_mastodon_archive`` (zip or tar.gz),
  ``note`` / ``boost`` helpers, ``build_following_csv``;
* ``tests.builders.bluesky``: ``build_bluesky_car`` writing a real CAR with a
  multi-level Merkle Search Tree, and record helpers.
"""
