"""recognition.image_header: the size of an image read from its header, on real encoded images (the
fixtures, encoded by OpenCV and Pillow here) and on crafted headers (huge, truncated, lying)."""
import io
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from recognition.image_header import HeaderError, read_header
from tests.bomb_files import encoded, jpeg_declaring, other_codec_bombs, png_bomb, progressive_jpeg_bomb
from tests.conftest import fixture_path


@pytest.fixture(scope="module")
def face():
    return cv2.imread(str(fixture_path("faces/obama/obama1.jpg")))  # 640x800


@pytest.fixture(scope="module")
def heic(face):
    """A HEIC of the face at a quarter of its sides (x265 is slow): 160x200."""
    return pillow_encoded(cv2.resize(face, (160, 200)), "HEIF", quality=80)


def size(header) -> tuple:
    return header.format, header.width, header.height


def pillow_encoded(image: np.ndarray, fmt: str, **options) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(buffer, fmt, **options)
    return buffer.getvalue()


def test_every_fixture_photo_declares_the_size_opencv_decodes():
    for path in sorted(fixture_path("faces").rglob("*")):
        if path.suffix.lower() not in (".jpg", ".png"):
            continue
        header = read_header(path.read_bytes())
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert (header.height, header.width) == decoded.shape[:2], path
        assert header.format == ("PNG" if path.suffix == ".png" else "JPEG")


@pytest.mark.parametrize("suffix, params, fmt, channels", [
    (".jpg", (), "JPEG", 3), (".png", (), "PNG", 3), (".webp", (cv2.IMWRITE_WEBP_QUALITY, 80), "WEBP", 3),
    (".webp", (cv2.IMWRITE_WEBP_QUALITY, 101), "WEBP", 3), (".bmp", (), "BMP", 3)])
def test_opencv_encodings_of_a_face(face, suffix, params, fmt, channels):
    header = read_header(encoded(suffix, face, params))
    assert (header.format, header.width, header.height, header.channels) == (fmt, 640, 800, channels)
    assert header.held_blocks == 0  # baseline, interleaved: libjpeg holds no whole-image buffer


def test_pillow_encodings_heic_webp_with_alpha_and_animation(face, heic):
    assert size(read_header(heic)) == ("HEIF", 160, 200)
    rgba = cv2.cvtColor(cv2.resize(face, (160, 200)), cv2.COLOR_BGR2BGRA)
    rgba[0, 0, 3] = 10
    buffer = io.BytesIO()
    frames = [Image.fromarray(rgba), Image.fromarray(rgba).rotate(5)]
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    header = read_header(buffer.getvalue())
    assert (header.format, header.width, header.height, header.channels) == ("WEBP", 160, 200, 4)
    grey16 = read_header(encoded(".png", (cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)))
    assert (grey16.channels, grey16.bits) == (1, 16)


def test_a_file_is_read_in_place_and_left_where_it_was(heic):
    stream = io.BytesIO(b"prefix" + heic)
    stream.seek(6)
    assert size(read_header(stream)) == ("HEIF", 160, 200) and stream.tell() == 6


def test_a_progressive_jpeg_declares_the_coefficients_libjpeg_holds(face):
    header = read_header(encoded(".jpg", face, (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)))
    assert header.held_blocks == 80 * 100 + 2 * 40 * 50  # 4:2:0: luma blocks, and a quarter as many per chroma
    assert read_header(progressive_jpeg_bomb(8000)).held_bytes == 8000 * 8000 // 64 * 128  # grey: 122 MB


def test_huge_declared_sizes_are_read_as_declared(face):
    assert size(read_header(png_bomb(12000, 1200)[:40])) == ("PNG", 12000, 1200)  # the header alone will do
    rgba16 = read_header(png_bomb(5000, 50, bit_depth=16, colour_type=6))
    assert (rgba16.channels, rgba16.bits) == (4, 16)
    assert size(read_header(jpeg_declaring(60000, 50000, encoded(".jpg", face)))) == ("JPEG", 60000, 50000)


@pytest.mark.parametrize("name", ["tiff", "jp2", "hdr"])
def test_other_codecs_are_refused_by_name(name):
    names = {"tiff": "a TIFF image", "jp2": "a JPEG 2000 image", "hdr": "a Radiance HDR image"}
    with pytest.raises(HeaderError, match=f"the data is {names[name]}: send JPEG, PNG, WebP, BMP or HEIC"):
        read_header(other_codec_bombs(64)[name])


def test_a_caller_takes_fewer_formats(heic):
    with pytest.raises(HeaderError, match="the data is a HEIC image: send JPEG, PNG, WebP or BMP"):
        read_header(heic, ("JPEG", "PNG", "WEBP", "BMP"))


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".bmp", ".heic"])
def test_truncated_headers_are_refused(face, heic, suffix):
    data = heic if suffix == ".heic" else encoded(suffix, face)
    for cut in (1, 3, 12, 20):
        with pytest.raises(HeaderError):
            read_header(data[:cut])


def test_lying_and_impossible_headers_are_refused(face):
    jpeg = encoded(".jpg", face)
    heif_start = b"\x00\x00\x00\x14ftypheic\x00\x00\x00\x00mif1"
    cases = {
        "no frame header": jpeg[:2] + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00",
        "height zero (DNL)": jpeg_declaring(640, 0, jpeg),
        "12-bit": jpeg.replace(b"\xff\xc0\x00\x11\x08", b"\xff\xc0\x00\x11\x0c", 1),
        "arithmetic": jpeg.replace(b"\xff\xc0", b"\xff\xc9", 1),
        "PNG without IHDR first": png_bomb(10, 10).replace(b"IHDR", b"IHDX"),
        "PNG bad depth": png_bomb(10, 10)[:24] + b"\x03" + png_bomb(10, 10)[25:],
        "PNG wider than any": b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sIIBBBBB", 13, b"IHDR", 2**31 - 1, 1, 8, 0, 0, 0,
                                                                0),
        "BMP odd header": b"BM" + bytes(12) + struct.pack("<I", 99) + bytes(40),
        "WebP without image": b"RIFF" + struct.pack("<I", 12) + b"WEBP" + b"JUNK" + bytes(4),
        "HEIF without ispe": heif_start + struct.pack(">I4s", 12, b"meta") + bytes(4),
        "HEIF box overrun": heif_start + struct.pack(">I4s", 4000, b"meta"),
        "empty": b"",
        "text": b"hello, not an image",
    }
    for what, data in cases.items():
        with pytest.raises(HeaderError):
            read_header(data)
            pytest.fail(what)


def test_a_webp_frame_larger_than_its_canvas_counts(face):
    """The largest size anywhere in the file decides, not the first one declared."""
    data = bytearray(encoded(".webp", face, (cv2.IMWRITE_WEBP_QUALITY, 101)))
    canvas = b"VP8X" + struct.pack("<I", 10) + bytes([0x10]) + bytes(3) + (99).to_bytes(3, "little") * 2
    patched = data[:12] + canvas + data[12:]
    patched[4:8] = struct.pack("<I", len(patched) - 8)
    header = read_header(bytes(patched))
    assert (header.width, header.height, header.channels) == (640, 800, 4)
