"""Stage-2 vocabularies from the training split: object classes and predicates by frequency.

The ``max_object_classes`` most frequent object names and ``max_predicates`` most frequent
predicates of the training rows (lower-cased, single spaces; ties broken alphabetically, so the
vocabulary is a pure function of the data), with every predicate's training count (the majority
baseline of :mod:`crossmodal_ray.training.metrics.grounding`). Counted from the two string
columns only, streamed in batches.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from crossmodal_ray.training.tasks.vgbert_grounding_collate import normalize_label


@dataclass
class GroundingVocabulary:
    object_classes: list[str]
    predicates: list[str]
    predicate_counts: dict[str, int]
    object_counts: dict[str, int]


def most_frequent(counts: Counter, limit: int) -> list[str]:
    return [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def count_labels(batches: Any) -> tuple[Counter, Counter]:
    """Object-name and predicate counts over batches of rows (numpy format)."""
    names: Counter = Counter()
    predicates: Counter = Counter()
    for batch in batches:
        for row in batch["object_names"]:
            names.update(normalize_label(n) for n in row)
        for row in batch["relation_predicates"]:
            predicates.update(normalize_label(p) for p in row)
    return names, predicates


def grounding_vocabulary(
    train_rows: Any, max_object_classes: int, max_predicates: int
) -> GroundingVocabulary:
    """The vocabularies of a training split (a Ray Dataset of Visual Genome rows)."""
    batches = train_rows.select_columns(["object_names", "relation_predicates"]).iter_batches(
        batch_size=1024, batch_format="numpy"
    )
    names, predicates = count_labels(batches)
    object_classes = most_frequent(names, max_object_classes)
    kept_predicates = most_frequent(predicates, max_predicates)
    if not object_classes or not kept_predicates:
        raise ValueError(
            "stage 2 needs objects and relations in the training split: this corpus has "
            f"{sum(names.values())} objects and {sum(predicates.values())} relations"
        )
    return GroundingVocabulary(
        object_classes=object_classes,
        predicates=kept_predicates,
        predicate_counts={p: predicates[p] for p in kept_predicates},
        object_counts={n: names[n] for n in object_classes},
    )
