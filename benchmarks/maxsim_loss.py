"""Peak memory and time of the word-region max-sim InfoNCE (VG-BERT eq. 1-2): naive vs tiled.

    python benchmarks/maxsim_loss.py                        # B=128 both ways, then B=4096 tiled
    python benchmarks/maxsim_loss.py --big-batch 0          # skip the B=4096 run
    python benchmarks/maxsim_loss.py --device cuda

``naive`` holds the whole ``B x B x W x R`` tensor of word-region dot products
(``tile_size=0``); ``tiled`` computes S in checkpointed tiles of ``--tile`` images x captions
(:mod:`crossmodal_ray.models.losses.word_region_maxsim`). Each run is one forward+backward in
its own child process (this script with ``--child``), memory measured as in
``benchmarks/peak_memory.py`` (the resident memory the loss adds over its inputs); the
gradients of both runs at ``--batch`` are compared (``max_rel_grad_err``). The naive run at
``--big-batch`` is never started: its dot-product tensor alone would need
``B^2 W R * 4`` bytes (``naive_need_gb``). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import max_rel_err, measure_peak


def child_main(args: argparse.Namespace) -> None:
    import torch

    from crossmodal_ray.models.losses.word_region_maxsim import maxsim_info_nce

    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    regions = torch.randn(args.batch, args.regions, args.dim, generator=gen)
    words = torch.randn(args.batch, args.words, args.dim, generator=gen)
    lengths = torch.randint(1, args.words + 1, (args.batch,), generator=gen)
    mask = (torch.arange(args.words)[None, :] < lengths[:, None]).to(device)
    regions = regions.to(device).requires_grad_()
    words = words.to(device).requires_grad_()
    tile = 0 if args.child == "naive" else args.tile

    def run() -> float:
        start = time.perf_counter()
        maxsim_info_nce(regions, words, mask, 0.1, tile_size=tile).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    peak_mb, seconds = measure_peak(run, device)
    if args.grad_path:
        torch.save([regions.grad.cpu(), words.grad.cpu()], args.grad_path)
    print(json.dumps({"peak_mb": round(peak_mb, 1), "s": round(seconds, 2)}), flush=True)


def run_child(args: argparse.Namespace, kind: str, batch: int, grad_path: str = "") -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--batch",
        str(batch),
        "--grad-path",
        grad_path,
    ]
    for name in ("words", "regions", "dim", "tile", "device"):
        command += [f"--{name}", str(getattr(args, name))]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=128, help="size where naive fits")
    parser.add_argument("--big-batch", type=int, default=4096, help="tiled only (0: skip)")
    parser.add_argument("--words", type=int, default=32)
    parser.add_argument("--regions", type=int, default=196)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", choices=("naive", "tiled"), default=None)
    parser.add_argument("--grad-path", default="")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    import torch

    args = parse_args(argv)
    if args.child:
        child_main(args)
        return {}
    shape = {"words": args.words, "regions": args.regions, "dim": args.dim, "tile": args.tile}
    result: dict = {**shape, "device": args.device, "batch": args.batch}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {kind: str(Path(tmp) / f"{kind}.pt") for kind in ("naive", "tiled")}
        for kind in ("naive", "tiled"):
            result[kind] = run_child(args, kind, args.batch, paths[kind])
            print(f"[bench] B={args.batch} {kind}: {result[kind]}", flush=True)
        if all("error" not in result[kind] for kind in ("naive", "tiled")):
            result["max_rel_grad_err"] = max_rel_err(
                torch.load(paths["tiled"]), torch.load(paths["naive"])
            )
    if args.big_batch:
        big = args.big_batch
        result["big_batch"] = big
        result["naive_need_gb_big_batch"] = round(big * big * args.words * args.regions * 4e-9, 1)
        result["tiled_big_batch"] = run_child(args, "tiled", big)
        print(f"[bench] B={big} tiled: {result['tiled_big_batch']}", flush=True)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
