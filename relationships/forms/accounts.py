from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm, UserCreationForm


class PasswordErrorsBesidePassword:
    """Django files "too short", "too common"... under the confirmation field; they are about the password
    itself, so they go beside it. "The two passwords don't match" stays on the confirmation."""

    password_field = "password1"

    def validate_password_for_user(self, user, *args, **kwargs):
        super().validate_password_for_user(user, password_field_name=self.password_field)


class SignUpForm(PasswordErrorsBesidePassword, UserCreationForm):
    email = forms.EmailField(required=False, help_text="Used only for password resets and the digest, if you opt in.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


class NewPasswordForm(PasswordErrorsBesidePassword, SetPasswordForm):
    """Setting a password from a reset link."""

    password_field = "new_password1"


class ChangePasswordForm(PasswordErrorsBesidePassword, PasswordChangeForm):
    password_field = "new_password1"




class ArchiveUploadForm(forms.Form):
    KIND_CHOICES = [
        ("", "Detect from the file"),
        ("x", "X archive (.zip)"),
        ("mastodon", "Mastodon archive (.zip or .tar.gz)"),
        ("mastodon-following", "Mastodon following list (.csv)"),
        ("bluesky", "Bluesky repository (.car)"),
    ]
    archive = forms.FileField(label="Archive file", help_text="An export from X, Mastodon or Bluesky.")
    kind = forms.ChoiceField(choices=KIND_CHOICES, required=False, label="Kind")


class RemoveSourceForm(forms.Form):
    """The confirmation page's button: a POST without it only shows what would go."""

    confirm = forms.BooleanField(widget=forms.HiddenInput, initial=True)
