"""Function-based views; each checks ownership itself by filtering on request.user."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET

from ..forms import PeopleFilterForm, SignUpForm
from ..models import Job, Person


@login_not_required
@require_GET
@never_cache
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


@login_not_required
@sensitive_post_parameters("password1", "password2")
def signup(request):
    if not settings.RAPPORT_OPEN_SIGNUP:
        raise Http404("Sign-up is closed on this server.")
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("dashboard")
    return render(request, "registration/signup.html", {"form": form})


def dashboard(request):
    people = (
        Person.objects.for_user(request.user)
        .visible()
        .select_related("rapport")
        .prefetch_related("identities")
        .order_by("-rapport__score", "name")[:50]
    )
    jobs = Job.objects.filter(user=request.user)[:5]
    return render(request, "relationships/dashboard.html", {"people": people, "jobs": jobs})


def people(request):
    form = PeopleFilterForm(request.GET or None)
    qs = Person.objects.for_user(request.user).visible().select_related("rapport").prefetch_related("identities")
    if form.is_valid() and form.cleaned_data["q"]:
        q = form.cleaned_data["q"]
        qs = qs.filter(Q(name__icontains=q) | Q(identities__handle__icontains=q)).distinct()
    qs = qs.order_by("-rapport__score", "name")[:100]
    return render(request, "relationships/people.html", {"people": qs, "form": form})


def job_detail(request, pk: int):
    job = Job.objects.filter(user=request.user, pk=pk).first()
    if job is None:
        raise Http404("No such job.")
    return render(request, "relationships/job.html", {"job": job})


@login_not_required
def csrf_failure(request, reason=""):
    """For htmx requests, ask htmx to reload the page rather than swap in an error."""
    response = render(request, "403_csrf.html", {"reason": reason}, status=403)
    if request.headers.get("HX-Request") == "true":
        response["HX-Refresh"] = "true"
    return response


