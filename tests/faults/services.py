"""A Redis and a PostgreSQL of the fault tests' own, to stop and restart at will.

The rest of the suite shares the Redis at 6379 and the PostgreSQL at 5432;
restarting those would break every test running beside these. Each of these
servers runs on a spare loopback port from a temporary folder, keeps nothing
on disk that matters (Redis without persistence, PostgreSQL with fsync off),
and is removed at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("RAPPORT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def spare_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout}s")


class OwnRedis:
    """``redis-server`` on a spare port, without persistence: a restart loses what it held, as a crash would."""

    def __init__(self) -> None:
        self.port = spare_port()
        self.folder = Path(tempfile.mkdtemp(prefix="rapport-redis-"))
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        _wait(self._answers, 10, f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self, down_for: float = 0.5) -> None:
        """Stop, stay down ``down_for`` seconds (clients see refused connections), start again."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class OwnPostgres:
    """A PostgreSQL 15 cluster made with ``initdb`` and run by ``pg_ctl`` as the postgres user.

    PostgreSQL refuses to run as root, so when the tests run as root every
    command goes through ``runuser -u postgres``, and the folder is given to
    that user. Trust authentication on loopback only.
    """

    def __init__(self) -> None:
        self.port = spare_port()
        self.folder = Path(tempfile.mkdtemp(prefix="rapport-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"

    @staticmethod
    def problem() -> str | None:
        """Why a cluster cannot be made here, or None."""
        if not (PG_BIN / "initdb").exists():
            return f"PostgreSQL binaries are not in {PG_BIN}"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no postgres user to run PostgreSQL as"
            if not shutil.which("runuser"):
                return "running as root without runuser"
        return None

    def _as_owner(self, *command: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    def _run(self, *command: str, timeout: float = 60) -> None:
        result = subprocess.run(
            self._as_owner(*command), capture_output=True, text=True, timeout=timeout, cwd=self.folder
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}\n{log[-3000:]}")

    def init(self) -> OwnPostgres:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "--no-sync")
        return self

    def start(self) -> OwnPostgres:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, down_for: float = 1.0) -> None:
        """Stop (fast: open connections are cut, as in a real restart), stay down a moment, start."""
        self.stop("fast")
        time.sleep(down_for)
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", **kwargs):
        import psycopg

        return psycopg.connect(self.url(database), **kwargs)

    def create_database(self, name: str) -> str:
        with self.connect(autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
