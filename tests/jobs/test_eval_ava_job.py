"""``python jobs/eval_ava.py --gt CSV --pred CSV``: progress lines, then one JSON line whose mAP
is the hand-computed AP of a small fixed example."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from repo_paths import REPO_ROOT

# Official layout, no header: video_id, t, x1, y1, x2, y2, label, entity_id.
GROUND_TRUTH = """\
clipB,0.00,0.1,0.1,0.4,0.5,SPEAKING_AUDIBLE,clipB:0
clipB,0.00,0.6,0.1,0.9,0.5,NOT_SPEAKING,clipB:1
clipB,0.04,0.1,0.1,0.4,0.5,NOT_SPEAKING,clipB:0
clipB,0.04,0.6,0.1,0.9,0.5,SPEAKING_AUDIBLE,clipB:1
clipB,0.08,0.1,0.1,0.4,0.5,SPEAKING_NOT_AUDIBLE,clipB:0
clipB,0.08,0.6,0.1,0.9,0.5,SPEAKING_AUDIBLE,clipB:1
"""
# With a header row; the clipB:1 0.08 row is missing, one row matches nothing.
PREDICTIONS = """\
video_id,frame_timestamp,entity_box_x1,entity_box_y1,entity_box_x2,entity_box_y2,label,entity_id,score
clipB,0.0,0.1,0.1,0.4,0.5,SPEAKING_AUDIBLE,clipB:0,0.9
clipB,0.0,0.6,0.1,0.9,0.5,SPEAKING_AUDIBLE,clipB:1,0.8
clipB,0.040000001,0.1,0.1,0.4,0.5,NOT_SPEAKING,clipB:0,0.3
clipB,0.04,0.6,0.1,0.9,0.5,SPEAKING_AUDIBLE,clipB:1,0.7
clipB,0.08,0.1,0.1,0.4,0.5,SPEAKING_AUDIBLE,clipB:0,0.6
clipB,0.12,0.1,0.1,0.4,0.5,SPEAKING_AUDIBLE,clipB:0,0.95
"""
# By hand: P = 3 (SPEAKING_NOT_AUDIBLE is negative); ranks 0.9 pos, 0.8 neg, 0.7 pos, 0.6 neg,
# 0.3 neg, -inf pos (missing). Precision 1, 1/2, 2/3, 2/4, 2/5, 3/6 at recall 1/3, 1/3, 2/3,
# 2/3, 2/3, 1; interpolated at the recall steps: 1, 2/3, 1/2 -> AP = (1 + 2/3 + 1/2) / 3 = 13/18.


def test_eval_ava_prints_progress_and_one_json_line(tmp_path):
    gt, pred = tmp_path / "gt.csv", tmp_path / "pred.csv"
    gt.write_text(GROUND_TRUTH)
    pred.write_text(PREDICTIONS)
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "jobs" / "eval_ava.py"), "--gt", str(gt), "--pred", str(pred)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = run.stdout.splitlines()
    assert run.returncode == 0, run.stdout + run.stderr
    assert [line for line in lines[:-1] if line.startswith("[eval_ava]")] == lines[:-1]
    assert any("mAP 72.22%" in line for line in lines)
    result = json.loads(lines[-1])
    assert result["map"] == pytest.approx(13 / 18, abs=1e-9)
    assert result["chance_map"] == pytest.approx(0.5)
    assert (result["positives"], result["ground_truth_rows"], result["rows_scored"]) == (3, 6, 5)
    assert (result["missing_predictions"], result["missing_positives"]) == (1, 1)
    assert result["unmatched_predictions"] == 1
