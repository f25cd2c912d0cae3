"""Forms of the review of whom the user follows (views/review.py): every button posts through one."""

from __future__ import annotations

from django import forms

from relationships.services.review import QUIETER_LIST


class UnfollowForm(forms.Form):
    """Unfollow one account of the person (the first Rapport can reach when none is named); ``confirmed``
    is the second press, so the first one only asks."""

    identity = forms.IntegerField(required=False, min_value=1)
    confirmed = forms.BooleanField(required=False)


class QuieterForm(forms.Form):
    """Quieter; on Bluesky, the list the person moves into."""

    list_name = forms.CharField(required=False, max_length=64, initial=QUIETER_LIST)
