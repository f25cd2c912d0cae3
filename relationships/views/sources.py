"""Sources: connected accounts and imported archives, uploads, and live job progress."""

from __future__ import annotations

import os
import uuid

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from relationships.forms.accounts import ArchiveUploadForm, RemoveSourceForm
from relationships.models import Source
from relationships.platforms.archives import ArchiveError
from relationships.selectors import sources as selectors
from relationships.services.intake import imports
from relationships.services.intake import sources as sources_service
from relationships.services.scoring.community import x_archive_only
from relationships.views.common import render_page, wants_partial


def sources_context(request, form: ArchiveUploadForm | None = None) -> dict:
    """Everything the Sources page shows: the page itself and a refused upload answered as a full page."""
    return {
        "sources": selectors.sources(request.user),
        "jobs": selectors.recent_jobs(request.user),
        "form": form or ArchiveUploadForm(),
        "x_archive_only": x_archive_only(request.user),
    }


@vary_on_headers("HX-Request")
def sources(request):
    # htmx asks for the lists alone once a job it polled finished (the sources-changed trigger).
    return render_page(request, "relationships/sources.html", sources_context(request), "lists")


@require_POST
def upload_archive(request):
    form = ArchiveUploadForm(request.POST, request.FILES)
    refused = getattr(request, "upload_refused", None)
    template = "relationships/sources.html#upload" if request.htmx else "relationships/sources.html"
    if refused:
        form = ArchiveUploadForm()
        form.errors["archive"] = form.error_class([refused])
        return render(request, template, sources_context(request, form), status=413)
    if not form.is_valid():
        return render(request, template, sources_context(request, form), status=400)
    upload = form.cleaned_data["archive"]
    destination = imports.upload_dir() / f"{uuid.uuid4().hex}.upload"
    _store(upload, destination)
    try:
        kind = imports.detect(destination, form.cleaned_data["kind"] or None, quick=True)
    except ArchiveError as exc:
        destination.unlink(missing_ok=True)
        form.add_error("archive", f"{exc}. Nothing was stored.")
        return render(request, template, sources_context(request, form), status=400)
    source = imports.create_source(request.user, destination, kind, filename=os.path.basename(upload.name)[:100])
    job = imports.queue_import(request.user, source)
    if request.htmx:
        # The upload card again (a fresh form, for the next archive) with this import's progress in it.
        return render(request, template, {**sources_context(request), "job": job})
    messages.success(request, f"{source.label} uploaded; the import has started.")
    return redirect("sources")


def _store(upload, destination) -> None:
    temp = getattr(upload, "temporary_file_path", None)
    if temp:
        # A hard link keeps the streamed bytes without a copy; closing the
        # temporary file then removes only its own name.
        try:
            os.link(temp(), destination)
            upload.close()
            return
        except OSError:
            pass
    with open(destination, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)


@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def job_progress(request, pk: int):
    job = selectors.job(request.user, pk)
    if job is None:
        raise Http404("No such job.")
    if not wants_partial(request):
        # The address opened in a tab, or come back to: the job's own page, never a bare fragment.
        return render(request, "relationships/job.html", {"job": job})
    response = render(request, "relationships/sources.html#job", {"job": job})
    if job.is_finished:
        # 286 tells htmx to stop polling; the final state is in this response.
        stop = HttpResponseStopPolling(response.content)
        # The job changed what the page's lists show (a new source, its count, the job's row): they reload.
        stop["HX-Trigger"] = "sources-changed"
        return stop
    return response


def source_remove(request, pk: int):
    """Say what removing the source would delete and keep; remove it once confirmed."""
    source = get_object_or_404(Source, user=request.user, pk=pk)
    form = RemoveSourceForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        messages.success(request, sources_service.remove_source(source))
        return redirect("sources")
    context = {"source": source, "removal": sources_service.preview_removal(source), "form": RemoveSourceForm()}
    return render(request, "relationships/source_remove.html", context, status=400 if form.is_bound else 200)
