from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Used only for password resets and the digest, if you opt in.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


class PeopleFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=100)
