"""Scoring: what Rapport makes of stored interactions (rapport figures, nudges, community figures, the sentences that say them)."""
