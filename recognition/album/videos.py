"""Faces in an album's videos: a few frames a second searched for faces, the faces followed across them
with the live tracker, and one appearance per face followed: when it came into view, when it left, and
its best views (large, sharp, frontal), whose chips are embedded and whose best box stands for it.

Only decoded frames in memory are used; nothing of a video is written anywhere. A video that cannot be
opened, shows no frame, has frames larger than MAX_FRAME_PIXELS or runs longer than MAX_SECONDS is
skipped with its reason, as a photo is. Its cost is bounded per minute of footage: SAMPLES_PER_SECOND
frames a second are looked at (the others are only decoded, as the codec needs them), the whole frame
searched in one of FULL_SEARCH_EVERY of them and only around the faces followed in the others (as the
live worker does: a look there costs milliseconds, a search of a frame hundreds), and an appearance
embeds at most VIEWS_PER_APPEARANCE chips.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from recognition.album.photos import PhotoSkipped
from recognition.faces import Box, Detection
from recognition.live.tracker import Tracker
from recognition.models.aligner import Aligner
from recognition.models.detectors import FaceDetector
from recognition.models.quality import face_quality

EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".webm", ".avi", ".mkv"})
SAMPLES_PER_SECOND = 2.0  # frames searched for faces per second of footage
MAX_FRAME_PIXELS = 3840 * 2160  # 4K UHD: an 8K frame is refused before one is decoded (200 MB a frame)
MAX_SECONDS = 3 * 3600.0  # footage a video may run: longer is skipped (its declared length first, then as read)
VIEWS_PER_APPEARANCE = 3  # chips of an appearance embedded (its best views), averaged into its vector
MIN_SIGHTINGS = 2  # samples an appearance needs (a detector's one-frame mistake makes none)
# Memory: an appearance holds its views' chips (67 KB each at 150 px) until the video is embedded, so a
# video keeps at most MAX_APPEARANCES (those seen longest), and follows the FACES_PER_SAMPLE largest
# faces of a frame: a crowd of strangers on a long video costs at most ~120 MB, never the machine.
MAX_APPEARANCES = 600
FACES_PER_SAMPLE = 20
# Wall time a video may take, per second of footage read so far (not as its header says: a header may lie,
# and a browser's recording declares no length), before it is given up as too slow; plus a minute.
SECONDS_PER_SECOND = 2.0
TRACKING_OVERLAP = 0.1  # samples are half a second apart: a face moves further between them than live
FULL_SEARCH_EVERY = 3  # samples: a face coming into view is found within 1.5 s


def is_video(path: Path) -> bool:
    return path.suffix.lower() in EXTENSIONS


@dataclass
class _Following:
    """An appearance being followed: its span, and its best views so far (quality, time, box, chip)."""

    start: float
    end: float
    sightings: int = 0
    views: list = field(default_factory=list)  # (quality, at, box as fractions of the frame, chip), best first


@dataclass(frozen=True)
class VideoFaces:
    width: int  # of the frames as decoded (turned upright when the file says so)
    height: int
    boxes: np.ndarray  # (appearances, 4) x, y, w, h of each best view, as fractions of the frame
    times: np.ndarray  # (appearances, 3) seconds: came into view, left, seen best
    chips: list  # every appearance's chips, in order
    views: list[int]  # how many of chips each appearance has


def read_video_faces(path: Path, detector: FaceDetector, aligner: Aligner, chip_side: int, *,
                     max_side: int = 1280, samples_per_second: float = SAMPLES_PER_SECOND,
                     stop: Optional[threading.Event] = None) -> VideoFaces:
    """The appearances of faces in the video at path. Raises PhotoSkipped (with its reason) for a video
    that cannot be read, is too large or too long, or decodes too slowly; and ("stopped") when stop is set."""
    capture = _open(path)
    try:
        fps, width, height = _checked(capture, path)
        step = max(1, round(fps / samples_per_second)) if fps else 1
        started = time.monotonic()
        tracker = Tracker(min_overlap=TRACKING_OVERLAP, max_misses=2)
        following: dict[int, _Following] = {}
        done: list[_Following] = []
        frames = samples = 0
        at = 0.0
        size: Optional[tuple[int, int]] = None
        while capture.grab():
            at = frames / fps if fps else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            frames += 1
            if at > MAX_SECONDS:
                raise PhotoSkipped("too-long", f"runs longer than {MAX_SECONDS / 3600:.0f} hours")
            if time.monotonic() - started > 60.0 + SECONDS_PER_SECOND * at:
                raise PhotoSkipped("too-slow", f"decoding stopped at {at:.0f}s of footage: slower than "
                                               f"{SECONDS_PER_SECOND:.0f}s a second")
            if (frames - 1) % step:
                continue
            if stop is not None and stop.is_set():
                raise PhotoSkipped("stopped", "indexing was stopped")
            ok, frame = capture.retrieve()
            if not ok or frame is None:
                continue
            if size is None:
                size = (frame.shape[1], frame.shape[0])
                if size[0] * size[1] > MAX_FRAME_PIXELS:  # the header said less than the frame is
                    raise PhotoSkipped("too-large", f"a frame of {size[0]}x{size[1]} pixels")
            elif (frame.shape[1], frame.shape[0]) != size:  # boxes and marks are fractions of one frame size
                raise PhotoSkipped("unreadable", f"its frames change size at {at:.0f}s")
            width, height = size
            scale = min(1.0, max_side / max(width, height))
            image = frame if scale == 1.0 else cv2.resize(frame, (round(width * scale), round(height * scale)),
                                                          interpolation=cv2.INTER_AREA)
            samples += 1
            if (samples - 1) % FULL_SEARCH_EVERY == 0:
                detections = [Detection(box) for box in detector.detect(image)[:FACES_PER_SAMPLE]]
            elif tracker.tracks:
                detections = detector.detect_near(image, [track.box for track in tracker.tracks])
            else:
                continue  # nobody followed: nothing to look for until the next search
            _follow(tracker, following, done, image, at, detections, aligner, chip_side)
        if samples == 0 or size is None:
            raise PhotoSkipped("unreadable", "no frame could be decoded")
    finally:
        capture.release()
    kept = _worth_keeping(done + list(following.values()), min(MIN_SIGHTINGS, samples))
    kept.sort(key=lambda a: (a.start, a.end))
    boxes: list = []
    times: list = []
    chips: list = []
    views: list[int] = []
    for appearance in kept:
        _, best_at, box, _ = appearance.views[0]
        boxes.append(box)
        times.append([appearance.start, appearance.end, best_at])
        chips.extend(view[3] for view in appearance.views)
        views.append(len(appearance.views))
    return VideoFaces(size[0], size[1], np.array(boxes, np.float32).reshape(-1, 4),
                      np.array(times, np.float32).reshape(-1, 3), chips, views)


def _worth_keeping(appearances: list[_Following], sightings: int) -> list[_Following]:
    """Those seen often enough, with a view to embed; the MAX_APPEARANCES seen longest of them."""
    kept = [a for a in appearances if a.sightings >= sightings and a.views]
    if len(kept) > MAX_APPEARANCES:
        kept = sorted(kept, key=lambda a: -a.sightings)[:MAX_APPEARANCES]
    return kept


def _follow(tracker: Tracker, following: dict[int, _Following], done: list[_Following], image: np.ndarray,
            at: float, detections: list[Detection], aligner: Aligner, chip_side: int) -> None:
    """One sampled frame: its faces joined to the appearances followed, their views kept if among the best
    (a face turned away keeps its appearance going, but is no view of it)."""
    tracker.join(detections, at)
    live = tracker.close()
    for track, detection in live:
        if detection is None:
            continue
        appearance = following.setdefault(track.id, _Following(at, at))
        appearance.end, appearance.sightings = at, appearance.sightings + 1
        if not detection.profile:
            _keep_view(appearance, image, detection.box, at, aligner, chip_side)
    alive = {track.id for track, _ in live}
    for track_id in [t for t in following if t not in alive]:
        done.append(following.pop(track_id))
    if len(done) > 2 * MAX_APPEARANCES:  # bounded as it goes: the fleeting ones and their chips go now
        done[:] = _worth_keeping(done, MIN_SIGHTINGS)


def _keep_view(appearance: _Following, image: np.ndarray, box: Box, at: float, aligner: Aligner,
               chip_side: int) -> None:
    """Keep this view when it is among the appearance's best few (its chip is cut only then)."""
    quality = face_quality(image, box, aligner.landmarks(image, box)).overall
    views = appearance.views
    if len(views) >= VIEWS_PER_APPEARANCE and quality <= views[-1][0]:
        return
    chip = aligner.chips(image, [box], chip_side)[0]
    height, width = image.shape[:2]
    views.append((quality, at, [box.x / width, box.y / height, box.w / width, box.h / height], chip))
    views.sort(key=lambda view: -view[0])
    del views[VIEWS_PER_APPEARANCE:]


def read_frame(path: Path, at: float, max_side: int) -> tuple[np.ndarray, float]:
    """The frame at `at` seconds, at most max_side pixels, and its scale (frame pixels per video pixel).
    Decoded in memory. Raises PhotoSkipped when the video cannot give it."""
    capture = _open(path)
    try:
        _checked(capture, path)  # too large or too long: refused before a frame is decoded
        capture.set(cv2.CAP_PROP_POS_MSEC, max(0.0, at) * 1000.0)
        ok, frame = capture.read()
        if not ok or frame is None:
            raise PhotoSkipped("unreadable", f"no frame at {at:.2f}s")
        if frame.shape[0] * frame.shape[1] > MAX_FRAME_PIXELS:
            raise PhotoSkipped("too-large", f"a frame of {frame.shape[1]}x{frame.shape[0]} pixels")
    finally:
        capture.release()
    scale = min(1.0, max_side / max(frame.shape[:2]))
    if scale < 1.0:
        frame = cv2.resize(frame, (round(frame.shape[1] * scale), round(frame.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
    return frame, scale


def _open(path: Path) -> cv2.VideoCapture:
    if not Path(path).is_file():
        raise PhotoSkipped("vanished", f"{path} is not there")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise PhotoSkipped("unreadable", "not a video FFmpeg can open, or damaged")
    return capture


def _checked(capture: cv2.VideoCapture, path: Path) -> tuple[float, int, int]:
    """(frames a second, or 0 when unknown; width; height) from the header, refused before any frame is
    decoded when the frames or the footage are too large."""
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width <= 0 or height <= 0:
        raise PhotoSkipped("unreadable", "no video stream")
    if width * height > MAX_FRAME_PIXELS:
        raise PhotoSkipped("too-large", f"frames of {width}x{height} pixels: more than 4K")
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if 0.5 <= fps <= 1000 else 0.0  # nonsense in the header: time from the frames' own stamps
    if _declared_seconds(capture, fps) > MAX_SECONDS:
        raise PhotoSkipped("too-long", f"runs longer than {MAX_SECONDS / 3600:.0f} hours")
    return fps, width, height


def _declared_seconds(capture: cv2.VideoCapture, fps: float) -> float:
    frames = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return frames / fps if fps and 0 < frames < 1e9 else 0.0


def appearance_vectors(vectors: np.ndarray, views: list[int]) -> np.ndarray:
    """Each appearance's vector: the unit mean of its views' vectors."""
    out, start = [], 0
    for count in views:
        mean = np.asarray(vectors[start:start + count], np.float32).mean(axis=0)
        out.append(mean / max(float(np.linalg.norm(mean)), 1e-9))
        start += count
    return np.array(out, np.float32).reshape(len(views), -1)

