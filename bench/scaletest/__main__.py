"""`make scaletest`: Rapport's scheduling and pacing, proven with real processes on separate network hosts.

Needs root (network namespaces), PostgreSQL's server binaries and
redis-server; not part of CI. What it builds, on one machine
(bench/scaletest/net.py):

    rs-db    10.77.0.2    PostgreSQL and Redis of their own (data under var/scaletest/)
    rs-web   10.77.0.3    gunicorn and the one Celery beat
    rs-w1..3 10.77.0.11-13  one Celery worker "machine" each
    rs-plat  10.77.0.21-23  three Mastodon instances; 10.77.0.30 one Bluesky PDS
                          (bench/scaletest/farm.py: real limits, real time)

First every account's first sync (its whole history) on all three machines;
then, with one machine, two, three, and every account due at the start of
each phase:

1. throughput with 1, 2 and 3 worker machines (syncs finished per minute);
2. the limits each platform host saw (most requests attempted in one window, 429s);
3. faults with 3 machines: SIGKILL of every process of rs-w1, rs-w2's link cut
   for 60 s, Redis restarted; then, once the farms are quiet and every
   account has synced again, each account's interactions are compared with
   what a fresh sync of the farm gives (the audit, from rs-plat's own
   addresses, which the farms neither limit nor count).

It prints the figures as a table and exits non-zero if any is off. It removes
every namespace and process it made, however it ends.

    python -m bench.scaletest [--accounts 2000] [--phase-seconds 180] [--latency 0.1] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import atexit
import concurrent.futures
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.scaletest import net
from bench.scaletest.report import cpu_times, report, table
from bench.scaletest.farm import APP_PASSWORD, BLUESKY, MASTODON, bluesky_handle, mastodon_token

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var" / "scaletest"
PYTHON = sys.executable
DB_HOST, REDIS_PORT, PG_PORT = net.HOSTS["rs-db"][0], 6379, 5432
MASTODON_HOSTS = net.HOSTS["rs-plat"][:3]
PDS_HOST = net.HOSTS["rs-plat"][3]
FARM_PORT = 8000
WORKERS = ["rs-w1", "rs-w2", "rs-w3"]


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        raise SystemExit("scaletest: PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin)")
    return found[-1].parent


def app_env(args) -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")}
    env.update(
        DATABASE_URL=f"postgres://postgres@{DB_HOST}:{PG_PORT}/rapport",
        REDIS_URL=f"redis://{DB_HOST}:{REDIS_PORT}/0",
        SECRET_KEY="scaletest-secret-key",
        RAPPORT_ENCRYPTION_KEYS="uXGhBz3wq2m4SJN3Zt1V1mY3HQ2Hn3n1o0xGq4H1u2E=",
        RAPPORT_ALLOW_PRIVATE_HOSTS="1",
        RAPPORT_VAR_DIR=str(VAR / "var"),
        ALLOWED_HOSTS=f"{net.HOSTS['rs-web'][0]},localhost",
        SECURE_SSL_REDIRECT="0",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        # Bounds the admin sets: how often an account is synced, and when a silent job counts as dead.
        RAPPORT_SYNC_INTERVAL_MINUTES=str(args.interval_minutes),
        RAPPORT_STALE_JOB_MINUTES=str(args.stale_minutes),
        RAPPORT_JOB_HEARTBEAT_SECONDS="10",
        RAPPORT_VISIBILITY_TIMEOUT=str(args.stale_minutes * 60),
        RAPPORT_REDIS_UNACKED_RESTORE_SECONDS="30",
        CELERY_TASK_SOFT_TIME_LIMIT=str(args.stale_minutes * 60 - 20),
        CELERY_TASK_TIME_LIMIT=str(args.stale_minutes * 60 - 10),
    )
    return env


class Run:
    def __init__(self, args):
        self.args = args
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = app_env(args)

    # ------------------------------------------------------------ set up

    def start_services(self) -> None:
        bin_dir = pg_bin()
        data = VAR / "pg"
        shutil.rmtree(VAR, ignore_errors=True)
        (VAR / "logs").mkdir(parents=True)
        (VAR / "var").mkdir()
        data.mkdir()
        shutil.chown(data, "postgres", "postgres")
        net.sh("runuser", "-u", "postgres", "--", str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U",
               "postgres", "--no-sync")
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {net.SUBNET}.0/24 trust\n")
        self.procs["postgres"] = net.spawn("rs-db", [
            "runuser", "-u", "postgres", "--", str(bin_dir / "postgres"), "-D", str(data),
            "-c", f"listen_addresses={DB_HOST}", "-c", f"port={PG_PORT}", "-c", f"unix_socket_directories={data}",
            "-c", "max_connections=300"], self.env, str(VAR / "logs" / "postgres.log"), str(ROOT))
        self.start_redis()
        net.wait_port("rs-db", DB_HOST, PG_PORT)
        net.sh("ip", "netns", "exec", "rs-db", "runuser", "-u", "postgres", "--", str(bin_dir / "createdb"), "-h",
               DB_HOST, "rapport")

    def start_redis(self) -> None:
        self.procs["redis"] = net.spawn("rs-db", [
            shutil.which("redis-server") or "redis-server", "--bind", DB_HOST, "--port", str(REDIS_PORT),
            "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            self.env, str(VAR / "logs" / "redis.log"), str(ROOT))
        net.wait_port("rs-db", DB_HOST, REDIS_PORT)

    def start_farms(self) -> None:
        n = self.args.accounts
        m = int(n * self.args.mastodon_share)
        per = m // len(MASTODON_HOSTS)
        self.layout = []  # (platform, index, base_url)
        for k, host in enumerate(MASTODON_HOSTS):
            first, end = k * per, (k + 1) * per if k < len(MASTODON_HOSTS) - 1 else m
            self._farm(f"mastodon-{k + 1}", MASTODON, host, first, end)
            self.layout += [(MASTODON, i, f"http://{host}:{FARM_PORT}") for i in range(first, end)]
        self._farm("pds", BLUESKY, PDS_HOST, m, n)
        self.layout += [(BLUESKY, i, f"http://{PDS_HOST}:{FARM_PORT}") for i in range(m, n)]
        for host in [*MASTODON_HOSTS, PDS_HOST]:
            net.wait_port("rs-plat", host, FARM_PORT, timeout=180)

    def _farm(self, name: str, platform: str, host: str, first: int, end: int) -> None:
        self.procs[name] = net.spawn("rs-plat", [
            PYTHON, "-m", "bench.scaletest.farm", "--platform", platform, "--listen", host, "--port", str(FARM_PORT),
            "--accounts", f"{first}:{end}", "--seed", str(self.args.seed), "--latency", str(self.args.latency),
            "--activity-every", str(self.args.activity_every),
            # The audit runs on rs-plat and reaches every farm from rs-plat's first address.
            "--own", ",".join(net.HOSTS["rs-plat"])], self.env, str(VAR / "logs" / f"{name}.log"), str(ROOT))

    def django(self) -> None:
        os.environ.update(self.env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

    def connect_accounts(self) -> None:
        """Every account connected through the same service the Connect pages use."""
        from django.contrib.auth import get_user_model
        from django.db import close_old_connections

        from relationships.services.intake import connect

        User = get_user_model()

        def one(entry):
            platform, index, base_url = entry
            try:
                user = User(username=f"scale{index:06d}")
                user.set_unusable_password()
                user.save()
                for _ in range(60):
                    try:
                        if platform == MASTODON:
                            connect.connect_mastodon_token(user, base_url, mastodon_token(index))
                        else:
                            connect.connect_bluesky(user, bluesky_handle(index), APP_PASSWORD, base_url)
                        break
                    except connect.ConnectError as e:
                        # A person told "slow down" tries again later; so does the set-up, 2,000 times over.
                        if "slow down" not in str(e):
                            raise
                        self.connect_waits += 1
                        time.sleep(15)
            finally:
                close_old_connections()

        self.connect_waits = 0
        self.connected_since = dt.datetime.now(dt.UTC)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(one, self.layout))
        if self.connect_waits:
            log(f"connecting was told to slow down {self.connect_waits} times (the PDS's per-address limit)")

    def start_web_and_beat(self) -> None:
        web = net.HOSTS["rs-web"][0]
        self.procs["web"] = net.spawn("rs-web", [
            PYTHON, "-m", "gunicorn", "config.wsgi", "--bind", f"{web}:8000", "--workers", "2"],
            self.env, str(VAR / "logs" / "web.log"), str(ROOT))
        self.procs["beat"] = net.spawn("rs-web", [
            PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING",
            "--schedule", str(VAR / "var" / "celerybeat-schedule")], self.env, str(VAR / "logs" / "beat.log"), str(ROOT))
        net.wait_port("rs-web", web, 8000)

    def start_worker(self, ns: str, concurrency: int | None = None) -> None:
        """A Celery worker on ``ns``: the phases' concurrency unless told otherwise."""
        self.procs[ns] = net.spawn(ns, [
            PYTHON, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency",
            str(concurrency or self.args.concurrency), "--hostname", f"worker@{ns}"], self.env, str(VAR / "logs" / f"{ns}.log"), str(ROOT))

    def stop_worker(self, ns: str) -> None:
        """A warm shutdown (SIGTERM): the worker finishes what it holds, as on a planned stop."""
        proc = self.procs.pop(ns)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            net.kill_all(ns)
        net.kill_all(ns)

    # ------------------------------------------------------------ measuring

    def all_due(self, only: list[int] | None = None) -> dt.datetime:
        """Make every account (of ``only``) due now (as after a long pause), and return the moment.

        A sync queued or running at that moment ends by scheduling its account's next sync from its
        own end, over the "due now" just written: those accounts are made due again once it has ended.
        """
        from django.utils import timezone

        from relationships.models import Job, Source

        now = timezone.now()
        accounts = Source.objects.filter(kind=Source.Kind.ACCOUNT)
        if only is not None:
            accounts = accounts.filter(pk__in=only)
        accounts.update(last_synced_at=None, next_sync_at=now)
        unfinished = [Job.State.QUEUED, Job.State.RUNNING]
        running = set(Job.objects.filter(kind="sync", state__in=unfinished, created_at__lt=now,
                                         source__in=accounts).values_list("source_id", flat=True))
        deadline = time.monotonic() + 300
        while running and time.monotonic() < deadline:
            time.sleep(1)
            still = set(Job.objects.filter(kind="sync", state__in=unfinished, created_at__lt=now,
                                           source_id__in=running).values_list("source_id", flat=True))
            accounts.filter(pk__in=running - still, next_sync_at__gt=now).update(next_sync_at=now)
            running = still
        return now

    def syncs_between(self, start: dt.datetime, end: dt.datetime) -> int:
        from relationships.models import Job

        return Job.objects.filter(kind="sync", state=Job.State.DONE, finished_at__gte=start, finished_at__lt=end).count()

    def farm_stats(self) -> dict:
        out = {}
        for name, host in [("mastodon-1", MASTODON_HOSTS[0]), ("mastodon-2", MASTODON_HOSTS[1]),
                           ("mastodon-3", MASTODON_HOSTS[2]), ("pds", PDS_HOST)]:
            with urllib.request.urlopen(f"http://{host}:{FARM_PORT}/__farm/stats", timeout=10) as answer:
                out[name] = json.load(answer)
        return out

    def throughput(self, machines: int) -> dict:
        start = self.all_due()
        time.sleep(self.args.warmup_seconds)
        t0, cpu0 = dt.datetime.now(dt.UTC), cpu_times()
        time.sleep(self.args.phase_seconds)
        t1, cpu1 = dt.datetime.now(dt.UTC), cpu_times()
        done = self.syncs_between(t0, t1)
        per_minute = done / ((t1 - t0).total_seconds() / 60)
        ticks = max(1, cpu1[2] - cpu0[2])
        busy, stolen = (cpu1[0] - cpu0[0]) / ticks, (cpu1[1] - cpu0[1]) / ticks
        log(f"{machines} machine(s): {done} syncs in {(t1 - t0).total_seconds():.0f}s = {per_minute:.1f}/min; "
            f"CPU busy {busy:.0%}, stolen {stolen:.0%} of {os.cpu_count()} cores")
        return {"machines": machines, "syncs": done, "per_minute": per_minute, "due_at": start,
                "cpu_busy": busy, "cpu_stolen": stolen}

    # ------------------------------------------------------------ faults and audit

    def faults(self) -> dict:
        from relationships.models import Job, Source

        fault_start = self.all_due()
        time.sleep(20)
        killed = net.kill_all("rs-w1")
        log(f"SIGKILL: {killed} processes of rs-w1")
        time.sleep(20)
        net.link("rs-w2", "down")
        log("rs-w2's link is down")
        time.sleep(60)
        net.link("rs-w2", "up")
        log("rs-w2's link is up again")
        self.procs["redis"].send_signal(signal.SIGTERM)
        self.procs["redis"].wait(30)
        self.start_redis()
        log("Redis restarted (empty: it keeps nothing on disk)")
        self.start_worker("rs-w1")
        log("rs-w1 started again")
        recovered_by = self.wait_quiet(fault_start, self.args.recovery_seconds)
        bound = fault_start + dt.timedelta(minutes=self.args.interval_minutes, seconds=self.args.recovery_seconds)
        first_after = {}
        for source_id, finished in (Job.objects.filter(kind="sync", state=Job.State.DONE, started_at__gte=fault_start)
                                    .values_list("source_id", "finished_at")):
            if source_id not in first_after or finished < first_after[source_id]:
                first_after[source_id] = finished
        late = Source.objects.filter(kind=Source.Kind.ACCOUNT).exclude(pk__in=list(first_after)).count()
        over_bound = sum(1 for f in first_after.values() if f > bound) + late
        return {"late": late, "over_bound": over_bound, "recovered_in": recovered_by}

    def wait_quiet(self, since: dt.datetime, timeout: float, only: list[int] | None = None) -> float | None:
        """Seconds until every account (of ``only``) had a sync start after ``since`` and finish, and no job
        is queued or running; None on timeout.

        Counted from the jobs, not from ``Source.last_synced_at``: a sync that was running when the accounts
        were made due writes its own time there, from before ``since``.
        """
        from relationships.models import Job, Source

        started = time.monotonic()
        accounts = set(Source.objects.filter(kind=Source.Kind.ACCOUNT).values_list("pk", flat=True))
        if only is not None:
            accounts &= set(only)
        while time.monotonic() - started < timeout:
            synced = set(Job.objects.filter(kind="sync", state=Job.State.DONE, started_at__gte=since)
                         .values_list("source_id", flat=True))
            busy = Job.objects.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING]).count()
            if accounts <= synced and busy == 0:
                return time.monotonic() - started
            time.sleep(5)
        log(f"not quiet after {timeout:.0f}s: {len(accounts - synced)} accounts not synced since {since:%H:%M:%S}")
        return None

    def audit(self) -> dict:
        """Quiet the farms; sync again the accounts with news since their last sync; then the audit."""
        from relationships.models import Source

        news: dict[int, float] = {}
        for host in [*MASTODON_HOSTS, PDS_HOST]:
            urllib.request.urlopen(urllib.request.Request(f"http://{host}:{FARM_PORT}/__farm/quiet", method="POST"),
                                   timeout=10).read()
            with urllib.request.urlopen(f"http://{host}:{FARM_PORT}/__farm/activity", timeout=10) as answer:
                news.update({int(i): at for i, at in json.load(answer).items()})
        stale = []
        for source in Source.objects.filter(kind=Source.Kind.ACCOUNT).select_related("user"):
            index = int(source.user.username.removeprefix("scale"))
            synced = source.last_synced_at.timestamp() if source.last_synced_at else 0.0
            if index in news and news[index] >= synced - 5:
                stale.append(source.pk)
        since = self.all_due(only=stale)
        log(f"audit: {len(stale)} accounts had news after their last sync; syncing them once more")
        self.wait_quiet(since, self.args.recovery_seconds, only=stale)
        # The audit watches the install from outside: it paces with a budget of its own, not the workers'
        # shared one (the farms answer it with no rate headers, as they neither count nor limit it).
        out = net.sh("ip", "netns", "exec", "rs-plat", "env", "-u", "REDIS_URL", PYTHON, "-m", "bench.scaletest.audit",
                     check=False)
        if out.returncode != 0:
            raise RuntimeError(f"audit failed: {out.stderr[-2000:]} {out.stdout[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def claimed(self) -> int:
        from django.utils import timezone

        from relationships.models import Job, Source

        return (Source.objects.filter(sync_claimed_until__gt=timezone.now()).count()
                + Job.objects.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING]).count())

    # ------------------------------------------------------------ tear down

    def stop(self) -> None:
        for ns in net.HOSTS:
            net.kill_all(ns, signal.SIGTERM)
        time.sleep(2)
        net.clean()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--mastodon-share", type=float, default=0.6)
    parser.add_argument("--phase-seconds", type=int, default=180)
    parser.add_argument("--warmup-seconds", type=int, default=75, help="longer than one beat period (60 s)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds each platform request takes")
    # With 2 processes per machine, the third machine's phase completed fewer syncs than the second's
    # (docs/SCALING.md, run 3), for a reason not found: the cores were about 40% busy. With 1, the phases
    # scaled near-linearly (run 4). The CPU busy share is printed with each phase.
    parser.add_argument("--concurrency", type=int, default=1, help="worker processes per machine in the phases and after")
    parser.add_argument("--first-round-concurrency", type=int, default=2,
                        help="worker processes per machine for every account's first sync, before the phases")
    parser.add_argument("--interval-minutes", type=int, default=15)
    parser.add_argument("--stale-minutes", type=int, default=3)
    parser.add_argument("--recovery-seconds", type=int, default=900)
    parser.add_argument("--activity-every", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def scenario(run: Run, args: argparse.Namespace) -> dict:
    """Hosts, accounts, the first round, the three throughput phases, the faults and the audit: what they measured."""
    log("hosts")
    net.up()
    log("PostgreSQL and Redis on rs-db")
    run.start_services()
    log(f"platform farms on rs-plat ({args.accounts} accounts)")
    run.start_farms()
    run.django()
    log("connecting every account")
    started = time.monotonic()
    run.connect_accounts()
    log(f"connected in {time.monotonic() - started:.0f}s; web and beat on rs-web")
    run.start_web_and_beat()

    # Every account's first sync fetches its whole history; later ones only the news. The
    # first round runs before the phases, so each phase measures the same kind of sync.
    log("first round: every account's first sync, on all three machines")
    for ns in WORKERS:
        run.start_worker(ns, args.first_round_concurrency)
    first_round = run.wait_quiet(run.connected_since, args.recovery_seconds * 2)
    log(f"first round done in {first_round:.0f}s" if first_round is not None else "first round did not finish")
    for ns in WORKERS:
        run.stop_worker(ns)

    phases = []
    for k, ns in enumerate(WORKERS, start=1):
        run.start_worker(ns)
        phases.append(run.throughput(k))
    limits_before_faults = run.farm_stats()
    log("faults")
    faults = run.faults()
    audit = run.audit()
    return {"first_round": first_round, "phases": phases, "farms_before_faults": limits_before_faults,
            "faults": faults, "audit": audit, "claimed": run.claimed(), "farms": run.farm_stats()}


def main() -> int:
    args = arguments()
    if os.geteuid() != 0:
        raise SystemExit("scaletest: needs root (it makes network namespaces)")

    run = Run(args)
    atexit.register(run.stop)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    found = scenario(run, args)
    rows = report(found, args)
    failures = [row[0] for row in rows[1:] if row[3] == "NO"]
    print()
    print(table(rows))
    (VAR / "result.json").write_text(json.dumps({k: v for k, v in found.items() if k != "first_round"},
                                                default=str, indent=2))
    if failures:
        print("\nOff: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
