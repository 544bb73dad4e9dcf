"""Per-image helpers both formats share: sample ids, text cleaning and box mapping, each dropped
part of a row becoming one rejected row (its ``sample_id`` the row's)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from crossmodal_ray.pipelines.core.quarantine import rejected_row
from crossmodal_ray.pipelines.image_text.boxes import BoxFrame
from crossmodal_ray.pipelines.image_text.errors import (
    BadBoxError,
    BadUtf8Error,
    BoxOutsideImageError,
    EmptyCaptionError,
)
from crossmodal_ray.pipelines.image_text.json_files import has_bad_utf8, repair_text


def sample_id_for(source: str) -> str:
    """``sha1(source)[:20]``: the same image path gives the same id on every re-ingest."""
    return hashlib.sha1(source.encode("utf-8", errors="surrogatepass")).hexdigest()[:20]


@dataclass
class Dropped:
    """The parts dropped from one image's row: rejected rows and counts by reason."""

    source: str
    sample_id: str
    rows: list[dict] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def add(self, stage: str, kind: str, error: BaseException) -> None:
        """Drop one part (``kind`` names it in the manifest: ``caption_empty``, ``box_outside``)."""
        self.rows.append(rejected_row(self.source, stage, error, sample_id=self.sample_id))
        self.counts[kind] += 1


def clean_text(text: str, kind: str, what: str, dropped: Dropped) -> str | None:
    """The text with whitespace runs collapsed, or None (and a dropped part, counted as
    ``<kind>_empty`` / ``<kind>_bad_utf8``) when it is empty or not valid UTF-8. ``what``
    names it in the message (``caption 88366``)."""
    if has_bad_utf8(text):
        shown = repair_text(text)[:80]
        dropped.add(
            "annotations",
            f"{kind}_bad_utf8",
            BadUtf8Error(f"{what} is not valid UTF-8: {shown!r}"),
        )
        return None
    cleaned = " ".join(text.split())
    if not cleaned:
        dropped.add("annotations", f"{kind}_empty", EmptyCaptionError(f"{what} is empty"))
        return None
    return cleaned


def map_box(
    frame: BoxFrame, box: list[float] | None, kind: str, what: str, dropped: Dropped
) -> list[float] | None:
    """The box in the output image, or None (and a dropped part, counted as
    ``<kind>_outside_image`` / ``<kind>_bad``) when it is rejected."""
    try:
        return frame.to_output(box)
    except BoxOutsideImageError as exc:
        dropped.add("boxes", f"{kind}_outside_image", BoxOutsideImageError(f"{what}: {exc}"))
    except BadBoxError as exc:
        dropped.add("boxes", f"{kind}_bad", BadBoxError(f"{what}: {exc}"))
    return None


def label_text(text: object) -> str:
    """A name, attribute, predicate or synset as clean text (non-UTF-8 bytes -> U+FFFD)."""
    return " ".join(repair_text(str(text)).split()) if text is not None else ""
