"""Bluesky: the live connector (atproto SDK through the project's HTTP seam), the classifier, and the repository (.car) reader."""
