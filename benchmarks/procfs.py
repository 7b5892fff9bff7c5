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


@dataclass(frozen=True)
class ThreadSample:
    """One thread's counters at one moment."""

    name: str  # "main" for the process's first thread, else the thread's name (comm)
    cpu_ticks: int
    switches: int  # voluntary + involuntary context switches: each one is a wake-up or a preemption


def parse_switches(status: str) -> int:
    """voluntary_ctxt_switches + nonvoluntary_ctxt_switches from the text of a /proc status file."""
    return sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches:" in line)


def threads(pid: int) -> dict[int, ThreadSample]:
    """Every thread of ``pid`` now (threads that end while being read are left out)."""
    out: dict[int, ThreadSample] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat, status = (task / "stat").read_text(), (task / "status").read_text()
            name = "main" if int(task.name) == pid else (task / "comm").read_text().strip()
        except (OSError, ValueError):
            continue
        out[int(task.name)] = ThreadSample(name, parse_stat_cpu_ticks(stat), parse_switches(status))
    return out


@dataclass
class ThreadWindow:
    """Where a process's CPU went over a window, thread by thread, and how often each thread woke."""

    pid: int
    before: dict[int, ThreadSample] | None = None
    wall0: float = 0.0

    def start(self) -> ThreadWindow:
        """Note every thread's counters now."""
        self.before, self.wall0 = threads(self.pid), time.monotonic()
        return self

    def stop(self) -> dict[str, dict[str, float]]:
        """Per thread name (threads of the same name summed): ``cpu_percent`` of one core and
        ``switches_per_s``, for the threads that used CPU or switched more than once a second. A thread that
        ended during the window is not counted (its CPU shows in the process total only)."""
        after, wall = threads(self.pid), time.monotonic() - self.wall0
        before = self.before or {}
        totals: dict[str, list[float]] = {}
        for tid, now in after.items():
            then = before.get(tid, ThreadSample(now.name, 0, 0))
            row = totals.setdefault(now.name, [0.0, 0.0])
            row[0] += (now.cpu_ticks - then.cpu_ticks) / CLOCK_TICKS
            row[1] += now.switches - then.switches
        return {
            name: {"cpu_percent": round(percent_of_core(cpu, wall), 2), "switches_per_s": round(sw / wall, 1)}
            for name, (cpu, sw) in sorted(totals.items(), key=lambda kv: -kv[1][0])
            if cpu > 0 or sw > wall
        }


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
