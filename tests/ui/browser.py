"""What the browser tests share: constants and helpers (the fixtures are in tests/ui/conftest.py).

One chromium for the whole session; each test opens fresh contexts (cookies).
axe-core is vendored (tests/ui/vendor/axe.min.js, from npm) and added with
add_init_script, which the page's Content-Security-Policy does not block.
Screenshots land in tests/screenshots/ (git-ignored); `make screenshots`
copies the ``fold-*`` ones into docs/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
PASSWORD = "correct horse battery staple"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
TIMEOUT_MS = 10_000


def session_cookie(user, live_url: str) -> dict:
    """A logged-in session for ``user``, as the browser cookie for the live server."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return {"name": django_settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": live_url}


def no_overflow(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert max(widths[:2]) <= widths[2], f"horizontal overflow at {page.url}: {widths}"


def axe(page, label: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation."""
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{label}: " + "; ".join(bad)


def screenshot(page, name: str, *, full_page: bool = True) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)
