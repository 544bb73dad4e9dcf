"""Helpers of the tests that start their own Ray head: free ports, listening sockets, job status.

Used by the ``ray job submit`` test and the local autoscaling test; both start a head in a new
process group on 127.0.0.1 and check that nothing they start listens beyond loopback.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses_of(pids: set[int]) -> set[str]:
    """Local addresses of TCP sockets in LISTEN state owned by ``pids`` (from /proc)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    addresses = set()
    for table, family in (("/proc/net/tcp", "v4"), ("/proc/net/tcp6", "v6")):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A = LISTEN
                continue
            host_hex = fields[1].split(":")[0]
            if family == "v4":
                host = socket.inet_ntoa(bytes.fromhex(host_hex)[::-1])
            else:
                raw = bytes.fromhex(host_hex)
                host = socket.inet_ntop(
                    socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                )
            addresses.add(host)
    return addresses


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 and IPv4-mapped ::ffff:127.x (not 0.0.0.0 or ::, which mean 'all')."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def process_group_pids(pgid: int) -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.add(int(entry))
            except ProcessLookupError:
                continue
    return pids


def descendants_of(pid: int) -> set[int]:
    """Processes below ``pid`` (from /proc), whatever their process group."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_group_and(pgid: int, pids: set[int]) -> None:
    """SIGKILL a test's own processes: the process group ``pgid`` and every pid listed (Ray's
    processes may have left the group); processes already gone are skipped."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def assert_job_succeeded(address: str, submission_id: str, env: dict[str, str]) -> None:
    """``ray job status`` says the job reached its terminal state SUCCEEDED."""
    status = subprocess.run(
        [str(VENV_BIN / "ray"), "job", "status", "--address", address, submission_id],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    # The CLI reports the terminal state SUCCEEDED as "Job '<id>' succeeded".
    assert f"Job '{submission_id}' succeeded" in status.stdout + status.stderr, status.stdout
