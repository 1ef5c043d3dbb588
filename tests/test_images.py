import cv2
import numpy as np
import pytest

from recognition.images import ImageError, ImageTooLarge, decode_image, to_bgr
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


def test_a_large_jpeg_is_decoded_at_a_fraction_and_positions_map_back():
    from recognition.faces import Box
    from recognition.images import decode

    photo = cv2.resize(cv2.imread(str(fixture_path("faces/obama/obama1.jpg"))), (3200, 4000))  # 12.8 MP
    data = cv2.imencode(".jpg", photo)[1].tobytes()
    decoded = decode(data)
    assert decoded.image.shape == (2000, 1600, 3) and decoded.scale == 0.5  # libjpeg's half size
    assert decoded.original(Box(100, 50, 20, 30)) == Box(200, 100, 40, 60)
    assert decode(data, max_pixels=200_000).image.shape == (500, 400, 3)  # an eighth
    with pytest.raises(ImageTooLarge, match="even an eighth"):
        decode(data, max_pixels=100_000)
    with pytest.raises(ImageTooLarge, match="3200x4000"):
        decode(data, shrink=False)


def test_what_is_too_large_and_what_is_not_an_image_are_told_apart():
    png = cv2.imencode(".png", np.zeros((2500, 2500), np.uint8))[1].tobytes()
    assert decode_image(png).shape == (2500, 2500, 3)
    with pytest.raises(ImageTooLarge, match="2500x2500"):
        decode_image(png, max_pixels=1_000_000)
    tiff = cv2.imencode(".tiff", np.zeros((30, 30), np.uint8))[1].tobytes()
    with pytest.raises(ImageError, match="TIFF") as raised:
        decode_image(tiff)
    assert not isinstance(raised.value, ImageTooLarge)


def test_a_header_that_lies_about_its_data_is_refused_as_corrupt():
    """A PNG whose IHDR declares 400x400 over the data of a 40x40 one: decoded no further than the
    header allows (which the limit was checked on), and refused when the data runs out."""
    import struct
    import zlib

    data = bytearray(cv2.imencode(".png", np.zeros((40, 40), np.uint8))[1].tobytes())
    data[16:24] = struct.pack(">II", 400, 400)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    with pytest.raises(ImageError, match="truncated or corrupt") as raised:
        decode_image(bytes(data))
    assert not isinstance(raised.value, ImageTooLarge)
