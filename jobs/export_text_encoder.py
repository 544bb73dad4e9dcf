"""Export the grounded language stream of a VG-BERT run as a stand-alone text encoder.

    python jobs/export_text_encoder.py                       # the default train_vgbert run
    python jobs/export_text_encoder.py --run s3://bucket/runs/vgbert_coco --out encoders/coco

Loads the run's best checkpoint (by ``val_r_mean``), writes the language stream and its
tokenizer to ``--out`` (loadable with ``transformers.AutoModel.from_pretrained(OUT)`` alone;
``crossmodal_ray.models.vgbert.text_embedding.embed(texts, OUT)`` embeds texts), and a report
(``report.md``, ``semantic_space.png``: concept words before and after grounding, nearest
neighbours). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

from crossmodal_ray.models.vgbert.config import VGBERTConfig
from crossmodal_ray.models.vgbert.model import VGBERTModel
from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.training.checkpointing import load_model_weights
from crossmodal_ray.training.run_checkpoints import best_checkpoint_location
from crossmodal_ray.training.tasks.vgbert_export import (
    PLOT_FILE,
    REPORT_FILE,
    export_language_stream,
    write_semantic_report,
)

DEFAULT_RUN = "runs/vgbert_image_text_sample_coco"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", default=DEFAULT_RUN, help="the run folder (any storage)")
    parser.add_argument("--out", default="runs/grounded_text_encoder", help="output folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    from transformers import AutoModel, AutoTokenizer

    started = time.perf_counter()
    args = parse_args(argv)
    location, state = best_checkpoint_location(args.run, "val_r_mean", "max")
    print(f"[export] checkpoint {location} (step {state.get('global_step')})", flush=True)
    config = VGBERTConfig.from_dict(state["extras"]["model_config"])
    model = VGBERTModel(config)
    with storage.local_dir_for_reading(location) as directory:
        load_model_weights(directory, model)
    out = export_language_stream(model.eval(), args.out)
    print(f"[export] grounded text encoder -> {out}", flush=True)
    source = config.resolved_text_model()
    before = (
        AutoModel.from_pretrained(source, local_files_only=True).eval(),
        AutoTokenizer.from_pretrained(source, local_files_only=True),
    )
    after = (
        AutoModel.from_pretrained(out, local_files_only=True).eval(),
        AutoTokenizer.from_pretrained(out, local_files_only=True),
    )
    summary = write_semantic_report(before, after, out)
    result = {
        "out": str(out),
        "checkpoint": location,
        "val_r_mean": state.get("metrics", {}).get("val_r_mean"),
        "same_category_nearest_before": summary["before"]["same_category_nearest"],
        "same_category_nearest_after": summary["after"]["same_category_nearest"],
        "report": str(out / REPORT_FILE),
        "plot": str(out / PLOT_FILE),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
