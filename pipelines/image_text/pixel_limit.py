"""The decompression-bomb guard: an image's pixel count, read from its header, checked against
``--max-image-pixels`` before a single pixel is decoded.

A PNG of 20,000 x 20,000 one-bit pixels is a ~50 KB file that decodes to 400,000,000 pixels
(400 MB in PIL's mode "1", 1.2 GB as RGB): a few of them in a corpus would kill the decoding
workers. ``Image.open`` reads only the header (PIL decodes lazily), so the size is known before
anything is decoded, and :func:`check_pixel_count` rejects the image there
(:class:`~.errors.ImageTooLargeError`, stage ``decode``).

PIL has a guard of its own, with a process-wide setting and no per-call argument:
``Image.open`` warns (``DecompressionBombWarning``) above ``Image.MAX_IMAGE_PIXELS``
(89,478,485 by default) and raises ``DecompressionBombError`` above twice that. Left on, it
would answer before this guard (with a message that names no flag), reject images that a
raised ``--max-image-pixels`` allows, and print its warning into the job's log. So while one
of this decoder's calls runs, PIL's check is off (:func:`pil_check_deferred` sets
``Image.MAX_IMAGE_PIXELS = None``) and ``--max-image-pixels`` alone decides; the value found is
put back when the last overlapping call ends (a count under a lock, for threaded actors). The
change is visible only inside those calls, in the processes that decode (the ingest's workers,
where no other code opens images); PIL's setting is never changed for good.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from crossmodal_ray.pipelines.image_text.errors import ImageTooLargeError

# PIL's own default (``Image.MAX_IMAGE_PIXELS``: 1024**3 // 4 // 3, a 256 MiB RGBA image):
# ~9,459 x 9,459 pixels, far above COCO's 640 x 480, Visual Genome's and news photos' sizes.
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
FLAG = "--max-image-pixels"

_lock = threading.Lock()
_active_calls = 0
_saved_limit: int | None = None


def check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    """Reject an image of more than ``max_pixels`` pixels.

    Raises:
        ImageTooLargeError: ``width * height > max_pixels`` (the message says how to allow it).
    """
    pixels = width * height
    if pixels > max_pixels:
        raise ImageTooLargeError(
            f"image of {width} x {height} = {pixels:,} pixels exceeds {FLAG} {max_pixels:,} "
            f"(decompression-bomb guard; {pixels * 3 / 1e9:.1f} GB as RGB); raise the flag if "
            f"the corpus really holds such images"
        )


@contextmanager
def pil_check_deferred() -> Iterator[None]:
    """PIL's own decompression-bomb check off inside (see the module docstring); nests, and is
    safe across threads: PIL's previous setting is back once the last caller leaves."""
    global _active_calls, _saved_limit
    with _lock:
        if _active_calls == 0:
            _saved_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _active_calls += 1
    try:
        yield
    finally:
        with _lock:
            _active_calls -= 1
            if _active_calls == 0:
                Image.MAX_IMAGE_PIXELS = _saved_limit
