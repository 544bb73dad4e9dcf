"""Image decoding (PIL): modes to RGB, EXIF orientation with the boxes following the pixels,
resize + centre crop geometry, broken files; and the annotation JSON reader. No Ray."""

from __future__ import annotations

import json
from io import BytesIO

import image_text_fixtures as fx
import numpy as np
import pytest
from PIL import Image, ImageOps

from crossmodal_ray.pipelines.image_text.boxes import BoxFrame, Geometry, check_box, orient_box
from crossmodal_ray.pipelines.image_text.errors import (
    BadBoxError,
    BoxOutsideImageError,
    CorruptImageError,
    MalformedAnnotationError,
    NotAnImageError,
    ZeroPixelImageError,
)
from crossmodal_ray.pipelines.image_text.images import ImageConfig, decode_image, jpeg_to_uint8
from crossmodal_ray.pipelines.image_text.json_files import (
    has_bad_utf8,
    iter_json_array,
    read_json_file,
)

UINT8_32 = ImageConfig(size=32, storage="uint8")


def _pixels(data: bytes, config: ImageConfig = UINT8_32) -> np.ndarray:
    return decode_image(data, config).image.astype(int)


def test_modes_become_rgb():
    cmyk = _pixels(fx.cmyk_jpeg())
    assert np.abs(cmyk.mean(axis=(0, 1)) - fx.RED).max() < 12  # colours survive CMYK
    grey = _pixels(fx.grey_jpeg(level=90))
    assert grey.shape == (32, 32, 3) and np.abs(grey - 90).max() <= 2
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    rgba = _pixels(fx.rgba_png(40))  # transparent half composited on white
    assert (rgba[:, :10] >= 250).all()
    assert np.abs(rgba[:, -10:].mean(axis=(0, 1)) - fx.RED).max() < 3
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([0, 0, 0, *fx.RED] + [0] * 762)
    palette.paste(1, (20, 0, 40, 40))
    transparent = _pixels(fx.encode(palette, "PNG", transparency=0))
    assert (transparent[:, :12] >= 250).all()
    assert np.abs(transparent[:, -12:].mean(axis=(0, 1)) - fx.RED).max() < 3
    deep = np.full((40, 40), 40000, dtype=np.uint16)  # 16-bit greyscale scaled to 8 bits
    assert np.abs(_pixels(fx.encode(Image.fromarray(deep), "PNG")) - 40000 / 257).max() <= 1


def test_geometry_resizes_shorter_side_and_centre_crops():
    g = Geometry.plan(640, 480, 1, 224)
    assert (g.width, g.height, g.resized_width, g.resized_height) == (640, 480, 299, 224)
    assert (g.crop_left, g.crop_top) == (37, 0)
    rotated = Geometry.plan(640, 480, 6, 224)
    assert (rotated.width, rotated.height, rotated.crop_left, rotated.crop_top) == (480, 640, 0, 37)
    frame, warnings = BoxFrame.for_image(g, [640, 480], tolerance=2.0)
    assert warnings == []
    scale = 224 / 480
    x, y, w, h = frame.to_output([100.0, 48.0, 200.0, 96.0])
    assert (x, y, w, h) == pytest.approx(
        [100 * 299 / 640 - 37, 48 * scale, 200 * 299 / 640, 96 * scale]
    )
    assert frame.to_output([0.0, 0.0, 40.0, 40.0])[2] == 0.0  # cropped away: kept, empty
    assert frame.to_output([600.0, 0.0, 41.5, 10.0])[0] == pytest.approx(224.0)  # within tolerance


def test_box_checks():
    assert check_box([-1.5, 0.0, 10.0, 10.0], 20, 20, 2.0) == [0.0, 0.0, 8.5, 10.0]
    with pytest.raises(BoxOutsideImageError, match="reaches outside the 20x20 image"):
        check_box([15.0, 0.0, 10.0, 10.0], 20, 20, 2.0)
    with pytest.raises(BadBoxError, match="empty box"):
        check_box([1.0, 1.0, 0.0, 5.0], 20, 20, 2.0)
    with pytest.raises(BadBoxError, match="missing or not four"):
        check_box(None, 20, 20, 2.0)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_box_moves_with_exif_transpose(orientation):
    box = (30, 6, 12, 8)  # on the stored 48 x 32 pixels
    stored = Image.open(BytesIO(fx.with_orientation(fx.marked_image(48, 32, box), orientation)))
    upright = np.asarray(ImageOps.exif_transpose(stored)).astype(int)
    x, y, w, h = (int(v) for v in orient_box(list(map(float, box)), orientation, 48, 32))
    inside = upright[y + 1 : y + h - 1, x + 1 : x + w - 1]
    assert np.abs(inside - fx.RED).max() < 40, orientation
    mask = np.ones(upright.shape[:2], dtype=bool)
    mask[max(0, y - 1) : y + h + 1, max(0, x - 1) : x + w + 1] = False
    assert np.abs(upright[mask] - fx.BLUE).max() < 40, orientation


def test_exif_rotated_image_and_its_boxes():
    raw_box = [20.0, 10.0, 12.0, 8.0]  # on the stored 48 x 32 pixels; upright it is 32 x 48
    data = fx.with_orientation(fx.marked_image(48, 32, (20, 10, 12, 8)), 6)
    decoded = decode_image(data, UINT8_32)
    g = decoded.geometry
    assert (g.raw_width, g.raw_height, g.width, g.height, g.orientation) == (48, 32, 32, 48, 6)
    frame, _ = BoxFrame.for_image(g, [48, 32], tolerance=2.0)  # annotated on the stored pixels
    x, y, w, h = (int(round(v)) for v in frame.to_output(raw_box))
    assert (x, y, w, h) == (14, 12, 8, 12)
    pixels = decoded.image.astype(int)
    assert np.abs(pixels[y + 1 : y + h - 1, x + 1 : x + w - 1] - fx.RED).max() < 40
    assert np.abs(pixels[:, :10] - fx.BLUE).max() < 40
    upright_frame, _ = BoxFrame.for_image(g, [32, 48], tolerance=2.0)  # annotated upright
    assert upright_frame.to_output([14.0, 20.0, 8.0, 12.0]) == pytest.approx([14, 12, 8, 12])


def test_jpeg_and_uint8_storage_hold_the_same_picture():
    data = fx.encode(fx.marked_image(80, 60, (30, 20, 20, 20)), "JPEG", quality=95)
    pixels = decode_image(data, ImageConfig(size=48, storage="uint8")).image
    jpeg = decode_image(data, ImageConfig(size=48, storage="jpeg", jpeg_quality=90)).image
    assert isinstance(jpeg, bytes) and jpeg[:3] == b"\xff\xd8\xff"
    assert pixels.shape == (48, 48, 3) and pixels.dtype == np.uint8
    assert np.abs(jpeg_to_uint8(jpeg).astype(int) - pixels).mean() < 4


@pytest.mark.parametrize(
    "data, error, words",
    [
        (fx.truncated_jpeg(), CorruptImageError, "truncated or corrupt JPEG"),
        (b"this is a caption file, not a picture\n", NotAnImageError, "not an image file"),
        (b"", NotAnImageError, "empty file"),
        (fx.zero_pixel_png(), ZeroPixelImageError, "zero-pixel image"),
        (b"\x89PNG\r\n\x1a\nbroken", CorruptImageError, "corrupt PNG"),
    ],
)
def test_broken_files_raise_their_reason(data, error, words):
    with pytest.raises(error, match=words):
        decode_image(data, UINT8_32)


@pytest.mark.parametrize("chunk_bytes", [1, 7, 4096])
def test_streamed_array_equals_json_load(tmp_path, chunk_bytes):
    content = [
        {"image_id": i, "phrase": "caf\u00e9 \u2603", "x": [1.5, -2, None]} for i in range(30)
    ]
    path = tmp_path / "a.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(content, indent=1).encode())
    assert list(iter_json_array(path, "a.json", chunk_bytes)) == content


def test_malformed_and_non_utf8_json(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"a": 1},\n{"a": 2,\n')
    with pytest.raises(MalformedAnnotationError, match="broken.json: malformed JSON at line 3"):
        list(iter_json_array(broken, "broken.json", 4))
    with pytest.raises(MalformedAnnotationError, match="line 3 column 1"):
        read_json_file(broken, "broken.json")
    odd = tmp_path / "odd.json"
    odd.write_bytes(b'[{"caption": "caf\xff"}, {"caption": "fine"}]')
    first, second = read_json_file(odd, "odd.json")
    assert has_bad_utf8(first["caption"]) and not has_bad_utf8(second["caption"])
    assert list(iter_json_array(odd, "odd.json", 3)) == [first, second]
