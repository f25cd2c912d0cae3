"""Hosts for the scale test: Linux network namespaces on one bridge, each with its own address.

Only this machine's own namespaces and the 10.77.0.0/24 addresses given here
are used; nothing is routed anywhere else. Every name made here starts with
``rs`` so that :func:`clean` can remove what an interrupted run left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

BRIDGE = "rsbr0"
SUBNET = "10.77.0"
ROOT_ADDRESS = f"{SUBNET}.1"

#: namespace -> its addresses (the first is the host's main address)
HOSTS = {
    "rs-db": [f"{SUBNET}.2"],
    "rs-web": [f"{SUBNET}.3"],
    "rs-w1": [f"{SUBNET}.11"],
    "rs-w2": [f"{SUBNET}.12"],
    "rs-w3": [f"{SUBNET}.13"],
    "rs-plat": [f"{SUBNET}.21", f"{SUBNET}.22", f"{SUBNET}.23", f"{SUBNET}.30"],
}


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def veth(ns: str) -> tuple[str, str]:
    """(bridge side, namespace side) interface names, 15 characters at most."""
    short = ns.removeprefix("rs-")
    return f"rsv-{short}", f"rsn-{short}"


def clean() -> None:
    """Remove every namespace and link of a previous run (killing what still runs inside)."""
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        name = ns.split(" ")[0]
        if name.startswith("rs-"):
            kill_all(name)
            sh("ip", "netns", "del", name, check=False)
    for ns in HOSTS:
        sh("ip", "link", "del", veth(ns)[0], check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


def up() -> None:
    clean()
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{ROOT_ADDRESS}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for ns, addresses in HOSTS.items():
        outside, inside = veth(ns)
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        sh("ip", "link", "set", inside, "netns", ns)
        sh("ip", "link", "set", outside, "master", BRIDGE)
        sh("ip", "link", "set", outside, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        for address in addresses:
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", inside)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", inside, "up")


def link(ns: str, state: str) -> None:
    """Cut (``down``) or restore (``up``) a host's only link."""
    sh("ip", "netns", "exec", ns, "ip", "link", "set", veth(ns)[1], state)


def pids(ns: str) -> list[int]:
    out = sh("ip", "netns", "pids", ns, check=False).stdout.split()
    return [int(p) for p in out if p.strip().isdigit()]


def kill_all(ns: str, sig: int = signal.SIGKILL) -> int:
    """Send ``sig`` to every process of the host; the count of processes signalled."""
    found = pids(ns)
    for pid in found:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return len(found)


def spawn(ns: str, argv: list[str], env: dict, log_path: str, cwd: str) -> subprocess.Popen:
    """Start ``argv`` on host ``ns``, in a session of its own, output to ``log_path``."""
    log = open(log_path, "ab")
    return subprocess.Popen(["ip", "netns", "exec", ns, *argv], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_port(ns: str, address: str, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = sh("ip", "netns", "exec", ns, "bash", "-c", f"exec 3<>/dev/tcp/{address}/{port}", check=False)
        if probe.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {address}:{port} in {ns} after {timeout:.0f}s")
