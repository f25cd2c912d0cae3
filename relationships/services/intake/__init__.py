"""Intake: everything that brings interactions in (connect, sync, archive imports, ingest) and the jobs that run it."""
