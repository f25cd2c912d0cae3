"""Fixtures of the security tests.

Personas: alice owns the data; bob is another user who must see none of it
and change none of it. Alice's rows carry marker strings that occur nowhere
else (``ALICE_MARKERS``), so "no byte of alice's data" is a substring check;
bob has rows of his own, so a list page that showed nothing at all would not
pass for showing him only his.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import requests
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from relationships.models import FollowAttempt, Identity, Job, Nudge, Person, Source
from relationships.platforms import records as r
from relationships.services.intake import ingest
from relationships.services.scoring import community as dashboard
from relationships.services.scoring import nudges, rapport

# Markers of alice's data. None contains a space or a character that HTML,
# JSON or a URL would escape, so each is found however a page carries it.
ALICE_PERSON = "Ana Zzyzx-Secret"
ALICE_OTHER = "Otto Zzyzx-Other"
ALICE_NOTE = "NOTE-Qx7"
ALICE_TAG = "TAG-Jd6"
ALICE_HANDLE = "ana-zzyzx@fedi.example"
ALICE_EXCERPT = "EXCERPT-Wq3"
ALICE_SOURCE = "alice-src-Hq9"
ALICE_REASON = "REASON-Vb8"
ALICE_JOB = "JOB-Kp2"
ALICE_TOKEN = "ALICE-TOKEN-Tt1"
ALICE_APP_PASSWORD = "alic-epas-swor-dzzz"
ALICE_MARKERS = (
    "Zzyzx-Secret", "Zzyzx-Other", ALICE_NOTE, ALICE_TAG, "ana-zzyzx@fedi", "otto-zzyzx@fedi", ALICE_EXCERPT,
    ALICE_SOURCE, ALICE_REASON, ALICE_JOB, ALICE_TOKEN, ALICE_APP_PASSWORD, "alice@example.com",
)

BOB_PERSON = "Bo Bobsworth-Own"
BOB_SOURCE = "bob-src-Own"
BOB_REASON = "BOBREASON-Own"
BOB_JOB = "BOBJOB-Own"


@dataclass
class World:
    """One user's rows, of every kind a URL can name."""

    user: object
    account: Source  # a connected Mastodon account without credentials (so nothing can reach a platform)
    bluesky: Source  # a connected Bluesky account with (encrypted) credentials
    archive: Source
    person: Person
    other: Person  # another of the user's people, for merges
    identity: Identity
    nudge: Nudge
    job: Job
    # The lists' pages name another person, with a Mastodon account only: no connected account with credentials
    # reaches them, so no request of the walk reaches a platform (the Bluesky account above has credentials).
    other_nudge: Nudge | None = None
    listing: FollowAttempt | None = None  # an Add to a list of theirs, past its Undo


def _records(platform: str, name: str, handle: str, external_id: str, excerpt: str, days: int, **identity) -> list:
    now = timezone.now()
    out: list = [r.IdentityRecord(platform=platform, external_id=external_id, handle=handle, display_name=name, **identity)]
    for day in range(1, days + 1):
        when = now - dt.timedelta(days=day)
        out.append(r.InteractionRecord(
            platform=platform, external_id=f"{external_id}/in/{day}", identity_id=external_id, kind=r.REPLY,
            direction=r.INBOUND, occurred_at=when, excerpt=f"{excerpt} #{day}",
            permalink=f"https://fedi.example/@x/{abs(hash((external_id, day)))}",
        ))
        out.append(r.InteractionRecord(
            platform=platform, external_id=f"{external_id}/out/{day}", identity_id=external_id, kind=r.REPLY,
            direction=r.OUTBOUND, occurred_at=when + dt.timedelta(hours=1), excerpt=f"{excerpt} answered #{day}",
        ))
    return out


def build_world(user, *, person: str, other: str, handle: str, source: str, excerpt: str, note: str, tag: str,
                reason: str, job: str, token: str, app_password: str, identity: dict | None = None) -> World:
    """Rows of every kind for ``user``, through the real ingest and scoring services where there is one."""
    account = Source.objects.create(
        user=user, platform=r.MASTODON, kind=Source.Kind.ACCOUNT, handle=f"{source}@home.example",
        label=f"Mastodon @{source}@home.example", base_url="https://home.example",
    )
    bluesky = Source(user=user, platform=r.BLUESKY, kind=Source.Kind.ACCOUNT, handle=f"{source}.bsky.social",
                     label=f"Bluesky @{source}.bsky.social", base_url="https://bsky.social")
    bluesky.set_credentials({"handle": f"{source}.bsky.social", "app_password": app_password, "session": token})
    bluesky.save()
    archive = Source.objects.create(
        user=user, platform=r.MASTODON, kind=Source.Kind.ARCHIVE, label=f"Mastodon archive ({source}.zip)",
        archive_kind="mastodon", archive_path="/nonexistent/archive.zip",
    )
    slug = handle.split("@")[0]
    key = f"https://fedi.example/users/{slug}"
    other_slug = other.split()[0].lower() + "-" + slug.split("-", 1)[-1]
    ingest.ingest(user, account, _records(r.MASTODON, person, handle, key, excerpt, 6, **(identity or {})))
    ingest.ingest(user, account, _records(
        r.MASTODON, other, f"{other_slug}@fedi.example", f"https://fedi.example/users/{other_slug}", excerpt, 1))
    rapport.recompute(user)
    nudges.generate(user)
    dashboard.store_community(user)
    the_identity = Identity.objects.get(user=user, external_id=key)
    main = the_identity.person
    main.notes, main.tags = note, [tag]
    main.save(update_fields=["notes", "tags"])
    # A second account of the same person, so that splitting has something to split.
    Identity.objects.create(user=user, person=main, platform=r.BLUESKY, external_id=f"did:plc:{slug}",
                            handle=f"{slug}.bsky.social", display_name=person)
    the_nudge = Nudge.objects.filter(person=main).first()
    if the_nudge is None:
        the_nudge = Nudge.objects.create(user=user, person=main, kind=Nudge.Kind.FOLLOW, reason=reason)
    else:
        Nudge.objects.filter(pk=the_nudge.pk).update(reason=f"{the_nudge.reason} {reason}")
        the_nudge.refresh_from_db()
    the_job = Job.objects.create(user=user, source=account, kind="sync", task_name="relationships.sync_source",
                                 description=f"Sync {job}", summary=f"Synced {job}", state=Job.State.DONE,
                                 finished_at=timezone.now())
    other_person = Person.objects.get(user=user, name=other)
    other_identity = other_person.identities.get()
    other_nudge = Nudge.objects.create(user=user, person=other_person, kind=Nudge.Kind.SHOWS_UP, reason=reason)
    listing = FollowAttempt.objects.create(
        user=user, person=other_person, identity=other_identity, platform=r.MASTODON, source=account, action="list",
        state="listed", list_id="12000", list_name=f"{source} list", finished_at=timezone.now() - dt.timedelta(days=1),
    )
    return World(user=user, account=account, bluesky=bluesky, archive=archive, person=main, other=other_person,
                 identity=the_identity, nudge=the_nudge, job=the_job, other_nudge=other_nudge, listing=listing)


@pytest.fixture
def alice_world(alice) -> World:
    return build_world(
        alice, person=ALICE_PERSON, other=ALICE_OTHER, handle=ALICE_HANDLE, source=ALICE_SOURCE,
        excerpt=ALICE_EXCERPT, note=ALICE_NOTE, tag=ALICE_TAG, reason=ALICE_REASON, job=ALICE_JOB,
        token=ALICE_TOKEN, app_password=ALICE_APP_PASSWORD,
    )


@pytest.fixture
def bob_world(bob) -> World:
    # Bob's lookalike has a handle with the same stem as alice's Ana on
    # another platform: a merge suggestion that crossed users would name her.
    world = build_world(
        bob, person=BOB_PERSON, other="Bea Bobsworth-Two", handle="bo-bobsworth@fedi.example", source=BOB_SOURCE,
        excerpt="BOBEXCERPT-Own", note="BOBNOTE-Own", tag="BOBTAG-Own", reason=BOB_REASON, job=BOB_JOB,
        token="BOB-TOKEN-Own", app_password="bobb-bobb-bobb-bobb",
    )
    lookalike = Person.objects.create(user=bob, name="Bo Lookalike-Own")
    Identity.objects.create(user=bob, person=lookalike, platform=r.BLUESKY, external_id="did:plc:anazzyzxbob",
                            handle="ana-zzyzx.bsky.social", display_name="Bo Lookalike-Own")
    world.lookalike = lookalike
    return world


def leaked(response, markers=ALICE_MARKERS) -> list[str]:
    """The markers found in a response's body or headers (case-insensitive)."""
    content = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    text = (content.decode("utf-8", "replace") + "\n" + "\n".join(f"{k}: {v}" for k, v in response.items())).lower()
    return [marker for marker in markers if marker.lower() in text]


def _user_path(model) -> str | None:
    """How rows of ``model`` lead to their owner: ``user``, or ``<fk>__user`` one hop away."""
    names = {f.name for f in model._meta.get_fields() if f.concrete}
    if "user" in names:
        return "user"
    for field in model._meta.get_fields():
        if field.concrete and field.is_relation and field.many_to_one:
            if any(f.name == "user" for f in field.related_model._meta.get_fields()):
                return f"{field.name}__user"
    return None


def rows_of(user) -> dict[str, list]:
    """Every row that belongs to ``user``, in every model of the app, plus the user row itself.

    Found from the models, so a model added later is watched too.
    """
    snapshot: dict[str, list] = {}
    User = get_user_model()
    snapshot["user"] = list(User.objects.filter(pk=user.pk).values())
    for model in apps.get_app_config("relationships").get_models():
        path = _user_path(model)
        if path is None:
            continue
        rows = model.objects.filter(**{path: user}).order_by("pk").values()
        snapshot[model.__name__] = [
            {k: bytes(v) if isinstance(v, memoryview) else v for k, v in row.items()} for row in rows
        ]
    return snapshot


@contextmanager
def rolled_back():
    """Run a request whose writes must not outlive it (the owner deleting her account, say)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture
def no_platform_calls(monkeypatch):
    """Fail the test if any request reaches a platform (every outbound call goes through requests)."""
    calls: list[str] = []

    def refuse(self, request, **kwargs):
        calls.append(request.url)
        raise AssertionError(f"an outbound request was attempted: {request.method} {request.url}")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", refuse)
    return calls


@pytest.fixture
def sent_tasks(monkeypatch):
    """Tasks sent to the broker, recorded instead of sent: (name, args, kwargs)."""
    from config.celery_app import app

    sent: list[tuple] = []

    def record(name, args=None, kwargs=None, **options):
        sent.append((name, args, kwargs or {}))

    monkeypatch.setattr(app, "send_task", record)
    return sent
