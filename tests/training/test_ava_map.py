"""AVA-ActiveSpeaker mAP (training/metrics/ava_map.py) against hand-computed values, and the CSV
tables it reads and writes (training/metrics/ava_predictions.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from repo_paths import SHARED_DATA

from crossmodal_ray.training.metrics.ava_map import (
    average_precision,
    evaluate_ava_csv,
    frame_metrics,
    score_ava,
)
from crossmodal_ray.training.metrics.ava_predictions import (
    read_ground_truth_csv,
    read_predictions_csv,
    write_predictions_csv,
)

POS, NEG, INAUDIBLE = "SPEAKING_AUDIBLE", "NOT_SPEAKING", "SPEAKING_NOT_AUDIBLE"

# Two entities of one video, five annotated frames each, listed in file order (not by score).
# (timestamp, entity_id, label, score); the ranks by score are in the comment.
EXAMPLE = [
    (0.00, "clipA:0", POS, 0.95),  # rank 1
    (0.00, "clipA:1", NEG, 0.90),  # rank 2
    (0.04, "clipA:1", POS, 0.70),  # rank 4
    (0.04, "clipA:0", POS, 0.80),  # rank 3
    (0.08, "clipA:0", NEG, 0.60),  # rank 5
    (0.08, "clipA:1", NEG, 0.50),  # rank 6
    (0.12, "clipA:1", NEG, 0.30),  # rank 8
    (0.12, "clipA:0", POS, 0.40),  # rank 7
    (0.16, "clipA:0", NEG, 0.20),  # rank 9
    (0.16, "clipA:1", NEG, 0.10),  # rank 10
]
# By hand, P = 4 positives, ranked by score:
#   rank  label  TP  precision  recall  interpolated p = max(p[rank:])
#     1   pos     1    1/1       1/4     1
#     2   neg     1    1/2       1/4     3/4
#     3   pos     2    2/3       2/4     3/4   (raised from 2/3 by rank 4)
#     4   pos     3    3/4       3/4     3/4
#     5   neg     3    3/5       3/4     4/7
#     6   neg     3    3/6       3/4     4/7
#     7   pos     4    4/7       4/4     4/7
#   8-10  neg     4    4/8..4/10  1      4/8..4/10
# AP = 1/4 * 1 + 1/4 * 3/4 + 1/4 * 3/4 + 1/4 * 4/7 = (28 + 21 + 21 + 16) / 112 = 43/56
EXAMPLE_AP = 43 / 56


def _csv(rows, video="clipA", with_score=True, header=False) -> str:
    lines = []
    if header:
        columns = "video_id,frame_timestamp,entity_box_x1,entity_box_y1,entity_box_x2,"
        columns += "entity_box_y2,label,entity_id" + (",score" if with_score else "")
        lines.append(columns)
    for timestamp, entity, label, score in rows:
        line = f"{video},{timestamp},0.1,0.2,0.5,0.8,{label},{entity}"
        lines.append(line + (f",{score}" if with_score else ""))
    return "\n".join(lines) + "\n"


def _score(tmp_path, truth_rows, predicted_rows, **kwargs):
    gt, pred = tmp_path / "gt.csv", tmp_path / "pred.csv"
    gt.write_text(_csv(truth_rows, with_score=False, **kwargs))
    pred.write_text(_csv(predicted_rows, **kwargs))
    return evaluate_ava_csv(str(gt), str(pred))


def test_hand_computed_example(tmp_path):
    result = _score(tmp_path, EXAMPLE, EXAMPLE)
    assert result.mean_ap == pytest.approx(EXAMPLE_AP, abs=1e-9)
    assert (result.positives, result.ground_truth_rows, result.rows_scored) == (4, 10, 10)
    assert (result.missing_predictions, result.unmatched_predictions) == (0, 0)
    assert result.chance_ap == pytest.approx(0.4)
    # Without the monotone precision, rank 3 would count 2/3: the interpolation is exercised.
    assert EXAMPLE_AP != pytest.approx((1 + 2 / 3 + 3 / 4 + 4 / 7) / 4)


def test_a_header_row_is_accepted(tmp_path):
    result = _score(tmp_path, EXAMPLE, EXAMPLE, header=True)
    assert result.mean_ap == pytest.approx(EXAMPLE_AP, abs=1e-9)


def test_missing_prediction_is_ranked_last_and_lowers_ap(tmp_path):
    predicted = [row for row in EXAMPLE if row[3] != 0.80]  # drop the rank-3 positive
    # By hand, the dropped positive gets score -inf and ranks 10th:
    #   rank  label  TP  precision  recall  interpolated
    #     1   pos     1    1/1       1/4     1
    #     2   neg     1    1/2       1/4     2/3
    #     3   pos     2    2/3       2/4     2/3
    #    4-5  neg     2    2/4, 2/5  2/4     1/2
    #     6   pos     3    3/6       3/4     1/2
    #    7-9  neg     3    3/7..3/9  3/4     2/5
    #    10   pos     4    4/10      4/4     2/5
    # AP = 1/4 * (1 + 2/3 + 1/2 + 2/5) = 1/4 * 77/30 = 77/120
    result = _score(tmp_path, EXAMPLE, predicted)
    assert result.mean_ap == pytest.approx(77 / 120, abs=1e-9)
    assert result.mean_ap < EXAMPLE_AP
    assert (result.missing_predictions, result.missing_positives, result.rows_scored) == (1, 1, 9)
    assert result.positives == 4 and result.ground_truth_rows == 10


def test_speaking_not_audible_is_negative(tmp_path):
    def relabel(label):
        return [(t, e, label if s == 0.80 else lab, s) for t, e, lab, s in EXAMPLE]

    # By hand, the rank-3 positive becomes a negative; P = 3:
    #   rank 1 pos p=1 (r=1/3); rank 4 pos p=2/4 (r=2/3); rank 7 pos p=3/7 (r=1);
    #   precision is already monotone at those ranks: AP = (1 + 1/2 + 3/7) / 3 = 9/14
    inaudible = _score(tmp_path, relabel(INAUDIBLE), EXAMPLE)
    assert inaudible.mean_ap == pytest.approx(9 / 14, abs=1e-9)
    assert inaudible.positives == 3
    assert _score(tmp_path, relabel(NEG), EXAMPLE).mean_ap == pytest.approx(9 / 14, abs=1e-9)


def test_timestamps_merge_on_two_decimals(tmp_path):
    predicted = [(f"{t + 1e-9:.9f}", e, lab, s) for t, e, lab, s in EXAMPLE]
    truth = [(t + 902.0, e, lab, s) for t, e, lab, s in EXAMPLE]  # long-video timestamps too
    predicted_late = [(f"{t + 902.0 - 1e-7:.9f}", e, lab, s) for t, e, lab, s in EXAMPLE]
    assert predicted[1][0] == "0.000000001" and predicted[3][0] == "0.040000001"
    for gt_rows, pred_rows in ((EXAMPLE, predicted), (truth, predicted_late)):
        result = _score(tmp_path, gt_rows, pred_rows)
        assert (result.missing_predictions, result.unmatched_predictions) == (0, 0)
        assert result.mean_ap == pytest.approx(EXAMPLE_AP, abs=1e-9)


def test_unmatched_prediction_is_counted_and_ignored(tmp_path):
    extra = [(0.20, "clipA:0", POS, 0.99), (0.00, "clipA:7", POS, 0.99)]
    result = _score(tmp_path, EXAMPLE, EXAMPLE + extra)
    assert result.unmatched_predictions == 2 and result.rows_scored == 10
    assert result.mean_ap == pytest.approx(EXAMPLE_AP, abs=1e-9)


def test_perfect_scores_give_one_and_constant_scores_give_the_positive_share(tmp_path):
    perfect = [(t, e, lab, 0.9 if lab == POS else 0.1) for t, e, lab, _ in EXAMPLE]
    assert _score(tmp_path, EXAMPLE, perfect).mean_ap == pytest.approx(1.0, abs=1e-12)
    constant = [(t, e, lab, 0.5) for t, e, lab, _ in EXAMPLE]  # one tie group: one threshold
    assert _score(tmp_path, EXAMPLE, constant).mean_ap == pytest.approx(0.4, abs=1e-12)


def test_tied_scores_do_not_depend_on_row_order():
    labels = np.array([1, 0, 0, 1, 1, 0])
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.2, 0.2])
    # Ranks 2-4 tie: one step from (TP 1, 1 row) to (TP 2, 4 rows), then (3, 6):
    # precision 1, 2/4, 3/6; recall 1/3, 2/3, 1 -> AP = (1 + 1/2 + 1/2) / 3 = 2/3
    for permutation in ([0, 1, 2, 3, 4, 5], [3, 2, 1, 0, 5, 4], [5, 4, 3, 2, 1, 0]):
        assert average_precision(labels[permutation], scores[permutation]) == pytest.approx(2 / 3)


def test_average_precision_matches_the_max_precision_at_each_recall_definition():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        labels = rng.random(n) < 0.3
        labels[0] = True
        scores = rng.permutation(n) / n  # tie-free
        ranked = labels[np.argsort(-scores)]
        tp = np.cumsum(ranked)
        precision = tp / np.arange(1, n + 1)
        recall = tp / tp[-1]
        # Independent form: mean over the k-th positive of the best precision at recall >= k/P.
        expected = np.mean([precision[recall >= k / tp[-1]].max() for k in range(1, tp[-1] + 1)])
        assert average_precision(labels, scores) == pytest.approx(expected, abs=1e-12)


def test_no_positives_gives_nan_and_duplicates_raise(tmp_path):
    negatives = [(t, e, NEG, s) for t, e, _, s in EXAMPLE]
    assert math.isnan(_score(tmp_path, negatives, EXAMPLE).mean_ap)
    with pytest.raises(ValueError, match="share a key"):
        _score(tmp_path, EXAMPLE, EXAMPLE + [EXAMPLE[0]])


def test_unknown_label_and_bad_score_raise(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text(_csv([(0.0, "clipA:0", "TALKING", 0.5)], with_score=False))
    with pytest.raises(ValueError, match="unknown labels"):
        read_ground_truth_csv(str(gt))
    pred = tmp_path / "pred.csv"
    pred.write_text(_csv([(0.0, "clipA:0", POS, "nan")]))
    with pytest.raises(ValueError, match="score"):
        read_predictions_csv(str(pred))
    pred.write_text(_csv([(0.0, "clipA:0", POS, 0.5)], with_score=False))
    with pytest.raises(ValueError, match="columns"):
        read_predictions_csv(str(pred))


def test_written_predictions_read_back_and_score(tmp_path):
    rows = [
        {"video_id": "clipA", "frame_timestamp": t, "entity_id": e, "score": s}
        for t, e, _, s in EXAMPLE
    ]
    rows[0].update(entity_box_x1=0.1, entity_box_y1=0.2, entity_box_x2=0.5, entity_box_y2=0.8)
    location = str(tmp_path / "out" / "pred.csv")
    assert write_predictions_csv(location, rows) == len(EXAMPLE)
    table = read_predictions_csv(location)
    assert table["score"].tolist() == [s for *_, s in EXAMPLE]
    assert table["label"].tolist() == [POS if s >= 0.5 else NEG for *_, s in EXAMPLE]
    assert table.loc[0, "entity_box_x2"] == 0.5 and math.isnan(table.loc[1, "entity_box_x2"])
    gt = tmp_path / "gt.csv"
    gt.write_text(_csv(EXAMPLE, with_score=False))
    result = score_ava(read_ground_truth_csv(str(gt)), table)
    assert result.mean_ap == pytest.approx(EXAMPLE_AP, abs=1e-9)


def test_the_real_talking_face_csv_reads_and_scores(tmp_path):
    # The shared example is an official-layout CSV with CRLF line ends and no header.
    truth = read_ground_truth_csv(
        str(SHARED_DATA / "talking_face" / "talking_face-activespeaker.csv")
    )
    assert len(truth) == 247 and set(truth["video_id"]) == {"retalk_2", "retalk_5"}
    assert set(truth["entity_id"]) == {"retalk_2:0", "retalk_5:0"}  # no stray "\r"
    assert truth["frame_timestamp"].iloc[1] == pytest.approx(0.04)
    rows = [
        {"video_id": v, "frame_timestamp": t, "entity_id": e, "score": 0.9}
        for v, t, e in truth[["video_id", "frame_timestamp", "entity_id"]].to_numpy()[::2]
    ]
    write_predictions_csv(str(tmp_path / "pred.csv"), rows)
    result = score_ava(truth, read_predictions_csv(str(tmp_path / "pred.csv")))
    assert (result.rows_scored, result.missing_predictions) == (124, 123)
    assert result.positives == 247 and result.mean_ap == pytest.approx(1.0)  # all speaking


def test_frame_metrics_known_auc_and_chance_levels():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    # AUC: of the 4 (positive, negative) pairs, 3 are ordered right (0.35 < 0.4 is not) -> 0.75.
    # Threshold 0.5 predicts [0, 0, 0, 1]: 3 of 4 right.
    # AP: ranks 0.8 pos (p 1, r 1/2), 0.4 neg, 0.35 pos (p 2/3, r 1) -> 1/2 + 1/2 * 2/3 = 5/6.
    metrics = frame_metrics(labels, scores)
    assert metrics["auc"] == pytest.approx(0.75)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["ap"] == pytest.approx(5 / 6)
    assert (metrics["frames"], metrics["positives"]) == (4, 2)
    assert metrics["chance_auc"] == 0.5 and metrics["chance_ap"] == pytest.approx(0.5)
    assert metrics["chance_accuracy"] == pytest.approx(0.5)
    skewed = frame_metrics(np.array([1, 0, 0, 0]), np.array([0.3, 0.2, 0.1, 0.6]), threshold=0.15)
    assert skewed["chance_accuracy"] == pytest.approx(0.75) and skewed["auc"] == pytest.approx(
        2 / 3
    )
    assert skewed["accuracy"] == pytest.approx(0.5)  # predicts [1, 1, 0, 1]
    one_class = frame_metrics(np.zeros(3), np.array([0.2, 0.7, 0.9]))
    assert math.isnan(one_class["auc"]) and math.isnan(one_class["ap"])
    assert one_class["accuracy"] == pytest.approx(1 / 3) and one_class["chance_accuracy"] == 1.0
