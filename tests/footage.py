"""Camera footage for the liveness tests, made at test time from the fixtures (never stored).

- the fixture clip's frames 90-165: the man in front, alone, turns his head to his right by about 50
  degrees and back to his left (measured by recognition/liveness/pose.py: across +0.09 -> -0.39 -> +0.16);
- posed photos: two photos of one person facing different ways, shown one after the other with the face
  at the same place and size, as a head turning in front of one camera would look;
- a photo held up to the camera: one picture, turned, tilted and moved as a print or a phone would be.
"""
from __future__ import annotations

import numpy as np

from camera.clips import face_centred, held_up, read_frames
from tests.conftest import fixture_path, load_photo

CLIP = "video/short_hamilton_clip.mp4"
# Kit Harington facing the camera's left, ahead, then its right: shown in turn, a turn to his left in
# steps a head could take in a tenth of a second (across -0.28, -0.07, +0.14).
KIT_TURNING = ["kit_harington/kit2.jpg", "kit_harington/kit1.jpg", "kit_harington/kit3.jpg"]
TURNING = (90, 166)


def turning_frames(step: int = 3) -> list[np.ndarray]:
    """The clip's head turn, every step-th frame (3: about ten frames a second, as the page sends)."""
    return read_frames(fixture_path(CLIP), *TURNING, step)


def centred(image: np.ndarray, detector) -> np.ndarray:
    """A camera frame with the photo's biggest face in the middle, 200 px wide."""
    box = detector.detect(image)[0]
    return face_centred(image, (box.x, box.y, box.w, box.h))


def posed_frames(photos: list[str], detector, each: int = 6) -> list[np.ndarray]:
    """Each photo (under faces/) shown for each frames, its face where the others' were."""
    return [frame for photo in photos for frame in [centred(load_photo(photo), detector)] * each]


def held_up_frames(image: np.ndarray, detector, count: int = 24) -> list[np.ndarray]:
    """A picture of a face held up to the camera and moved about for count frames."""
    return held_up(centred(image, detector), count)


def ping_pong(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The frames forward then back, so a camera playing them in a loop never jumps."""
    return frames + frames[-2:0:-1]
