"""Mastodon: the live connector, the classifier of API entities, and the archive and following-list readers."""
