"""Rapport settings: one file, driven by the environment.

Every variable is documented in README.md. The helpers below fail loudly
(ImproperlyConfigured naming the variable) on a value they cannot read, so a
typo never silently becomes a default.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from kombu import Queue
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_fernet_keys(name: str) -> list[str]:
    from cryptography.fernet import Fernet

    keys = env_list(name)
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (32 url-safe base64-encoded bytes). "
                'Generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
            ) from None
    return keys


# --- Core ---------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
VAR_DIR = Path(env_str("RAPPORT_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-rapport-development-only"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "axes",
    "relationships",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "relationships.web.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "relationships.web.middleware.PageCacheMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Axes last, as its docs require, so it sees the final authentication result.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "relationships.web.context_processors.rapport",
            ],
            # The project's tags live with the rest of the web plumbing (relationships/web/).
            "libraries": {"rapport_ui": "relationships.web.templatetags"},
        },
    },
]

# --- Database -------------------------------------------------------------------

_default_sqlite = f"sqlite:///{VAR_DIR / 'rapport.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL") or _default_sqlite, conn_max_age=60)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL cannot be read: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # The web process and the worker write at once: WAL lets readers go on
        # while one writer commits, IMMEDIATE takes the write lock up front so
        # two writers queue (busy timeout) instead of failing with "locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not pytest's in-memory default, so worker processes started by
    # the test suite see the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-rapport.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL") or ""
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 50 * 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 55 * 60, minimum=1)
# The Redis transport hands an unacknowledged task to another worker once it
# is older than this; relationships.checks refuses time limits that reach it.
RAPPORT_VISIBILITY_TIMEOUT = env_int("RAPPORT_VISIBILITY_TIMEOUT", 60 * 60, minimum=1)

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": RAPPORT_VISIBILITY_TIMEOUT}
    # How often a worker looks for tasks whose worker died (unacknowledged and
    # older than the visibility timeout) and queues them again. Unset keeps
    # kombu's defaults: a scan on every 10th 10-second tick, about every 100 s.
    # Set, every tick scans (throttle 1), so a dead worker's task returns within
    # RAPPORT_VISIBILITY_TIMEOUT plus this many seconds.
    _restore_seconds = env_int("RAPPORT_REDIS_UNACKED_RESTORE_SECONDS", 0, minimum=0)
    if _restore_seconds:
        CELERY_BROKER_TRANSPORT_OPTIONS.update(
            unacked_restore_interval=_restore_seconds,
            unacked_restore_throttle=1,
            # The scan runs under a Redis lock that expires after this long; a
            # worker killed while holding it must not stall the scans for kombu's 5 minutes.
            unacked_mutex_expire=max(_restore_seconds, min(300, 3 * _restore_seconds)),
        )
    _redis_cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    # "pages" holds the per-user page cache's pages; their keys carry the user's data
    # version, which lives in "default" (relationships/web/page_cache.py).
    CACHES = {"default": _redis_cache, "pages": _redis_cache}
else:
    # Embedded mode: kombu's filesystem transport needs no server and runs a
    # real worker. It deletes a message when the worker fetches it, so the
    # stale-job sweep (relationships.services.intake.jobs) re-queues dead work.
    BROKER_DIR = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Remote-control (pidbox) files; kombu's default is ./control in the working directory.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")},
        # Each web process keeps its own pages: a page is found by the user's data version,
        # which every process (workers included) reads and replaces in "default", so a
        # process never serves a page older than the last change. In memory, storing a page
        # costs no file write and no directory listing (FileBasedCache culls on every set).
        # 300 pages (Django's default) of 20 to 50 kB (the bench's 10,000 people): about 15 MB per web process.
        "pages": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rapport-pages",
                  "OPTIONS": {"MAX_ENTRIES": 300}},
    }

CELERY_RESULT_BACKEND = None  # Job rows record every run; no result store needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
# acks_late alone still acks a task whose pool process was SIGKILLed.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# One queue per kind of work, so a long import never holds up syncs: a worker
# started without -Q consumes them all (`make run`); production can give each
# its own workers (README, "Production").
RAPPORT_QUEUES = ("sync", "import", "recompute", "mail")
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in RAPPORT_QUEUES]
CELERY_TASK_DEFAULT_QUEUE = "sync"
CELERY_TASK_ROUTES = {
    "relationships.sync_source": {"queue": "sync"},
    "relationships.sync_due_sources": {"queue": "sync"},
    "relationships.sweep_stale_jobs": {"queue": "sync"},
    "relationships.import_archive": {"queue": "import"},
    "relationships.seed_demo": {"queue": "import"},
    "relationships.recompute": {"queue": "recompute"},
    "relationships.nightly_refresh": {"queue": "recompute"},
    "relationships.send_digests": {"queue": "mail"},
}
# django-celery-beat copies these into its tables at start; the admin can tune them.
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-jobs": {"task": "relationships.sweep_stale_jobs", "schedule": 60.0},
    "nightly-refresh": {"task": "relationships.nightly_refresh", "schedule": crontab(hour=3, minute=30)},
    # Each connected source is synced when older than RAPPORT_SYNC_INTERVAL_MINUTES.
    "sync-due-sources": {"task": "relationships.sync_due_sources", "schedule": 60.0},
    # Daily; each user gets at most one digest a week, none without open nudges.
    "send-digests": {"task": "relationships.send_digests", "schedule": crontab(hour=8, minute=0)},
}

# --- Auth --------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AXES_FAILURE_LIMIT = env_int("RAPPORT_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("RAPPORT_LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]

RAPPORT_OPEN_SIGNUP = env_bool("RAPPORT_OPEN_SIGNUP", False)

# --- Internationalization -------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- E-mail ---------------------------------------------------------------------

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "rapport@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Security headers (production) ------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
if env_bool("RAPPORT_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz is probed over plain HTTP by load balancers and process managers.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Rapport --------------------------------------------------------------------

RAPPORT_ENCRYPTION_KEYS = env_fernet_keys("RAPPORT_ENCRYPTION_KEYS")
RAPPORT_ALLOW_PRIVATE_HOSTS = env_bool("RAPPORT_ALLOW_PRIVATE_HOSTS", False)
RAPPORT_REQUIRE_SERVICES = env_bool("RAPPORT_REQUIRE_SERVICES", False)
RAPPORT_UPLOAD_DIR = Path(env_str("RAPPORT_UPLOAD_DIR", str(VAR_DIR / "uploads")))
RAPPORT_UPLOAD_MAX_BYTES = env_int("RAPPORT_UPLOAD_MAX_BYTES", 4 * 1024**3, minimum=1)
# Uploads stream to disk beside their final place (a rename, not a copy).
FILE_UPLOAD_HANDLERS = ["relationships.web.uploads.CappedUploadHandler"]
FILE_UPLOAD_TEMP_DIR = str(RAPPORT_UPLOAD_DIR / "incoming")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
FILE_UPLOAD_PERMISSIONS = 0o600
RAPPORT_BACKFILL_DAYS = env_int("RAPPORT_BACKFILL_DAYS", 365, minimum=1)
RAPPORT_SYNC_INTERVAL_MINUTES = env_int("RAPPORT_SYNC_INTERVAL_MINUTES", 15, minimum=1)
# A sync that finds nothing new doubles its account's interval, up to this bound;
# one that finds something brings it back to RAPPORT_SYNC_INTERVAL_MINUTES.
RAPPORT_SYNC_MAX_INTERVAL_MINUTES = env_int(
    "RAPPORT_SYNC_MAX_INTERVAL_MINUTES", max(240, RAPPORT_SYNC_INTERVAL_MINUTES), minimum=RAPPORT_SYNC_INTERVAL_MINUTES
)
# A running Job whose heartbeat is older than this is considered dead.
RAPPORT_STALE_JOB_MINUTES = env_int("RAPPORT_STALE_JOB_MINUTES", 10, minimum=1)
RAPPORT_JOB_MAX_ATTEMPTS = env_int("RAPPORT_JOB_MAX_ATTEMPTS", 3, minimum=1)
# A running job refreshes its heartbeat at least this often (each batch does);
# three missed beats and another delivery may take the job over.
RAPPORT_JOB_HEARTBEAT_SECONDS = env_int("RAPPORT_JOB_HEARTBEAT_SECONDS", 15, minimum=1)
# The dashboard, people list and person page are cached per user until their
# data changes (relationships/web/page_cache.py), at most this long; 0 turns it off.
RAPPORT_PAGE_CACHE_SECONDS = env_int("RAPPORT_PAGE_CACHE_SECONDS", 300, minimum=0)
# Records per ingest transaction (and per import checkpoint). On SQLite each
# commit of a big import pays a WAL checkpoint, so larger batches save most of
# its time; PostgreSQL measured no better past 5,000 (`make bench`).
RAPPORT_INGEST_BATCH_SIZE = env_int(
    "RAPPORT_INGEST_BATCH_SIZE",
    20_000 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 5_000,
    minimum=1,
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}},
}
CSRF_FAILURE_VIEW = "relationships.views.csrf_failure"
# Error reports (the DEBUG 500 page, mails to ADMINS) hide posted secrets and
# their copies in every frame, with DEBUG on too (relationships/web/error_reports.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "relationships.web.error_reports.SecretScrubbingFilter"
