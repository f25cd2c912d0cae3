"""X: the archive reader (there is no live connector) and the tweets-to-records classifier."""

from relationships.platforms import CONTAINER, ArchiveKind

CONNECTOR = None
ARCHIVES = (
    ArchiveKind("x", "an X archive", CONTAINER, importer="archive:XArchiveImporter", recognises="archive:recognises",
                refusal="an X archive (no data/tweets.js, data/account.js or data/js/tweets/)"),
)
