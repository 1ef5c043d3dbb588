"""Age, gender and emotion of the faces on camera, per track: estimated at most once per track every
few seconds, for one track per analysed frame (the one waiting longest), after the frame's result is
published, so the attribute models never delay a name and never pace the stream."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

from recognition.faces import FaceObservation
from recognition.models.attributes import Attributes, attribute_chips


class TrackAttributes:
    """every: seconds between two estimates for one track (a face's age and gender do not change; its
    expression does, slowly enough). Used by the recognition worker's thread only."""

    def __init__(self, analyzer, every: float = 3.0) -> None:
        self._analyzer = analyzer
        self._every = every
        self._known: dict[int, tuple[float, Attributes]] = {}  # track -> (when, attributes)
        self._tried: dict[int, float] = {}  # track -> when its attributes were last asked for

    def attach(self, faces: Sequence[FaceObservation]) -> list[FaceObservation]:
        """The faces with their track's latest attributes, when there are some."""
        return [replace(face, attributes=self._known[face.track][1].to_json())
                if face.track in self._known else face for face in faces]

    def update(self, image, faces: Sequence[FaceObservation], now: float) -> Optional[int]:
        """Estimate the attributes of the track that has waited longest (if over `every`); forget the
        tracks no longer on camera. Returns the track estimated, if any."""
        on_camera = {face.track for face in faces}
        self._known = {track: known for track, known in self._known.items() if track in on_camera}
        self._tried = {track: when for track, when in self._tried.items() if track in on_camera}
        due = [(face.track, face) for face in faces if face.track is not None and not face.profile
               and now - self._tried.get(face.track, float("-inf")) >= self._every]
        if not due:
            return None
        estimated_at = {track: when for track, (when, _) in self._known.items()}
        track, face = min(due, key=lambda pair: estimated_at.get(pair[0], float("-inf")))
        self._tried[track] = now  # a failure is not retried on the next frame
        estimated = self._analyzer.embedder.attributes(attribute_chips(self._analyzer.aligner, image, [face.box]))
        if estimated:
            self._known[track] = (now, estimated[0])
        return track
