"""Reading CPU time and memory from /proc text."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from benchmarks import procfs

# /proc/<pid>/stat of a process whose name holds a space and a parenthesis: utime 1234, stime 56.
STAT = (
    "4242 (python3 (x) y) S 1 4242 4242 0 -1 4194304 20000 0 0 0 1234 56 0 0 20 0 7 0 123456 "
    "600000000 37000 18446744073709551615 1 1 0 0 0 0 0 16781312 134234626 0 0 0 17 1 0 0 0 0 0"
)
STATUS = (
    "Name:\tpython3\nVmPeak:\t  700000 kB\nVmHWM:\t  160000 kB\nVmRSS:\t  150124 kB\nThreads:\t7\n"
    "voluntary_ctxt_switches:\t900\nnonvoluntary_ctxt_switches:\t31\n"
)


def test_cpu_ticks_are_utime_plus_stime_whatever_the_command_name() -> None:
    assert procfs.parse_stat_cpu_ticks(STAT) == 1290


def test_memory_fields_are_read_in_kib() -> None:
    assert procfs.parse_status_kib(STATUS) == 150124
    assert procfs.parse_status_kib(STATUS, "VmHWM") == 160000
    with pytest.raises(ValueError):
        procfs.parse_status_kib(STATUS, "VmSwap")


def test_percent_of_one_core() -> None:
    assert procfs.percent_of_core(0.5, 10.0) == 5.0
    assert procfs.percent_of_core(1.0, 0.0) == 0.0


def test_this_process_can_be_read() -> None:
    assert procfs.cpu_seconds(os.getpid()) > 0
    assert procfs.rss_kib(os.getpid()) > 0


def test_context_switches_count_both_kinds() -> None:
    assert procfs.parse_switches(STATUS) == 931


def test_a_busy_thread_shows_up_by_name_with_its_cpu_and_an_idle_one_does_not() -> None:
    stop = threading.Event()

    def named(name: str) -> None:  # the kernel's name of the thread (Python 3.11 leaves it as the process's)
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_text(name)

    def spin() -> None:
        named("spinner")
        while not stop.is_set():
            pass

    def sleep() -> None:
        named("sleeper")
        stop.wait()

    workers = [threading.Thread(target=spin, name="spinner"), threading.Thread(target=sleep, name="sleeper")]
    for worker in workers:
        worker.start()
    time.sleep(0.2)  # both have started and named themselves; the sleeper now waits on a lock
    window = procfs.ThreadWindow(os.getpid()).start()
    time.sleep(0.5)
    rows = window.stop()
    stop.set()
    for worker in workers:
        worker.join()
    assert rows["spinner"]["cpu_percent"] > 20, rows
    assert "sleeper" not in rows, rows
