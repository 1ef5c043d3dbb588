"""Camera footage for the liveness tests, made at test time from the fixtures (never stored).

- the fixture clip's frames 90-165 (90-161 as a burst of one move's length): the man in front, alone,
  turns his head to his right by about 50 degrees and back to his left (measured by
  recognition/liveness/pose.py: across +0.09 -> -0.39 -> +0.16); he never turns to his left;
- the same turn both ways: frames 90-155 of the clip (facing the camera, +0.09, turned to his right,
  -0.40, facing again, +0.10), steadied so the head stays at the middle of the picture (as a camera
  that follows a face would frame it; the pose is measured within the face, so moving the picture
  changes none of it), and the same frames mirrored left to right: a real head turning to its left, no
  still picture anywhere. Steadied, the two follow each other in either order as one head turning one
  way then the other;
- a man who follows the page's prompts (Person, prompted): facing the camera, he makes each move when
  it is asked (the clip's turn, or the same mirrored) and faces the camera again, then holds still;
- posed photos: two photos of one person facing different ways, shown one after the other with the face
  at the same place and size, as a head turning in front of one camera would look;
- a photo held up to the camera: one picture, turned, tilted and moved as a print or a phone would be.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import cv2
import numpy as np

from tests.support.clips import face_centred, held_up, read_frames
from tests.conftest import fixture_path, load_photo

CLIP = "video/short_hamilton_clip.mp4"
# Kit Harington facing the camera's left, ahead, then its right: shown in turn, a head coming back to
# facing from his right and on to the near edge of facing on his left (across -0.27, -0.06, +0.14).
KIT_TURNING = ["kit_harington/kit2.jpg", "kit_harington/kit1.jpg", "kit_harington/kit3.jpg"]
# Kit facing the camera, then a little to his left, then (kit2 mirrored) well to his left: a turn to
# his left from facing in steps a head could take (-0.06, +0.14, +0.27). Mirrored, a turn to his right.
KIT_LEFT = ["kit_harington/kit1.jpg", "kit_harington/kit3.jpg", "~kit_harington/kit2.jpg"]
TURNING = (90, 166)  # the review's recording: 26 frames at the page's pace
BURST = (90, 162)  # the same, as long as the page records for one move (24 frames)
BOTH_WAYS = (90, 156)  # facing, turned right, facing again: the part that mirrors into a turn left
PERSON = (90, 178)  # steadied together: a man who turns when asked (Person)
REACTION = 0.4  # seconds from a prompt to the head starting to move: a person reading a short instruction
# The browser test of the round before played that turn, and the same mirrored, in a loop on Chromium's
# fake camera at one and a half times the clip's speed (two frames of every three, at the clip's 30 a
# second: the fake camera plays no faster); bench/liveness_bench.py still measures that camera.
SPEED = 1.5


@dataclass(frozen=True)
class Person:
    """The clip's man, steadied on his head (frames at the clip's 30 a second): right, a turn to his right
    from facing the camera and back (frames 96-161: across -0.02, -0.40, back past facing to +0.16, then
    +0.12), and hold, his head held facing the camera after it (frames 171-177: -0.02 to +0.03). Left
    out: frames 162-170, where the detector also finds a face on his shirt, or none."""

    right: list[np.ndarray]
    hold: list[np.ndarray]

    @cached_property
    def left(self) -> list[np.ndarray]:
        return mirrored(self.right)  # made once: the same frames each time (a cache may key on them)


def person(detector) -> Person:
    frames = steadied(read_frames(fixture_path(CLIP), *PERSON), detector)
    return Person(right=frames[96 - PERSON[0] : 162 - PERSON[0]], hold=frames[171 - PERSON[0] :])


def kit_person(detector, each: int = 12) -> Person:
    """Kit Harington as a Person, in posed photos (each shown each frames at 30 a second): facing the
    camera, turning to his right in steps a head could take and back (KIT_LEFT, mirrored)."""
    return Person(right=mirrored(posed_frames(KIT_LEFT + KIT_LEFT[-2::-1], detector, each)),
                  hold=posed_frames(KIT_LEFT[:1], detector, 1))


def prompted(man: Person, moves: Sequence[str], *, reaction: float = REACTION, speed: float = 1.0, held: int = 0,
             seconds_per_move: float = 2.4, fps: int = 10) -> list[np.ndarray]:
    """What the page records of a man following its prompts: each move's prompt shows for seconds_per_move
    while it takes fps frames a second; he holds his head facing the camera (from hold's frame held on),
    starts each move reaction seconds after its prompt appears (or once the one before is over), makes it
    at speed times the clip's pace, and faces the camera again."""
    clips = {"right": man.right, "left": man.left}
    hold = ping_pong(man.hold)
    begun, free = [], 0.0
    for number, move in enumerate(moves):
        begin = max(number * seconds_per_move + reaction, free)
        begun.append((begin, clips[move]))
        free = begin + len(clips[move]) / (30 * speed)
    frames = []
    for k in range(round(seconds_per_move * fps) * len(moves)):
        seconds = k / fps
        for begin, clip in begun:
            index = int((seconds - begin) * 30 * speed)
            if 0 <= index < len(clip):
                frames.append(clip[index])
                break
        else:
            frames.append(hold[(held + int(seconds * 30)) % len(hold)])
    return frames


def turning_frames(step: int = 3) -> list[np.ndarray]:
    """The clip's head turn, every step-th frame (3: about ten frames a second, as the page sends: 24
    frames, what the page records for one move and the most a burst of one move may have)."""
    return read_frames(fixture_path(CLIP), *BURST, step)


def right_turn(detector, step: int = 1) -> list[np.ndarray]:
    """The man's turn to his right, from facing the camera back to facing it, steadied on his head."""
    return steadied(read_frames(fixture_path(CLIP), *BOTH_WAYS), detector)[::step]


def steadied(frames: list[np.ndarray], detector) -> list[np.ndarray]:
    """The frames moved so the face (followed from frame to frame) stays at the middle of the picture;
    its path smoothed over nine frames, so the detector's jitter is not added."""
    centres, box = [], None
    for frame in frames:
        found = detector.detect(frame) or ([d.box for d in detector.detect_near(frame, [box])][:1] if box else [])
        box = found[0] if found else box
        centres.append((box.x + box.w / 2, box.y + box.h / 2))
    path = np.array(centres)
    height, width = frames[0].shape[:2]
    moved = []
    for index, frame in enumerate(frames):
        x, y = np.median(path[max(0, index - 4) : index + 5], axis=0)
        matrix = np.float32([[1, 0, width / 2 - x], [0, 1, height / 2 - y]])
        moved.append(cv2.warpAffine(frame, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE))
    return moved


def sped_up(frames: list[np.ndarray], speed: float = SPEED) -> list[np.ndarray]:
    """The frames as a camera would show them played speed times faster, at the same frame rate."""
    return [frames[int(i * speed)] for i in range(int(len(frames) / speed))]


def mirrored(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The frames mirrored left to right: a head turning to its right now turns to its left."""
    return [cv2.flip(frame, 1) for frame in frames]


def moves_footage(moves: Sequence[str], detector, step: int = 3) -> list[np.ndarray]:
    """The man making the moves (each "left" or "right") one after the other, as a burst (step 3: ten
    frames a second, as the page sends)."""
    right = right_turn(detector, step)
    return [frame for move in moves for frame in (right if move == "right" else mirrored(right))]


def centred(image: np.ndarray, detector) -> np.ndarray:
    """A camera frame with the photo's biggest face in the middle, 200 px wide."""
    box = detector.detect(image)[0]
    return face_centred(image, (box.x, box.y, box.w, box.h))


def posed_frames(photos: list[str], detector, each: int = 6) -> list[np.ndarray]:
    """Each photo (under faces/; "~" before its name: mirrored) shown for each frames, its face where
    the others' were."""
    shown = []
    for photo in photos:
        image = load_photo(photo.lstrip("~"))
        frame = centred(cv2.flip(image, 1) if photo.startswith("~") else image, detector)
        shown += [frame] * each
    return shown


def held_up_frames(image: np.ndarray, detector, count: int = 24) -> list[np.ndarray]:
    """A picture of a face held up to the camera and moved about for count frames."""
    return held_up(centred(image, detector), count)


def ping_pong(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The frames forward then back, so a camera playing them in a loop never jumps."""
    return frames + frames[-2:0:-1]
