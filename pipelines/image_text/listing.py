"""What listing an image-text corpus gives the runner: inputs, rejected rows, and small facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crossmodal_ray.pipelines.core.quarantine import rejected_row
from crossmodal_ray.pipelines.core.source import InputItem


@dataclass
class Listing:
    """The result of parsing a corpus's annotation files on the driver.

    Attributes:
        items: One input per image, in a stable order; payloads hold the image's annotations.
        rejected: ``rejected_row`` dicts (stage ``list``): whole annotation files, annotations
            naming unknown images, malformed entries.
        warnings: Messages for the manifest (an optional file missing or rejected ...).
        files: Annotation file kind -> path relative to the root (None when absent).
        info: Counts for the manifest (e.g. relation endpoints added as objects).
    """

    items: list[InputItem] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str | None] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def reject(self, source: str, error: BaseException) -> None:
        """One ``list``-stage rejected row."""
        self.rejected.append(rejected_row(source, "list", error))
