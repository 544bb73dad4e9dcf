"""An MBSL run on a finished shard corpus: grouping -> pretraining -> probes, baselines, fine-tuning.

What ``jobs/train_mbsl.py`` runs once the corpus is ready (and ``jobs/tune_mbsl.py`` shares the
grouping and model-config steps):

1. channel grouping fitted on training windows (inter-modal distance, ``models/mbsl``);
2. contrastive pretraining (Ray Train), validated each epoch by a ridge probe of respiration
   rate on the validation subjects; the best epoch is kept;
3. on the TEST subjects: linear probes of the frozen best encoder (fitted on train, strength
   chosen on val), the same probes on an untrained encoder and the training mean as baselines,
   and the pretrained encoder fine-tuned end to end with the four heads (best epoch by
   validation loss).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ray.data

from crossmodal_ray.models.mbsl.channel_grouping import ChannelGrouping
from crossmodal_ray.models.mbsl.model import MBSLConfig
from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.shard_reader import read_split
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.run_checkpoints import latest_checkpoint_state
from crossmodal_ray.training.uniform_sample import uniform_row_sample

PRESETS = ("small", "paper")
SPLITS = ("train", "val", "test")


@dataclass
class MBSLRunConfig:
    """What an MBSL job decides besides the model and loop configs; each field is a flag.

    Attributes:
        preset: ``small`` (seconds per epoch on a CPU) or ``paper`` (PatchTST-sized encoders);
            an explicit model flag always wins over the preset.
        n_groups: Channel groups (default: chosen from the data by silhouette).
        grouping_windows: Training windows, drawn uniformly from the whole training split
            (seeded by ``--seed``), on which the inter-modal distance is measured.
        probe_train_rows: Training windows of the per-epoch validation probe.
        finetune_epochs: Epochs of end-to-end fine-tuning with the four heads (0 skips it).
        finetune_lr: Learning rate of the fine-tuning.
    """

    preset: str = field(default="small", metadata={"choices": PRESETS})
    n_groups: int | None = None
    grouping_windows: int = 2048
    probe_train_rows: int = 1024
    finetune_epochs: int = 3
    finetune_lr: float = 5e-4


def split_datasets(shards_dir: str, corpus: str) -> dict[str, ray.data.Dataset]:
    return {split: read_split(shards_dir, corpus, split) for split in SPLITS}


def fit_grouping(
    train: ray.data.Dataset,
    manifest: dict,
    n_groups: int | None,
    grouping_windows: int,
    seed: int = 0,
) -> ChannelGrouping:
    """Inter-modal distance on ``grouping_windows`` training windows drawn uniformly from the
    whole training split (seeded: every subject contributes, not only the first file's), then
    channel clustering."""
    sample = uniform_row_sample(
        train,
        int(manifest["splits"]["train"]["rows"]),
        grouping_windows,
        seed,
        ("signals", "channel_present"),
    )
    return ChannelGrouping.fit(
        np.asarray(sample["signals"], dtype=np.float32),
        np.asarray(sample["channel_present"], dtype=bool),
        sample_rate_hz=float(manifest["sample_rate_hz"]),
        n_groups=n_groups,
        channel_names=manifest["channels"],
    )


def grouping_and_model_config(
    train: ray.data.Dataset,
    manifest: dict,
    run: MBSLRunConfig,
    model_flags: dict[str, Any],
    loop: TrainLoopConfig,
    log: Callable[[str], None],
) -> tuple[ChannelGrouping, MBSLConfig]:
    """The run's grouping and model config: from its latest checkpoint when the run already
    has one (a resubmitted run never refits: its weights belong to that grouping), else the
    grouping fitted on a uniform sample of the training split and the config built on it."""
    resumed = latest_checkpoint_state(loop.storage_path, loop.run_name)
    if resumed is not None:
        extras = resumed["extras"]
        grouping = ChannelGrouping.from_dict(extras["grouping"])
        model_config = MBSLConfig.from_dict(extras["model_config"])
        log(
            f"[train_mbsl] run '{loop.run_name}' has a checkpoint at step "
            f"{resumed['global_step']}: channel groups {grouping.named_groups()} and the model "
            "config come from it (not refitted)"
        )
        return grouping, model_config
    grouping = fit_grouping(train, manifest, run.n_groups, run.grouping_windows, loop.seed)
    log(f"[train_mbsl] channel groups: {grouping.named_groups()}")
    return grouping, build_model_config(run.preset, model_flags, manifest, grouping)


def build_model_config(
    preset: str, model_flags: dict[str, Any], manifest: dict, grouping: ChannelGrouping
) -> MBSLConfig:
    """The preset's sizes, then every model flag the user gave, then what the data fixes."""
    base = MBSLConfig.paper() if preset == "paper" else MBSLConfig.small()
    fields = {**base.to_dict(), **model_flags}
    fields.update(
        n_channels=len(manifest["channels"]),
        window_samples=int(manifest["window_samples"]),
        window_s=float(manifest["window_s"]),
        groups=grouping.as_tuple(),
    )
    return MBSLConfig.from_dict(fields)


def target_stats(manifest: dict) -> dict[str, tuple[float, float]]:
    """Mean and std of the regression targets on the training split (from the manifest)."""
    stats = manifest["label_stats"]["train"]
    return {
        "hr_bpm": (float(stats["hr_bpm_mean"]), max(1.0, float(stats["hr_bpm_std"]))),
        "rr_bpm": (float(stats["rr_bpm_mean"]), max(0.5, float(stats["rr_bpm_std"]))),
    }


def format_metrics(metrics: dict) -> str:
    return ", ".join(f"{key} {value:.3f}" for key, value in metrics.items())


def load_checkpoint_model(checkpoint, model) -> None:
    """Load a Ray Train checkpoint (any storage) into ``model``."""
    from crossmodal_ray.training.checkpointing import load_model_weights

    with checkpoint.as_directory() as directory:
        load_model_weights(directory, model)


def run_mbsl_experiment(
    shards_dir: str,
    corpus: str,
    manifest: dict,
    run: MBSLRunConfig,
    model_flags: dict[str, Any],
    loop: TrainLoopConfig,
    log: Callable[[str], None],
) -> dict:
    """Pretrain, evaluate and fine-tune MBSL on a finished corpus (see the module docstring).

    Returns:
        The metrics JSON of the job: test-split probe metrics, their baselines, fine-tuned
        metrics, throughput, the grouping and where the run lives.
    """
    import torch

    from crossmodal_ray.models.mbsl.heads import MBSLDownstream
    from crossmodal_ray.models.mbsl.model import MBSLEncoder, MBSLPretrainModel
    from crossmodal_ray.training.tasks.mbsl import MBSLFinetuneTask, MBSLPretrainTask
    from crossmodal_ray.training.tasks.mbsl_evaluation import (
        finetuned_metrics,
        mean_baseline_metrics,
        prefixed,
        probe_metrics_of_encoders,
    )
    from crossmodal_ray.training.tasks.mbsl_validation import validation_datasets
    from crossmodal_ray.training.trainer import best_checkpoint, run_training

    rows = {split: manifest["splits"][split]["rows"] for split in SPLITS}
    empty = [split for split, n in rows.items() if not n]
    if empty:
        raise ValueError(
            f"corpus {corpus} has no rows in {empty}: MBSL needs training, validation and test "
            "subjects (re-ingest with another --split-seed or more subjects)"
        )
    log(f"[train_mbsl] shards: rows {rows}; rejected {manifest['totals']['rejected']}")
    splits = split_datasets(shards_dir, corpus)
    grouping, model_config = grouping_and_model_config(
        splits["train"], manifest, run, model_flags, loop, log
    )
    validation = validation_datasets(
        splits["train"], rows["train"], splits["val"], run.probe_train_rows
    )

    log(
        f"[train_mbsl] pretraining '{loop.run_name}' on {loop.num_workers} worker(s), "
        f"{loop.epochs} epoch(s)"
    )
    pretrain_task = MBSLPretrainTask(model_config.to_dict(), grouping.to_dict())
    pretrain = run_training(pretrain_task, loop, splits["train"], extra_datasets=validation)
    if pretrain.error:
        raise pretrain.error
    pretrained = MBSLPretrainModel(model_config)
    load_checkpoint_model(best_checkpoint(pretrain, pretrain_task), pretrained)
    run_dir = storage.join(loop.storage_path, loop.run_name)
    storage.write_text(
        storage.join(run_dir, "grouping.json"),
        json.dumps(grouping.to_dict(), indent=2),
    )

    log("[train_mbsl] evaluating: linear probes on the frozen encoders (test subjects)")
    torch.manual_seed(loop.seed)
    encoders = {"pretrained": pretrained.encoder, "random": MBSLEncoder(model_config)}
    probes, labels = probe_metrics_of_encoders(encoders, splits)
    results: dict = dict(probes["pretrained"])
    log(f"[train_mbsl] linear probe, pretrained encoder: {format_metrics(probes['pretrained'])}")
    log(f"[train_mbsl] linear probe, random encoder: {format_metrics(probes['random'])}")
    results.update(prefixed("baseline_random_encoder_", probes["random"]))
    baseline = mean_baseline_metrics(labels["train"], labels["test"])
    results.update(prefixed("baseline_mean_", baseline))

    if run.finetune_epochs > 0:
        log(
            "[train_mbsl] fine-tuning the pretrained encoder with the downstream heads, "
            f"{run.finetune_epochs} epoch(s)"
        )
        stats = target_stats(manifest)
        n_activities = len(manifest["activities"])
        finetune_task = MBSLFinetuneTask(
            model_config.to_dict(),
            grouping.to_dict(),
            n_activities,
            stats,
            encoder_state=pretrained.encoder.state_dict(),
        )
        finetune_loop = dataclasses.replace(
            loop,
            run_name=f"{loop.run_name}_finetune",
            epochs=run.finetune_epochs,
            lr=run.finetune_lr,
        )
        finetune = run_training(
            finetune_task,
            finetune_loop,
            splits["train"],
            extra_datasets={"val": validation["val"]},
        )
        if finetune.error:
            raise finetune.error
        model = MBSLDownstream(MBSLEncoder(model_config), n_activities)
        load_checkpoint_model(best_checkpoint(finetune, finetune_task), model)
        results.update(prefixed("finetune_", finetuned_metrics(model, stats, splits["test"])))

    results.update(
        samples_per_s=float(pretrain.metrics.get("samples_per_s", float("nan"))),
        pretrain_steps=int(pretrain.metrics.get("global_step", 0)),
        # > 0: the run resumed from that checkpoint (a restarted worker group or a resubmission)
        pretrain_resumed_from_step=int(pretrain.metrics.get("resumed_from_step", 0)),
        pretrain_final_loss=float(pretrain.metrics.get("loss", float("nan"))),
        channel_groups=grouping.named_groups(),
        rows=rows,
        run_dir=run_dir,
        corpus=storage.join(shards_dir, corpus),
    )
    return results
