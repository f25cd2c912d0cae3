"""Review your follows: one card at a time, Keep / Quieter / Unfollow (with Undo) / Next.

Every button is a form: with htmx the answer is the page's review region
(progress, what just happened, the next card) swapped in place; without
JavaScript it is a redirect to the page, which shows the same.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from relationships.forms.review import QuieterForm, UnfollowForm
from relationships.models import Preferences
from relationships.selectors import review as selectors
from relationships.services import review as review_service
from relationships.services.follow import FollowRefused
from relationships.services.scoring.rapport import local_today
from relationships.services.scoring.sentences import rapport_sentences, review_sentence
from relationships.views.common import render_page

TEMPLATE = "relationships/review.html"


def _context(request, person=None, *, notice: str = "", error: str = "", asking: bool = False) -> dict:
    """The review region: progress, a notice, and the card of ``person`` (else the first in the queue)."""
    now = timezone.now()
    prefs = Preferences.for_user(request.user)
    today = local_today(prefs)
    if person is None:
        person = selectors.queue(request.user, now).first()
    card = selectors.card(person, now) if person is not None else None
    return {
        "progress": selectors.progress(request.user, now),
        "card": card,
        "notice": notice,
        "error": error,
        "asking": asking,
        "today": today,
        "summary": review_sentence(card.rapport, person, today) if card else "",
        "details": rapport_sentences(card.rapport, person, today=today, prefs=prefs) if card else [],
        "quieter_form": QuieterForm(),
    }


@vary_on_headers("HX-Request")
def review(request):
    """The page: the card of ``?person=`` (an unfollow just made, to undo) or the first still to review."""
    person = None
    wanted = request.GET.get("person", "")
    if wanted.isdigit():
        person = selectors.owned(request.user, int(wanted))
    asking = person is not None and request.GET.get("ask") == "unfollow"
    return render_page(request, TEMPLATE, _context(request, person, asking=asking), "review")


def _answer(request, result: review_service.ReviewResult, *, stay: bool = False):
    """After a button: the region (htmx) or a redirect with a message (no JavaScript).

    ``stay``: show the same person's card again (an unfollow to undo, a refusal to read), else the next one.
    """
    person, message, ok = result.person, result.message, result.done
    shown = person if (stay or not ok) else None
    if request.htmx:
        return render_page(request, TEMPLATE, _context(request, shown, notice=message if ok else "",
                                                      error="" if ok else message), "review")
    (messages.success if ok else messages.error)(request, message)
    url = reverse("review")
    return redirect(f"{url}?person={person.pk}" if shown is not None else url)


def _refused(request, person, error: str):
    if request.htmx:
        return render_page(request, TEMPLATE, _context(request, person, error=error), "review")
    messages.error(request, error)
    return redirect(f"{reverse('review')}?person={person.pk}")


def _act(request, person, act, *, stay: bool = False):
    """Run ``act()`` (a review service): its answer, or the card again with the sentence of a refusal."""
    try:
        return _answer(request, act(), stay=stay)
    except FollowRefused as e:
        return _refused(request, person, str(e))


@require_POST
def review_keep(request, pk: int):
    person = selectors.owned(request.user, pk)
    return _act(request, person, lambda: review_service.keep(person, request.user))


@require_POST
def review_skip(request, pk: int):
    person = selectors.owned(request.user, pk)
    return _act(request, person, lambda: review_service.skip(person, request.user))


@require_POST
def review_quieter(request, pk: int):
    person = selectors.owned(request.user, pk)
    form = QuieterForm(request.POST)
    if not form.is_valid():
        return _refused(request, person, "A list name is at most 64 characters.")
    return _act(request, person, lambda: review_service.quieter(person, request.user,
                                                                list_name=form.cleaned_data["list_name"]))


@require_POST
def review_unfollow(request, pk: int):
    """The first press asks (the card, with Yes / Cancel); the second, ``confirmed``, unfollows."""
    person = selectors.owned(request.user, pk)
    form = UnfollowForm(request.POST)
    if not form.is_valid():
        return _refused(request, person, "That account is not one of this person's.")
    if not form.cleaned_data["confirmed"]:
        if request.htmx:
            return render_page(request, TEMPLATE, _context(request, person, asking=True), "review")
        return redirect(f"{reverse('review')}?person={person.pk}&ask=unfollow")
    identity = form.cleaned_data["identity"]
    return _act(request, person, lambda: review_service.unfollow(person, request.user, identity_id=identity), stay=True)


@require_POST
def review_undo(request, pk: int):
    person = selectors.owned(request.user, pk)
    return _act(request, person, lambda: review_service.undo_unfollow(person, request.user), stay=True)
