"""Build a generated corpus once and publish it whole (shared by every sample-corpus generator).

The corpus is written into a sibling temporary folder and renamed into place, so a reader sees
no corpus or a complete one. A folder holding the corpus marker (``_corpus.json``) with the
same config is reused as it is; a corpus of another config is replaced; a non-empty folder
without the marker is refused (it is not ours to delete).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any


def publish_corpus(
    out: Path,
    marker: str,
    is_cached: Callable[[Path], bool],
    write: Callable[[Path], None],
) -> Path:
    """``out`` after ``write(tmp)`` built the corpus into a temporary folder renamed to it,
    unless ``is_cached(out)`` already.

    Raises:
        FileExistsError: ``out`` is a non-empty folder without ``marker``.
    """
    if is_cached(out):
        return out
    if out.exists() and any(out.iterdir()) and not (out / marker).exists():
        raise FileExistsError(f"{out} is not empty and holds no {marker}; not replacing")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        if out.exists():
            shutil.rmtree(out)  # an older corpus of ours (checked above) or an empty folder
        os.rename(tmp, out)
    except OSError:
        # Another process may have published the same corpus while we were writing.
        shutil.rmtree(tmp, ignore_errors=True)
        if is_cached(out):
            return out
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def config_as_json(config: Any) -> dict:
    """A dataclass config as it reads back from JSON (tuples become lists), for comparison."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def marker_matches(out_dir: str | Path, marker: str, format_version: int, config: Any) -> bool:
    """True when ``out_dir/marker`` names ``format_version`` and exactly ``config``."""
    path = Path(out_dir) / marker
    if not path.is_file():
        return False
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return meta.get("format_version") == format_version and meta.get("config") == config_as_json(
        config
    )
