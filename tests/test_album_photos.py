"""Reading album photos: every format a phone or camera writes, upright, and bad files refused with a
reason; walking an album without ever leaving it."""
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from recognition.album.photos import PhotoSkipped, read_photo
from recognition.album.walker import WalkReport, resolve, walk
from tests.conftest import FIXTURES, fixture_path


def fixture_photos():
    return sorted(p for p in (FIXTURES / "faces").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def upright_rgb(relative: str) -> Image.Image:
    return Image.open(fixture_path(relative)).convert("RGB")


def difference(first: np.ndarray, second: np.ndarray) -> float:
    """Mean absolute difference of two BGR pictures of one size, after the same downscale."""
    size = (64, 64)
    return float(np.abs(cv2.resize(first, size).astype(int) - cv2.resize(second, size).astype(int)).mean())


def test_every_fixture_photo_is_read_at_its_own_size():
    photos = fixture_photos()
    assert len(photos) >= 15
    for path in photos:
        photo = read_photo(path, max_side=4000)
        original = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert (photo.width, photo.height) == (original.shape[1], original.shape[0]), path
        assert photo.image.shape == original.shape and photo.scale == 1.0
        assert difference(photo.image, original) < 2.0, path


def test_a_large_photo_is_scaled_down_for_detection_and_keeps_its_size():
    photo = read_photo(fixture_path("faces/obama/obama1.jpg"), max_side=200)
    assert max(photo.image.shape[:2]) == 200
    assert photo.scale == pytest.approx(photo.image.shape[1] / photo.width)
    assert max(photo.width, photo.height) > 200


@pytest.mark.parametrize("orientation, stored_as", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270),
                                                     (3, Image.Transpose.ROTATE_180)])
def test_the_exif_orientation_turns_a_phone_photo_upright(tmp_path, orientation, stored_as):
    upright = upright_rgb("faces/obama/obama1.jpg")
    sideways = upright.transpose(stored_as)  # the pixels as the phone's sensor stored them
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "phone.jpg"
    sideways.save(path, quality=95, exif=exif)
    photo = read_photo(path, max_side=4000)
    assert (photo.width, photo.height) == upright.size
    expected = cv2.cvtColor(np.asarray(upright), cv2.COLOR_RGB2BGR)
    assert difference(photo.image, expected) < 4.0


@pytest.mark.parametrize("suffix, options", [(".heic", {"quality": 90}), (".webp", {"quality": 90}), (".bmp", {}),
                                             (".png", {})])
def test_heic_webp_bmp_and_png_are_read(tmp_path, suffix, options):
    import pillow_heif

    pillow_heif.register_heif_opener()
    upright = upright_rgb("faces/biden/biden1.jpg")
    path = tmp_path / f"photo{suffix}"
    upright.save(path, **options)
    photo = read_photo(path, max_side=4000)
    assert (photo.width, photo.height) == upright.size
    assert difference(photo.image, cv2.cvtColor(np.asarray(upright), cv2.COLOR_RGB2BGR)) < 4.0


def test_bad_files_are_refused_with_a_reason(tmp_path):
    good = fixture_path("faces/obama/obama1.jpg").read_bytes()
    cases = {"empty.jpg": b"", "truncated.jpg": good[: len(good) // 3], "text.jpg": b"not a photo at all\n" * 40,
             "garbage.png": os.urandom(5000)}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(PhotoSkipped) as raised:
            read_photo(tmp_path / name)
        assert raised.value.reason == "unreadable", name
    with pytest.raises(PhotoSkipped) as raised:
        read_photo(tmp_path / "gone.jpg")
    assert raised.value.reason == "vanished"


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (30000, 30000)).save(path)  # a few hundred kilobytes on disk, 900 million pixels
    assert path.stat().st_size < 2_000_000
    with pytest.raises(PhotoSkipped) as raised:
        read_photo(path)
    assert raised.value.reason == "too-large"


def test_the_walk_finds_photos_in_subfolders_and_never_leaves_the_album(tmp_path):
    album, outside = tmp_path / "album", tmp_path / "private"
    (album / "2024" / "summer").mkdir(parents=True)
    outside.mkdir()
    photo = fixture_path("faces/obama/obama1.jpg").read_bytes()
    (album / "a.jpg").write_bytes(photo)
    (album / "2024" / "summer" / "b.JPG").write_bytes(photo)
    (album / "notes.txt").write_text("not a photo")
    (outside / "secret.jpg").write_bytes(photo)
    os.symlink(outside, album / "link-out")  # a link out of the album
    os.symlink(outside / "secret.jpg", album / "secret-link.jpg")
    os.symlink(album / "2024", album / "2024" / "summer" / "loop")  # a loop inside it
    report = WalkReport()
    found = dict(walk(album, report))
    assert sorted(found) == ["2024/summer/b.JPG", "a.jpg"]
    assert found["a.jpg"].size == len(photo)
    assert report.skipped == {"outside": 2, "loop": 1}


def test_a_path_from_a_client_resolves_only_inside_the_album(tmp_path):
    album, outside = tmp_path / "album", tmp_path / "private"
    (album / "sub").mkdir(parents=True)
    outside.mkdir()
    (album / "sub" / "a.jpg").write_bytes(b"x")
    (outside / "secret.jpg").write_bytes(b"x")
    os.symlink(outside / "secret.jpg", album / "link.jpg")
    assert resolve(album, "sub/a.jpg") == (album / "sub" / "a.jpg").resolve()
    for bad in ["../private/secret.jpg", "sub/../../private/secret.jpg", str(outside / "secret.jpg"), "/etc/passwd",
                "link.jpg", "sub", "", "missing.jpg", "sub/a.jpg\x00.png"]:
        assert resolve(album, bad) is None, bad


def test_the_size_is_read_from_the_header_before_pillow_decodes(tmp_path):
    """A JPEG larger than max_pixels is decoded at a fraction of its size, and keeps its full size for
    the boxes; a PNG or WebP larger is refused as too-large; a file that is no photo we read, as unreadable."""
    face = cv2.imread(str(fixture_path("faces/obama/obama1.jpg")))
    large = cv2.resize(face, (3200, 4000))
    cv2.imwrite(str(tmp_path / "large.jpg"), large)
    photo = read_photo(tmp_path / "large.jpg", max_side=100_000, max_pixels=1_000_000)
    assert photo.image.shape == (1000, 800, 3) and (photo.width, photo.height) == (3200, 4000) and photo.scale == 0.25
    for suffix, limit in ((".png", 12.0), (".webp", 6.0)):  # WebP's decoder takes twice the memory
        cv2.imwrite(str(tmp_path / f"large{suffix}"), large)
        with pytest.raises(PhotoSkipped, match=f"3200x4000 pixels: more than {limit} megapixels") as raised:
            read_photo(tmp_path / f"large{suffix}", max_pixels=12_000_000)
        assert raised.value.reason == "too-large"
    (tmp_path / "other.jpg").write_bytes(cv2.imencode(".tiff", face[:40, :40])[1].tobytes())
    with pytest.raises(PhotoSkipped, match="TIFF") as raised:
        read_photo(tmp_path / "other.jpg")
    assert raised.value.reason == "unreadable"
