"""`make run`: the web server, a Celery worker and beat in one terminal.

Any way this ends stops all three: Ctrl-C, SIGTERM, closing the terminal
(SIGHUP), or this process being killed outright (each child is asked by the
kernel to stop when its parent dies, and a guard process kills whatever did
not stop). If any of them exits, the others are stopped too, so a crash is
never hidden behind a half-running app.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORT = os.environ.get("PORT", "8000")
VAR = Path(os.environ.get("RAPPORT_VAR_DIR", ROOT / "var"))

COMMANDS = {
    "web": [PYTHON, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"],
    "worker": [PYTHON, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2",
               "--hostname", "rapport-worker@%h", "--queues", "sync,import,recompute,mail"],
    "beat": [PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
             "--schedule", str(VAR / "celerybeat-schedule")],
}


PR_SET_PDEATHSIG = 1  # prctl(2), Linux


def stop_when_parent_dies(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies.

    The children run in sessions of their own (so Ctrl-C reaches only this
    supervisor, which stops them in order), which also keeps a closed
    terminal's SIGHUP away from them: without this, a supervisor killed with
    SIGKILL would leave the web server holding its port. A no-op off Linux.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def guard(groups: list[int], supervisor: int, grace: float = 10.0) -> None:
    """In a process forked from the supervisor: once it is gone, make sure what it started is too.

    The kernel's SIGTERM (``stop_when_parent_dies``) is the first word; a
    child caught at a bad moment can miss it (a Celery beat signalled while
    it opens its schedule file has been seen to hang). After ``grace``
    seconds, what is left of each group is killed.
    """
    while os.getppid() == supervisor:
        time.sleep(0.5)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(group) for group in groups):
        time.sleep(0.2)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> int:
    procs: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    # If `make` (our parent) is killed, stop as if by Ctrl-C.
    stop_when_parent_dies()
    for name, command in COMMANDS.items():
        procs[name] = subprocess.Popen(command, cwd=ROOT, start_new_session=True, preexec_fn=stop_when_parent_dies)
    supervisor = os.getpid()
    if os.fork() == 0:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # the supervisor's own stop handles these
        try:
            guard([proc.pid for proc in procs.values()], supervisor)
        finally:
            os._exit(0)
    print(f"\nRapport is starting at http://127.0.0.1:{PORT}/ (log in as demo / demo). Ctrl-C stops everything.\n",
          flush=True)
    code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping the others.", file=sys.stderr)
                code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    # SIGTERM to each leader only: the Celery worker then stops its own pool
    # (a warm shutdown); signalling the whole group made it log each pool
    # process's death as an error. Whatever is left after the deadline, or
    # outlived its leader, is killed with its group.
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.time() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the whole group is gone already
    return code


if __name__ == "__main__":
    sys.exit(main())
