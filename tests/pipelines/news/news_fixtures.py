"""Tiny news corpora for the tests: the 2015-style MediaEval layout of the sample corpus and the
Weibo EANN layout, written from Python lists (images are small solid-colour JPEGs)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

MEDIAEVAL_2015_HEADER = "tweetId\ttweetText\tuserId\timageId(s)\tusername\ttimestamp\tlabel"
IMAGES_TXT_HEADER = "image_id\timage_url\tannotation\tevent"
TIMESTAMP = "Mon Oct 29 22:34:01 +0000 2012"


def jpeg(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (48, 32)) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def cmyk_jpeg() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (40, 40), (20, 180, 40)).convert("CMYK").save(buffer, format="JPEG")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    buffer = BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    return data[: int(len(data) * 0.6)]


def tweet_line(
    post_id: str, text: str, image_ids: str, label: str, user: str = "42", name: str = "someone"
) -> str:
    """One line of a 2015-style ``tweets.txt``."""
    return "\t".join([post_id, text, user, image_ids, name, TIMESTAMP, label])


def write_mediaeval_set(
    root: Path,
    set_name: str,
    lines: list[str | bytes],
    images: dict[str, tuple[str, bytes]],
    events: dict[str, str] | None = None,
) -> Path:
    """``<root>/<set_name>/tweets.txt`` (2015 header + ``lines``), ``images.txt`` (the
    ``events`` of image ids) and ``images/<event>/<image_id>.jpg`` for ``images``
    (image id -> (event folder, bytes))."""
    folder = root / set_name
    folder.mkdir(parents=True, exist_ok=True)
    body = [MEDIAEVAL_2015_HEADER.encode()]
    body += [line if isinstance(line, bytes) else line.encode("utf-8") for line in lines]
    (folder / "tweets.txt").write_bytes(b"\n".join(body) + b"\n")
    rows = [IMAGES_TXT_HEADER]
    for image_id, event in (events or {}).items():
        rows.append(f"{image_id}\thttp://example.invalid/{image_id}.jpg\tfake\t{event}")
    (folder / "images.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for image_id, (event, data) in images.items():
        path = folder / "images" / event / f"{image_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def weibo_metadata(post_id: str, user_id: str = "2144108254", fields: int = 15) -> str:
    values = [
        post_id,
        "用户名",
        f"http://weibo.com/{user_id}/zEz0bdKZi",
        "null",
        "2013-07-05 12:20",
        "true",
        "1384",
        "529",
        "15",
        user_id,
        "0",
        "11855",
        "1139",
        "11898",
        "微博 weibo.com",
    ]
    return "|".join((values + ["x"] * fields)[:fields])


def weibo_block(post_id: str, image_names: list[str], text: str) -> list[str]:
    """The three lines of one Weibo post."""
    urls = [f"http://ww4.sinaimg.cn/large/{name}" for name in image_names]
    return [weibo_metadata(post_id), "|".join([*urls, "null"]), text]


def write_weibo(root: Path, files: dict[str, list[str | bytes]], images: dict[str, bytes]) -> Path:
    """``<root>/tweets/<name>`` from lines, and ``<root>/<folder>/<file name>`` images
    (``images`` keys are ``rumor_images/x.jpg`` ...)."""
    (root / "tweets").mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        data = [line if isinstance(line, bytes) else line.encode("utf-8") for line in lines]
        (root / "tweets" / name).write_bytes(b"\n".join(data) + b"\n")
    for rel, data in images.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def read_rows(out: Path, corpus: str, manifest: dict, columns: list[str] | None = None) -> dict:
    """split -> the split's rows (a list of dicts) from the manifest's files."""
    rows = {}
    for split, info in manifest["splits"].items():
        tables = [pq.read_table(out / corpus / f, columns=columns) for f in info["files"]]
        rows[split] = pa.concat_tables(tables).to_pylist() if tables else []
    return rows


def read_rejected_rows(out: Path, corpus: str, manifest: dict) -> list[dict]:
    tables = [pq.read_table(out / corpus / f) for f in manifest["rejected_files"]]
    return pa.concat_tables(tables).to_pylist() if tables else []
