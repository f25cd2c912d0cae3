"""Bluesky: the live connector (atproto SDK through the project's HTTP seam), the classifier, and the repository (.car) reader."""

from relationships.platforms import CAR, ArchiveKind

CONNECTOR = "connector:BlueskyConnector"
ARCHIVES = (ArchiveKind("bluesky", "a Bluesky repository (CAR)", CAR, importer="archive:BlueskyCarImporter"),)
