"""Loaded with ``-p tests.env`` before Django reads settings: test defaults only.

Anything already set in the environment wins, so CI can point the suite at
PostgreSQL (DATABASE_URL) or Redis.
"""

import os
import tempfile

_var = tempfile.mkdtemp(prefix="rapport-test-var-")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# A fixed test key: the suite must not depend on a developer's var/ key.
os.environ.setdefault("RAPPORT_ENCRYPTION_KEYS", "uXGhBz3wq2m4SJN3Zt1V1mY3HQ2Hn3n1o0xGq4H1u2E=")
os.environ.setdefault("RAPPORT_VAR_DIR", _var)
os.environ.setdefault("RAPPORT_ALLOW_PRIVATE_HOSTS", "1")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# The test client speaks plain HTTP; production keeps these on.
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
