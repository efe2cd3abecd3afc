"""Whether a process of this machine is still the one that was started: how run monitoring
tells a run whose worker died (a SIGKILL, an out-of-memory kill, a reboot) from one still
working (defs/run_launcher.py).

A process id alone does not say it: after a crash and a restart the number may belong to
another process. A process is taken to be the same one when it is alive (not a zombie) and was
started no later than a moment it is known to have existed at (when its run recorded its
process id), so a process id reused later does not pass.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

# /proc's boot time has whole seconds, a process's start time clock ticks: the allowance for
# comparing a start time with a recorded moment.
START_TIME_SLACK_S = 2.0
PROC = Path("/proc")


def process_start_time(pid: int, proc: Path = PROC) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None when there is no such
    live process (gone, or a zombie: dead and not yet reaped by its parent)."""
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
        boot_lines = (proc / "stat").read_text(encoding="ascii").splitlines()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Fields after the command name, which is in parentheses and may itself hold spaces.
    fields = stat[stat.rfind(")") + 2 :].split()
    state, start_ticks = fields[0], int(fields[19])
    if state in ("Z", "X", "x"):
        return None
    boot_time = next(int(line.split()[1]) for line in boot_lines if line.startswith("btime "))
    return boot_time + start_ticks / os.sysconf("SC_CLK_TCK")


def is_same_process(pid: int, seen_at: float, proc: Path = PROC) -> bool:
    """Whether process ``pid`` is alive and is the one that existed at ``seen_at`` (seconds
    since the epoch)."""
    started = process_start_time(pid, proc)
    return started is not None and started <= seen_at + START_TIME_SLACK_S


def procfs_available(proc: Path = PROC) -> bool:
    """Whether this machine has /proc with process start times (Linux)."""
    return (proc / "stat").is_file() and (proc / str(os.getpid()) / "stat").is_file()


def this_host() -> str:
    """This machine's host name, as run tags record it."""
    return socket.gethostname()
