"""Training throughput: the project's Ray Train loop against a bare PyTorch loop (issue 14, item 3).

Both sides pretrain the same MBSL model (``MBSLPretrainTask``, the ``small`` preset on the
channel grouping the job fits) on the training split of the same shard corpus (default: the
simulated sample corpus of ``jobs/train_mbsl.py``, 20 subjects, 4,158 training windows), with
the same local batch, the same number of optimizer steps and the same torch thread count:

(a) bare: what a user writes without the project, in one process without Ray: the split's
    shards read with ``pyarrow.parquet.read_table`` into numpy arrays once, per epoch a seeded
    permutation of the rows, per step the rows' arrays indexed, the task's own ``collate``
    (the same tensors and window-key hashing as in the project), the task's ``training_loss``,
    AdamW (decay on matrices) with the same warm-up/cosine schedule, gradient clipping, a log
    line every ``--log-every`` steps and ``torch.save`` of model + optimizer where the
    project's loop checkpoints (every ``checkpoint_every_steps`` and at every epoch end).
    Torch runs ``--torch-threads`` threads (default 1: what a 1-CPU Ray Train worker gets,
    Ray sets ``OMP_NUM_THREADS`` to the worker's CPUs; the worker's count is measured and
    reported next to it).
(b) Ray Train: ``training.trainer.run_training`` as ``jobs/train_mbsl.py`` calls it (the
    blocks of ``training_blocks``, the shuffle buffer and collate thread of
    ``block_batches``, the loop of ``training/loop.py`` with its logging, TensorBoard scalars
    and checkpoints) with 1 worker, and once per ``--scale-workers`` count (2 workers vs 1 on
    this machine: report only). The task is given no validation datasets, so the per-epoch
    validation returns at once (the bare loop validates nothing either); the per-epoch
    checkpoint stays.

Each side runs in its own process (the Ray ones each with its own local Ray, see
``benchmarks/av_decode.py``), ``--repeat`` times, alternating (a), (b); the best run counts
(another job may be using the cores: the load average is in the JSON). A first process
prepares the corpus (simulated and ingested once, then reused) and fits the channel grouping
that fixes the model's shape for every run.

Steady state: both sides are timed in intervals of ``--log-every`` steps (the Ray side's come
from its TensorBoard scalars ``train/samples_per_s`` and ``train/data_wait_fraction``, what the
training log prints); the rate counts the intervals after the first ``--skip-steps`` steps.
``data_wait`` is the share of that time the training step waited for its next batch (the
loop's figure; in the bare loop the time spent indexing and collating, which it does inline).
The fixed start-up is reported apart: for Ray the start of Ray, the dataset materialisation
(``read_split``, then materialising the columns and cutting the blocks), the worker group start
(from ``fit()`` to rank 0 entering the loop) and the loop's own set-up (model, optimisers) up to
its first step; for the bare loop reading the shards.

CPU per step, less sensitive to other jobs on the machine than wall time: the CPU seconds
(``/proc``) of the training process (bare loop; Ray Train workers) and of every process of the
run (the Ray side adds GCS, raylet, dashboard, Train's controller and helper actors) over the
steady intervals, per step. ``--py-spy N`` samples rank 0's process of the first 1-worker run
for N seconds (the share of samples per thread, the top frames, the deepest project frames).

    python benchmarks/train_throughput.py                       # sample corpus, ~5 min idle
    python benchmarks/train_throughput.py --repeat 1 --epochs 1 --scale-workers ""
    python benchmarks/train_throughput.py --corpus NAME --shards-dir S
    python benchmarks/train_throughput.py --py-spy 30           # profile the 1-worker run

Prints progress, then one JSON line: ``ratio_steady`` (Ray Train 1 worker / bare, steady
samples/s) next to ``goal_ratio`` 0.9, ``ratio_end_to_end``, ``ratio_cpu_per_step``, the
``data_wait_share`` of both, per side (``plain``, ``ray_1_worker``) the steady figures, the
start-up parts, CPU cores used per kind of process; ``scaling`` (2 workers vs 1, report only),
``steps`` and ``samples`` (equal on both sides, asserted), torch threads of both sides, the
py-spy summary, CPU count and load averages.
"""

from __future__ import annotations

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

apply_local_ray_env()  # before anything imports Ray

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from run_facts import machine_fields

GOAL_RATIO = 0.9  # issue 14, goal 3: Ray Train 1 worker >= 0.9 x the bare loop
SAMPLE_DIR = "data/raw/physio_sample"
# The processes that train (their CPU per step compared; the others are Ray's housekeeping).
TRAINING_PROCESSES = ("plain loop", "ray::RayTrainWorker")
TENSORBOARD_TAGS = ("train/samples_per_s", "train/data_wait_fraction")


@dataclass
class Interval:
    """``steps`` training steps ending at ``end_step``: wall seconds, of which waiting."""

    end_step: int
    steps: int
    samples: int
    seconds: float
    wait_seconds: float


def steady_figures(intervals: list[Interval], skip_steps: int) -> dict:
    """Samples/s and data-wait share over the intervals that start after ``skip_steps``."""
    kept = [i for i in intervals if i.end_step - i.steps >= skip_steps]
    if not kept:
        raise ValueError(f"no logged interval after the first {skip_steps} steps: run longer")
    seconds = sum(i.seconds for i in kept)
    return {
        "steps": sum(i.steps for i in kept),
        "samples": sum(i.samples for i in kept),
        "seconds": round(seconds, 3),
        "samples_per_s": round(sum(i.samples for i in kept) / seconds, 2),
        "data_wait_share": round(sum(i.wait_seconds for i in kept) / seconds, 4),
        "step_ms": round(1000 * seconds / sum(i.steps for i in kept), 1),
    }


def planned_steps_per_epoch(rows: int, workers: int, batch: int, block_rows: int) -> int:
    """Steps per epoch of the project's block plan (what every rank runs)."""
    from crossmodal_ray.training.epoch_order import EpochOrder
    from crossmodal_ray.training.training_blocks import block_count, equal_cuts

    cuts = equal_cuts(rows, block_count(rows, workers, block_rows))
    return EpochOrder(tuple(e - s for s, e in cuts), workers, batch, seed=0).steps_per_epoch


# ---------------------------------------------------------------- child: corpus and grouping


def prepare_child(args: argparse.Namespace) -> dict:
    """The corpus (simulated and ingested unless finished), its training shards and the model
    config on the channel grouping the job would fit."""
    from crossmodal_ray.pipelines.core.shard_reader import read_split, split_files
    from crossmodal_ray.pipelines.physio.prepare import (
        PhysioCorpusConfig,
        ensure_sample_records,
        prepare_physio_corpus,
    )
    from crossmodal_ray.training.tasks.mbsl_experiment import build_model_config, fit_grouping

    started = time.perf_counter()
    init_ray(num_cpus=2)
    if args.corpus:
        config = PhysioCorpusConfig(shards_dir=args.shards_dir, corpus=args.corpus)
    else:
        raw = ensure_sample_records(
            args.sample_dir, args.sample_subjects, args.sample_duration_s, log=progress
        )
        config = PhysioCorpusConfig(shards_dir=args.shards_dir, raw_dir=raw)
    corpus, manifest = prepare_physio_corpus(config, log=progress)
    train_rows = int(manifest["splits"]["train"]["rows"])
    train = read_split(args.shards_dir, corpus, "train")
    grouping = fit_grouping(train, manifest, None, args.grouping_windows, seed=0)
    model_config = build_model_config("small", {}, manifest, grouping)
    return {
        "corpus": corpus,
        "train_rows": train_rows,
        "train_files": split_files(args.shards_dir, corpus, "train"),
        "model_config": model_config.to_dict(),
        "grouping": grouping.to_dict(),
        "channel_groups": grouping.named_groups(),
        "prepare_s": round(time.perf_counter() - started, 2),
    }


# ---------------------------------------------------------------- child: the bare loop


def read_train_columns(files: list[str], columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The split's columns as numpy arrays: tensor columns as [N, ...] arrays, strings as
    object arrays (what a user writes with pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables([pq.read_table(f, columns=list(columns)) for f in files])
    arrays = {}
    for name in columns:
        column = table.column(name).combine_chunks()
        if isinstance(column.type, pa.FixedShapeTensorType):
            # ``to_numpy_ndarray`` refuses bool tensors: go through the flat storage.
            flat = column.storage.flatten().to_numpy(zero_copy_only=False)
            arrays[name] = flat.reshape(len(column), *column.type.shape)
        else:
            arrays[name] = column.to_numpy(zero_copy_only=False)
    return arrays


def plain_child(args: argparse.Namespace, setup: dict) -> dict:
    """(a): the bare PyTorch loop over the same rows, timed in ``--log-every`` intervals."""
    import torch

    from crossmodal_ray.training.loop_config import TrainLoopConfig
    from crossmodal_ray.training.lr_schedule import warmup_cosine_factor
    from crossmodal_ray.training.tasks.mbsl import MBSLPretrainTask

    started = time.perf_counter()
    torch.set_num_threads(args.torch_threads)
    defaults = TrainLoopConfig()
    task = MBSLPretrainTask(setup["model_config"], setup["grouping"], validation_datasets=())
    columns = read_train_columns(setup["train_files"], task.columns)
    read_s = time.perf_counter() - started
    rows = len(columns["signals"])
    steps_per_epoch = planned_steps_per_epoch(rows, 1, args.batch, defaults.order_block_rows)
    total_steps = args.epochs * steps_per_epoch

    torch.manual_seed(0)
    model = task.build_model()
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": matrices, "weight_decay": defaults.weight_decay},
            {"params": vectors, "weight_decay": 0.0},
        ],
        lr=defaults.lr,
        betas=defaults.betas,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: warmup_cosine_factor(
            s, defaults.warmup_steps, total_steps, defaults.min_lr_ratio
        ),
    )
    rng = np.random.default_rng(0)
    intervals: list[Interval] = []
    losses: list[float] = []
    step, wait = 0, 0.0
    cpu_marks: list[float] = []  # this process's CPU seconds at the start and each log line
    with tempfile.TemporaryDirectory() as checkpoint_dir:

        def save_checkpoint() -> None:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
            torch.save(state, Path(checkpoint_dir) / f"step{step:07d}.pt")

        model.train()
        train_started = interval_started = time.perf_counter()
        cpu_marks.append(time.process_time())
        for epoch in range(args.epochs):
            order = rng.permutation(rows)
            for i in range(steps_per_epoch):
                wait_started = time.perf_counter()
                taken = order[i * args.batch : (i + 1) * args.batch]
                batch = task.collate({name: values[taken] for name, values in columns.items()})
                wait += time.perf_counter() - wait_started
                loss, _ = task.training_loss(model, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), defaults.grad_clip_norm)
                optimizer.step()
                scheduler.step()
                losses.append(float(loss.detach()))
                step += 1
                if step % args.log_every == 0:
                    now = time.perf_counter()
                    seconds = now - interval_started
                    intervals.append(
                        Interval(step, args.log_every, args.log_every * args.batch, seconds, wait)
                    )
                    progress(
                        f"[plain] epoch {epoch + 1} step {step}/{total_steps} "
                        f"loss {np.mean(losses[-args.log_every :]):.4f} "
                        f"samples/s {args.log_every * args.batch / seconds:.0f} "
                        f"data_wait {100 * wait / seconds:.0f}%"
                    )
                    interval_started, wait = now, 0.0
                    cpu_marks.append(time.process_time())
                if step % defaults.checkpoint_every_steps == 0:
                    save_checkpoint()
            save_checkpoint()  # the project's loop checkpoints at every epoch end
        train_s = time.perf_counter() - train_started
    warm_up = sum(1 for i in intervals if i.end_step - i.steps < args.skip_steps)
    steady_wall = sum(i.seconds for i in intervals[warm_up:])
    steady_cpu = cpu_marks[-1] - cpu_marks[warm_up]
    return {
        "side": "plain",
        "workers": 1,
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
        "steps": step,
        "steps_per_epoch": steps_per_epoch,
        "samples": step * args.batch,
        "final_loss": round(float(np.mean(losses[-args.log_every :])), 4),
        "startup_s": {"read_shards": round(read_s, 2)},
        "train_s": round(train_s, 2),
        "end_to_end_s": round(time.perf_counter() - started, 2),
        "cpu_cores_steady": {"plain loop": round(steady_cpu / max(1e-9, steady_wall), 3)},
        "intervals": [asdict(i) for i in intervals],
    }


# ---------------------------------------------------------------- child: Ray Train


def tensorboard_intervals(log_dir: str, log_every: int, samples: int) -> tuple[list, float]:
    """The training log's intervals from rank 0's TensorBoard scalars, and the wall time
    (``time.time()``) at which its first interval started (the worker's first step)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(log_dir, size_guidance={"scalars": 0})
    events.Reload()
    rates, waits = ({e.step: e for e in events.Scalars(tag)} for tag in TENSORBOARD_TAGS)
    intervals = []
    for step in sorted(rates):
        seconds = samples / rates[step].value
        intervals.append(Interval(step, log_every, samples, seconds, waits[step].value * seconds))
    first = rates[min(rates)]
    return intervals, first.wall_time - intervals[0].seconds


def worker_threads() -> dict:
    """Torch threads and ``OMP_NUM_THREADS`` of a 1-CPU Ray actor (what a Train worker with
    ``resources_per_worker={"CPU": 1}`` gets)."""
    import ray

    @ray.remote(num_cpus=1)
    class Probe:
        def threads(self) -> dict:
            import torch

            return {
                "torch_threads": torch.get_num_threads(),
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            }

    probe = Probe.remote()
    try:
        return ray.get(probe.threads.remote())
    finally:
        ray.kill(probe)


def start_py_spy(pid_dir: Path, seconds: int, out: Path) -> threading.Thread:
    """py-spy on rank 0's process once it has written its PID (runs in a thread)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))

    def record() -> None:
        pid_file = pid_dir / "rank0.pid"
        deadline = time.monotonic() + 300
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        pid = pid_file.read_text().split()[-1]
        time.sleep(5)  # past the first steps
        command = [py_spy, "record", "-p", pid, "-d", str(seconds), "-r", "50", "-f", "raw"]
        done = subprocess.run(
            [*command, "-o", str(out), "--nonblocking", "--threads"],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        if done.returncode != 0:
            progress(f"[benchmark] py-spy failed: {done.stderr.strip()[-500:]}")

    thread = threading.Thread(target=record, daemon=True)
    thread.start()
    return thread


def summarize_py_spy(raw: Path, top: int = 12) -> dict:
    """From a raw py-spy file (active samples only): each thread's share of the samples, the
    top leaf frames (self time) and, per thread, the deepest project frames (``training/``,
    ``models/``: where the time is spent, inclusive)."""
    by_thread: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    project: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames, n = stack.split(";"), int(count)
        thread = frames[0].split(": ", 1)[-1][:40]
        total += n
        by_thread[thread] += n
        leaves[frames[-1]] += n
        ours = [f for f in frames if "(training/" in f or "(models/" in f]
        project[thread][ours[-1] if ours else frames[-1]] += n
    share = lambda n: round(n / max(1, total), 3)  # noqa: E731
    return {
        "samples": total,
        "threads": {k: share(v) for k, v in by_thread.most_common(8)},
        "top_self": {k: share(v) for k, v in leaves.most_common(top)},
        "top_project_frames": {
            thread: {k: share(v) for k, v in project[thread].most_common(top)}
            for thread, _ in by_thread.most_common(3)
        },
    }


def process_tree_cpu(root: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) and a label of ``root`` and every process below it (Linux
    ``/proc``): the local Ray's GCS, raylet, dashboard, agents and workers are all below the
    process that started it."""
    tick = os.sysconf("SC_CLK_TCK")
    parents, stats = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        stats[int(entry)] = (process_label(argv), (int(fields[11]) + int(fields[12])) / tick)
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, parent in parents.items():
        children[parent].append(pid)
    tree, stack = {}, [root]
    while stack:
        pid = stack.pop()
        if pid in stats:
            tree[pid] = stats[pid]
        stack.extend(children.get(pid, ()))
    return tree


def process_label(argv: str) -> str:
    """``ray::RayTrainWorker``, ``raylet``, ``dashboard.py`` ...: what a process is."""
    args = [a for a in argv.replace("\x00", " ").split() if a]
    if not args:
        return "?"
    if args[0].startswith("ray::"):
        return args[0].split(".")[0]
    scripts = [a for a in args[:3] if a.endswith(".py")]
    return Path(scripts[0] if scripts else args[0]).name


class CpuSampler:
    """Snapshots of :func:`process_tree_cpu` every ``period`` seconds, in a thread."""

    def __init__(self, period: float = 0.5) -> None:
        self.period, self.snapshots = period, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.snapshots.append((time.time(), process_tree_cpu(os.getpid())))
            self._stop.wait(self.period)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def cores_between(self, start: float, end: float) -> dict[str, float]:
        """Cores each kind of process used between two wall times (``time.time()``)."""
        before = [s for s in self.snapshots if s[0] <= start] or self.snapshots[:1]
        after = [s for s in self.snapshots if s[0] >= end] or self.snapshots[-1:]
        (t0, first), (t1, last) = before[-1], after[0]
        used: collections.Counter = collections.Counter()
        for pid, (label, seconds) in last.items():
            used[label] += seconds - first.get(pid, (label, 0.0))[1]
        wall = max(1e-9, t1 - t0)
        return {k: round(v / wall, 3) for k, v in used.most_common() if v / wall >= 0.005}


def ray_child(args: argparse.Namespace, setup: dict, workers: int) -> dict:
    """(b): the project's Ray Train run with ``workers`` workers, in this process's own Ray."""
    started = time.perf_counter()
    init_ray(num_cpus=workers + 2)  # as jobs/train_mbsl.py
    ray_start_s = time.perf_counter() - started

    from crossmodal_ray.pipelines.core.shard_reader import read_split
    from crossmodal_ray.training.loop_config import TrainLoopConfig
    from crossmodal_ray.training.tasks.mbsl import MBSLPretrainTask
    from crossmodal_ray.training.trainer import run_training
    from crossmodal_ray.training.training_blocks import build_training_blocks
    from crossmodal_ray.training.training_log import tensorboard_location

    task = MBSLPretrainTask(setup["model_config"], setup["grouping"], validation_datasets=())
    with tempfile.TemporaryDirectory() as storage:
        pid_dir = Path(storage) / "pids"
        loop = TrainLoopConfig(
            run_name=f"throughput_{workers}w",
            storage_path=storage,
            num_workers=workers,
            epochs=args.epochs,
            batch_size_per_worker=args.batch,
            log_every_steps=args.log_every,
            max_failures=0,
            fault_injection_pid_dir=str(pid_dir),  # rank 0's PID for py-spy
        )
        read_started = time.perf_counter()
        train = read_split(args.shards_dir, setup["corpus"], "train")
        blocks_started = time.perf_counter()
        plan = build_training_blocks(train, task.columns, workers, loop.order_block_rows)
        blocks_s = time.perf_counter() - blocks_started
        spy_out = Path(storage) / "py-spy.txt"
        spy = start_py_spy(pid_dir, args.py_spy, spy_out) if args.py_spy else None
        fit_wall, fit_started = time.time(), time.perf_counter()
        with CpuSampler() as cpu:
            result = run_training(task, loop, plan)
        fit_end_wall = time.time()
        fit_s = time.perf_counter() - fit_started
        if result.error:
            raise result.error
        samples = args.log_every * args.batch * workers
        intervals, first_step_wall = tensorboard_intervals(
            tensorboard_location(loop), args.log_every, samples
        )
        profile = None
        if spy is not None:
            spy.join(timeout=args.py_spy + 120)
            profile = summarize_py_spy(spy_out) if spy_out.exists() else {"error": "no output"}
            if spy_out.exists() and args.py_spy_raw:
                shutil.copyfile(spy_out, args.py_spy_raw)
        metrics = result.metrics
        train_fn_wall = (pid_dir / "rank0.pid").stat().st_mtime  # written as the loop starts
    last_interval_wall = first_step_wall + sum(i.seconds for i in intervals)
    warm_up = sum(i.seconds for i in intervals if i.end_step - i.steps < args.skip_steps)
    steps = int(metrics["global_step"])
    return {
        "side": "ray",
        "workers": workers,
        **worker_threads(),
        "rows": sum(plan.rows),
        "blocks": len(plan.rows),
        "steps": steps,
        "steps_per_epoch": steps // args.epochs,
        "samples": int(metrics["samples_seen"]),
        "final_loss": round(float(metrics["loss"]), 4),
        "startup_s": {
            "ray_start": round(ray_start_s, 2),
            "dataset_read_split": round(blocks_started - read_started, 2),
            "dataset_materialise_and_cut": round(blocks_s, 2),
            "worker_group_start": round(train_fn_wall - fit_wall, 2),
            "train_fn_to_first_step": round(first_step_wall - train_fn_wall, 2),
        },
        "fit_s": round(fit_s, 2),
        "after_last_interval_s": round(fit_end_wall - last_interval_wall, 2),
        "end_to_end_s": round(time.perf_counter() - started, 2),
        "loop_reported": {
            "samples_per_s": round(float(metrics["samples_per_s"]), 2),
            "data_wait_fraction": round(float(metrics["data_wait_fraction"]), 4),
        },
        "cpu_cores_steady": cpu.cores_between(first_step_wall + warm_up, last_interval_wall),
        "intervals": [asdict(i) for i in intervals],
        "py_spy": profile,
    }


# ---------------------------------------------------------------- driver


def progress(message: str) -> None:
    print(message, flush=True)


def run_child(args: argparse.Namespace, kind: str, setup_path: str, workers: int = 1) -> dict:
    """Run one side in a fresh process; forwards its ``[tag]`` lines, returns its JSON."""
    command = [sys.executable, __file__, *args.argv, "--child", kind, "--setup", setup_path]
    command += ["--child-workers", str(workers)]
    tail: collections.deque = collections.deque(maxlen=60)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as child:
        for line in child.stdout:
            tail.append(line.rstrip())
            if line.startswith("[") and not line.startswith("[bench-json]"):
                print(f"  {line.rstrip()}", flush=True)
        child.wait(timeout=600)
    results = [t for t in tail if t.startswith("{")]
    if child.returncode != 0 or not results:
        raise RuntimeError(f"{kind} run ({workers} worker(s)) failed:\n" + "\n".join(tail))
    return json.loads(results[-1])


def summarize(run: dict, skip_steps: int) -> dict:
    """A run's figures without its interval list: steady state, end to end, start-up."""
    intervals = [Interval(**i) for i in run["intervals"]]
    figures = {k: v for k, v in run.items() if k not in ("intervals", "py_spy")}
    steady = figures["steady"] = steady_figures(intervals, skip_steps)
    figures["startup_total_s"] = round(sum(run["startup_s"].values()), 2)
    figures["end_to_end_samples_per_s"] = round(run["samples"] / run["end_to_end_s"], 2)
    cores = run["cpu_cores_steady"]
    training = sum(v for k, v in cores.items() if k in TRAINING_PROCESSES)
    figures["cpu_ms_per_step"] = {
        "training_processes": round(training * steady["step_ms"], 1),
        "all_processes": round(sum(cores.values()) * steady["step_ms"], 1),
    }
    return figures


def best(runs: list[dict]) -> dict:
    return max(runs, key=lambda r: r["steady"]["samples_per_s"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards-dir", default="data/shards", help="shard root")
    parser.add_argument("--corpus", default=None, help="a finished corpus (default: the sample)")
    parser.add_argument("--sample-dir", default=SAMPLE_DIR, help="where the sample is simulated")
    parser.add_argument("--sample-subjects", type=int, default=20)
    parser.add_argument("--sample-duration-s", type=int, default=600)
    parser.add_argument("--grouping-windows", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=64, help="rows per step and worker")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=10, help="steps per timed interval")
    parser.add_argument("--skip-steps", type=int, default=20, help="warm-up steps not timed")
    parser.add_argument("--torch-threads", type=int, default=1, help="threads of the bare loop")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side, alternating")
    parser.add_argument("--scale-workers", default="2", help='Ray worker counts besides 1; ""')
    parser.add_argument("--py-spy", type=int, default=0, help="profile rank 0 for N seconds")
    parser.add_argument("--py-spy-raw", default="", help="keep py-spy's raw stacks here")
    parser.add_argument("--child", choices=("prepare", "plain", "ray"), help=argparse.SUPPRESS)
    parser.add_argument("--setup", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = [a for a in (sys.argv[1:] if argv is None else argv)]
    if args.skip_steps % args.log_every:
        parser.error("--skip-steps must be a multiple of --log-every")
    return args


def child_main(args: argparse.Namespace) -> dict:
    if args.child == "prepare":
        return prepare_child(args)
    setup = json.loads(Path(args.setup).read_text())
    if args.child == "plain":
        return plain_child(args, setup)
    return ray_child(args, setup, args.child_workers)


def compare(
    args: argparse.Namespace,
    setup: dict,
    plain_runs: list[dict],
    ray_runs: list[dict],
    scaling_runs: dict[str, dict],
) -> dict:
    """The JSON's figures from the children's results: best runs, ratios, scaling; asserts
    that both sides did the same work."""
    profile = next((r["py_spy"] for r in ray_runs if r.get("py_spy")), None)
    plain_runs = [summarize(r, args.skip_steps) for r in plain_runs]
    ray_runs = [summarize(r, args.skip_steps) for r in ray_runs]
    plain, ray1 = best(plain_runs), best(ray_runs)
    scaling = {"1": ray1, **{w: summarize(r, args.skip_steps) for w, r in scaling_runs.items()}}
    for run in [*plain_runs, *ray_runs]:  # equal work on both sides
        assert run["steps"] == plain["steps"], (run["side"], run["steps"], plain["steps"])
        assert run["samples"] == plain["samples"], (run["side"], run["samples"])
        assert run["rows"] == plain["rows"] == setup["train_rows"], (run["side"], run["rows"])
    ratio = ray1["steady"]["samples_per_s"] / plain["steady"]["samples_per_s"]
    plain_cpu, ray_cpu = plain["cpu_ms_per_step"], ray1["cpu_ms_per_step"]
    return {
        "benchmark": "train_throughput",
        "corpus": setup["corpus"],
        "train_rows": setup["train_rows"],
        "model_config": {k: setup["model_config"][k] for k in ("d_model", "n_layers", "groups")},
        "batch_per_worker": args.batch,
        "epochs": args.epochs,
        "steps": plain["steps"],
        "samples": plain["samples"],
        "skip_steps": args.skip_steps,
        "repeat": args.repeat,
        "torch_threads": {"plain": plain["torch_threads"], "ray_worker": ray1["torch_threads"]},
        "same_threads": plain["torch_threads"] == ray1["torch_threads"],
        "plain": plain,
        "ray_1_worker": ray1,
        "ratio_steady": round(ratio, 3),
        "ratio_end_to_end": round(
            ray1["end_to_end_samples_per_s"] / plain["end_to_end_samples_per_s"], 3
        ),
        "goal_ratio": GOAL_RATIO,
        "meets_goal": ratio >= GOAL_RATIO,
        # Less sensitive to other jobs than wall time: CPU of the training process per step.
        "ratio_cpu_per_step": round(
            plain_cpu["training_processes"] / ray_cpu["training_processes"], 3
        ),
        "ratio_cpu_per_step_all_ray_processes": round(
            plain_cpu["all_processes"] / ray_cpu["all_processes"], 3
        ),
        "data_wait_share": {
            "plain": plain["steady"]["data_wait_share"],
            "ray_1_worker": ray1["steady"]["data_wait_share"],
        },
        "scaling": {
            workers: {
                "samples_per_s_steady": run["steady"]["samples_per_s"],
                "data_wait_share": run["steady"]["data_wait_share"],
                "step_ms": run["steady"]["step_ms"],
                "steps": run["steps"],
                "startup_total_s": run["startup_total_s"],
                "speedup_vs_1": round(
                    run["steady"]["samples_per_s"] / ray1["steady"]["samples_per_s"], 3
                ),
            }
            for workers, run in scaling.items()
        },
        "scaling_runs": {w: r for w, r in scaling.items() if w != "1"},
        "runs_samples_per_s": {
            "plain": [r["steady"]["samples_per_s"] for r in plain_runs],
            "ray_1_worker": [r["steady"]["samples_per_s"] for r in ray_runs],
        },
        "py_spy_ray_1_worker": profile,
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.child:
        result = child_main(args)
        print(json.dumps(result), flush=True)
        return result
    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        setup_path = str(Path(tmp) / "setup.json")
        Path(setup_path).write_text("{}")
        progress("[benchmark] preparing the corpus and the channel grouping")
        setup = run_child(args, "prepare", setup_path)
        Path(setup_path).write_text(json.dumps(setup))
        progress(
            f"[benchmark] {setup['corpus']}: {setup['train_rows']} training rows, "
            f"groups {setup['channel_groups']}"
        )
        plain_runs, ray_runs = [], []
        for run in range(args.repeat):
            progress(f"[benchmark] pass {run + 1}/{args.repeat}: bare PyTorch loop")
            plain_runs.append(run_child(args, "plain", setup_path))
            progress(f"[benchmark] pass {run + 1}/{args.repeat}: Ray Train, 1 worker")
            # Only the first Ray run is profiled.
            ray_runs.append(
                run_child(args if run == 0 else without_py_spy(args), "ray", setup_path)
            )
        scaling_runs = {}
        for workers in [int(w) for w in args.scale_workers.split(",") if w.strip()]:
            progress(f"[benchmark] Ray Train, {workers} workers")
            scaling_runs[str(workers)] = run_child(without_py_spy(args), "ray", setup_path, workers)
    result = {
        **compare(args, setup, plain_runs, ray_runs, scaling_runs),
        **machine_fields(load_start, started),
    }
    print(json.dumps(result), flush=True)
    return result


def without_py_spy(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` whose command line for the children has no ``--py-spy N``."""
    argv, skip = [], False
    for item in args.argv:
        if skip:
            skip = False
        elif item == "--py-spy":
            skip = True
        elif not item.startswith("--py-spy="):
            argv.append(item)
    return argparse.Namespace(**{**vars(args), "argv": argv})


if __name__ == "__main__":
    main()
