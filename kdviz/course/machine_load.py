"""How busy other work kept the machine while a record ran: the load that is not the record's own.

The 1-minute load average counts every runnable thread, the record's kernels included, so on its own it says
nothing about other work. ``LoadSampler`` samples it every ``interval`` seconds together with the CPU seconds of
this process and all its descendants (kernels, commands; psutil), turns those into the cores this run kept busy,
smooths them the way the kernel smooths the load average (weight exp(-interval / 60 s) on the past), and keeps

    other load = 1-minute load average - this run's smoothed busy cores

A run is quiet when the largest other load sampled stays under ``kdviz.course.documents.QUIET_LOAD``.
"""

import math
import os
import threading
import time

SAMPLE_SECONDS = 5.0  # the kernel updates the load average every 5 s
LOAD_WINDOW_SECONDS = 60.0  # the 1-minute load average's time constant


def load_average():
    """The 1-minute load average, or None where the system has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def own_cpu_seconds():
    """CPU seconds used so far by this process and every descendant, reaped children included."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # ended between the listing and the reading
            continue
        total += (
            times.user + times.system + getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
        )
    return total


class LoadSampler:
    """A context manager that samples the load every ``interval`` seconds while open; ``summary()`` after."""

    def __init__(self, interval=SAMPLE_SECONDS, load=load_average, cpu=own_cpu_seconds, clock=time.monotonic):
        self.interval, self._load, self._cpu, self._clock = interval, load, cpu, clock
        self.loads, self.others = [], []
        self._own = 0.0  # smoothed cores kept busy by this run
        self._last = None  # (clock, cpu seconds) at the previous sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kdviz-load", daemon=True)

    def sample(self):
        """Take one sample now."""
        now, cpu, load = self._clock(), self._cpu(), self._load()
        if self._last is not None and now > self._last[0]:
            elapsed = now - self._last[0]
            busy = max(0.0, cpu - self._last[1]) / elapsed
            keep = math.exp(-elapsed / LOAD_WINDOW_SECONDS)
            self._own = keep * self._own + (1 - keep) * busy
        self._last = (now, cpu)
        if load is not None:
            self.loads.append(load)
            self.others.append(max(0.0, load - self._own))

    def _run(self):
        self.sample()
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()

    def summary(self):
        """What the record keeps: the load at the start, its largest sample, the largest other load, how sampled."""
        if not self.loads:
            return {"load_average_at_start": None, "load_average_max": None, "other_load_max": None}
        return {
            "load_average_at_start": round(self.loads[0], 2),
            "load_average_max": round(max(self.loads), 2),
            "other_load_max": round(max(self.others), 2),
            "load_samples": len(self.loads),
            "load_sample_seconds": self.interval,
        }
