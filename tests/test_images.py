import cv2
import numpy as np
import pytest

from recognition.images import ImageError, decode_image, to_bgr
from tests.conftest import fixture_path


def test_rgba_png_becomes_three_channel_bgr():
    image = decode_image(fixture_path("faces/alex_lacamoire/alex2.png").read_bytes())
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8


def test_grayscale_becomes_bgr():
    assert to_bgr(np.zeros((10, 12), dtype=np.uint8)).shape == (10, 12, 3)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20])
def test_non_images_are_refused(data):
    with pytest.raises(ImageError):
        decode_image(data)


def test_truncated_jpeg_is_refused():
    data = fixture_path("faces/obama/obama1.jpg").read_bytes()
    with pytest.raises(ImageError):
        decode_image(data[:200])


def test_enormous_pixel_count_is_refused_before_decoding():
    ok, png = cv2.imencode(".png", np.zeros((8000, 8000), dtype=np.uint8))
    assert ok
    with pytest.raises(ImageError, match="pixels"):
        decode_image(png.tobytes())
