"""Smoke test of ``benchmarks/ingest_images.py`` on a tiny corpus: the JSON's structure and the
equal-work checks (both sides write the same rows, pixels and values); it times nothing."""

from __future__ import annotations

import pytest
from benchmark_loader import load_benchmark


@pytest.mark.slow
def test_benchmark_runs_both_sides_on_the_same_rows(tmp_path):
    bench = load_benchmark("ingest_images")
    # 30 + 6 images at 64 px; one Ray run (its own subprocess) with 1 CPU.
    result = bench.main(
        [
            "--corpus", str(tmp_path / "corpus"), "--images", "30", "--val-images", "6",
            "--corpus-image-size", "64", "--image-size", "48", "--repeat", "1",
            "--ray-cpus", "1", "--in-process-images", "10", "--check-pixels", "3",
        ]
    )  # fmt: skip
    assert result["rows"] == 36
    # Equal work: main() asserted the rows, every non-image column and 3 images' pixels.
    assert result["same_rows"] == {
        "ray_1_cpu": {"rows": 36, "pixels_checked": 3, "identical_jpegs": 36}
    }
    ray_run = result["ray"]["1"]
    assert ray_run["rows"] == 36 and ray_run["rejected"] == 0 and ray_run["tasks"] >= 2
    assert ray_run["startup_s"] == pytest.approx(
        ray_run["ray_start_s"] + ray_run["first_task_s"], abs=0.02
    )
    assert 0 < ray_run["startup_share"] <= 1
    assert ray_run["listing_s"] <= ray_run["first_task_s"]
    assert set(result["ratio_to_plain"]) == {"project_in_process", "ray_1_cpu", "ray_1_cpu_steady"}
    assert result["goal_ratio"] == {"ray_1_cpu": 0.8}
    assert set(result["meets_goal"]) == {"ray_1_cpu"}
    in_process = result["project_in_process"]
    assert in_process["rows"] == 10
    for side in (result["plain"], in_process["plain"], in_process["project"]):
        assert side["rows_per_s"] > 0 and len(side["runs_s"]) == 1
    assert result["cpu_count"] >= 1 and len(result["load_avg_start"]) == 3


def test_plain_loop_raises_on_what_it_does_not_handle(tmp_path):
    """The plain loop writes the project's rows only for upright images of their annotated
    size with boxes inside: anything else raises rather than write other rows."""
    from PIL import Image

    bench = load_benchmark("ingest_images")
    (tmp_path / "train2017").mkdir()
    Image.new("RGB", (40, 30), "red").save(tmp_path / "train2017" / "1.jpg")
    rotated = Image.Exif()
    rotated[bench.EXIF_ORIENTATION] = 6
    Image.new("RGB", (40, 30), "red").save(tmp_path / "train2017" / "2.jpg", exif=rotated)

    def image(file="1.jpg", size=(40, 30), box=(0.0, 0.0, 5.0, 5.0)):
        captions = [(7, " a  red\n box ")]
        return bench.PlainImage(
            1, "train", f"train2017/{file}", size, captions, [(3, 1, "x", list(box))]
        )

    row = bench.plain_row(tmp_path, image(), 16)
    assert row["captions"] == ["a red box"] and (row["width"], row["height"]) == (40, 30)
    assert row["boxes_original"] == [[0.0, 0.0, 5.0, 5.0]] and len(row["boxes"]) == 1
    with pytest.raises(ValueError, match="EXIF-rotated"):
        bench.plain_row(tmp_path, image(file="2.jpg"), 16)
    with pytest.raises(ValueError, match="annotated as"):
        bench.plain_row(tmp_path, image(size=(41, 30)), 16)
    with pytest.raises(ValueError, match="outside the image"):
        bench.plain_row(tmp_path, image(box=(50.0, 0.0, 5.0, 5.0)), 16)
