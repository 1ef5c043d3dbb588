"""Embeddings from a video, decoded in memory: a few frames a second, and only faces good enough to keep.

The frame size is checked three times: as the container declares it, before FFmpeg sees the video
(opening it already decodes frames); as FFmpeg found it while opening, before the first frame is
asked for; and on every frame decoded, as it arrives.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from recognition.faces import Box
from recognition.models.quality import FaceQuality, face_quality
from recognition.pipeline.video_header import ContainerError, frame_size

log = logging.getLogger(__name__)


class VideoError(ValueError):
    """The video cannot be used; too_large says whether it broke a limit (413) or is unreadable (4xx)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class VideoLimits:
    """max_seconds bounds the work one request can ask for (and so its answer time); samples_per_second
    trades coverage of fast changes for time; min_quality trades recall (profiles, small or blurred
    faces) for embeddings that match reliably."""

    max_seconds: float = 60.0
    # Full HD: FFmpeg's frames and ours take +32 MB at the peak; 1440p +57 MB, 4K +132 MB (measured,
    # bench/bombs_bench.py), more than a request may take.
    max_pixels: int = 1920 * 1080
    samples_per_second: float = 2.0
    min_quality: float = 0.35


@dataclass(frozen=True)
class VideoFace:
    frame: int
    time: float
    box: Box
    quality: FaceQuality
    embedding: np.ndarray


@dataclass
class VideoExtraction:
    fps: float
    frames_read: int = 0
    frames_analysed: int = 0
    faces_seen: int = 0
    faces: list[VideoFace] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.frames_read / self.fps


def extract_from_video(data: bytes, analyzer, limits: VideoLimits) -> VideoExtraction:
    if not data:
        raise VideoError("the video is empty")
    try:
        declared = frame_size(data)
    except ContainerError as exc:
        raise VideoError(str(exc))
    _check_size(declared.width, declared.height, limits)
    # Decoded from memory, never from a temporary file. OpenCV does not keep the stream alive itself:
    # the reference here must outlive the capture, or FFmpeg reads freed memory (a segfault, seen).
    stream = io.BytesIO(data)
    # OpenCV reads from any object with read() and seek(); its stubs accept only its own cv2.IStreamReader.
    capture = cv2.VideoCapture(stream, cv2.CAP_FFMPEG, [])  # type: ignore[call-overload]
    try:
        if not capture.isOpened():
            raise VideoError("the data is not a readable video (MP4, AVI, MKV or WebM expected)")
        # What FFmpeg's probing found in the stream itself, which a container can misstate.
        _check_size(int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), limits)
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not np.isfinite(fps) or not 1.0 <= fps <= 240.0:
            fps = 25.0  # some containers do not say; a guess only sets the sampling pace
        declared = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        if declared > 0 and declared / fps > limits.max_seconds + 1.0 / fps:
            raise VideoError(f"the video lasts {declared / fps:.0f} s; the limit is {limits.max_seconds:.0f} s",
                             too_large=True)
        return _sample(capture, fps, analyzer, limits)
    finally:
        capture.release()
        stream.close()


def _sample(capture, fps: float, analyzer, limits: VideoLimits) -> VideoExtraction:
    result = VideoExtraction(fps=fps)
    step = max(1, round(fps / limits.samples_per_second))
    max_frames = int(limits.max_seconds * fps) + 1
    index = -1
    while True:
        index += 1
        if index >= max_frames:
            raise VideoError(f"the video lasts more than {limits.max_seconds:.0f} s, the limit", too_large=True)
        wanted = index % step == 0
        ok = capture.grab()
        if not ok:
            break
        result.frames_read += 1
        if not wanted:
            continue
        ok, frame = capture.retrieve()
        if not ok or frame is None:
            continue
        _check_size(frame.shape[1], frame.shape[0], limits)
        result.frames_analysed += 1
        _keep_good_faces(frame, index, fps, analyzer, limits, result)
    if result.frames_read == 0:
        raise VideoError("the video has no frames that can be decoded")
    return result


def _check_size(width: int, height: int, limits: VideoLimits) -> None:
    if width * height > limits.max_pixels:
        raise VideoError(f"the video's frames are {width}x{height}; the limit is {limits.max_pixels} pixels",
                         too_large=True)


def _keep_good_faces(frame, index: int, fps: float, analyzer, limits: VideoLimits, result: VideoExtraction) -> None:
    boxes = analyzer.detector.detect(frame)
    result.faces_seen += len(boxes)
    graded = [(box, face_quality(frame, box, analyzer.aligner.landmarks(frame, box))) for box in boxes]
    good = [(box, quality) for box, quality in graded if quality.overall >= limits.min_quality]
    if not good:
        return
    chips = analyzer.chips(frame, [box for box, _ in good])
    for (box, quality), embedding in zip(good, analyzer.embedder.embed(chips)):
        result.faces.append(VideoFace(index, index / fps, box, quality, embedding))
