"""Score an active speaker detector's predictions the AVA-ActiveSpeaker way (the "mAP").

    python jobs/eval_ava.py --gt ava_activespeaker_val_v1.0.csv --pred predictions.csv
    python jobs/eval_ava.py --gt ../shared/data/talking_face/talking_face-activespeaker.csv \
        --pred runs/synctalknet/val_predictions.csv
    python jobs/eval_ava.py --gt s3://bucket/ava/val_gt.csv --pred s3://bucket/runs/pred.csv

--gt: the official ground-truth CSV (video_id, frame_timestamp, entity_box_x1, entity_box_y1,
entity_box_x2, entity_box_y2, label, entity_id; no header row, a header row is accepted).
--pred: the same columns plus ``score``, the confidence that the face is speaking (what
``jobs/train_synctalknet.py`` writes). Rows are merged on video id, timestamp (two decimals)
and entity id; SPEAKING_AUDIBLE is the positive class (SPEAKING_NOT_AUDIBLE is not speaking);
a ground-truth row without a prediction is ranked last (score -inf), a prediction without a
ground-truth row is ignored; VOC-style AP with monotone precision
(crossmodal_ray/training/metrics/ava_map.py). Needs no Ray.

Prints a line per table read and ends with one JSON line: ``map`` (in [0, 1]), ``chance_map``
(the positive share: what a constant score gets), ground-truth rows, positives, rows scored,
missing predictions (and missing positives), unmatched predictions, seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import time

from crossmodal_ray.training.metrics.ava_map import score_ava
from crossmodal_ray.training.metrics.ava_predictions import (
    read_ground_truth_csv,
    read_predictions_csv,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gt", required=True, help="ground-truth CSV (path or URI)")
    parser.add_argument("--pred", required=True, help="predictions CSV with a score column")
    return parser.parse_args(argv)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    ground_truth = read_ground_truth_csv(args.gt)
    print(
        f"[eval_ava] ground truth {args.gt}: {len(ground_truth)} rows, "
        f"{ground_truth['video_id'].nunique()} videos, "
        f"{ground_truth['entity_id'].nunique()} entities",
        flush=True,
    )
    predictions = read_predictions_csv(args.pred)
    print(f"[eval_ava] predictions {args.pred}: {len(predictions)} rows", flush=True)
    score = score_ava(ground_truth, predictions)
    if score.missing_predictions:
        print(
            f"[eval_ava] {score.missing_predictions} ground-truth rows have no prediction "
            f"({score.missing_positives} positives): ranked last",
            flush=True,
        )
    if score.unmatched_predictions:
        print(
            f"[eval_ava] {score.unmatched_predictions} predictions match no ground-truth row: "
            "ignored",
            flush=True,
        )
    print(
        f"[eval_ava] mAP {100 * score.mean_ap:.2f}% (chance {100 * score.chance_ap:.2f}%)",
        flush=True,
    )
    summary = {
        "gt": args.gt,
        "pred": args.pred,
        "map": _finite_or_none(score.mean_ap),  # null without positives: strict JSON
        "chance_map": _finite_or_none(score.chance_ap),
        "ground_truth_rows": score.ground_truth_rows,
        "positives": score.positives,
        "rows_scored": score.rows_scored,
        "missing_predictions": score.missing_predictions,
        "missing_positives": score.missing_positives,
        "unmatched_predictions": score.unmatched_predictions,
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
