"""The stream's pictures: each camera frame blurred as the privacy setting asks, marked, scaled and encoded
to JPEG once however many viewers watch; and once more per filter a viewer picked (a variant: sunglasses,
a hat), for all who watch it. A variant nobody asks for is never drawn."""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Optional

import cv2

from recognition.faces import Box
from recognition.live.annotate import draw_faces, pixelate, placeholder
from recognition.live.avatar import draw_avatar
from recognition.live.filters import FILTERS, draw_filter
from recognition.live.privacy import Hidden
from recognition.liveness.pose import loaded_pose_model, preload_pose_model
from services.live import LiveView

log = logging.getLogger(__name__)

RECENT = 3  # encoded frames kept per variant: a late viewer's catch-up (about 0.8 MB a variant at 1080p)


class JpegFeed:
    """Viewers ask for "the frame after seq N"; the first to ask encodes it, the others reuse it."""

    def __init__(self, live: LiveView, stopping: threading.Event, *, overlay: str = "boxes",
                 width: Optional[int] = None, quality: int = 80, pause: float = 1.0, filters: str = "known",
                 hide_with: str = "pixels") -> None:
        """overlay: how faces are marked (--overlay); width: the JPEG's width, None for the camera's (a
        smaller one costs less to encode and send, and shows less); filters: whom a viewer's filter is
        drawn on: "known" people, "all" faces, or "none" (--filters); hide_with: what hides a face the
        privacy setting hides, "pixels" or an "avatar" over them (--hide-with)."""
        self._live = live
        self._stopping = stopping
        self.overlay = overlay
        self.width = width
        self._params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        self.pause = pause  # how long a viewer waits for a frame before it gets a placeholder instead
        self._lock = threading.Lock()
        self.filters = filters
        self.hide_with = hide_with
        # filter (None: plain) -> its latest frames as (seq, JPEG), oldest first
        self._variants: dict[Optional[str], deque[tuple[int, bytes]]] = {}
        self._placeholders: dict[str, bytes] = {}
        self.encoded = 0  # frames encoded so far: what the "once per frame" promise is about
        self.encoded_by: dict[Optional[str], int] = {}  # the same, per variant
        if live.frames is not None and (filters != "none" or hide_with == "avatar"):
            # Now, as the camera starts (loading stalls every thread for a second): the filters need it, and
            # so does the privacy search's first face with avatars (face_shape), which would load it mid-stream.
            preload_pose_model()

    def next_jpeg(self, after_seq: int, variant: Optional[str] = None) -> tuple[int, bytes]:
        """(seq, JPEG) of the newest frame after after_seq, or a "camera offline" picture after a
        short wait, so a viewer always gets something and never hangs. variant: a filter (FILTERS)."""
        if variant is not None and variant not in FILTERS:
            raise ValueError(f"no filter {variant!r}")
        frames = self._live.frames
        if frames is None:  # API only: a placeholder now and then, not a flood of them
            self._stopping.wait(self.pause)
            frame = None
        else:
            frame = frames.wait_newer(after_seq, self.pause)
        if frame is None:
            return after_seq, self._placeholder(self._live.camera_status()["detail"])
        return self._shared_jpeg(frame, after_seq, variant)

    def snapshot(self) -> bytes:
        """The newest picture as viewers see it, at once: a camera that is not live now shows why (never
        the last frame it gave, which may show whoever was in view when it failed)."""
        frames = self._live.frames
        frame = frames.latest if frames is not None else None
        status = self._live.camera_status()
        if frame is None or status["state"] != "live":
            return self._placeholder(status["detail"])
        return self._shared_jpeg(frame, frame.seq - 1)[1]

    def _shared_jpeg(self, frame, after_seq: int, variant: Optional[str] = None) -> tuple[int, bytes]:
        """(seq, JPEG) for a viewer who had after_seq (0: a new viewer), frame (the camera's newest)
        encoded first if nobody has yet: one encode per frame for all viewers. A viewer held up for a
        moment (a busy machine is slow to wake its thread) gets the frame it missed next rather than
        skipping it, if that frame is at most RECENT - 1 camera frames older than the newest; anyone
        else, a new viewer included, gets the newest. Kept frames older than that are dropped: a
        variant nobody watched for a while keeps none from back then (who was hidden may have changed)."""
        with self._lock:
            recent = self._variants.setdefault(variant, deque(maxlen=RECENT))
            if not recent or frame.seq > recent[-1][0]:
                recent.append((frame.seq, self._encode(self._picture(frame, variant))))
                self.encoded += 1
                self.encoded_by[variant] = self.encoded_by.get(variant, 0) + 1
            while recent[0][0] < frame.seq - (RECENT - 1):
                recent.popleft()
            if after_seq > 0:
                for seq, jpeg in recent:
                    if seq > after_seq:
                        return seq, jpeg
            return recent[-1]

    def _picture(self, frame, variant: Optional[str] = None):
        """The frame as viewers see it: faces blurred as the privacy setting asks, then marked (and
        wearing the variant's filter)."""
        live = self._live
        result = live.now().result
        age = frame.captured_at - result.captured_at if result is not None else float("inf")
        image = frame.image
        regions: list[Box] = []
        if live.privacy is not None and live.privacy.active:
            try:
                hidden = live.privacy.hidden(image, frame.captured_at, result.faces if result else (), age)
            except Exception:  # fail closed: an error in the privacy part hides the whole frame
                log.exception("the privacy filter failed on frame %d: the whole frame is hidden", frame.seq)
                hidden = [Hidden(Box(0, 0, image.shape[1], image.shape[0]))]
            regions = [h.cover for h in hidden]
            image = pixelate(image, regions)
            if self.hide_with == "avatar":  # over the pixelated patch: it hides what the avatar may not
                try:
                    for h in hidden:
                        if h.shape is not None:
                            draw_avatar(image, h.shape, h.seed)
                except Exception:  # the pixels stay: a bad shape costs the avatars, never the stream
                    log.exception("an avatar could not be drawn on frame %d", frame.seq)
        # Boxes from a result much older than the frame would be drawn in the wrong place.
        faces = result.faces if result is not None and age <= 0.5 else ()
        image = draw_faces(image, faces, self.overlay)
        if variant is not None and self.filters != "none":
            self._wear(image, frame.image, faces, regions, variant)
        if self.width and image.shape[1] > self.width:
            scale = self.width / image.shape[1]
            # Linear: a sixth of the cost of area averaging for the usual 1.5x down (1080p to 720p), alike to see.
            image = cv2.resize(image, (self.width, round(image.shape[0] * scale)), interpolation=cv2.INTER_LINEAR)
        return image

    def _wear(self, canvas, original, faces, hidden: list[Box], variant: str) -> None:
        """The filter on each face it is for (known people, or all), placed by landmarks found in the
        frame itself where the face was last seen; never on a face the privacy setting hides."""
        shapes = loaded_pose_model()
        if shapes is None:  # loading as the server starts: no filter until it is in (a failed load is tried again)
            preload_pose_model()
            return
        for face in faces:
            if (self.filters == "known" and not face.known) or getattr(face, "profile", False):
                continue
            if any(_inside(face.box, region) for region in hidden):
                continue
            draw_filter(canvas, shapes.landmarks(original, face.box), variant)

    def _placeholder(self, message: str) -> bytes:
        cached: Optional[bytes] = self._placeholders.get(message)
        if cached is None:
            if len(self._placeholders) > 16:  # messages carry source errors: keep the cache bounded
                self._placeholders.clear()
            cached = self._placeholders[message] = self._encode(placeholder(message))
        return cached

    def _encode(self, image) -> bytes:
        ok, buffer = cv2.imencode(".jpg", image, self._params)
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buffer.tobytes()



def _inside(box: Box, region: Box) -> bool:
    """Whether the box's centre is in the region (a face the privacy setting hides there)."""
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    return region.x <= cx <= region.x + region.w and region.y <= cy <= region.y + region.h
