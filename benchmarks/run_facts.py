"""The fields every benchmark's JSON line ends with: the machine and how busy it was.

Ratios are only comparable on an idle machine; ``os.getloadavg()`` at the start and the end of
the run says whether it was (another job on the cores shows as a load above the run's own).
"""

from __future__ import annotations

import os
import time


def machine_fields(load_avg_start: tuple[float, ...] | list[float], started: float) -> dict:
    """``cpu_count``, the load averages at the start and now, and the run's seconds since
    ``started`` (a ``time.perf_counter()`` value)."""
    return {
        "cpu_count": os.cpu_count(),
        "load_avg_start": load_avg_start,
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.perf_counter() - started, 1),
    }
