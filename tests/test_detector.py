import numpy as np
import pytest

from tests.conftest import load_photo

SINGLE_FACE_PHOTOS = [
    "obama/obama1.jpg", "obama/obama2.jpg", "obama/obama3.jpg", "obama/obama4.jpg", "obama/obama_240p.jpg",
    "biden/biden1.jpg", "biden/biden2.jpg", "kit_harington/kit1.jpg", "kit_harington/kit2.jpg",
    "kit_harington/kit3.jpg", "rose_leslie/rose1.jpg", "rose_leslie/rose2.jpg", "alex_lacamoire/alex1.jpg",
    "alex_lacamoire/alex2.png", "lin_manuel_miranda/lin1.png", "odd/rgba_32bit.png",
]


@pytest.mark.parametrize("photo", SINGLE_FACE_PHOTOS)
def test_one_face_per_portrait_and_no_false_ones(detector, photo):
    image = load_photo(photo)
    boxes = detector.detect(image)
    assert len(boxes) == 1, f"{photo}: {[b.as_list() for b in boxes]}"
    box = boxes[0]
    assert 0 <= box.x and box.x + box.w <= image.shape[1] and 0 <= box.y and box.y + box.h <= image.shape[0]


@pytest.mark.parametrize("photo", ["group/obama_and_biden.jpg", "group/kit_with_rose.jpg", "group/two_people.jpg"])
def test_both_people_found_in_group_photos(detector, photo):
    boxes = detector.detect(load_photo(photo))
    assert len(boxes) == 2, [b.as_list() for b in boxes]
    assert boxes[0].area >= boxes[1].area  # largest first


def test_blank_image_has_no_face(detector):
    assert detector.detect(np.full((480, 640, 3), 127, dtype=np.uint8)) == []


def test_large_image_boxes_are_in_original_coordinates(detector):
    image = load_photo("obama/obama1.jpg")
    import cv2

    doubled = cv2.resize(image, (image.shape[1] * 2, image.shape[0] * 2))
    small, large = detector.detect(image)[0], detector.detect(doubled)[0]
    assert abs(large.x - 2 * small.x) <= 12 and abs(large.w - 2 * small.w) <= 16
