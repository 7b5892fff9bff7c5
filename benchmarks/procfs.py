"""What Linux's /proc says about a process and the machine: CPU time, resident memory, CPU model and load.

Everything is read from outside the measured process, so measuring costs it nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_stat_cpu_ticks(stat: str) -> int:
    """utime + stime (clock ticks, all threads) from the text of ``/proc/<pid>/stat``.

    The command name (field 2) is in parentheses and may itself hold spaces or parentheses, so the fields are
    counted from the last closing parenthesis: after it come state (field 3) ... utime (14), stime (15).
    """
    rest = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(rest[11]), int(rest[12])
    return utime + stime


def parse_status_kib(status: str, field: str = "VmRSS") -> int:
    """A ``kB`` field such as VmRSS or VmHWM from the text of ``/proc/<pid>/status``."""
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise ValueError(f"no {field} in /proc status")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) the process has used so far."""
    return parse_stat_cpu_ticks(Path(f"/proc/{pid}/stat").read_text()) / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    """Resident memory now (VmRSS)."""
    return parse_status_kib(Path(f"/proc/{pid}/status").read_text())


@dataclass
class CpuWindow:
    """CPU use of one process over a wall-clock window: start it, do things, then :meth:`stop`."""

    pid: int
    cpu0: float = 0.0
    wall0: float = 0.0

    def start(self) -> CpuWindow:
        """Note the process's CPU time and the wall clock now."""
        self.cpu0, self.wall0 = cpu_seconds(self.pid), time.monotonic()
        return self

    def stop(self) -> float:
        """Percent of one core used since :meth:`start` (100 = one core fully busy)."""
        cpu, wall = cpu_seconds(self.pid), time.monotonic()
        return percent_of_core(cpu - self.cpu0, wall - self.wall0)


def percent_of_core(cpu_s: float, wall_s: float) -> float:
    """CPU seconds over wall seconds, as a percentage of one core."""
    return 100.0 * cpu_s / wall_s if wall_s > 0 else 0.0


def machine() -> dict[str, object]:
    """CPU model, cores and the load average, for the record."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = Path("/proc/loadavg").read_text().split()[:3]
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "load_average_1_5_15": [float(x) for x in load],
        "kernel": os.uname().release,
    }
