"""The news event of a MediaEval post: what the event split keeps in one split.

MediaEval posts come in events (Hurricane Sandy, the Boston bombing, the 2015 solar eclipse);
posts of one event share images and wording, so an event must never straddle two splits. The
event of a post is, first rule that answers:

1. ``tweets_event.txt`` (``tweet_id, annotation, event``): the post's own entry;
2. ``images.txt`` / ``set_images.txt`` (``image_id, image_url, annotation, event``): the entry of
   the post's first image id that has one;
3. the event folder of the post's first image file found (``TestSetImages/Solar_eclipse/``,
   ``images/boston/``; ``image_index.event_folder``);
4. the prefix of its first image id: ``attacks_paris_16`` -> ``attacks_paris``,
   ``sandyA_fake_46`` -> ``sandya`` (a trailing ``_<number>`` and then ``_fake``/``_real``/
   ``_humor`` removed).

Names are normalised (lower case, whitespace runs -> ``_``), because the files disagree on case
(``ColumbianChemicals`` in one, ``columbianChemicals`` in another) and two spellings of one
event must not become two split keys. Event files are read from anywhere under the source. In
the real files some rows lack a column (``columbianChemicals_fake_01  <url>  columbianChemicals``,
no annotation): a row one column short whose last field is not a label is read as ending in its
event; other short rows are skipped and counted (``event_file_rows_skipped``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from crossmodal_ray.pipelines.news.image_index import event_folder
from crossmodal_ray.pipelines.news.posts import Post, read_lines, relative
from crossmodal_ray.pipelines.news.schema import LABELS

# file name -> what its first column is
EVENT_FILES: dict[str, str] = {
    "tweets_event.txt": "post",
    "images.txt": "image",
    "set_images.txt": "image",
}
EVENT_RULES: tuple[str, ...] = ("post_event_file", "image_event_file", "image_folder", "prefix")


def normalize_event(name: str) -> str:
    return "_".join(name.split()).lower()


def prefix_event(image_id: str) -> str:
    """``attacks_paris_16`` -> ``attacks_paris``; ``boston_fake_03`` -> ``boston``."""
    stem = re.sub(r"_\d+$", "", image_id.strip())
    stem = re.sub(r"_(fake|real|humor)$", "", stem, flags=re.IGNORECASE)
    return normalize_event(stem or image_id)


@dataclass
class EventMap:
    """Events from the corpus's event files, by post id and by image id."""

    by_post: dict[str, str] = field(default_factory=dict)
    by_image: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    rows_skipped: int = 0

    @classmethod
    def read(cls, root: Path) -> EventMap:
        """Every event file under ``root`` (sorted paths; the first entry of an id wins)."""
        events = cls()
        paths = sorted(p for p in root.rglob("*.txt") if p.name.lower() in EVENT_FILES)
        for path in paths:
            kind = EVENT_FILES[path.name.lower()]
            target = events.by_post if kind == "post" else events.by_image
            events.files.append(relative(path, root))
            events.rows_skipped += read_event_file(path, target)
        return events

    def event_of(self, post: Post, files: list[str | None]) -> tuple[str, str]:
        """``(event, rule)`` of ``post`` whose image files are ``files`` (None = not found)."""
        if post.post_id in self.by_post:
            return self.by_post[post.post_id], "post_event_file"
        for image_id in post.image_ids:
            if image_id in self.by_image:
                return self.by_image[image_id], "image_event_file"
        for path in files:
            folder = event_folder(path) if path else None
            if folder:
                return normalize_event(folder), "image_folder"
        first = post.image_ids[0] if post.image_ids else post.post_id
        return prefix_event(first), "prefix"


def read_event_file(path: Path, target: dict[str, str]) -> int:
    """Add the ``id -> event`` rows of one tab-separated event file; returns rows skipped."""
    lines = [line.decode("utf-8", errors="replace") for line in read_lines(path)]
    if not lines:
        return 0
    header = [name.strip().lower() for name in lines[0].split("\t")]
    if "event" not in header:
        return len(lines) - 1
    event_column = header.index("event")
    skipped = 0
    for line in lines[1:]:
        fields = [value.strip() for value in line.split("\t")]
        event = ""
        if len(fields) == len(header):
            event = fields[event_column]
        elif (
            len(fields) == len(header) - 1
            and event_column == len(header) - 1
            and fields[-1].lower() not in LABELS
            and "://" not in fields[-1]
        ):
            event = fields[-1]
        if not fields[0] or not event:
            skipped += int(bool(line.strip()))
            continue
        target.setdefault(fields[0], normalize_event(event))
    return skipped
