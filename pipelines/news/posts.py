"""A parsed post (before its images are looked up) and what parsing a corpus's files gave.

Both readers (``mediaeval.py``, ``weibo.py``) turn their files into :class:`Post` objects and
``parse``-stage rejections; ``listing.py`` then applies the checks every format shares
(duplicate, label, text, images) and makes the runner's inputs.

Files are read as bytes and cut into lines here (:func:`read_lines`), so a line with bytes that
are not UTF-8 rejects that one post instead of the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossmodal_ray.pipelines.core.quarantine import rejected_row
from crossmodal_ray.pipelines.news.errors import BadUtf8Error


@dataclass
class Post:
    """One post as its corpus wrote it.

    Attributes:
        source: ``<posts file>#<post id>``, relative to the raw root (names it in messages and
            ``_rejected/``).
        post_id: The corpus's post id.
        text: The text, outer whitespace stripped.
        label_name: The corpus's label, lower case ('' when the file has none).
        user_id: Author id ('' when absent).
        timestamp: As written ('' when absent).
        dataset: ``mediaeval2015``, ``mediaeval2016`` or ``weibo``.
        corpus_split: The corpus's own set: ``train`` or ``test``.
        image_ids: The post's image ids (MediaEval) or URL file names (Weibo), in order.
        line: 1-based line of the post in its file.
        image_folder: Folder (relative to the root) to prefer when an image id names files in
            several folders (the posts file's set folder; Weibo: the label's image folder).
    """

    source: str
    post_id: str
    text: str
    label_name: str
    user_id: str
    timestamp: str
    dataset: str
    corpus_split: str
    image_ids: list[str]
    line: int
    image_folder: str = ""


@dataclass
class ParsedPosts:
    """Posts of every file in reading order, ``parse``/``list``-stage rejections, facts."""

    posts: list[Post] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def reject(self, source: str, stage: str, error: BaseException) -> None:
        self.rejected.append(rejected_row(source, stage, error))


def read_lines(path: Path) -> list[bytes]:
    """The file's lines as bytes (``\\n`` or ``\\r\\n`` endings removed)."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark is not part of the header
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def decode_line(line: bytes, what: str) -> str:
    """``line`` as text.

    Raises:
        BadUtf8Error: the bytes are not UTF-8 (the message shows where).
    """
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = line[max(0, exc.start - 20) : exc.end + 20]
        raise BadUtf8Error(
            f"{what} is not valid UTF-8: byte {exc.start} in ...{shown!r}..."
        ) from None


def loose_text(line: bytes) -> str:
    """``line`` as text for messages and ids only (bad bytes replaced)."""
    return line.decode("utf-8", errors="replace")


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with ``/`` (``../x`` for a sibling folder's file)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return Path("..", path.relative_to(root.parent)).as_posix()
