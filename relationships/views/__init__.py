"""Function-based views, split by page; each checks ownership itself by filtering on request.user."""

from .pages import csrf_failure, dashboard, healthz, job_detail, people, signup
from .sources import job_progress, source_remove, sources, upload_archive

__all__ = [
    "csrf_failure", "dashboard", "healthz", "job_detail", "job_progress", "people", "signup", "source_remove",
    "sources", "upload_archive",
]
