"""The SyncTalkNet ablation on a finished AV corpus: {positional encoding on/off} x {track
exchange on/off}, each trained the same way (same loop, data, epochs), chosen on clean
validation AUC, then the report split (test, else val) scored once: frame accuracy, ROC-AUC and
AP on the clean segments and on their desynchronised copy (every corruption, and each alone),
and the AVA-style mAP of the clean annotated frames; "clean" is the tracks the corpus has in
sync, "recorded" every track including the corpus's own dubbed or shifted videos (labelled
not-speaking). A predictions CSV per variant (every annotated frame of the split) is written
next to its run. Wuerkaixi et al. (MLSP 2022), table 2: PE and exchange together keep the
clean mAP and raise the AUC under desynchronisation.

What ``jobs/train_synctalknet.py`` runs once the corpus is ready.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from crossmodal_ray.models.synctalknet.config import SyncTalkNetConfig
from crossmodal_ray.models.synctalknet.model import SyncTalkNet
from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.shard_reader import read_split
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.metrics.ava_predictions import write_predictions_csv
from crossmodal_ray.training.run_checkpoints import check_resumable, corpus_identity
from crossmodal_ray.training.tasks.synctalknet import SyncTalkNetTask
from crossmodal_ray.training.tasks.synctalknet_evaluation import (
    EVAL_COLUMNS,
    ava_map,
    prediction_rows,
    read_segments,
    speaking_scores,
    sync_metrics,
)

# name -> overrides of the model config: the paper's method and its ablations.
VARIANTS: dict[str, dict[str, Any]] = {
    "synctalknet": {"positional_encoding": True, "track_exchange": True},
    "no_exchange": {"positional_encoding": True, "track_exchange": False},
    "no_pe": {"positional_encoding": False, "track_exchange": True},
    "talknet": {"positional_encoding": False, "track_exchange": False},
}
FRAME_KEYS = ("accuracy", "auc", "ap")


def train_variant(
    name: str,
    task: SyncTalkNetTask,
    loop: TrainLoopConfig,
    splits: dict[str, Any],
    report_split: str,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Train one variant, load its best validation epoch, score ``report_split``."""
    from crossmodal_ray.training.trainer import (
        best_validation_value,
        train_and_load_best,
    )

    variant_loop = dataclasses.replace(loop, run_name=f"{loop.run_name}_{name}")
    check_resumable(variant_loop, task.model_config, task.corpus_id)
    log(f"[train_synctalknet] {name}: training '{variant_loop.run_name}'")
    model = SyncTalkNet(task.config)
    result, best_location = train_and_load_best(
        task, variant_loop, splits["train"], splits["val"], model
    )
    rows = splits[report_split].select_columns(list(EVAL_COLUMNS))
    segments = read_segments(rows.iter_batches(batch_size=16, batch_format="numpy"))
    device = torch.device("cpu")
    silence = np.asarray(task.silence_mfcc, np.float32)
    scores = speaking_scores(model, segments, device)
    metrics = sync_metrics(
        model, segments, device, silence, task.desync_p, per_corruption=True, scores=scores
    )
    clean = [i for i, s in enumerate(segments) if s.in_sync]
    metrics["ava"] = ava_map([segments[i] for i in clean], [scores[i] for i in clean])
    metrics["ava_recorded"] = ava_map(segments, scores)
    predictions = storage.join(loop.storage_path, f"{variant_loop.run_name}_{report_split}.csv")
    write_predictions_csv(predictions, prediction_rows(segments, scores))
    metrics.update(
        best_val_auc=best_validation_value(result, task),
        steps=int(result.metrics.get("global_step", 0)),
        resumed_from_step=int(result.metrics.get("resumed_from_step", 0)),
        best_checkpoint=best_location,
        predictions_csv=predictions,
    )
    log(
        f"[train_synctalknet] {name}: {report_split} clean AUC {metrics['clean']['auc']:.3f}, "
        f"desync AUC {metrics['desync']['auc']:.3f}, mAP {metrics['ava']['mean_ap']:.3f}"
    )
    return metrics


def ablation_table(per_variant: dict[str, dict[str, Any]], split: str) -> str:
    """The paper's ablation as markdown: PE, exchange, clean mAP, clean and desync AUC, the
    desynchronised copy's sync AUC (speaking frames with their own audio against the same
    frames with the corrupted audio), the desync AUC per corruption, the recorded split."""
    lines = [
        f"| model | PE | exchange | clean mAP ({split}) | clean AUC | desync AUC | sync AUC | "
        + " | ".join(f"{k} AUC" for k in ("shift", "flip", "repeat", "silence", "swap"))
        + " | recorded mAP | recorded AUC |",
        "|---|---|---|---|---|---|---|" + "---|" * 7,
    ]
    for name, m in per_variant.items():
        flags = VARIANTS[name]
        per_kind = " | ".join(
            f"{m[k]['auc']:.3f}" for k in ("shift", "flip", "repeat", "silence", "swap")
        )
        lines.append(
            f"| {name} | {'on' if flags['positional_encoding'] else 'off'} | "
            f"{'on' if flags['track_exchange'] else 'off'} | {100 * m['ava']['mean_ap']:.1f} | "
            f"{m['clean']['auc']:.3f} | {m['desync']['auc']:.3f} | "
            f"{m['desync']['sync_auc']:.3f} | {per_kind} | "
            f"{100 * m['ava_recorded']['mean_ap']:.1f} | "
            f"{m.get('recorded', m['clean'])['auc']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def run_synctalknet_experiment(
    shards_dir: str,
    corpus: str,
    manifest: dict,
    model_config: SyncTalkNetConfig,
    loop: TrainLoopConfig,
    silence_mfcc: np.ndarray,
    log: Callable[[str], None],
    variants: Sequence[str] = tuple(VARIANTS),
    desync_p: float = 0.5,
    train_out_of_sync: bool = False,
) -> dict[str, Any]:
    """Train every variant and report them side by side (see the module docstring).

    ``train_out_of_sync``: also train on the tracks the corpus marks out of sync (``in_sync``
    false: dubbed or shifted, labelled not-speaking). Off by default, as in the paper: AVA's
    training videos are in sync, so a model learns synchronisation only if its objective asks
    for it (track exchange); the out-of-sync videos of the validation and test splits stay in
    the evaluation."""
    rows = {split: info["rows"] for split, info in manifest["splits"].items()}
    missing = [s for s in ("train", "val") if not rows.get(s)]
    if missing:
        raise ValueError(f"corpus {corpus} has no {missing} rows ({rows}): see the split flags")
    report_split = "test" if rows.get("test") else "val"
    splits = {split: read_split(shards_dir, corpus, split) for split in rows if rows[split]}
    if not train_out_of_sync:
        splits["train"] = splits["train"].filter(lambda row: bool(row["in_sync"]))
        log("[train_synctalknet] training on the in-sync tracks only (--train-out-of-sync: all)")
    per_variant = {}
    for name in variants:
        config = dataclasses.replace(model_config, **VARIANTS[name])
        task = SyncTalkNetTask(
            config.to_dict(),
            silence_mfcc=[float(v) for v in silence_mfcc],
            desync_p=desync_p,
            name=name,
            corpus_id=corpus_identity(manifest),
        )
        per_variant[name] = train_variant(name, task, loop, splits, report_split, log)
    report = ablation_table(per_variant, report_split)
    report_path = storage.join(loop.storage_path, f"{loop.run_name}_ablation.md")
    storage.write_text(report_path, report)
    results: dict[str, Any] = {"split": report_split}
    main = per_variant.get("synctalknet")
    if main is not None:
        results.update({f"clean_{k}": main["clean"][k] for k in FRAME_KEYS})
        results.update({f"desync_{k}": main["desync"][k] for k in FRAME_KEYS})
        results["sync_auc"] = main["desync"]["sync_auc"]
        results["clean_map"] = main["ava"]["mean_ap"]
        results["recorded_map"] = main["ava_recorded"]["mean_ap"]
        results["recorded_auc"] = main.get("recorded", main["clean"])["auc"]
        results["chance_map"] = main["ava"]["chance_ap"]
        results["chance_auc"] = 0.5
        results["desync_chance_ap"] = main["desync"]["chance_ap"]
    for name, m in per_variant.items():
        if name != "synctalknet":
            results[f"{name}_clean_map"] = m["ava"]["mean_ap"]
            results[f"{name}_desync_auc"] = m["desync"]["auc"]
            results[f"{name}_sync_auc"] = m["desync"]["sync_auc"]
    if main is not None and "talknet" in per_variant:
        base = per_variant["talknet"]
        results["desync_auc_gain_over_talknet"] = main["desync"]["auc"] - base["desync"]["auc"]
        results["sync_auc_gain_over_talknet"] = (
            main["desync"]["sync_auc"] - base["desync"]["sync_auc"]
        )
        results["clean_map_change_vs_talknet"] = main["ava"]["mean_ap"] - base["ava"]["mean_ap"]
    results.update(
        ablation=report,
        report=report_path,
        variants=per_variant,
        rows=rows,
        desync_p=desync_p,
        train_out_of_sync=train_out_of_sync,
        corpus=storage.join(shards_dir, corpus),
    )
    return results
