"""The decompression-bomb guard (``--max-image-pixels``): an image over the limit is rejected
from its header with the flag named, PIL's own process-wide guard never answers first nor
warns, and PIL's setting is back as it was after every decode. No Ray."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import image_text_fixtures as fx
import pytest
from PIL import Image

from crossmodal_ray.pipelines.image_text.errors import ImageTooLargeError
from crossmodal_ray.pipelines.image_text.images import ImageConfig, decode_image
from crossmodal_ray.pipelines.image_text.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS
from crossmodal_ray.pipelines.image_text.source import ImageTextSourceConfig
from crossmodal_ray.pipelines.news.source import NewsSourceConfig

SQUARE_40 = fx.encode(fx.marked_image(40, 40, (4, 4, 8, 8)), "PNG")  # 1,600 pixels


def config(max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> ImageConfig:
    return ImageConfig(size=32, storage="uint8", max_pixels=max_pixels)


def test_bomb_is_rejected_from_its_header_with_the_flag_named():
    bomb = fx.bomb_png(20_000, 20_000)
    assert len(bomb) < 200_000  # a small file ...
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ... and no DecompressionBombWarning either
        with pytest.raises(ImageTooLargeError) as raised:
            decode_image(bomb, config())
    message = str(raised.value)
    assert (
        "image of 20000 x 20000 = 400,000,000 pixels exceeds --max-image-pixels 89,478,485"
        in message
    )
    assert "raise the flag if the corpus really holds such images" in message
    assert Image.MAX_IMAGE_PIXELS == DEFAULT_MAX_IMAGE_PIXELS  # PIL's default, untouched


@pytest.mark.parametrize("pil_limit", [500, 1_000, None])
def test_the_flag_alone_decides_whatever_pil_is_set_to(monkeypatch, pil_limit):
    # 1,600 pixels: above 2 x 500 PIL raises DecompressionBombError, above 1,000 it warns.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pil_limit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode_image(SQUARE_40, config(1_600)).image.shape == (32, 32, 3)
        with pytest.raises(ImageTooLargeError, match="40 x 40 = 1,600 pixels exceeds"):
            decode_image(SQUARE_40, config(1_599))
    assert Image.MAX_IMAGE_PIXELS == pil_limit


def test_pil_setting_is_restored_after_overlapping_decodes_in_threads(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 12_345)
    data = [SQUARE_40, fx.bomb_png(5_000, 5_000)] * 20

    def decode(blob: bytes) -> str:
        try:
            decode_image(blob, config(1_000_000))
        except ImageTooLargeError:
            return "too large"
        return "decoded"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(decode, data))
    assert results == ["decoded", "too large"] * 20
    assert Image.MAX_IMAGE_PIXELS == 12_345


def test_the_limit_is_a_flag_of_both_image_jobs():
    assert ImageTextSourceConfig().image_config().max_pixels == DEFAULT_MAX_IMAGE_PIXELS
    assert NewsSourceConfig(max_image_pixels=10**9).image_config().max_pixels == 10**9
    with pytest.raises(ValueError, match="max image pixels must be >= 1"):
        ImageTextSourceConfig(max_image_pixels=0)
