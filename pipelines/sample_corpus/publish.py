"""Build a generated corpus once and publish it whole (shared by every sample-corpus generator).

The corpus is written into a sibling temporary folder and renamed into place, so a reader sees
no corpus or a complete one. A folder holding the corpus marker (``_corpus.json``) with the
same config is reused as it is; a corpus of another config is replaced; a non-empty folder
without the marker is refused (it is not ours to delete).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


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
