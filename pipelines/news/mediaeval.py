"""MediaEval "Verifying Multimedia Use" 2015 / 2016 posts files -> posts.

Layouts read (``<root>`` is ``--source``: the folder holding both years, one year folder, or one
set folder)::

    mediaeval2015/devset/tweets.txt        tweetId  tweetText  userId  imageId(s)  username
                                           timestamp  label                  (fake|real|humor)
    mediaeval2015/devset/images.txt        image_id  image_url  annotation  event (events.py)
    mediaeval2015/testset/tweets.txt       same columns as the devset
    mediaeval2015/testset/images/TestSetImages/<Event>/<image_id>.jpg
    mediaeval2016/devset/posts.txt         post_id  post_text  user_id  image_id(s)  username
                                           timestamp  label                  (fake|real)
    mediaeval2016/testset/posts.txt        post_id  post_text  user_id  username  image_id
                                           timestamp                  (no label column ...)
    mediaeval2016/testset/posts_groundtruth.txt   ... the same columns + label (labels from here)
    mediaeval2016/testset_subtask/Mediaeval2016_TestSet_Images_subset/<image_id>.jpg|.png
    set_images.txt, tweets_event.txt       event files (events.py)
    sample corpus: <root>/{devset,testset}/tweets.txt (2015 header), images.txt,
                   images/<event>/<image_id>.jpg

Every file named ``tweets.txt`` or ``posts.txt`` under the root is a posts file, read in sorted
path order (2015 before 2016, devset before testset). Columns are found by their header names
(tab-separated; the order differs between files and years), so the header line is required: a
file without one is rejected whole. The dataset (``mediaeval2015``/``mediaeval2016``) is the
nearest folder so named, else the header's style (``tweetId`` = 2015); the corpus's set is the
nearest folder starting with ``test`` (test) or ``dev``/``train`` (train). Image ids are
comma-separated and may carry stray spaces (``eclipse_08 ``). Text is kept as written, literal
``\\n`` sequences included.

Rejected here, one row per post (stage ``parse``): a line whose column count differs from the
header's, a line whose bytes are not UTF-8, a line with an empty post id. Blank lines are
skipped (they are no posts).
"""

from __future__ import annotations

import re
from pathlib import Path

from crossmodal_ray.pipelines.news.errors import MalformedFileError, MalformedLineError
from crossmodal_ray.pipelines.news.posts import (
    ParsedPosts,
    Post,
    decode_line,
    loose_text,
    read_lines,
    relative,
)

POSTS_FILE_NAMES = ("tweets.txt", "posts.txt")
GROUNDTRUTH_FILE = "posts_groundtruth.txt"
# header name (lower case) -> column
COLUMNS: dict[str, str] = {
    "tweetid": "post_id",
    "post_id": "post_id",
    "postid": "post_id",
    "tweettext": "text",
    "post_text": "text",
    "posttext": "text",
    "userid": "user_id",
    "user_id": "user_id",
    "imageid(s)": "image_ids",
    "image_id(s)": "image_ids",
    "imageid": "image_ids",
    "image_id": "image_ids",
    "imageids": "image_ids",
    "image_ids": "image_ids",
    "username": "username",
    "timestamp": "timestamp",
    "label": "label",
}
REQUIRED_COLUMNS = ("post_id", "text", "image_ids")


def find_posts_files(root: Path) -> list[Path]:
    """Every posts file under ``root`` (see the module docstring), sorted by path."""
    found = [p for p in root.rglob("*") if p.name.lower() in POSTS_FILE_NAMES and p.is_file()]
    return sorted(found, key=lambda p: relative(p, root))


def header_columns(header: list[str]) -> dict[str, int]:
    """Column -> index, from the header names."""
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        column = COLUMNS.get(name.strip().lower())
        if column and column not in columns:
            columns[column] = index
    return columns


def folders_up_to_root(path: Path, root: Path) -> list[Path]:
    """The folders from ``path``'s own up to ``root`` (included), nearest first."""
    folders = []
    for folder in path.parents:
        folders.append(folder)
        if folder == root:
            break
    return folders if root in folders else [path.parent]


def dataset_of(path: Path, root: Path, header: list[str]) -> str:
    for folder in folders_up_to_root(path, root):
        match = re.fullmatch(r"mediaeval[_-]?(\d{4})", folder.name.lower())
        if match:
            return f"mediaeval{match.group(1)}"
    return "mediaeval2015" if "tweetid" in {h.strip().lower() for h in header} else "mediaeval2016"


def set_folder_of(path: Path, root: Path) -> tuple[str, Path | None]:
    """(``train`` | ``test``, the set folder) from the nearest folder named for a set."""
    for folder in folders_up_to_root(path, root):
        name = folder.name.lower()
        if name.startswith("test"):
            return "test", folder
        if name.startswith(("dev", "train")):
            return "train", folder
    return "train", None


def read_groundtruth(path: Path) -> dict[str, str]:
    """post id -> label (lower case) of a ``posts_groundtruth.txt``; unreadable rows skipped."""
    lines = read_lines(path)
    if not lines:
        return {}
    columns = header_columns(loose_text(lines[0]).split("\t"))
    if "post_id" not in columns or "label" not in columns:
        return {}
    labels: dict[str, str] = {}
    width = len(lines[0].split(b"\t"))
    for line in lines[1:]:
        fields = loose_text(line).split("\t")
        if len(fields) == width and fields[columns["post_id"]].strip():
            labels.setdefault(fields[columns["post_id"]].strip(), fields[columns["label"]])
    return {k: v.strip().lower() for k, v in labels.items()}


def parse_mediaeval(root: Path) -> ParsedPosts:
    """Posts of every MediaEval posts file under ``root`` (see the module docstring)."""
    parsed = ParsedPosts()
    files = find_posts_files(root)
    if not files:
        raise FileNotFoundError(
            f"no MediaEval posts file (tweets.txt or posts.txt) under {root}; expected e.g. "
            f"mediaeval2015/devset/tweets.txt or devset/tweets.txt"
        )
    for path in files:
        parse_posts_file(path, root, parsed)
    return parsed


def parse_posts_file(path: Path, root: Path, parsed: ParsedPosts) -> None:
    rel = relative(path, root)
    lines = read_lines(path)
    try:
        header = decode_line(lines[0], "the header line").split("\t") if lines else []
    except Exception as exc:  # noqa: BLE001 - a bad header rejects the file, not the job
        parsed.reject(rel, "list", MalformedFileError(f"{rel}: {exc}; the whole file is rejected"))
        return
    columns = header_columns(header)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        shown = "\t".join(header)[:200]
        parsed.reject(
            rel,
            "list",
            MalformedFileError(
                f"{rel}: the first line {shown!r} is no header naming the columns {missing} "
                f"(tweetId/post_id, tweetText/post_text, imageId(s)/image_id); the whole file "
                f"({len(lines)} lines) is rejected"
            ),
        )
        return
    corpus_split, set_folder = set_folder_of(path, root)
    labels, labels_from = {}, "label column"
    if "label" not in columns:
        groundtruth = path.parent / GROUNDTRUTH_FILE
        labels = read_groundtruth(groundtruth) if groundtruth.is_file() else {}
        labels_from = relative(groundtruth, root) if groundtruth.is_file() else "none"
    dataset = dataset_of(path, root, header)
    posts_before, rejected_before = len(parsed.posts), len(parsed.rejected)
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        post = parse_line(line, number, rel, header, columns, labels, parsed)
        if post is not None:
            post.dataset, post.corpus_split = dataset, corpus_split
            post.image_folder = relative(set_folder, root) if set_folder else ""
            parsed.posts.append(post)
    parsed.files[rel] = {
        "dataset": dataset,
        "corpus_split": corpus_split,
        "columns": header,
        "labels_from": labels_from,
        "posts": len(parsed.posts) - posts_before,
        "rejected": len(parsed.rejected) - rejected_before,
    }


def parse_line(
    line: bytes,
    number: int,
    rel: str,
    header: list[str],
    columns: dict[str, int],
    labels: dict[str, str],
    parsed: ParsedPosts,
) -> Post | None:
    """One data line -> a post, or None and a ``parse``-stage rejection."""
    raw_id = loose_text(line.split(b"\t", 1)[0]).strip()
    source = f"{rel}#{raw_id}" if raw_id and len(raw_id.split()) == 1 else f"{rel}#line{number}"
    fields = line.split(b"\t")
    try:
        if len(fields) != len(header):
            raise MalformedLineError(
                f"line {number} has {len(fields)} tab-separated columns, the header "
                f"{len(header)} ({', '.join(header)})"
            )
        values = decode_line(line, f"line {number}").split("\t")
        post_id = values[columns["post_id"]].strip()
        if not post_id:
            raise MalformedLineError(f"line {number} has an empty post id")
    except Exception as exc:  # noqa: BLE001 - one bad line rejects one post
        parsed.reject(source, "parse", exc)
        return None

    def value(column: str) -> str:
        return values[columns[column]].strip() if column in columns else ""

    label = value("label").lower() if "label" in columns else labels.get(post_id, "")
    image_ids = [i.strip() for i in value("image_ids").split(",") if i.strip()]
    return Post(
        source=f"{rel}#{post_id}",
        post_id=post_id,
        text=value("text"),
        label_name=label,
        user_id=value("user_id"),
        timestamp=value("timestamp"),
        dataset="",
        corpus_split="",
        image_ids=image_ids,
        line=number,
    )
