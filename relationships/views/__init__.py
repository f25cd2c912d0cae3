"""Function-based views, split by page; each checks ownership itself by filtering on request.user."""

from relationships.views.pages import (
    csrf_failure,
    dashboard,
    healthz,
    job_detail,
    nudge_counts_view,
    nudge_reset,
    signup,
)
from relationships.views.people import people, suggested_merges
from relationships.views.person import (
    person,
    person_hide,
    person_merge,
    person_not_same,
    person_notes,
    person_split,
)
from relationships.views.preferences import account_delete, settings_export, settings_page
from relationships.views.sources import job_progress, source_remove, sources, upload_archive

__all__ = [
    "account_delete", "csrf_failure", "dashboard", "healthz", "job_detail", "job_progress", "nudge_counts_view",
    "nudge_reset", "people", "person", "person_hide", "person_merge", "person_not_same", "person_notes", "person_split", "settings_export",
    "settings_page", "signup", "source_remove", "sources", "suggested_merges", "upload_archive",
]
