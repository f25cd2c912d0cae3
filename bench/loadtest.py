"""A bounded load test on loopback: gunicorn, PostgreSQL, Redis and a real Celery worker.

    python -m bench.loadtest                  # 20 users for 120 s (make loadtest)
    python -m bench.loadtest --users 5 --duration 20 --keep

What it does:

1. creates a database of its own on the PostgreSQL server named by
   RAPPORT_LOADTEST_PG (default: the local server's ``postgres`` database as
   the admin connection), migrates it, collects the static files, starts a
   redis-server of its own on a spare port;
2. creates 20 users, each with the demo community (about 30,000
   interactions, scored, with nudges), and connects one of them to a fake
   Mastodon server (tests/fakes) holding a few thousand posts;
3. starts gunicorn and a Celery worker with production settings (DEBUG off);
4. runs the users for the duration, each logged in through the login form,
   looping over the dashboard, the people list and the htmx partials (people
   search results, the nudge list, the nudge counts), plus the job detail
   page as the trivial logged-in view everything is compared with; while
   they run, every 30 s a user uploads an X archive through the upload form
   and, 10 s later, another presses "Sync now";
5. waits for the queue to drain and reports: errors (target 0), jobs
   enqueued and completed (target: equal), Celery tasks received and
   succeeded, and the p50/p95 of each page, with the dashboard's p95 against
   the trivial view's (target at most 10x).

The exit status is non-zero when a target is missed. Written with threads and
requests (no load-test framework needed); latencies are wall-clock times seen
by the client, including the client's own overhead, equally for every page.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("RAPPORT_LOADTEST_PG", "postgres://postgres@127.0.0.1:5432/postgres")
DATABASE = "rapport_loadtest"
PASSWORD = "load-test password 42"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument("--think", type=float, default=0.5, help="mean pause between a user's requests (s)")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--tweets", type=int, default=20_000, help="tweets in the archive uploaded during the run")
    parser.add_argument("--posts", type=int, default=3_000, help="posts on the fake Mastodon server to sync")
    parser.add_argument("--keep", action="store_true", help="keep the database and the temporary folder")
    parser.add_argument("--max-ratio", type=float, default=10.0, help="dashboard p95 / trivial p95 target")
    return parser.parse_args()


# ---------------------------------------------------------------- processes


class Stack:
    """The servers under test, started in order and stopped in reverse, whatever happens."""

    def __init__(self, folder: Path, users: int, web_workers: int):
        from cryptography.fernet import Fernet

        sys.path.insert(0, str(ROOT))
        from tests.faults.services import OwnRedis, spare_port

        self.folder = folder
        self.redis = OwnRedis()
        self.port = spare_port()
        self.web_workers = web_workers
        self.procs: list[subprocess.Popen] = []
        self.worker_log = folder / "worker.log"
        self.web_log = folder / "gunicorn.log"
        self.database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"
        self.env = {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": "load-test-" + os.urandom(16).hex(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "RAPPORT_VAR_DIR": str(folder / "var"),
            "STATIC_ROOT": str(folder / "static"),
            "RAPPORT_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            # The fake Mastodon server listens on loopback.
            "RAPPORT_ALLOW_PRIVATE_HOSTS": "1",
            # Plain HTTP on loopback: no TLS in front of gunicorn here.
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
            # Every user logs in from 127.0.0.1; only failures count towards a lockout anyway.
            "RAPPORT_LOGIN_FAILURE_LIMIT": str(max(5, users * 2)),
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> None:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        self.manage("migrate", "--no-input")
        self.manage("collectstatic", "--no-input")

    def drop_database(self) -> None:
        import psycopg

        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')

    def start_redis(self) -> None:
        self.redis.start()

    def start_web_and_worker(self) -> None:
        import requests

        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.web_workers), "--timeout", "60", "--error-logfile", str(self.web_log)],
            cwd=ROOT, env=self.env, start_new_session=True,
        )
        self.procs.append(web)
        with open(self.worker_log, "w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2",
                 "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.procs.append(worker)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200 and " ready." in self.worker_log.read_text():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise SystemExit(f"gunicorn or the worker did not start:\n{self.web_log.read_text()[-2000:]}\n"
                         f"{self.worker_log.read_text()[-2000:]}")

    def stop(self) -> None:
        import signal

        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.redis.close()


# ---------------------------------------------------------------- data


def setup_django(stack: Stack) -> None:
    os.environ.update(stack.env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def create_users(count: int) -> list[dict]:
    """``count`` users with the demo community, scored and with nudges, as a user of two weeks would have."""
    from django.contrib.auth import get_user_model

    from relationships.models import Person
    from relationships.services import demo
    from relationships.services.intake import jobs

    users = []
    for n in range(count):
        user = get_user_model().objects.create_user(f"load{n:02d}", f"load{n:02d}@example.com", PASSWORD)
        demo.seed_records(user)
        job = jobs.create(user, kind="seed", task_name="relationships.seed_demo", send_task=False)
        jobs.execute(job.pk, lambda job, progress: demo.seed_history(job.user, progress))
        person = Person.objects.filter(user=user).order_by("pk").first()
        users.append({"username": user.username, "job": job.pk, "person": person.pk if person else None})
        print(f"  user {n + 1}/{count} seeded", end="\r", flush=True)
    print()
    return users


def start_fake_mastodon(posts: int):
    from tests.fakes.mastodon_server import FakeMastodon

    server = FakeMastodon().start()
    friends = [server.add_account(f"friend{i}", "remote.example", display_name=f"Friend {i}") for i in range(50)]
    for i in range(posts):
        server.add_status(friends[i % 50], f"hello {i}", mentions=[server.me])
    server.delay = 0.02  # a real server is not instantaneous: the sync spans the run
    return server


def connect_mastodon(username: str, server) -> int:
    from django.contrib.auth import get_user_model

    from relationships.services.intake import connect

    user = get_user_model().objects.get(username=username)
    return connect.connect_mastodon_token(user, server.url, server.token).pk


def write_archive(path: Path, tweets: int) -> Path:
    from tests.builders import x as xb

    people = [xb.XUser(str(3000 + i), f"pal{i}", f"Pal {i}") for i in range(500)]
    return xb.build_x_archive(path, tweets=[
        xb.tweet(f"16{i:08d}", text=f"hi @{people[i % 500].screen}", mentions=[people[i % 500]]) for i in range(tweets)
    ])


# ---------------------------------------------------------------- load


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []

    def record(self, name: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.times[name].append(seconds)
            if error:
                self.errors.append(f"{name}: {error}")


class User(threading.Thread):
    """One logged-in person clicking around: pages, htmx partials, and a trivial page to compare with."""

    def __init__(self, base: str, account: dict, results: Results, until: float, think: float, seed: int):
        super().__init__(daemon=True)
        self.base, self.account, self.results, self.until, self.think = base, account, results, until, think
        self.rng = random.Random(seed)
        self.session = None
        self.actions: list = []

    def login(self) -> None:
        import requests

        self.session = requests.Session()
        page = self.session.get(self.base + "/accounts/login/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = self.session.post(
            self.base + "/accounts/login/",
            data={"username": self.account["username"], "password": PASSWORD, "csrfmiddlewaretoken": token},
            allow_redirects=False, timeout=30,
        )
        if response.status_code != 302:
            raise RuntimeError(f"login of {self.account['username']} answered {response.status_code}")

    def get(self, name: str, path: str, htmx: bool = False) -> None:
        import requests

        headers = {"HX-Request": "true"} if htmx else {}
        started = time.perf_counter()
        error = None
        try:
            response = self.session.get(self.base + path, headers=headers, allow_redirects=False, timeout=60)
            if response.status_code != 200:
                error = f"{path} answered {response.status_code}"
        except requests.RequestException as exc:
            error = f"{path}: {type(exc).__name__}: {exc}"
        self.results.record(name, time.perf_counter() - started, error)

    def post(self, name: str, path: str, **kwargs) -> None:
        import requests

        started = time.perf_counter()
        token = self.session.cookies.get("csrftoken", "")
        error = None
        try:
            response = self.session.post(self.base + path, headers={"X-CSRFToken": token}, allow_redirects=False,
                                         timeout=120, **kwargs)
            if response.status_code not in (200, 302):
                error = f"{path} answered {response.status_code}"
        except requests.RequestException as exc:
            error = f"{path}: {type(exc).__name__}: {exc}"
        self.results.record(name, time.perf_counter() - started, error)

    def run(self) -> None:
        try:
            self.login()
        except Exception as exc:  # counted, and this user stops
            self.results.record("login", 0.0, f"{type(exc).__name__}: {exc}")
            return
        person = self.account.get("person")
        pages = [
            ("dashboard", "/", False),
            ("people list", "/people/", False),
            ("people search (htmx)", "/people/?q=a", True),
            ("nudge list (htmx)", "/?all=1", True),
            ("nudge counts (htmx)", "/nudges/counts/", True),
            ("trivial: job detail", f"/jobs/{self.account['job']}/", False),
        ]
        if person:
            pages.append(("person page", f"/people/{person}/", False))
        while time.monotonic() < self.until:
            while self.actions and self.actions[0][0] <= time.monotonic():
                _, action = self.actions.pop(0)
                action(self)
            name, path, htmx = self.rng.choice(pages)
            self.get(name, path, htmx)
            time.sleep(self.rng.uniform(0, 2 * self.think))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# ---------------------------------------------------------------- the run


def main() -> int:
    opts = parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rapport-loadtest-"))
    stack = Stack(folder, opts.users, opts.web_workers)
    fake = None
    try:
        print(f"Setting up in {folder} (database {DATABASE})")
        stack.start_redis()
        stack.create_database()
        setup_django(stack)
        accounts = create_users(opts.users)
        fake = start_fake_mastodon(opts.posts)
        sync_source = connect_mastodon(accounts[1 % len(accounts)]["username"], fake)
        archive = write_archive(folder / "archive.zip", opts.tweets)
        from relationships.models import Job

        baseline = Job.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        stack.start_web_and_worker()
        from django.utils import timezone

        stack.load_started = timezone.now()

        print(f"Load: {opts.users} users for {opts.duration:.0f}s against {stack.base}")
        results = Results()
        started = time.monotonic()
        until = started + opts.duration
        users = [User(stack.base, account, results, until, opts.think, seed=n) for n, account in enumerate(accounts)]

        def upload(user: User) -> None:
            with open(archive, "rb") as handle:
                user.post("upload archive", "/sources/upload/", files={"archive": ("archive.zip", handle)})

        def sync_now(user: User) -> None:
            user.post("sync now", f"/sources/{sync_source}/sync/")

        # An upload every 30 s (each by another user) and a "Sync now" 10 s after
        # each, so imports and syncs run through the whole load, not only its start.
        moments = list(range(10, int(opts.duration) - 20, 30)) or [opts.duration / 6]
        for k, moment in enumerate(moments):
            users[(2 * k) % len(users)].actions.append((started + moment, upload))
            users[1 % len(users)].actions.append((started + moment + min(10, opts.duration / 10), sync_now))
        for user in users:
            user.start()
        for user in users:
            user.join(opts.duration + 120)
        load_seconds = time.monotonic() - started

        # Drain: every job the run queued must end.
        drain_deadline = time.monotonic() + 300
        while time.monotonic() < drain_deadline:
            if not Job.objects.filter(pk__gt=baseline).exclude(state__in=["done", "failed"]).exists():
                break
            time.sleep(1)
        return report(opts, results, load_seconds, baseline, stack)
    finally:
        if fake is not None:
            fake.stop()
        stack.stop()
        if not opts.keep:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:
                pass
            stack.drop_database()
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"Kept {folder} and database {DATABASE}")


def report(opts, results: Results, load_seconds: float, baseline: int, stack: Stack) -> int:
    from relationships.models import Job

    run_jobs = list(Job.objects.filter(pk__gt=baseline).order_by("pk").values(
        "kind", "state", "attempts", "error", "started_at", "finished_at"))
    jobs_text = ", ".join(f"{job['kind']} {job['state']}" for job in run_jobs)
    enqueued = len(run_jobs)
    completed = sum(job["state"] == "done" for job in run_jobs)
    log = stack.worker_log.read_text()
    received = len(re.findall(r"Task \S+\[[0-9a-f-]+\] received", log))
    succeeded = len(re.findall(r"Task \S+\[[0-9a-f-]+\] succeeded", log))
    retried = len(re.findall(r"Task \S+\[[0-9a-f-]+\] retry", log))
    failed_tasks = len(re.findall(r"Task \S+\[[0-9a-f-]+\] raised", log))

    requests_total = sum(len(v) for v in results.times.values())
    print()
    print(f"{'page':28} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    rows = {}
    for name in sorted(results.times):
        values = results.times[name]
        rows[name] = {"n": len(values), "p50": percentile(values, 0.5) * 1000, "p95": percentile(values, 0.95) * 1000,
                      "max": max(values) * 1000}
        print(f"{name:28} {len(values):>9} {rows[name]['p50']:>8.0f} {rows[name]['p95']:>8.0f} {rows[name]['max']:>8.0f}")
    dashboard, trivial = rows.get("dashboard"), rows.get("trivial: job detail")
    ratio = dashboard["p95"] / trivial["p95"] if dashboard and trivial and trivial["p95"] else float("inf")
    print()
    print(f"Requests: {requests_total} in {load_seconds:.0f}s ({requests_total / load_seconds:.1f}/s), "
          f"errors: {len(results.errors)} (target 0)")
    for error in results.errors[:10]:
        print(f"  error: {error}")
    print(f"Jobs: {enqueued} enqueued, {completed} completed (target: equal): {jobs_text}")
    for job in run_jobs:
        if job["started_at"] and job["finished_at"]:
            began = (job["started_at"] - stack.load_started).total_seconds()
            ended = (job["finished_at"] - stack.load_started).total_seconds()
            print(f"  {job['kind']:9} {job['state']:6} ran from {began:5.1f}s to {ended:5.1f}s of the load")
        if job["state"] != "done":
            print(f"  not done: {job}")
    print(f"Celery tasks: {received} received, {succeeded} succeeded, {retried} retried, {failed_tasks} raised")
    print(f"Dashboard p95 {dashboard['p95']:.0f} ms vs trivial view p95 {trivial['p95']:.0f} ms: "
          f"{ratio:.1f}x (target at most {opts.max_ratio:g}x)")
    summary = {
        "users": opts.users, "duration_s": round(load_seconds, 1), "requests": requests_total,
        "errors": len(results.errors), "jobs_enqueued": enqueued, "jobs_completed": completed,
        "tasks_received": received, "tasks_succeeded": succeeded, "tasks_retried": retried,
        "dashboard_p95_ms": round(dashboard["p95"]), "trivial_p95_ms": round(trivial["p95"]),
        "ratio": round(ratio, 2), "pages": {k: {kk: round(vv) for kk, vv in v.items()} for k, v in rows.items()},
    }
    print("LOADTEST " + json.dumps(summary))
    ok = not results.errors and enqueued == completed and ratio <= opts.max_ratio
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
