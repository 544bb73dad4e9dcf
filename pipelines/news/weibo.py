"""Weibo rumor posts in the EANN layout (Wang et al., KDD 2018) -> posts.

Layout (``<root>`` is ``--source``)::

    <root>/tweets/train_rumor.txt  train_nonrumor.txt  test_rumor.txt  test_nonrumor.txt
    <root>/rumor_images/<url file name>        e.g. 7fcc7edetw1e6btq03senj20c80gawgs.jpg
    <root>/nonrumor_images/<url file name>

Each post is three lines, UTF-8 (Chinese)::

    3596676713278888|周治国的微博|http://weibo.com/2144108254/zEz0bdKZi|null|2013-07-05 12:20|true|...
    http://ww4.sinaimg.cn/large/7fcc7edetw1e6btq03senj20c80gawgs.jpg|null
    【郭美美申请低保，居然获准通过！】郭美美对记者说，...

line 1: ``|``-separated metadata, the post id first (EANN's files have 15 fields: tweet id,
user name, tweet url, user url, publish time, original?, retweet count, comment count, praise
count, user id, user authentication type, fans, follows, tweet count, platform; the sample
corpus writes 8); line 2: the image URLs separated by ``|``, always ending in a ``null``
placeholder; line 3: the text (may be empty: rejected later as empty text). The fields are
found by their form, not their position, so both field orders read the same: the timestamp is
the first ``YYYY-MM-DD HH:MM`` field, the user id the number in the ``weibo.com/<user id>/``
post URL (EANN's field 10 when there is no such URL). The label is the file's (rumor -> fake,
nonrumor -> real), the split the file's (train / test). An image is found by its URL's file
name without extension (as EANN does), first in the label's image folder. Weibo has no event
ids: the event column is empty and the splits go by post id.

Blocks are found by their shape rather than by counting lines in threes, so one broken block
cannot shift every block after it: a block starts at a line ``<digits>|...`` followed by an
image line (``...|null``). Rejected here, one row per block (stage ``parse``): a block whose
metadata line has another field count than most of the file's (the wrong column count), a
block missing its text line (two lines, then the next block), a post whose three lines are out
of order (a metadata, an image and a text line in another order, then the next block or the
end of the file: one rejection naming the post id and each line's number, instead of a stray
line plus a block without text), lines between blocks that belong to none (one rejection per
run of such lines), and a block with a line that is not UTF-8.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from crossmodal_ray.pipelines.news.errors import MalformedLineError
from crossmodal_ray.pipelines.news.posts import (
    ParsedPosts,
    Post,
    decode_line,
    loose_text,
    read_lines,
    relative,
)

TWEETS_DIR = "tweets"
FILE_PATTERN = re.compile(r"^(train|test)_(rumor|nonrumor)\.txt$", re.IGNORECASE)
IMAGE_FOLDERS = {"rumor": "rumor_images", "nonrumor": "nonrumor_images"}
EANN_METADATA_FIELDS, EANN_USER_ID_FIELD = 15, 9
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{1,2}:\d{2}(:\d{2})?)?$")
USER_URL = re.compile(r"weibo\.com/(\d+)(/|$)")
# The lines of a post, in the order the EANN layout writes them.
IN_ORDER = ("metadata", "image URLs", "text")
NOT_A_BLOCK = "not a 3-line post block: "


@dataclass
class Block:
    """Lines ``start+1 ..`` (1-based) of a file: a post's block, or lines that form none.

    Attributes:
        start: 0-based index of its first line.
        lines: Its lines.
        problem: Why it is no post ('' for a well-formed block), for the rejection's message.
        metadata_at: Index in ``lines`` of the metadata line, whose first field is the post id
            (not 0 when the post's lines are out of order).
    """

    start: int
    lines: list[bytes]
    problem: str = ""
    metadata_at: int = 0


def find_weibo_files(root: Path) -> list[tuple[Path, str, str]]:
    """``(path, split, label)`` of every ``tweets/<split>_<label>.txt``, train files first."""
    folder = root / TWEETS_DIR
    found = []
    for path in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        match = FILE_PATTERN.match(path.name)
        if match:
            found.append((path, match.group(1).lower(), match.group(2).lower()))
    if not found:
        raise FileNotFoundError(
            f"no Weibo posts files under {folder}: expected tweets/train_rumor.txt, "
            f"train_nonrumor.txt, test_rumor.txt, test_nonrumor.txt (EANN layout)"
        )
    return sorted(found, key=lambda f: (f[1] != "train", f[2], f[0].name))


def image_folders(root: Path) -> list[Path]:
    return [root / name for name in IMAGE_FOLDERS.values()]


def looks_like_metadata(line: bytes) -> bool:
    head = line.split(b"|", 1)
    return len(head) == 2 and head[0].strip().isdigit()


def is_image_line(line: bytes) -> bool:
    fields = line.strip().split(b"|")
    return fields[-1].strip().lower() == b"null" and all(f.strip() for f in fields[:-1])


def is_block_start(lines: list[bytes], i: int) -> bool:
    return i + 1 < len(lines) and looks_like_metadata(lines[i]) and is_image_line(lines[i + 1])


def line_role(line: bytes) -> str:
    """``metadata`` (``<digits>|...``), ``image URLs`` (``...|null``) or ``text``."""
    if looks_like_metadata(line):
        return "metadata"
    return "image URLs" if is_image_line(line) else "text"


def shuffled_block(lines: list[bytes], i: int) -> Block | None:
    """The post at lines ``i .. i+2`` when they are its metadata, image and text lines in
    another order (and the next line starts a post, or the file ends there), else None."""
    window = lines[i : i + 3]
    if len(window) < 3 or not all(line.strip() for line in window):
        return None
    roles = [line_role(line) for line in window]
    if sorted(roles) != sorted(IN_ORDER) or roles == list(IN_ORDER):
        return None
    after = i + 3
    if after < len(lines) and lines[after].strip() and not is_block_start(lines, after):
        return None
    found = ", ".join(f"{role} (line {i + 1 + k})" for k, role in enumerate(roles))
    problem = (
        f"the post's three lines are out of order: {found}; the EANN layout writes the "
        f"metadata line (<post id>|...), then the image URLs (...|null), then the text"
    )
    return Block(i, window, problem, metadata_at=roles.index("metadata"))


def split_blocks(lines: list[bytes]) -> list[Block]:
    """The file's post blocks and the runs of lines that belong to none (see the docstring)."""
    blocks, i = [], 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
        elif is_block_start(lines, i):
            if is_block_start(lines, i + 2):
                blocks.append(Block(i, lines[i : i + 2], f"{NOT_A_BLOCK}its text line is missing"))
                i += 2
            elif i + 2 >= len(lines):
                problem = f"{NOT_A_BLOCK}its text line is missing (end of file)"
                blocks.append(Block(i, lines[i:], problem))
                i = len(lines)
            else:
                blocks.append(Block(i, lines[i : i + 3]))
                i += 3
        elif (shuffled := shuffled_block(lines, i)) is not None:
            blocks.append(shuffled)
            i += 3
        else:
            j = i + 1
            while j < len(lines) and not (
                is_block_start(lines, j) or shuffled_block(lines, j) is not None
            ):
                j += 1
            problem = f"{NOT_A_BLOCK}not a post block (metadata|..., image URLs|null, text)"
            blocks.append(Block(i, lines[i:j], problem))
            i = j
    return blocks


def url_image_id(url: str) -> str:
    """``http://ww4.sinaimg.cn/large/7fcc7ede.jpg`` -> ``7fcc7ede`` (the file name's stem)."""
    name = url.strip().split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return os.path.splitext(name)[0]


def parse_weibo(root: Path) -> ParsedPosts:
    """Posts of every Weibo posts file under ``root/tweets`` (see the module docstring)."""
    parsed = ParsedPosts()
    for path, split, label in find_weibo_files(root):
        rel = relative(path, root)
        posts_before, rejected_before = len(parsed.posts), len(parsed.rejected)
        blocks = split_blocks(read_lines(path))
        width = metadata_width(blocks)
        for block in blocks:
            post = parse_block(block, rel, width, parsed)
            if post is not None:
                post.label_name, post.corpus_split = label, split
                post.image_folder = IMAGE_FOLDERS[label]
                parsed.posts.append(post)
        parsed.files[rel] = {
            "dataset": "weibo",
            "corpus_split": split,
            "label": label,
            "posts": len(parsed.posts) - posts_before,
            "rejected": len(parsed.rejected) - rejected_before,
        }
    for folder in image_folders(root):
        if not folder.is_dir():
            parsed.warnings.append(f"image folder {folder.name}/ is missing under {root}")
    return parsed


def metadata_width(blocks: list[Block]) -> int:
    """The field count of most metadata lines of a file (a block with another is malformed)."""
    widths = Counter(len(b.lines[0].split(b"|")) for b in blocks if not b.problem)
    return widths.most_common(1)[0][0] if widths else EANN_METADATA_FIELDS


def user_id_of(metadata: list[str]) -> str:
    for value in metadata:
        match = USER_URL.search(value)
        if match:
            return match.group(1)
    if len(metadata) == EANN_METADATA_FIELDS:
        return metadata[EANN_USER_ID_FIELD].strip()
    return ""


def timestamp_of(metadata: list[str]) -> str:
    return next((v.strip() for v in metadata if TIMESTAMP.match(v.strip())), "")


def parse_block(block: Block, rel: str, width: int, parsed: ParsedPosts) -> Post | None:
    """One block -> a post, or None and a ``parse``-stage rejection."""
    first = block.start + 1
    lines_shown = f"lines {first}-{block.start + len(block.lines)}"
    raw_id = loose_text(block.lines[block.metadata_at].split(b"|", 1)[0]).strip()
    source = f"{rel}#{raw_id}" if raw_id.isdigit() else f"{rel}#line{first}"
    try:
        if block.problem:
            raise MalformedLineError(
                f"{lines_shown}: {block.problem} (starts with {loose_text(block.lines[0])[:60]!r})"
            )
        meta_line, image_line, text_line = block.lines
        metadata = decode_line(meta_line, f"metadata line {first}").split("|")
        if len(metadata) != width:
            raise MalformedLineError(
                f"metadata line {first} has {len(metadata)} |-separated fields, the file's "
                f"other metadata lines {width}"
            )
        urls = decode_line(image_line, f"image line {first + 1}").strip().split("|")[:-1]
        text = decode_line(text_line, f"text line {first + 2}").strip()
    except Exception as exc:  # noqa: BLE001 - one bad block rejects one post
        parsed.reject(source, "parse", exc)
        return None
    post_id = metadata[0].strip()
    return Post(
        source=f"{rel}#{post_id}",
        post_id=post_id,
        text=text,
        label_name="",
        user_id=user_id_of(metadata),
        timestamp=timestamp_of(metadata),
        dataset="weibo",
        corpus_split="",
        image_ids=[url_image_id(url) for url in urls if url_image_id(url)],
        line=first,
    )
