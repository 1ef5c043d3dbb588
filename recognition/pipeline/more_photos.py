"""Adding photos to a person: each photo's face is checked before any of its vectors is kept.

A photo is refused when its face is poor (too small, blurred or turned away: the quality measure the
video route uses), when it matches someone else better than this person (a photo filed under the
wrong name would teach the matcher to name the wrong person), or when it does not look enough like
this person (FLOOR_SPREADS). Only vectors are kept; the photo is never stored.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from recognition.matching.calibration import impostors_of
from recognition.models.quality import face_quality
from recognition.store.identity import Identity

MIN_QUALITY = 0.35  # as the video route: below this a face's embedding does not match reliably
# A photo must be at least this many stranger spreads above the average stranger's similarity to the
# person (Dlib: 0.903): 99% of strangers fall below it, while the hard photos of the person that one
# photo misses (just under the threshold) are above it, which is what a second photo is for.
FLOOR_SPREADS = 2.5
# At or above this similarity to one of the person's vectors, a face is that photo again (or a copy of
# it): it would add nothing, yet raise the person's bar (calibration.py), so it is not added.
SAME_PHOTO = 0.99


class PhotoRefused(Exception):
    """Why a photo's face cannot be added: kind is "no-face" or "poor" (422), "someone-else",
    "duplicate" or "other-model" (409)."""

    def __init__(self, kind: str, message: str, other: Optional[str] = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.other = other  # the hash of the person it matches better, for "someone-else"


@dataclass(frozen=True)
class CheckedFace:
    vector: np.ndarray
    similarity: float  # to the person's closest vector
    quality: float


def face_of(analyzer, image: np.ndarray, *, min_quality: float = MIN_QUALITY) -> tuple[np.ndarray, float]:
    """The vector and quality of image's largest face, when it is good enough to enroll or add."""
    box = max(analyzer.detector.detect(image), key=lambda b: b.area, default=None)
    if box is None:
        raise PhotoRefused("no-face", "no face was found in the photo")
    quality = face_quality(image, box, analyzer.aligner.landmarks(image, box))
    if quality.overall < min_quality:
        parts = {"too small": quality.size, "blurred": quality.sharpness, "turned away": quality.frontal}
        worst = min(parts, key=parts.__getitem__)
        raise PhotoRefused("poor", f"the face is {worst} (quality {quality.overall:.2f}, at least {min_quality} "
                                   f"is needed: size {quality.size:.2f}, sharpness {quality.sharpness:.2f}, "
                                   f"frontal {quality.frontal:.2f})")
    return analyzer.embedder.embed(analyzer.chips(image, [box]))[0], quality.overall


def check_photo(analyzer, identity: Identity, image: np.ndarray, *, min_quality: float = MIN_QUALITY) -> CheckedFace:
    """The largest face of image, as a vector fit to add to identity; PhotoRefused says why not."""
    if identity.model != analyzer.matcher.model_name:
        raise PhotoRefused("other-model", f"this person was enrolled with {identity.model}; the server runs "
                                          f"{analyzer.matcher.model_name}")
    vector, quality = face_of(analyzer, image, min_quality=min_quality)
    return CheckedFace(vector, fits(analyzer.matcher, identity, vector), quality)


def fits(matcher, identity: Identity, vector: np.ndarray) -> float:
    """The vector's similarity to identity's closest one, when it may be added to it; PhotoRefused
    when it matches someone else better, or does not look enough like the person."""
    mine = float(np.max(np.stack(identity.embeddings) @ vector))
    if mine >= SAME_PHOTO:
        raise PhotoRefused("duplicate", f"this photo, or one just like it, is this person's already ({mine:.3f})")
    if identity.rejections and float(np.max(np.stack(identity.rejections) @ vector)) >= mine:
        raise PhotoRefused("someone-else", "the face is at least as close to a face marked \"not this person\" "
                                           "for them as to their own photos")
    # Anyone else this face is closer to, by plain similarity (their bar is for naming, not for this).
    rival = _closest_other(matcher, identity, vector, mine)
    if rival is not None:
        who = rival.name or rival.identity_hash[:12]
        raise PhotoRefused("someone-else", f"the face matches {who} ({rival.identity_hash}) better than this person "
                                           f"({rival.similarity:.3f} against {mine:.3f})", rival.identity_hash)
    strangers = impostors_of(identity.model, matcher.threshold)
    floor = strangers.mean + FLOOR_SPREADS * strangers.spread
    if mine < floor:
        raise PhotoRefused("someone-else", f"the face does not look enough like this person to be added (similarity "
                                           f"{mine:.3f} to their closest photo; at least {floor:.3f} is needed, "
                                           f"strangers average {strangers.mean:.3f})")
    return mine


def _closest_other(matcher, identity: Identity, vector: np.ndarray, above: float):
    """The person other than identity this vector is at least `above` similar to and closest to, if the
    closest person of all is not identity itself."""
    found = matcher.nearest(matcher.store.gallery(identity.model), vector[None, :], floor=above)[0]
    return None if found is None or found.identity_hash == identity.hash else found
