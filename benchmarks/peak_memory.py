"""Peak memory of one run in a fresh process (shared by the loss benchmarks).

CPU: reads ``VmRSS`` as the baseline, resets the kernel's RSS high-water mark
(``echo 5 > /proc/self/clear_refs``), runs, and reports ``VmHWM - baseline``; where
``clear_refs`` cannot be written, the process's ``ru_maxrss`` serves. CUDA:
``max_memory_allocated() - memory_allocated()`` around the run.
"""

from __future__ import annotations

import resource


def mem_available_bytes() -> int:
    """``MemAvailable`` from ``/proc/meminfo`` (bytes); psutil is not a dependency."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_peak(run, device) -> tuple[float, float]:
    """Peak memory (MB) the loss adds over the allocated inputs, and the run's time (s)."""
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        seconds = run()
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20, seconds
    base_kb = _status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        seconds = run()
        peak_kb = _status_kb("VmHWM")
    except OSError:
        seconds = run()
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return max(peak_kb - base_kb, 0) / 1024, seconds


def max_rel_err(got: list, ref: list) -> float:
    """``max_t ||got_t - ref_t||_max / ||ref_t||_max`` over query, key and temperature grads."""
    errs = []
    for g, r in zip(got, ref, strict=True):
        scale = float(r.abs().max())
        errs.append(float((g.double() - r.double()).abs().max()) / max(scale, 1e-30))
    return max(errs)
