"""Peak memory and time of the plain symmetric InfoNCE against the tiled one, same embeddings.

    python benchmarks/contrastive_loss.py --batch 16384 --dim 256
    python benchmarks/contrastive_loss.py --scan --dim 256 --out runs/bench

Each loss runs in its OWN child process (this script re-invoked with ``--child``), so one's
allocations never hide the other's. Memory method:

* CPU: the child allocates the seeded inputs, reads ``VmRSS`` from ``/proc/self/status`` as the
  baseline, resets the kernel's RSS high-water mark (``echo 5 > /proc/self/clear_refs``), runs
  one forward+backward (also the warm-up) and reports ``VmHWM - baseline``: the resident memory
  the loss added at its peak (activations, saved tensors, gradients of the inputs). Where
  ``clear_refs`` cannot be written the fresh child's ``ru_maxrss`` serves (it equals the RSS
  right after allocating the inputs, as nothing larger came before).
* CUDA: ``torch.cuda.max_memory_allocated() - memory_allocated()`` after allocating the inputs.

Time: forward+backward, the median of ``--repeats`` runs after the warm-up run (fewer where one
run exceeds ``--time-budget-s / repeats``; ``repeats_done`` says how many). Gradients (query,
key, learnable temperature) of both children are compared as
``max_rel_grad_err = max_t ||g_tiled - g_ref||_max / ||g_ref||_max``; where the plain loss
cannot run, a third child compares both in float64 at ``--check-batch`` rows.

The plain loss is only started when its estimated need (``NAIVE_BYTES_PER_ELEM * B^2`` bytes,
measured: about 6 B x B float32 matrices) fits in 80% of ``MemAvailable`` (``/proc/meminfo``);
otherwise its fields are ``null``. The last output line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import max_rel_err, measure_peak, mem_available_bytes

NAIVE_BYTES_PER_ELEM = 28.0  # measured peak of info_nce fwd+bwd: ~7 float32 B x B matrices
TILED_BYTES_PER_ROW_DIM = 48.0  # normalised copies, scaled copies, gradients: ~12 B x E floats
MEMORY_FRACTION = 0.8  # of MemAvailable that a child may plan to use
TEMPERATURE = 0.07


def naive_need_bytes(batch: int) -> float:
    return NAIVE_BYTES_PER_ELEM * batch * batch


def tiled_need_bytes(batch: int, dim: int, tile: int) -> float:
    return TILED_BYTES_PER_ROW_DIM * batch * dim + 8.0 * min(tile, batch) ** 2


# ----------------------------------------------------------------------------------- child side


def child_main(args: argparse.Namespace) -> None:
    """Run one loss: memory (warm-up run), median time, gradients to ``args.grad_path``."""
    import torch

    from crossmodal_ray.models.losses.info_nce import info_nce
    from crossmodal_ray.models.losses.tiled_info_nce import tiled_info_nce

    device = torch.device(args.device)
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    gen = torch.Generator().manual_seed(args.seed)
    q = torch.randn(args.batch, args.dim, generator=gen, dtype=dtype).to(device).requires_grad_()
    k = torch.randn(args.batch, args.dim, generator=gen, dtype=dtype).to(device).requires_grad_()
    tau = torch.tensor(TEMPERATURE, dtype=dtype, device=device, requires_grad=True)

    def step(kind: str) -> None:
        if kind == "naive":
            loss = info_nce(q, k, tau)
        else:
            loss = tiled_info_nce(q, k, tau, tile_size=args.tile)
        loss.backward()

    def timed(kind: str) -> float:
        for t in (q, k, tau):
            t.grad = None
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step(kind)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    kinds = ["naive", "tiled"] if args.child == "check" else [args.child]
    result: dict = {}
    if args.child != "check":
        peak_mb, first_s = measure_peak(lambda: timed(args.child), device)
        n_timed = max(1, min(args.repeats, int(args.time_budget_s / max(first_s, 1e-6))))
        times = [timed(args.child) for _ in range(n_timed)]
        result = {"peak_mb": peak_mb, "s": statistics.median(times), "repeats_done": n_timed}
    grads = {}
    for kind in kinds:
        if args.child == "check":
            timed(kind)
        # otherwise the grads of the last timed run
        grads[kind] = [t.grad.detach().cpu().clone() for t in (q, k, tau)]
    if args.child == "check":
        result["max_rel_grad_err"] = max_rel_err(grads["tiled"], grads["naive"])
    else:
        torch.save(grads[args.child], args.grad_path)
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------- parent side


def run_child(args: argparse.Namespace, kind: str, batch: int, grad_path: str, **over) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--batch",
        str(batch),
        "--dim",
        str(args.dim),
        "--tile",
        str(args.tile),
        "--device",
        args.device,
        "--repeats",
        str(args.repeats),
        "--seed",
        str(args.seed),
        "--time-budget-s",
        str(args.time_budget_s),
        "--grad-path",
        grad_path,
        "--dtype",
        over.get("dtype", "float32"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def naive_fits(args: argparse.Namespace, batch: int) -> bool:
    if args.device == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info()
        return naive_need_bytes(batch) < MEMORY_FRACTION * free
    return naive_need_bytes(batch) < MEMORY_FRACTION * mem_available_bytes()


def measure(args: argparse.Namespace, batch: int) -> dict:
    """One batch size: both children (the plain one where it fits), gradient check, ratios."""
    import torch

    row = {"batch": batch, "dim": args.dim, "tile": args.tile, "device": args.device}
    with tempfile.TemporaryDirectory() as tmp:
        naive = None
        if naive_fits(args, batch):
            print(f"[B={batch}] plain info_nce ...", flush=True)
            naive = run_child(args, "naive", batch, f"{tmp}/naive.pt")
            print(f"[B={batch}] plain: {naive}", flush=True)
        else:
            need_gb = naive_need_bytes(batch) / 1e9
            print(f"[B={batch}] plain info_nce skipped: needs ~{need_gb:.1f} GB", flush=True)
        print(f"[B={batch}] tiled_info_nce (tile {args.tile}) ...", flush=True)
        tiled = run_child(args, "tiled", batch, f"{tmp}/tiled.pt")
        print(f"[B={batch}] tiled: {tiled}", flush=True)
        if naive is not None:
            err = max_rel_err(torch.load(f"{tmp}/tiled.pt"), torch.load(f"{tmp}/naive.pt"))
            check = {"grad_check_batch": batch, "grad_check_dtype": "float32"}
        else:
            check_b = min(batch, args.check_batch)
            print(f"[B={batch}] gradient check in float64 at B={check_b} ...", flush=True)
            err = run_child(args, "check", check_b, f"{tmp}/check.pt", dtype="float64")
            err = err["max_rel_grad_err"]
            check = {"grad_check_batch": check_b, "grad_check_dtype": "float64"}
    row.update(
        naive_peak_mb=None if naive is None else round(naive["peak_mb"], 1),
        tiled_peak_mb=round(tiled["peak_mb"], 1),
        naive_s=None if naive is None else round(naive["s"], 4),
        tiled_s=round(tiled["s"], 4),
        max_rel_grad_err=err,
        **check,
        peak_ratio=None if naive is None else round(tiled["peak_mb"] / naive["peak_mb"], 4),
        time_ratio=None if naive is None else round(tiled["s"] / naive["s"], 4),
        naive_repeats=None if naive is None else naive["repeats_done"],
        tiled_repeats=tiled["repeats_done"],
    )
    return row


def plot_scan(rows: list[dict], args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_mem, ax_time) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label, marker in (
        ("naive", "info_nce (plain)", "o"),
        ("tiled", "tiled_info_nce", "s"),
    ):
        pts = [(r["batch"], r[f"{key}_peak_mb"], r[f"{key}_s"]) for r in rows]
        pts = [p for p in pts if p[1] is not None]
        if not pts:
            continue
        ax_mem.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=label)
        ax_time.plot([p[0] for p in pts], [p[2] for p in pts], marker=marker, label=label)
    for ax, ylabel in ((ax_mem, "peak loss memory (MB)"), (ax_time, "forward+backward time (s)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size B (windows)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(
        f"Symmetric InfoNCE: plain vs tiled (dim {args.dim}, tile {args.tile}, {args.device}, fp32)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from crossmodal_ray.models.losses.tiled_info_nce import DEFAULT_TILE

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=16384, help="rows B (windows)")
    p.add_argument("--dim", type=int, default=256, help="embedding dimension E")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help="tile rows/columns")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--repeats", type=int, default=5, help="timed runs after the warm-up")
    p.add_argument("--time-budget-s", type=float, default=240.0, help="cap on timed runs' time")
    p.add_argument("--scan", action="store_true", help="B = 4096, 8192, ... up to --max-batch")
    p.add_argument("--max-batch", type=int, default=131072)
    p.add_argument("--check-batch", type=int, default=4096, help="float64 check's B if no plain")
    p.add_argument("--out", default="runs/benchmarks", help="folder for the scan's png/json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", choices=["naive", "tiled", "check"], help=argparse.SUPPRESS)
    p.add_argument("--grad-path", help=argparse.SUPPRESS)
    p.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return
    if not args.scan:
        print(json.dumps(measure(args, args.batch)))
        return
    rows = []
    batch = 4096
    while batch <= args.max_batch:
        if args.device == "cpu" and tiled_need_bytes(batch, args.dim, args.tile) > (
            MEMORY_FRACTION * mem_available_bytes()
        ):
            print(f"[B={batch}] tiled loss would not fit: scan stops", flush=True)
            break
        rows.append(measure(args, batch))
        print(json.dumps(rows[-1]), flush=True)
        batch *= 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png, js = out / "contrastive_loss_scan.png", out / "contrastive_loss_scan.json"
    plot_scan(rows, args, png)
    js.write_text(json.dumps({"rows": rows}, indent=2))
    print(json.dumps({"rows": rows, "plot": str(png), "json": str(js)}))


if __name__ == "__main__":
    main()
