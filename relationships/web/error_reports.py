"""What an error report may show: Django's debug 500 page, and the error mails to ADMINS.

Django's own filter hides the parameters named by ``sensitive_post_parameters``
and the locals named by ``sensitive_variables`` only with DEBUG off ("if DEBUG
is True your site is not safe anyway"), and only in the decorated function's
own frame. Rapport's forms take app passwords and access tokens, and a
developer running with DEBUG on still types real ones; a secret posted to the
Bluesky form was shown in full on the debug page, in the view's
``cleaned_data``, in the connector's arguments and in the HTTP library's
request body. So this filter is always on, and it hides:

* posted values marked sensitive, wherever a copy of them travels (compared
  case-insensitively: the forms normalise app passwords to lower case);
* any variable or dictionary key named like a secret, in every frame
  (Django's words for settings, plus the names Rapport's credentials go by).

Wired in by ``DEFAULT_EXCEPTION_REPORTER_FILTER`` in config/settings.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.views.debug import SafeExceptionReporterFilter

# Shorter than this, a posted value is too likely to match by chance (an empty field, "on").
_MIN_SECRET_LENGTH = 6


class SecretScrubbingFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE|SESSION|CREDENTIAL|CIPHERTEXT", flags=re.I
    )

    def is_active(self, request) -> bool:
        return True

    def cleanse_setting(self, key, value):
        # Header containers (requests' and urllib3's) are mappings but not dicts.
        if isinstance(value, Mapping) and not isinstance(value, dict):
            try:
                value = dict(value.items())
            except Exception:  # a mapping that cannot be read is shown as Django shows it
                pass
        return super().cleanse_setting(key, value)

    def get_traceback_frame_variables(self, request, tb_frame):
        posted = _posted_secrets(request)
        cleansed = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if not (isinstance(value, str) and value == self.cleansed_substitute):
                try:
                    value = self.cleanse_setting(name, value)
                except RecursionError:  # a structure that contains itself: not worth the risk of showing
                    value = self.cleansed_substitute
            if posted and _carries(value, posted):
                value = self.cleansed_substitute
            cleansed.append((name, value))
        return cleansed


def _posted_secrets(request) -> list[str]:
    names = getattr(request, "sensitive_post_parameters", None) if request is not None else None
    if not names:
        return []
    post = request.POST
    if names == "__ALL__":
        names = list(post)
    values = (value.strip().lower() for name in names for value in post.getlist(name))
    return [value for value in values if len(value) >= _MIN_SECRET_LENGTH]


def _carries(value, secrets: list[str]) -> bool:
    try:
        text = repr(value).lower()
    except Exception:
        return False
    return any(secret in text for secret in secrets)
