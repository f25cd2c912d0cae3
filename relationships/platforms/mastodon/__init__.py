"""Mastodon: the live connector, the classifier of API entities, and the archive and following-list readers."""

from relationships.platforms import CONTAINER, CSV, ArchiveKind

CONNECTOR = "connector:MastodonConnector"
ARCHIVES = (
    ArchiveKind("mastodon", "a Mastodon archive", CONTAINER, importer="archive:MastodonArchiveImporter",
                recognises="archive:recognises", refusal="a Mastodon archive (no outbox.json)"),
    ArchiveKind("mastodon-following", "a Mastodon following list (CSV)", CSV,
                importer="following:MastodonFollowingImporter", recognises="following:recognises",
                refusal="a Mastodon following list: its first row should be "
                "'Account address,Show boosts,Notify on new posts,Languages'"),
)
