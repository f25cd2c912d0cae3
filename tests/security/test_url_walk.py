"""Every URL of the URLconf, walked as anonymous, as bob (another user) and as alice (the owner).

Found by walking the resolver (tests/security/walk.py), so a URL added to any
urls.py is covered the day it is added. Each URL is requested with GET and
POST, each as a plain and as an htmx request:

* anonymous: sent to the login page, and nothing written;
* bob, on alice's objects: a 404 that carries no byte of alice's data, and
  not one of alice's rows changed;
* bob, on pages without arguments: only bob's rows, never alice's;
* alice, on her own objects: never a 403, 404 or 500.

Then the admin (staff only, and no stored credential in it) and the Celery
side: a task re-reads ownership from the ids it is given.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from relationships.models import Interaction, Job, Rapport, Source
from relationships.services.intake import imports, jobs, runs, sync
from tests.security.conftest import (
    ALICE_APP_PASSWORD,
    ALICE_TOKEN,
    BOB_JOB,
    BOB_PERSON,
    BOB_REASON,
    BOB_SOURCE,
    leaked,
    rolled_back,
    rows_of,
)
from tests.security.walk import (
    DUMMY,
    OBJECT_OF,
    PUBLIC,
    Route,
    admin_routes,
    path_for,
    payload,
    query_for,
    routes,
    walked_routes,
)

pytestmark = pytest.mark.django_db

WALKED = walked_routes()
WITH_ARGUMENTS = [r for r in WALKED if r.arguments]
WITHOUT_ARGUMENTS = [r for r in WALKED if not r.arguments]
VARIANTS = [("GET", False), ("GET", True), ("POST", False), ("POST", True)]
LOGIN = "/accounts/login/"


def ids(routes_: list[Route]) -> list[str]:
    return [r.qualified for r in routes_]


def send(client, method: str, path: str, *, query: dict | None = None, htmx: bool = False, data: dict | None = None):
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"} if htmx else {}
    if method == "GET":
        return client.get(path, query or {}, **headers)
    url = f"{path}?{urlencode(query)}" if query else path
    return client.post(url, data or {}, **headers)


def label(method: str, htmx: bool, path: str) -> str:
    return f"{method}{' (htmx)' if htmx else ''} {path}"


# ---------------------------------------------------------------- the walk itself


def test_the_walk_finds_urls_inside_includes():
    names = {r.qualified for r in routes()}
    # relationships.urls is included from config.urls.
    assert {"dashboard", "person", "job_progress", "connect_bluesky", "nudge_dismiss", "admin:index"} <= names


def test_every_url_with_arguments_says_whose_object_it_names():
    """A new URL with arguments fails here until OBJECT_OF (walk.py) says which of alice's objects fills them."""
    missing = [str(r) for r in WITH_ARGUMENTS if r.name not in OBJECT_OF]
    assert not missing, f"add these URLs to OBJECT_OF in tests/security/walk.py: {missing}"


def test_every_url_outside_the_admin_has_a_name():
    unnamed = [str(r) for r in routes() if r.namespace is None and not r.name]
    assert not unnamed, f"the walk maps URLs by name: {unnamed}"


def test_the_allow_lists_name_only_urls_that_exist():
    names = {r.name for r in routes()}
    assert PUBLIC <= names, PUBLIC - names
    assert set(OBJECT_OF) <= {r.name for r in WITH_ARGUMENTS}, set(OBJECT_OF) - {r.name for r in WITH_ARGUMENTS}


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_pages_open_without_logging_in(client, name, settings):
    settings.RAPPORT_OPEN_SIGNUP = True
    route = next(r for r in routes() if r.name == name)
    path = reverse(name, kwargs={a: DUMMY[a] for a in route.arguments})
    for method in ("GET", "POST"):
        response = send(client, method, path)
        assert response.status_code < 500, label(method, False, path)
        assert not response.get("Location", "").startswith(LOGIN + "?next="), label(method, False, path)


# ---------------------------------------------------------------- anonymous


@pytest.mark.parametrize("route", WALKED, ids=ids(WALKED))
def test_anonymous_visitors_are_sent_to_log_in_and_write_nothing(client, route, alice_world, no_platform_calls):
    path = path_for(route, alice_world)
    before = rows_of(alice_world.user)
    for method, htmx in VARIANTS:
        response = send(client, method, path, query=query_for(route, alice_world), htmx=htmx,
                        data=payload(alice_world))
        assert response.status_code == 302, label(method, htmx, path)
        assert response["Location"].startswith(LOGIN + "?next="), label(method, htmx, path)
        assert not leaked(response), label(method, htmx, path)
    assert rows_of(alice_world.user) == before


# ---------------------------------------------------------------- bob


@pytest.mark.parametrize("route", WITH_ARGUMENTS, ids=ids(WITH_ARGUMENTS))
def test_bob_gets_a_404_for_alices_objects_with_nothing_of_hers_and_no_write(
    client, route, alice_world, bob_world, no_platform_calls, sent_tasks
):
    if route.name not in OBJECT_OF:
        pytest.fail(f"{route} is not in OBJECT_OF (tests/security/walk.py)")
    client.force_login(bob_world.user)
    path = path_for(route, alice_world)
    nowhere = re.sub(r"/\d+/", "/999999999/", path, count=1)
    before = rows_of(alice_world.user)
    for method, htmx in VARIANTS:
        response = send(client, method, path, query=query_for(route, alice_world), htmx=htmx,
                        data=payload(alice_world))
        where = label(method, htmx, path)
        if response.status_code == 405:
            # The view takes no such method from anyone: the same answer as
            # for an object that does not exist, so it confirms nothing.
            assert send(client, method, nowhere, htmx=htmx).status_code == 405, where
        else:
            assert response.status_code == 404, where
        assert not leaked(response), f"{where} shows {leaked(response)}"
        assert rows_of(alice_world.user) == before, f"{where} changed alice's rows"
    assert not sent_tasks


@pytest.mark.parametrize("route", WITHOUT_ARGUMENTS, ids=ids(WITHOUT_ARGUMENTS))
def test_bob_sees_and_changes_nothing_of_alices_on_pages_without_arguments(
    client, route, alice_world, bob_world, no_platform_calls
):
    client.force_login(bob_world.user)
    path = path_for(route, alice_world)
    before = rows_of(alice_world.user)
    for method, htmx in VARIANTS:
        # The query and the body name alice's things wherever the page takes ids.
        with rolled_back():
            client.force_login(bob_world.user)
            response = send(client, method, path, query=query_for(route, alice_world), htmx=htmx,
                            data=payload(alice_world))
            where = label(method, htmx, path)
            assert response.status_code < 500, where
            assert not leaked(response), f"{where} shows {leaked(response)}"
            assert rows_of(alice_world.user) == before, f"{where} changed alice's rows"


@pytest.mark.parametrize(
    "name, query, own",
    [
        ("dashboard", {}, [BOB_PERSON, BOB_REASON]),
        ("dashboard", {"all": "on"}, [BOB_PERSON, BOB_REASON]),
        ("people", {}, [BOB_PERSON]),
        ("people", {"hidden": "on", "sort": "name"}, [BOB_PERSON]),
        ("sources", {}, [BOB_SOURCE, BOB_JOB]),
        ("settings_export", {"what": "people", "format": "csv"}, [BOB_PERSON]),
        ("settings_export", {"what": "people", "format": "json"}, [BOB_PERSON]),
        ("settings_export", {"what": "interactions", "format": "csv"}, ["BOBEXCERPT-Own"]),
        ("settings_export", {"what": "interactions", "format": "json"}, ["BOBEXCERPT-Own"]),
        ("settings_export", {"what": "everything", "format": "json"}, [BOB_PERSON, "BOBNOTE-Own", BOB_SOURCE]),
    ],
)
def test_list_pages_show_bob_his_own_rows_and_none_of_alices(client, alice_world, bob_world, name, query, own):
    client.force_login(bob_world.user)
    for htmx in (False, True):
        response = send(client, "GET", reverse(name), query=query, htmx=htmx)
        assert response.status_code == 200
        found = leaked(response, own)
        assert found == own, f"{name} {query}: bob's own rows missing: {set(own) - set(found)}"
        assert not leaked(response), f"{name} {query} shows alice's {leaked(response)}"


def test_bobs_person_page_never_suggests_or_finds_alices_people(client, alice_world, bob_world):
    """Bob's lookalike shares Ana's handle stem: merge suggestions and the merge search stay within bob's people."""
    client.force_login(bob_world.user)
    for query in ({}, {"merge_q": "zzyzx"}, {"merge_q": "ana"}):
        for target in ("", "merge-candidates"):
            headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": target} if target else {}
            response = client.get(reverse("person", args=[bob_world.lookalike.pk]), query, **headers)
            assert response.status_code == 200
            assert not leaked(response), f"{query} {target}: {leaked(response)}"


# ---------------------------------------------------------------- alice


@pytest.mark.parametrize("route", WALKED, ids=ids(WALKED))
def test_alice_can_use_every_url_on_her_own_things(client, route, alice_world, bob_world, no_platform_calls,
                                                   sent_tasks):
    path = path_for(route, alice_world)
    for method, htmx in VARIANTS:
        # Each request starts from the same rows: a POST may delete what the next one names.
        with rolled_back():
            client.force_login(alice_world.user)
            response = send(client, method, path, query=query_for(route, alice_world), htmx=htmx,
                            data=payload(alice_world))
            assert response.status_code not in (403, 404), label(method, htmx, path)
            assert response.status_code < 500, label(method, htmx, path)


# ---------------------------------------------------------------- the admin


def concrete(route: Route) -> str:
    """A path for an admin route, named or not, with dummy arguments (the refusal comes before any lookup)."""
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(DUMMY[m.group(1)]), route.route)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(DUMMY[m.group(1)]), path)
    return "/" + path.replace("^", "").replace("$", "")


ADMIN = [r for r in admin_routes() if r.name != "login"]


@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_the_admin_refuses_everyone_but_staff(client, alice_world, who):
    if who == "alice":
        client.force_login(alice_world.user)
    for route in ADMIN:
        path = concrete(route)
        for method in ("GET", "POST"):
            response = send(client, method, path)
            # Sent to a login page (the admin's, or the site's for model pages),
            # or, for the admin's logout, to the admin index that sends them on.
            to = ("/admin/login/?", "/accounts/login/?") + (("/admin/",) if route.name == "logout" else ())
            refused = response.status_code == 404 or (
                response.status_code == 302 and response["Location"].startswith(to)
            )
            assert refused, f"{method} {path} ({route.qualified}) as {who}: {response.status_code}"
            assert not leaked(response), f"{method} {path}"


def test_the_admin_login_page_does_not_let_a_user_who_is_not_staff_in(client, alice_world):
    response = client.post(reverse("admin:login"), {"username": "alice", "password": "correct horse battery staple"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert client.get(reverse("admin:index")).status_code == 302


@pytest.fixture
def staff_client(client, django_user_model):
    staff = django_user_model.objects.create_superuser("root", "root@example.com", "an admin passphrase 51")
    client.force_login(staff)
    return client


def test_staff_see_no_stored_credential_on_any_page_of_the_admin(staff_client, alice_world, bob_world):
    """Every registered model's list, change, history and delete pages: no token, app password, client secret
    or ciphertext. (tests/test_admin.py checks the Source and MastodonApp change pages; this walks them all.)"""
    from django.contrib import admin

    from relationships.models import MastodonApp

    app = MastodonApp(base_url="https://home.example", redirect_uri="https://r.example/cb", client_id="cid")
    app.set_secret("CLIENT-SECRET-Cs4")
    app.save()
    ciphertexts = [bytes(c).decode() for c in Source.objects.exclude(credentials_ciphertext=b"")
                   .values_list("credentials_ciphertext", flat=True)] + [bytes(app.secret_ciphertext).decode()]
    secrets = [ALICE_TOKEN, ALICE_APP_PASSWORD, "BOB-TOKEN-Own", "bobb-bobb-bobb-bobb", "CLIENT-SECRET-Cs4",
               *ciphertexts, *(c[:32] for c in ciphertexts)]
    pages = 0
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        paths = [reverse("admin:%s_%s_changelist" % info)]
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            paths += [reverse(f"admin:%s_%s_{page}" % info, args=[first.pk]) for page in ("change", "history", "delete")]
        for path in paths:
            response = staff_client.get(path)
            assert response.status_code == 200, path
            body = response.content.decode()
            assert not [s[:12] for s in secrets if s in body], path
            assert "_ciphertext" not in body, path
            pages += 1
    assert pages > 40


# ---------------------------------------------------------------- tasks re-check ownership


def _run(job, work):
    jobs.execute(job.pk, work)
    job.refresh_from_db()
    return job


def test_a_sync_job_of_bob_naming_alices_account_is_refused_by_the_sync_service(
    alice_world, bob_world, no_platform_calls
):
    source = alice_world.bluesky
    before = rows_of(alice_world.user)
    job = jobs.create(bob_world.user, kind=sync.KIND, task_name=sync.TASK_NAME, source=source, send_task=False)

    from relationships import tasks

    tasks.sync_source.apply(kwargs={"job_id": job.pk})

    job.refresh_from_db()
    assert job.state == Job.State.FAILED and "of yours" in job.error
    assert rows_of(alice_world.user) == before  # no claim, no cursor, no credentials touched


def test_an_import_job_of_bob_naming_alices_archive_is_refused_by_the_import_service(
    alice_world, bob_world, tmp_path
):
    archive = tmp_path / "alice.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # refused as an archive anyway, if it were ever read
    Source.objects.filter(pk=alice_world.archive.pk).update(archive_path=str(archive))
    before = rows_of(alice_world.user)
    bobs_interactions = Interaction.objects.filter(user=bob_world.user).count()
    job = imports.queue_import(bob_world.user, alice_world.archive, send_task=False)

    from relationships import tasks

    tasks.import_archive.apply(kwargs={"job_id": job.pk})

    job.refresh_from_db()
    assert job.state == Job.State.FAILED and "of yours" in job.error
    assert rows_of(alice_world.user) == before
    assert Interaction.objects.filter(user=bob_world.user).count() == bobs_interactions


def test_a_recompute_job_of_bob_naming_alices_people_leaves_her_figures_alone(alice_world, bob_world, sent_tasks):
    Rapport.objects.filter(user=alice_world.user).update(score=123.0)
    before = rows_of(alice_world.user)
    job = runs.queue_recompute(bob_world.user, [alice_world.person.pk, alice_world.other.pk])

    _run(job, lambda job, progress: runs.recompute(job, progress, job.task_kwargs.get("person_ids")))

    assert job.state == Job.State.DONE
    assert rows_of(alice_world.user) == before
