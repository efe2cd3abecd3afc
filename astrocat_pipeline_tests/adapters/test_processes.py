"""Telling a live process from a dead one, and from a later process given the same id."""

import os
import signal
import subprocess
import sys
import time

import pytest

from astrocat_pipeline.adapters import processes

pytestmark = pytest.mark.skipif(
    not processes.procfs_available(), reason="needs Linux's /proc with process start times"
)


def test_this_process_is_alive_and_started_before_now():
    started = processes.process_start_time(os.getpid())
    assert started is not None
    assert started <= time.time()
    assert processes.is_same_process(os.getpid(), time.time())


def test_a_process_started_after_the_moment_is_another_one():
    # The id was seen before this process existed: a reused id does not pass for the old one.
    seen_at = time.time() - 60
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert processes.process_start_time(child.pid) is not None
        assert not processes.is_same_process(child.pid, seen_at)
        assert processes.is_same_process(child.pid, time.time())
    finally:
        child.kill()
        child.wait()


def test_a_killed_process_is_dead_before_and_after_it_is_reaped():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    seen_at = time.time()
    os.kill(child.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    # Not reaped yet: a zombie is dead.
    while processes.is_same_process(child.pid, seen_at) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes.is_same_process(child.pid, seen_at)
    child.wait()
    assert processes.process_start_time(child.pid) is None
    assert not processes.is_same_process(child.pid, seen_at)


def test_a_process_id_that_never_existed_is_dead():
    assert processes.process_start_time(2**22 + 12345) is None
