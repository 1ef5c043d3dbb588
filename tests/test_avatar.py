"""Avatars drawn over real faces of the fixtures, placed by dlib's 68 landmarks: they cover the face, follow
its tilt, close their eyes and open their mouth with it, and look the same for one seed whatever the face."""
import cv2
import numpy as np
import pytest

from recognition.live.avatar import MOUTH_INNER, draw_avatar, head_for, look_for
from tests.conftest import load_photo


@pytest.fixture(scope="module")
def faces(detector, pose_model):
    """(photo, its largest face's 68 landmarks) for a few fixture people."""
    found = []
    for photo in ("obama/obama1.jpg", "kit_harington/kit1.jpg", "rose_leslie/rose1.jpg"):
        image = load_photo(photo)
        box = max(detector.detect(image), key=lambda b: b.area)
        found.append((image, pose_model.landmarks(image, box), box))
    return found


def inside(head, point) -> bool:
    angle = np.radians(-head.tilt)
    dx, dy = point[0] - head.centre[0], point[1] - head.centre[1]
    x, y = dx * np.cos(angle) - dy * np.sin(angle), dx * np.sin(angle) + dy * np.cos(angle)
    return (x / head.axes[0]) ** 2 + (y / head.axes[1]) ** 2 <= 1.0


def test_the_avatar_covers_every_landmark_and_the_face_box(faces):
    for image, points, box in faces:
        canvas = image.copy()
        head = draw_avatar(canvas, points, "visitor-1")
        assert all(inside(head, p) for p in points)
        corners = [(box.x + box.w * 0.15, box.y + box.h * 0.1), (box.x + box.w * 0.85, box.y + box.h * 0.1),
                   (box.x + box.w / 2, box.y + box.h)]  # the detector's box: brows to chin
        assert all(inside(head, c) for c in corners)
        changed = np.any(canvas != image, axis=2)
        x, y, w, h = box.x, box.y, box.w, box.h
        assert changed[y + h // 5 : y + h * 4 // 5, x + w // 5 : x + w * 4 // 5].mean() > 0.97  # no skin left


def test_one_seed_one_look_whatever_the_face(faces):
    (first, points_a, _), (second, _, _) = faces[0], faces[1]
    assert look_for("visitor-7") == look_for("visitor-7") != look_for("visitor-8")
    # The same landmarks over two different faces: the avatar is the same picture, nothing of either shows.
    size = (200, 200)
    shape = (points_a - points_a.min(axis=0)) * (120 / np.ptp(points_a[:, 0])) + 40
    drawn = []
    for image in (first, second):
        canvas = cv2.resize(image, size)
        head = draw_avatar(canvas, shape, "visitor-7")
        x, y, w, h = head.cover()
        mask = np.zeros(size[::-1], np.uint8)
        cv2.ellipse(mask, (round(head.centre[0]), round(head.centre[1])),
                    (round(head.axes[0]) - 2, round(head.axes[1]) - 2), head.tilt, 0, 360, 255, -1)
        drawn.append(canvas[mask > 0])
    assert np.array_equal(drawn[0], drawn[1])


def test_the_avatar_tilts_closes_its_eyes_and_opens_its_mouth_with_the_face(faces):
    _, points, _ = faces[0]
    level = head_for(points, look_for("v"))
    centre = points.mean(axis=0)
    turn = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), -20, 1.0)
    tilted = np.hstack([points, np.ones((68, 1))]) @ turn.T
    assert head_for(tilted, look_for("v")).tilt == pytest.approx(level.tilt + 20, abs=1.0)

    def drawn(shape):
        canvas = np.zeros((900, 900, 3), np.uint8)
        draw_avatar(canvas, shape, "v")
        return canvas

    def white_near(canvas, eye):  # the eye's white shows while it is open
        x, y = np.round(eye.mean(axis=0)).astype(int)
        side = int(np.ptp(eye[:, 0]))
        return (canvas[y - side : y + side, x - side : x + side] > 240).all(axis=2).sum()

    assert white_near(drawn(points), points[36:42]) > 0
    shut = points.copy()
    for top, bottom in ((37, 41), (38, 40), (43, 47), (44, 46)):
        middle = (shut[top] + shut[bottom]) / 2
        shut[top] = shut[bottom] = middle
    assert white_near(drawn(shut), shut[36:42]) == 0
    opened = points.copy()
    inner = opened[MOUTH_INNER]
    gap = np.linalg.norm(points[54] - points[48]) * 0.4
    opened[64:68, 1] += gap  # the lower inner lip drops
    opened[55:60, 1] += gap
    mouth = np.round(opened[48:60].mean(axis=0)).astype(int)
    dark = lambda canvas: (canvas[mouth[1] - 4 : mouth[1] + 5, mouth[0] - 4 : mouth[0] + 5].sum(axis=2) < 200).mean()  # noqa: E731
    assert dark(drawn(opened)) > 0.9 and dark(drawn(points)) < 0.5
    assert inner.shape == (8, 2)
