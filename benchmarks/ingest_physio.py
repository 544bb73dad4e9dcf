"""The physio ingest against a plain single-process loop over the same WFDB records (issue 14).

Corpus: the simulated sample corpus (``pipelines/sample_corpus/physio``) of ``--subjects``
subjects x ``--duration-s`` s at 128 Hz, simulated once under ``data/raw/`` (cached), then laid
out ``--copies`` times under new subject names (``c01_S01/S01_r1`` ...: symlinks to the same
files, each copy its own ``labels.csv`` rows and subject), so that the run is long enough for
the fixed start-up to be a small share without simulating hours of signal (simulating is ~10x
slower than ingesting). Every record is labelled by ``labels.csv``. The default corpus: 6,400
records, 1,900,800 windows. The ways through it:

(a) plain: one process, no Ray, what a user would write: ``labels.csv`` read once
    (``load_label_table``), then per record ``wfdb.rdrecord`` -> the project's
    ``map_signal_names``, ``to_common_rate``, ``window_starts``, ``split_gap_windows``,
    ``window_labels`` and ``build_window_table`` -> ``pyarrow.parquet.write_table`` (zstd,
    dictionary encoding for the string columns only, as the shard writer; one file per
    record). Timed from listing the records to the last file.
(b) with ``--in-process``: the project without Ray: the runner's plan and
    ``ShardTaskWorker.run`` per shard task in this process, what one Ray task runs
    (validation, quarantine bookkeeping, label summaries, shard writer). Its gap to (a) is the
    project's own per-record work; ``--profile N`` prints its cProfile top N.
(c) the project through Ray: ``run_physio_ingest`` as ``jobs/ingest_physio.py`` runs it (a
    local Ray from ``init_ray(dashboard=False)``), ``concurrency`` = n for each n of ``--cpus``,
    each in its own subprocess with its own Ray. Reported: ``ray_start_s`` (``init_ray``),
    ``first_task_s`` (ingest start -> first finished shard task: listing, task start, worker
    imports, the task's own work), ``startup_s`` (the two) and its share of the run,
    ``ingest_s`` (ingest start -> manifest), ``end_to_end_s`` (``ray_start_s + ingest_s``),
    rows/s end to end (the goal's figure) and steady (rows after the first task over first ->
    last finished task; with n workers the other n - 1 first tasks started earlier, a bias of
    < n / tasks), and the CPU seconds of the driver and every Ray process (``/proc``).
(d) small folder: ``python jobs/ingest_physio.py --source ../shared/data/wfdb --out <tmp>``,
    wall time from process start to exit (interpreter, imports, Ray start and shutdown).

Each pass runs (a), (b), then (c) per CPU count; ``--repeat`` passes, the best run of each
counts (other jobs may share the cores: the load averages are in the JSON, and CPU seconds
next to wall seconds: ``cpu_efficiency`` = CPU seconds of (a) / of the other side). Every
side must write the same rows: totals, windows dropped over NaN gaps, and rows per record
(read back from the shards) are asserted equal.

    python benchmarks/ingest_physio.py                      # defaults: ~6 minutes here, idle
    python benchmarks/ingest_physio.py --repeat 2 --in-process
    python benchmarks/ingest_physio.py --copies 4 --cpus 1 --small-source "" --in-process --profile 25

Prints progress, then one JSON line: corpus (records, rows), the rows/s of (a), (b), (c) per
CPU count, the ratios to (a) next to the goals (>= 0.8 with 1 CPU, >= 1.6 with 2 CPUs,
issue 14), the start-up split and share, CPU efficiency, (d) next to its goal (< 15 s),
``os.cpu_count()`` and the load averages.
"""

from __future__ import annotations

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

apply_local_ray_env()  # before anything imports Ray

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from run_facts import machine_fields

from crossmodal_ray.pipelines.core.runner import (
    IngestConfig,
    ShardTaskWorker,
    plan_shard_tasks,
    schema_row_bytes,
)
from crossmodal_ray.pipelines.core.shard_reader import split_files
from crossmodal_ray.pipelines.core.shard_writer import dictionary_columns, rows_per_shard_for
from crossmodal_ray.pipelines.physio.labels import load_label_table, window_labels
from crossmodal_ray.pipelines.physio.source import PhysioSource, PhysioSourceConfig
from crossmodal_ray.pipelines.physio.subjects import folder_subject
from crossmodal_ray.pipelines.physio.wfdb_reader import (
    RawRecording,
    list_records,
    map_signal_names,
    read_beat_annotations,
)
from crossmodal_ray.pipelines.physio.windows import (
    build_window_table,
    split_gap_windows,
    to_common_rate,
    window_starts,
)

REPO = Path(__file__).resolve().parents[1]
JOB = REPO / "jobs" / "ingest_physio.py"
SMALL_SOURCE = str((REPO / ".." / "shared" / "data" / "wfdb").resolve())
GOAL_RATIO = {1: 0.8, 2: 1.6}  # issue 14: project >= 0.8x plain with 1 CPU, >= 1.6x with 2
GOAL_SMALL_FOLDER_S = 15.0
TASK_LINE = re.compile(r"^\[ingest\] (\d+)/(\d+) (\w+) task (\d+) .*: (\d+) rows, ")
COPIES_MARKER = "_copies.json"


@dataclass
class BenchCorpus:
    """The benchmark corpus: what is simulated, and how often it is laid out."""

    subjects: int = 40
    duration_s: int = 600
    copies: int = 160  # start-up < 10 % of the run with 2 CPUs (issue 14)

    def folder(self, root: Path) -> Path:
        return root / f"physio_bench_{self.subjects}x{self.duration_s}s_x{self.copies}"


def make_bench_corpus(spec: BenchCorpus, root: Path) -> Path:
    """Simulate ``spec.subjects`` subjects once, then lay them out ``spec.copies`` times."""
    from crossmodal_ray.pipelines.physio.prepare import ensure_sample_records

    base = root / f"physio_bench_{spec.subjects}x{spec.duration_s}s"
    ensure_sample_records(str(base), spec.subjects, spec.duration_s, log=print)
    out = spec.folder(root)
    marker = out / COPIES_MARKER
    if marker.is_file() and json.loads(marker.read_text()) == asdict(spec):
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    labels = pd.read_csv(base / "labels.csv", dtype={"record": str, "subject": str})
    records, tables = list_records(base), []
    for copy in range(1, spec.copies + 1):
        prefix = f"c{copy:02d}_"
        for record in records:
            folder, name = record.split("/")
            (out / f"{prefix}{folder}").mkdir(exist_ok=True)
            for path in (base / folder).glob(f"{name}.*"):
                (out / f"{prefix}{folder}" / path.name).symlink_to(path.resolve())
        tables.append(
            labels.assign(record=prefix + labels["record"], subject=prefix + labels["subject"])
        )
    pd.concat(tables).to_csv(out / "labels.csv", index=False)
    names = [f"c{c:02d}_{r}" for c in range(1, spec.copies + 1) for r in records]
    (out / "RECORDS").write_text("".join(f"{r}\n" for r in names))
    marker.write_text(json.dumps(asdict(spec)))
    return out


def process_tree_cpu_s() -> float:
    """CPU seconds (user + system) of this process and its live descendants, from ``/proc``
    (a local Ray's GCS, raylet, agents and workers all descend from the driver)."""
    ticks = os.sysconf("SC_CLK_TCK")
    ppid_cpu: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text() if entry.isdigit() else ""
        except OSError:  # the process just ended
            continue
        if stat:
            fields = stat[stat.rindex(")") + 2 :].split()  # state ppid ... utime stime at 11, 12
            ppid_cpu[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in ppid_cpu.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += ppid_cpu.get(pid, (0, 0))[1]
        todo += children.get(pid, [])
    return total / ticks


def plain_loop(root: Path, config: PhysioSourceConfig, out: Path) -> dict[str, int]:
    """(a): rows per record of the plain loop (writes ``<out>/<record>.parquet``), and the
    windows dropped over NaN gaps under ``"_dropped"``."""
    import wfdb

    table = load_label_table(root) or {}
    rows_of: dict[str, int] = {}
    dropped = 0
    for record in list_records(root):
        rec = wfdb.rdrecord(str(root / record), smooth_frames=False)  # physical, NaN = invalid
        spf = rec.samps_per_frame or [1] * rec.n_sig
        labels = table.get(record)
        raw = RawRecording(
            record=record,
            source=record,
            subject=labels.subjects[0] if labels and labels.subjects else folder_subject(record),
            channels={
                channel: (np.asarray(rec.e_p_signal[i], np.float64), float(rec.fs) * int(spf[i]))
                for channel, i in map_signal_names(list(rec.sig_name)).items()
            },
            beat_times_s=None if labels else read_beat_annotations(root / record, float(rec.fs)),
            duration_s=rec.sig_len / float(rec.fs),
        )
        common = to_common_rate(raw, config.sample_rate_hz, config.max_gap_s)
        starts = window_starts(common.n_samples, config.window_samples, config.stride_samples)
        kept, gap_rejected = split_gap_windows(
            record, common, starts, config.window_samples, config.max_gap_s
        )
        window = window_labels(raw, common, kept / config.sample_rate_hz, config.window_s, labels)
        rows = build_window_table(raw, common, kept, config.window_samples, window)
        path = out / f"{record}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            rows, path, compression="zstd", use_dictionary=dictionary_columns(rows.schema)
        )
        rows_of[record] = rows.num_rows
        dropped += len(gap_rejected)
    rows_of["_dropped"] = dropped
    return rows_of


def project_in_process(
    adapter: PhysioSource, ingest: IngestConfig, out: Path, profile: cProfile.Profile | None
) -> int:
    """(b): rows written by the runner's shard tasks, run one after the other here."""
    items, _ = adapter.list_inputs()
    tasks = plan_shard_tasks(items, ingest)
    rows_per_shard = rows_per_shard_for(
        schema_row_bytes(adapter.schema()), ingest.shard_mb, ingest.row_group_rows
    )
    worker = ShardTaskWorker(adapter, str(out), rows_per_shard, ingest.row_group_rows)
    if profile is not None:
        profile.enable()
    rows = sum(worker.run(task)["rows"] for task in tasks)
    if profile is not None:
        profile.disable()
    return rows


def timed(function, *args) -> tuple[float, float, object]:
    """Wall seconds, CPU seconds of this process, and what ``function(*args)`` returned."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def rows_per_record(out: str, manifest: dict) -> dict[str, int]:
    """Rows per record in the shards of every split."""
    counts: Counter = Counter()
    for split in manifest["splits"]:
        for location in split_files(out, manifest["corpus"], split):
            counts.update(pq.read_table(location, columns=["record"]).column(0).to_pylist())
    return dict(counts)


def ray_child(source: str, cpus: int) -> dict:
    """(c), in its own process: the whole ingest through a local Ray with ``cpus`` decoders."""
    from crossmodal_ray.pipelines.physio.ingest import run_physio_ingest

    started = time.perf_counter()
    init_ray(num_cpus=cpus, dashboard=False)  # as jobs/ingest_physio.py
    ray_start = time.perf_counter() - started
    startup_cpu = process_tree_cpu_s()
    events: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench_physio_ray_") as out:
        ingest_started = time.perf_counter()
        manifest = run_physio_ingest(
            PhysioSourceConfig(source=source),
            IngestConfig(out=out, concurrency=cpus),
            log=lambda m: events.append((time.perf_counter(), m)),
        )
        ended = time.perf_counter()
        ingest_cpu = process_tree_cpu_s() - startup_cpu
        per_record = rows_per_record(out, manifest)
    finished = [(at, TASK_LINE.match(m)) for at, m in events]
    finished = [(at, int(match.group(5))) for at, match in finished if match]
    first_at, first_rows = finished[0]
    last_at = finished[-1][0]
    rows = manifest["totals"]["written"]
    end_to_end = ray_start + ended - ingest_started
    return {
        "cpus": cpus,
        "tasks": len(finished),
        "rows": rows,
        "windows_dropped_nan_gap": manifest["windows_dropped_nan_gap"],
        "rows_per_record": per_record,
        "ray_start_s": round(ray_start, 3),
        "first_task_s": round(first_at - ingest_started, 3),
        "startup_s": round(ray_start + first_at - ingest_started, 3),
        "ingest_s": round(ended - ingest_started, 3),
        "end_to_end_s": round(end_to_end, 3),
        "startup_share": round((ray_start + first_at - ingest_started) / end_to_end, 3),
        "rows_per_s": round(rows / end_to_end, 1),
        "rows_per_s_steady": round((rows - first_rows) / max(last_at - first_at, 1e-9), 1),
        # CPU seconds of the driver and every Ray process: Ray's start, then the ingest.
        "ray_start_cpu_s": round(startup_cpu, 3),
        "ingest_cpu_s": round(ingest_cpu, 3),
    }


def run_ray_child(source: str, cpus: int) -> dict:
    command = [sys.executable, __file__, "--source-dir", source, "--child", str(cpus)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"Ray ingest with {cpus} CPU(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def small_folder_end_to_end(source: str) -> dict:
    """(d): ``jobs/ingest_physio.py`` on ``source``, wall time from process start to exit."""
    with tempfile.TemporaryDirectory(prefix="bench_physio_small_") as out:
        command = [sys.executable, str(JOB), "--source", source, "--out", out]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "source": source,
        "rows": summary["totals"]["written"],
        "end_to_end_s": round(wall, 3),
        "job_seconds": summary["seconds"],  # main(): Ray start + ingest
        "process_overhead_s": round(wall - summary["seconds"], 3),  # interpreter, imports, exit
        "goal_s": GOAL_SMALL_FOLDER_S,
        "meets_goal": wall < GOAL_SMALL_FOLDER_S,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = BenchCorpus()
    parser.add_argument("--subjects", type=int, default=defaults.subjects)
    parser.add_argument("--duration-s", type=int, default=defaults.duration_s)
    parser.add_argument("--copies", type=int, default=defaults.copies, help="layouts of them")
    parser.add_argument("--data-dir", default=str(REPO / "data" / "raw"), help="corpus cache")
    parser.add_argument("--repeat", type=int, default=1, help="timed passes of each side")
    parser.add_argument("--cpus", default="1,2", help='CPU counts of (c); "" to skip')
    parser.add_argument("--small-source", default=SMALL_SOURCE, help='(d); "" to skip')
    parser.add_argument("--in-process", action="store_true", help="run (b) too")
    parser.add_argument("--profile", type=int, default=0, help="print the top N of (b)")
    parser.add_argument("--source-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_passes(args, root: Path, cpu_counts: list[int]) -> tuple[dict, dict]:
    """``--repeat`` passes of (a), (b) and (c); the runs of each side, and the plain loop's
    rows per record (for the equal-work checks)."""
    config = PhysioSourceConfig(source=str(root))
    adapter, ingest = PhysioSource(config), IngestConfig(out="unused")
    runs: dict = {"plain": [], "project_in_process": [], **{n: [] for n in cpu_counts}}
    rows_of: dict[str, int] = {}
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench_physio_plain_") as out:
            wall, cpu, rows_of = timed(plain_loop, root, config, Path(out))
        runs["plain"].append((wall, cpu, sum(v for k, v in rows_of.items() if k != "_dropped")))
        line = f"[benchmark] pass {run + 1}/{args.repeat}: plain {wall:.2f} s"
        if args.in_process:
            with tempfile.TemporaryDirectory(prefix="bench_physio_project_") as out:
                runs["project_in_process"].append(
                    timed(project_in_process, adapter, ingest, Path(out), None)
                )
            line += f", project in process {runs['project_in_process'][-1][0]:.2f} s"
        print(line, flush=True)
        for cpus in cpu_counts:
            runs[cpus].append(run_ray_child(str(root), cpus))
            print(
                f"[benchmark] pass {run + 1}/{args.repeat}: Ray, {cpus} CPU(s): "
                f"{runs[cpus][-1]['end_to_end_s']:.2f} s "
                f"({runs[cpus][-1]['startup_s']:.2f} s start-up)",
                flush=True,
            )
    if args.in_process and args.profile:
        profile = cProfile.Profile()
        with tempfile.TemporaryDirectory(prefix="bench_physio_profile_") as out:
            project_in_process(adapter, ingest, Path(out), profile)
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(args.profile)
        print(text.getvalue(), file=sys.stderr, flush=True)
    return runs, rows_of


def check_equal_work(runs: dict, rows_of: dict[str, int], cpu_counts: list[int]) -> int:
    """Every side wrote the plain loop's rows (per record for Ray); returns the rows."""
    rows = runs["plain"][0][2]
    for side in ("plain", "project_in_process"):
        for _, _, n in runs[side]:
            assert n == rows, f"{side} wrote {n} rows, the plain loop {rows}"
    per_record = {k: v for k, v in rows_of.items() if v and k != "_dropped"}
    for cpus in cpu_counts:
        for r in runs[cpus]:
            assert r["rows"] == rows, f"Ray ingest wrote {r['rows']} rows, the plain loop {rows}"
            assert r["windows_dropped_nan_gap"] == rows_of["_dropped"]
            assert r.pop("rows_per_record") == per_record, "rows per record differ"
    return rows


def in_process_summary(side_runs: list[tuple[float, float, int]], rows: int) -> dict | None:
    """Best run of (a) or (b): seconds, rows/s, CPU seconds; None when the side did not run."""
    if not side_runs:
        return None
    wall, cpu, _ = min(side_runs)
    return {
        "seconds": round(wall, 3),
        "rows_per_s": round(rows / wall, 1),
        "cpu_s": round(cpu, 3),
        "runs_s": [round(w, 3) for w, _, _ in side_runs],
    }


def compare(runs: dict, rows: int, cpu_counts: list[int]) -> dict:
    """Each side's best run, and its ratios to the plain loop (rows/s and CPU seconds)."""
    plain = in_process_summary(runs["plain"], rows)
    in_process = in_process_summary(runs["project_in_process"], rows)
    ratios, cpu_efficiency = {}, {}
    if in_process is not None:
        ratios["project_in_process"] = round(in_process["rows_per_s"] / plain["rows_per_s"], 3)
        cpu_efficiency["project_in_process"] = round(plain["cpu_s"] / in_process["cpu_s"], 3)
    ray = {}
    for cpus in cpu_counts:
        best = min(runs[cpus], key=lambda r: r["end_to_end_s"])
        ray[str(cpus)] = {**best, "runs_end_to_end_s": [r["end_to_end_s"] for r in runs[cpus]]}
        for suffix, rate in (("", best["rows_per_s"]), ("_steady", best["rows_per_s_steady"])):
            ratios[f"ray_{cpus}_cpu{suffix}"] = round(rate / plain["rows_per_s"], 3)
        cpu_efficiency[f"ray_{cpus}_cpu"] = round(plain["cpu_s"] / best["ingest_cpu_s"], 3)
    goals = {f"ray_{n}_cpu": GOAL_RATIO[n] for n in cpu_counts if n in GOAL_RATIO}
    return {
        "plain": plain,
        "project_in_process": in_process,
        "ray": ray,
        "ratio_to_plain": ratios,
        "goal_ratio": goals,
        "meets_goal": {name: ratios[name] >= goal for name, goal in goals.items()},
        # CPU seconds of the plain loop per CPU second of the other side (1 = no overhead).
        "cpu_efficiency": cpu_efficiency,
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.child is not None:
        result = ray_child(args.source_dir, args.child)
        print(json.dumps(result), flush=True)
        return result
    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    spec = BenchCorpus(args.subjects, args.duration_s, args.copies)
    root = make_bench_corpus(spec, Path(args.data_dir))
    cpu_counts = [int(c) for c in args.cpus.split(",") if c.strip()]
    print(f"[benchmark] corpus {root}: {len(list_records(root))} records", flush=True)
    runs, rows_of = run_passes(args, root, cpu_counts)
    rows = check_equal_work(runs, rows_of, cpu_counts)
    small = small_folder_end_to_end(args.small_source) if args.small_source else None
    if small is not None:
        print(f"[benchmark] small folder end to end: {small['end_to_end_s']:.2f} s", flush=True)
    result = {
        "benchmark": "ingest_physio",
        "corpus": {
            **asdict(spec),
            "folder": str(root),
            "records": len(rows_of) - 1,
            "rows": rows,
            "windows_dropped_nan_gap": rows_of["_dropped"],
        },
        "repeat": args.repeat,
        **compare(runs, rows, cpu_counts),
        "small_folder": small,
        **machine_fields(load_start, started),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
