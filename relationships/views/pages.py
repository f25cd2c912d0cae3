"""The dashboard and the small pages (health, sign-up, job); each view filters by request.user itself."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from relationships.forms.accounts import SignUpForm
from relationships.forms.pages import DashboardForm, NudgeCountsForm
from relationships.models import Job, Nudge, Preferences
from relationships.selectors import dashboard as selectors
from relationships.services.charts import Series, bar_chart
from relationships.services.scoring import nudges
from relationships.services.scoring.rapport import local_today
from relationships.views.common import render_page, wants_partial
from relationships.web import page_cache


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


@page_cache.per_user
@vary_on_headers("HX-Request")
def dashboard(request):
    """The community headline, its twelve months, and the open nudges: stored figures only, never a scan."""
    form = DashboardForm(request.GET or None)
    show_all = form.is_valid() and form.cleaned_data["all"]
    context = selectors.dashboard(request.user, show_all)
    context["today"] = local_today(Preferences.for_user(request.user))
    context["chart"] = _community_chart(context.pop("months"))
    return render_page(request, "relationships/dashboard.html", context, "nudges")


@vary_on_headers("HX-Request")
def nudge_counts_view(request):
    """The dashboard's nudge counts and its "Show all", refreshed together after a card acts (htmx)."""
    if not wants_partial(request):
        return redirect("dashboard")
    form = NudgeCountsForm(request.GET)
    shown = form.cleaned_data["shown"] if form.is_valid() else []
    context = {**selectors.nudge_summary(request.user, shown), "oob": True}
    return render(request, "relationships/dashboard.html#nudge_summary", context)


def _community_chart(months):
    labels = [m.month.strftime("%b") for m in months]
    return bar_chart(
        "Your community, month by month",
        "People you had a two-way conversation with each month; the lighter part of each bar is people new that month.",
        labels,
        [
            Series("Returning", "series-a", [m.two_way - m.newcomers for m in months]),
            Series("New that month", "series-b", [m.newcomers for m in months]),
        ],
        stacked=True,
    )


@require_POST
def nudge_reset(request, pk: int):
    """Forget a dismissed nudge so it may come back (the person page's "allow again")."""
    nudge = get_object_or_404(Nudge, pk=pk, user=request.user)
    try:
        nudges.reset(nudge)
        messages.success(request, "Done: this nudge may come back when it applies again.")
    except nudges.NudgeStateError as exc:
        messages.error(request, str(exc))
    return redirect("person", nudge.person_id)


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


