"""Forms of the dashboard, people, person and settings pages: every POST and every GET filter goes through one."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from relationships.models import PLATFORM_CHOICES, Identity, Person, Rapport
from relationships.platforms import records as r

__all__ = [
    "DashboardForm", "DeleteAccountForm", "ExportForm", "MergeForm", "MergeSearchForm", "PeopleFilterForm", "PersonNotesForm",
    "HideForm", "SettingsForm", "SplitForm", "TimelineForm", "WEIGHT_FIELDS",
]


class QuickSelect(forms.Select):
    """A <select> with its options written directly, not through a template per option.

    The people list's filters are four of them on every view of the list.
    Measured with 10,000 people (CPU): the four take 0.5 ms this way and
    1.5-2.2 ms through Django's per-option templates, on a first view of the
    list that already measures 3.3-3.5x the trivial page against its 3x floor.
    The markup differs only in whitespace between the options.
    """

    def render(self, name, value, attrs=None, renderer=None):
        final = self.build_attrs(self.attrs, attrs)
        # In the order Django's attrs.html writes them; True is a bare attribute, False or None none.
        written = format_html_join(
            "", " {}{}",
            ((key, "" if val is True else format_html('="{}"', val)) for key, val in final.items()
             if val is not False and val is not None),
        )
        chosen = set(self.format_value(value))
        options = format_html_join(
            "", '<option value="{}"{}>{}</option>',
            ((key, mark_safe(" selected") if str(key) in chosen else "", label) for key, label in self.choices),
        )
        return format_html('<select name="{}"{}>{}</select>', name, written, options)


class PeopleFilterForm(forms.Form):
    SORTS = [
        ("rapport", "Rapport"),
        ("talks", "Most talks"),
        ("recent", "Last talked"),
        ("name", "Name"),
    ]
    FOLLOWING = [("", "Either"), ("yes", "People I follow"), ("no", "People I don't follow")]

    q = forms.CharField(required=False, label="Name, handle or tag", max_length=100,
                        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}))
    platform = forms.ChoiceField(required=False, choices=[("", "Any platform"), *PLATFORM_CHOICES], widget=QuickSelect)
    tier = forms.ChoiceField(required=False, choices=[("", "Any tier"), *Rapport.Tier.choices], widget=QuickSelect)
    following = forms.ChoiceField(required=False, choices=FOLLOWING, widget=QuickSelect)
    talked_within = forms.IntegerField(required=False, min_value=1, max_value=3650, label="Talked within (days)",
                                       widget=forms.NumberInput(attrs={"inputmode": "numeric", "placeholder": "any"}))
    drifting = forms.BooleanField(required=False, label="Drifting away: regulars not talked with in two months")
    sort = forms.ChoiceField(required=False, choices=SORTS, label="Sort by", widget=QuickSelect)
    hidden = forms.BooleanField(required=False, label="Include hidden people")
    tag = forms.CharField(required=False, max_length=40, label="Tag")
    # Keyset pagination: "<sort key>|<person id>" of the last row shown.
    after = forms.CharField(required=False, max_length=300, widget=forms.HiddenInput)

    def clean_sort(self):
        return self.cleaned_data.get("sort") or "rapport"


class PersonNotesForm(forms.Form):
    notes = forms.CharField(required=False, max_length=5000, label="Private notes",
                            widget=forms.Textarea(attrs={"rows": 4}))
    tags = forms.CharField(required=False, max_length=500, label="Tags",
                           help_text="Separated by commas, e.g. podcast, designer, Lisbon.")

    def clean_tags(self) -> list[str]:
        from relationships.services.people import clean_tags

        return clean_tags(self.cleaned_data.get("tags", "").split(","))


class HideForm(forms.Form):
    hidden = forms.BooleanField(required=False)


class MergeSearchForm(forms.Form):
    merge_q = forms.CharField(required=False, max_length=100, label="Find the other person by name or handle",
                              widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}))


class MergeForm(forms.Form):
    """Merge ``other`` (one of the user's people) into the person of the page."""

    other = forms.ModelChoiceField(queryset=Person.objects.none(), widget=forms.HiddenInput)
    # Set by the confirmation page's form, or by rapport.js once window.confirm() said yes. Without it the
    # view asks first: with JavaScript off, data-confirm asks nothing, and a merge is not a click to risk.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Where to go back to: the person kept (""), or the list of suggested merges the button was on.
    back = forms.ChoiceField(required=False, choices=[("", "person"), ("merges", "suggested merges")],
                             widget=forms.HiddenInput)

    def __init__(self, *args, person: Person, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["other"].queryset = Person.objects.filter(user_id=person.user_id).exclude(pk=person.pk)


class NotSameForm(MergeForm):
    """"Not the same": ``other`` is not the person of the page, whatever the suggestion said."""


class SplitForm(forms.Form):
    identity = forms.ModelChoiceField(queryset=Identity.objects.none(), widget=forms.HiddenInput)
    # As MergeForm.confirmed: without it (JavaScript off) the view asks on a page first.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, person: Person, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["identity"].queryset = Identity.objects.filter(person=person, user_id=person.user_id)


class TimelineForm(forms.Form):
    # 25 million interactions with one person is far beyond any real history; above it the page's OFFSET
    # would no longer fit the database's 64-bit integers.
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)


@lru_cache(maxsize=1)
def time_zone_choices() -> list[tuple[str, str]]:
    names = sorted(zoneinfo.available_timezones() - {"localtime"})
    return [(name, name.replace("_", " ")) for name in names]


WEIGHT_FIELDS = [(kind, f"A {r.KIND_WORDS[kind].one}") for kind in (r.REPLY, r.DM, r.QUOTE, r.MENTION, r.REPOST, r.LIKE)]


class TimeZoneSelect(forms.Select):
    """The ~600 time zones as a <select>, escaped once per process.

    Measured (CPU): 1.6-1.7 ms this way, 24.5-26.5 ms through Django's
    per-option templates, where the whole trivial page (a job's) takes 5 ms:
    the select alone would take five times the trivial page, past the pages'
    3x floor.
    """

    def render(self, name, value, attrs=None, renderer=None):
        final = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        options = "".join(
            html.replace("<option ", "<option selected ", 1) if key == value else html
            for key, html in _time_zone_options()
        )
        return format_html("<select{}>{}</select>", flatatt(final), mark_safe(options))


@lru_cache(maxsize=1)
def _time_zone_options() -> tuple[tuple[str, str], ...]:
    return tuple(
        (key, str(format_html('<option value="{}">{}</option>', key, label))) for key, label in time_zone_choices()
    )


class SettingsForm(forms.Form):
    ACTIONS = [("save", "Save"), ("preview", "Preview")]
    # Set by the submit button pressed: save, or preview without saving.
    action = forms.ChoiceField(choices=ACTIONS, required=False)
    # A callable: the ~600 choices are not normalized again for every form.
    time_zone = forms.ChoiceField(label="Time zone", help_text="Talks are counted in days of this time zone.",
                                  choices=lambda: time_zone_choices(), widget=TimeZoneSelect)
    email = forms.EmailField(required=False, label="E-mail address",
                             help_text="Used for password resets and, if you opt in, the weekly digest.")
    digest_opt_in = forms.BooleanField(required=False, label="Send me a weekly digest of open nudges")
    note_on_mastodon = forms.BooleanField(required=False, label="Write why I follow into the Mastodon private note")
    follow_threshold = forms.IntegerField(
        min_value=1, max_value=100, label="Days talked before a follow nudge",
        help_text="A talk is a day with a reply, mention, quote or DM, and both of you must have taken part.",
    )
    half_life_days = forms.FloatField(min_value=1, max_value=3650, label="Half-life (days)",
                                      help_text="How fast old interactions count for less: half as much after this many days.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for kind, label in WEIGHT_FIELDS:
            self.fields[f"weight_{kind}"] = forms.FloatField(
                min_value=0, max_value=20, label=label, widget=forms.NumberInput(attrs={"step": "0.5"})
            )

    @classmethod
    def initial_for(cls, user, prefs) -> dict:
        from relationships.services.scoring.rapport import weights_for

        initial = {
            "time_zone": prefs.time_zone,
            "email": user.email,
            "digest_opt_in": prefs.digest_opt_in,
            "note_on_mastodon": prefs.note_on_mastodon,
            "follow_threshold": prefs.follow_threshold,
            "half_life_days": prefs.half_life_days,
        }
        initial.update({f"weight_{kind}": value for kind, value in weights_for(prefs).items()})
        return initial

    def weight_fields(self):
        return [self[f"weight_{kind}"] for kind, _ in WEIGHT_FIELDS]

    def weights(self) -> dict[str, float]:
        return {kind: self.cleaned_data[f"weight_{kind}"] for kind, _ in WEIGHT_FIELDS}

    def clean_action(self):
        return self.cleaned_data.get("action") or "save"

    def clean(self):
        data = super().clean()
        if data.get("digest_opt_in") and not data.get("email"):
            self.add_error("email", "The digest needs an e-mail address to go to.")
        return data


class ExportForm(forms.Form):
    WHAT = [("people", "People"), ("interactions", "Interactions"), ("everything", "Everything")]
    FORMATS = [("csv", "CSV"), ("json", "JSON")]
    what = forms.ChoiceField(choices=WHAT)
    format = forms.ChoiceField(choices=FORMATS)

    def clean(self):
        data = super().clean()
        if data.get("what") == "everything" and data.get("format") == "csv":
            self.add_error("format", "Everything comes as one JSON file; choose people or interactions for CSV.")
        return data


class DeleteAccountForm(forms.Form):
    confirm = forms.CharField(label="Type your username to confirm", max_length=150,
                              widget=forms.TextInput(attrs={"autocomplete": "off"}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip()
        if value != self.user.get_username():
            raise forms.ValidationError("That is not your username; nothing was deleted.")
        return value


class DashboardForm(forms.Form):
    all = forms.BooleanField(required=False)



class IdsField(forms.Field):
    """Several ids, as ``?shown=3&shown=8``."""

    widget = forms.MultipleHiddenInput
    #: More than any page shows is not a page asking.
    MAX_IDS = 1000

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        if len(value) > self.MAX_IDS:
            raise forms.ValidationError(f"At most {self.MAX_IDS} ids.")
        try:
            return [int(v) for v in value]
        except (TypeError, ValueError):
            raise forms.ValidationError("Ids are whole numbers.") from None


class NudgeCountsForm(forms.Form):
    """The dashboard's nudge counts, refreshed: ``shown`` are the open cards on screen, so "Show all"
    appears only while some open nudge is not among them."""

    shown = IdsField(required=False)
