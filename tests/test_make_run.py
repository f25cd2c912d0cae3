"""`make run`'s supervisor (scripts/run.py) and the command line beside it, as a newcomer meets them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
KEY = "uXGhBz3wq2m4SJN3Zt1V1mY3HQ2Hn3n1o0xGq4H1u2E="


def a_new_terminal(var: Path, **extra: str) -> dict[str, str]:
    """The environment of a terminal opened by hand: nothing of the suite's settings."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "RAPPORT_VAR_DIR": str(var)}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def var(tmp_path_factory):
    """A var/ as `make run` leaves it: its dev.env written by the Makefile's own rule, and migrated."""
    var = tmp_path_factory.mktemp("var")
    made = subprocess.run(["make", "--no-print-directory", f"VAR={var}", f"{var}/dev.env"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "--no-input"], cwd=ROOT,
                              env=a_new_terminal(var), capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    return var


def test_the_readmes_commands_work_in_a_new_terminal_after_make_run(var):
    env = a_new_terminal(var, RAPPORT_PASSWORD="a long enough password 42")
    made = subprocess.run([sys.executable, "manage.py", "createuser", "ana"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    listed = subprocess.run([sys.executable, "manage.py", "rapport", "--user", "ana"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr


def test_without_make_runs_settings_a_new_terminal_still_fails_loudly(tmp_path):
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=a_new_terminal(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_settings_in_the_environment_win_over_dev_env(var):
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=a_new_terminal(var, DEBUG="0"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_supervisor(var: Path, port: int) -> tuple[subprocess.Popen, list[psutil.Process]]:
    env = a_new_terminal(var, DEBUG="1", RAPPORT_ENCRYPTION_KEYS=KEY, PORT=str(port))
    proc = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code:
                break
        except requests.RequestException:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("make run's web server never answered")
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 3  # web, worker (and its pool), beat
    return proc, children


def assert_all_stopped(children: list[psutil.Process], port: int) -> None:
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # the port is free again


@pytest.mark.parametrize("how", ["closing the terminal (SIGHUP)", "Ctrl-C (SIGINT)", "SIGKILL of the supervisor"])
def test_any_way_make_run_ends_stops_the_web_server_the_worker_and_beat(var, how):
    port = free_port()
    proc, children = start_supervisor(var, port)
    try:
        sig = {"closing the terminal (SIGHUP)": signal.SIGHUP, "Ctrl-C (SIGINT)": signal.SIGINT}.get(how, signal.SIGKILL)
        proc.send_signal(sig)
        proc.wait(timeout=40)
        assert_all_stopped(children, port)
    finally:
        for child in children:
            if child.is_running():
                child.kill()
        if proc.poll() is None:
            proc.kill()


def test_every_command_of_the_readmes_command_line_section_runs_as_written_in_a_new_terminal(var):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("From the command line", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in section.splitlines() if line.strip()]
    assert len(lines) >= 10
    for line in lines:
        program, script, command = line.split()[:3]
        assert (program, script) == (".venv/bin/python", "manage.py"), line
        result = subprocess.run([str(ROOT / program), script, command, "--help"], cwd=ROOT, env=a_new_terminal(var),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{line}\n{result.stderr}"


def test_a_child_that_ignores_the_kernels_sigterm_is_killed_once_the_supervisor_is_gone():
    """scripts/run.py's guard: a beat caught at a bad moment by the SIGTERM once outlived a killed supervisor."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rapport_run", ROOT / "scripts" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"],
        start_new_session=True)
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        time.sleep(0.5)  # the stubborn one has set its handler
        polite.terminate()
        polite.wait(10)
        gone_parent = os.getppid() + 1_000_000  # not our parent: the guard sees the supervisor gone at once
        started = time.monotonic()
        run.guard([stubborn.pid, polite.pid], gone_parent, grace=1.0)
        assert stubborn.wait(10) == -signal.SIGKILL
        assert 1.0 <= time.monotonic() - started < 5
    finally:
        for proc in (stubborn, polite):
            if proc.poll() is None:
                proc.kill()
