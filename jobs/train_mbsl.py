"""MBSL end to end: sample corpus -> Ray Data ingest -> Ray Train pretraining -> evaluation.

With no arguments it runs on the bundled sample corpus (generated once as WFDB records under
``data/raw/physio_sample``) with a local, loopback-only Ray, and prints one JSON line::

    python jobs/train_mbsl.py

On a real corpus and a cluster::

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/train_mbsl.py --raw-dir /mnt/shared/raw/my_wfdb \
        --shards-dir /mnt/shared/shards --storage-path /mnt/shared/runs \
        --num-workers 8 --use-gpu --preset paper

``--shards-dir`` with an existing corpus (a ``_manifest.json``) skips the ingest unless
``--reingest``; ``--shards-dir S --corpus NAME`` trains on a finished corpus without its raw
folder. Resubmitting with the same ``--run-name`` and ``--storage-path`` resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

apply_local_ray_env()

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RAW_DIR = REPO_ROOT / "data" / "raw" / "physio_sample"
DEFAULT_SHARDS_DIR = REPO_ROOT / "data" / "shards"
DEFAULT_STORAGE = REPO_ROOT / "runs"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from crossmodal_ray.models.mbsl.model import MBSLConfig
    from crossmodal_ray.training.cli_flags import add_config_flags
    from crossmodal_ray.training.loop_config import TrainLoopConfig

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--raw-dir",
        default=str(DEFAULT_RAW_DIR),
        help="folder of WFDB records or PPG-DaLiA S*/S*.pkl (default: the sample corpus, made if missing)",
    )
    data.add_argument("--shards-dir", default=str(DEFAULT_SHARDS_DIR), help="shard root")
    data.add_argument(
        "--corpus", default=None, help="corpus name under the shard root (default: raw folder name)"
    )
    data.add_argument(
        "--reingest", action="store_true", help="ingest even if the corpus has a manifest"
    )
    data.add_argument(
        "--sample-subjects", type=int, default=20, help="subjects of the generated sample corpus"
    )
    data.add_argument(
        "--sample-duration-s", type=int, default=600, help="seconds per sample record"
    )
    data.add_argument(
        "--address", default=None, help="Ray address (default: RAY_ADDRESS or a local Ray)"
    )
    model = parser.add_argument_group("model")
    model.add_argument("--preset", choices=("small", "paper"), default="small")
    model.add_argument(
        "--n-groups", type=int, default=None, help="channel groups (default: chosen from the data)"
    )
    model.add_argument(
        "--grouping-windows",
        type=int,
        default=2048,
        help="training windows used to measure inter-modal distance",
    )
    add_config_flags(parser, MBSLConfig, exclude=("n_channels", "window_samples", "groups"))
    add_config_flags(
        parser, TrainLoopConfig, exclude=("steps_per_epoch", "extra", "storage_path", "run_name")
    )
    run = parser.add_argument_group("run")
    run.add_argument("--storage-path", default=str(DEFAULT_STORAGE))
    run.add_argument("--run-name", default=None, help="stable run name (default: mbsl_<corpus>)")
    run.add_argument("--finetune-epochs", type=int, default=3, help="0 skips fine-tuning")
    run.add_argument("--finetune-lr", type=float, default=5e-4)
    return parser.parse_args(argv)


def progress(message: str) -> None:
    print(f"[train_mbsl] {message}", flush=True)


def ensure_sample_corpus(args: argparse.Namespace) -> Path:
    """Generate the bundled WFDB sample corpus (cached) when the default raw folder is used."""
    raw_dir = Path(args.raw_dir)
    if raw_dir.resolve() != DEFAULT_RAW_DIR.resolve():
        if not raw_dir.exists():
            raise SystemExit(f"--raw-dir {raw_dir} does not exist")
        return raw_dir
    from crossmodal_ray.pipelines.sample_corpus.physio.simulation import PhysioSimulationConfig
    from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import make_physio_wfdb_corpus

    progress(
        f"sample corpus: {args.sample_subjects} subjects x {args.sample_duration_s:.0f} s at {raw_dir}"
    )
    config = PhysioSimulationConfig(
        n_subjects=args.sample_subjects, duration_s=args.sample_duration_s
    )
    return Path(make_physio_wfdb_corpus(raw_dir, config))


def ensure_shards(args: argparse.Namespace, raw_dir: Path) -> tuple[str, dict]:
    """Ingest ``raw_dir`` into the shard corpus unless a finished corpus is already there."""
    from crossmodal_ray.pipelines.core.manifest import read_manifest
    from crossmodal_ray.pipelines.physio.ingest import PhysioIngestConfig, run_physio_ingest

    corpus = args.corpus or raw_dir.name
    manifest_path = Path(args.shards_dir) / corpus / "_manifest.json"
    if manifest_path.exists() and not args.reingest:
        progress(f"shards: reusing {manifest_path.parent} (pass --reingest to rebuild)")
        return corpus, read_manifest(args.shards_dir, corpus)
    progress(f"ingest: {raw_dir} -> {Path(args.shards_dir) / corpus}")
    manifest = run_physio_ingest(
        PhysioIngestConfig(source=str(raw_dir), out=str(args.shards_dir), corpus=corpus)
    )
    return corpus, manifest


def has_manifest(args: argparse.Namespace) -> bool:
    return (Path(args.shards_dir) / args.corpus / "_manifest.json").exists()


def split_datasets(args: argparse.Namespace, corpus: str) -> dict:
    from crossmodal_ray.pipelines.core.shard_reader import read_split

    return {split: read_split(args.shards_dir, corpus, split) for split in ("train", "val", "test")}


def fit_grouping(args, manifest: dict, train_ds):
    """Inter-modal distance on a sample of training windows, then channel clustering."""
    import numpy as np

    from crossmodal_ray.models.mbsl.channel_grouping import ChannelGrouping

    batches = train_ds.select_columns(["signals", "channel_present"]).iter_batches(
        batch_size=args.grouping_windows, batch_format="numpy"
    )
    batch = next(iter(batches))
    return ChannelGrouping.fit(
        np.asarray(batch["signals"], dtype=np.float32),
        np.asarray(batch["channel_present"], dtype=bool),
        sample_rate_hz=float(manifest["sample_rate_hz"]),
        n_groups=args.n_groups,
        channel_names=manifest["channels"],
    )


def build_model_config(args, manifest: dict, grouping):
    from crossmodal_ray.models.mbsl.model import MBSLConfig

    base = MBSLConfig.paper() if args.preset == "paper" else MBSLConfig.small()
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(MBSLConfig)
        if hasattr(args, f.name) and getattr(args, f.name) != getattr(MBSLConfig(), f.name)
    }
    fields = {**base.to_dict(), **overrides}
    fields.update(
        n_channels=len(manifest["channels"]),
        window_samples=int(manifest["window_samples"]),
        groups=grouping.as_tuple(),
    )
    return MBSLConfig.from_dict(fields)


def target_stats(manifest: dict) -> dict:
    stats = manifest["label_stats"]["train"]  # regression targets are standardised on train
    return {
        "hr_bpm": (float(stats["hr_bpm_mean"]), max(1.0, float(stats["hr_bpm_std"]))),
        "rr_bpm": (float(stats["rr_bpm_mean"]), max(0.5, float(stats["rr_bpm_std"]))),
    }


def format_metrics(metrics: dict) -> str:
    return ", ".join(f"{key} {value:.3f}" for key, value in metrics.items())


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    init_ray(args.address, num_cpus=args.num_workers + 2)
    import ray
    import torch

    ray.data.DataContext.get_current().enable_progress_bars = False
    from crossmodal_ray.models.mbsl.heads import MBSLDownstream
    from crossmodal_ray.models.mbsl.model import MBSLEncoder, MBSLPretrainModel
    from crossmodal_ray.pipelines.core.manifest import json_safe, read_manifest
    from crossmodal_ray.pipelines.physio.schema import ACTIVITIES
    from crossmodal_ray.training.checkpointing import load_model_weights
    from crossmodal_ray.training.cli_flags import config_from_flags
    from crossmodal_ray.training.loop_config import TrainLoopConfig
    from crossmodal_ray.training.tasks.mbsl import MBSLFinetuneTask, MBSLPretrainTask
    from crossmodal_ray.training.tasks.mbsl_evaluation import (
        collect_split,
        finetuned_metrics,
        mean_baseline_metrics,
        prefixed,
        probe_metrics,
    )
    from crossmodal_ray.training.trainer import run_training

    if args.corpus and has_manifest(args) and not args.reingest:
        corpus = args.corpus  # a finished shard corpus: the raw folder is not needed
        progress(f"shards: using {Path(args.shards_dir) / corpus}")
        manifest = read_manifest(args.shards_dir, corpus)
    else:
        corpus, manifest = ensure_shards(args, ensure_sample_corpus(args))
    rows = {split: manifest["splits"][split]["rows"] for split in ("train", "val", "test")}
    progress(f"shards: rows {rows}; rejected {manifest['totals']['rejected']}")
    splits = split_datasets(args, corpus)

    grouping = fit_grouping(args, manifest, splits["train"])
    progress(f"channel groups: {grouping.named_groups()}")
    model_config = build_model_config(args, manifest, grouping)
    run_name = args.run_name or f"mbsl_{corpus}"
    loop = config_from_flags(
        TrainLoopConfig, args, storage_path=args.storage_path, run_name=run_name
    )

    progress(f"pretraining '{run_name}' on {loop.num_workers} worker(s), {loop.epochs} epoch(s)")
    pretrain = run_training(
        MBSLPretrainTask(model_config.to_dict(), grouping.to_dict()),
        loop,
        splits["train"],
        rows["train"],
    )
    if pretrain.error:
        raise pretrain.error
    pretrained = MBSLPretrainModel(model_config)
    load_model_weights(pretrain.checkpoint.to_directory(), pretrained)
    run_dir = str(Path(loop.storage_path).expanduser().resolve() / run_name)
    (Path(run_dir) / "grouping.json").write_text(json.dumps(grouping.to_dict(), indent=2))

    progress("evaluating: linear probes on the frozen encoder (test subjects)")
    results: dict = dict(probe_metrics(pretrained.encoder, splits))
    progress(f"linear probe, pretrained encoder: {format_metrics(results)}")
    torch.manual_seed(loop.seed)
    random_encoder = probe_metrics(MBSLEncoder(model_config), splits)
    progress(f"linear probe, random encoder: {format_metrics(random_encoder)}")
    results.update(prefixed("baseline_random_encoder_", random_encoder))
    empty_fn = lambda signals, present: signals.new_zeros((signals.shape[0], 1)).numpy()  # noqa: E731
    train_labels = collect_split(splits["train"], empty_fn)
    test_labels = collect_split(splits["test"], empty_fn)
    results.update(prefixed("baseline_mean_", mean_baseline_metrics(train_labels, test_labels)))

    if args.finetune_epochs > 0:
        progress(
            f"fine-tuning the pretrained encoder with the downstream heads, {args.finetune_epochs} epoch(s)"
        )
        stats = target_stats(manifest)
        finetune_task = MBSLFinetuneTask(
            model_config.to_dict(),
            grouping.to_dict(),
            len(ACTIVITIES),
            stats,
            encoder_state=pretrained.encoder.state_dict(),
        )
        finetune_loop = dataclasses.replace(
            loop, run_name=f"{run_name}_finetune", epochs=args.finetune_epochs, lr=args.finetune_lr
        )
        finetune = run_training(finetune_task, finetune_loop, splits["train"], rows["train"])
        if finetune.error:
            raise finetune.error
        model = MBSLDownstream(MBSLEncoder(model_config), len(ACTIVITIES))
        load_model_weights(finetune.checkpoint.to_directory(), model)
        results.update(prefixed("finetune_", finetuned_metrics(model, stats, splits["test"])))

    results.update(
        samples_per_s=float(pretrain.metrics.get("samples_per_s", float("nan"))),
        pretrain_steps=int(pretrain.metrics.get("global_step", 0)),
        pretrain_final_loss=float(pretrain.metrics.get("loss", float("nan"))),
        channel_groups=grouping.named_groups(),
        rows=rows,
        run_dir=run_dir,
        corpus=str(Path(args.shards_dir) / corpus),
        seconds=round(time.perf_counter() - started, 1),
    )
    print(json.dumps(json_safe(results)), flush=True)
    return results


if __name__ == "__main__":
    main()
