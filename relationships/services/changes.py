"""How a service says "this user's data changed": one signal, sent once the write commits.

Services write rows in bulk (ingest's batches, the SQL rapport recompute, nudge
generation, the community figures) and change jobs with ``update()``, so no
model signal sees those writes. Each such write calls :func:`announce` instead,
and whatever depends on a user's data listens to :data:`user_data_changed`:
the web layer's per-user page cache (``relationships/web/page_cache.py``)
connects its receiver when the app is ready, so services never import it.
"""

from __future__ import annotations

import functools
import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

#: Sent with ``user_id`` once a transaction that changed that user's data commits.
user_data_changed = Signal()


def announce(user_id: int | None) -> None:
    """Send :data:`user_data_changed` for ``user_id`` once the current transaction commits (at once outside one)."""
    if user_id is not None:
        transaction.on_commit(functools.partial(_send, user_id))


def _send(user_id: int) -> None:
    # The data is committed by now: a failing receiver must not fail the work that changed it.
    for _receiver, result in user_data_changed.send_robust(sender=None, user_id=user_id):
        if isinstance(result, Exception):
            log.warning("A receiver of user_data_changed failed for user %s (%s: %s)", user_id,
                        type(result).__name__, result)
