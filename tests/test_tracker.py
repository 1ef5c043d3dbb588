"""The tracker follows each face with one track: a second box on a face already followed in the same frame
(two detector tiles or scales, a profile or the CNN sweep finding it again) is that face, not a new one.
Seen on a 1280x720 walk-in clip: one person followed by two tracks, shown named and again as a stranger."""
from __future__ import annotations

from recognition.faces import Box
from recognition.live.tracker import Detection, Tracker


def test_two_boxes_on_one_face_make_one_track():
    tracker = Tracker()
    for frame in range(5):
        tracker.join([Detection(Box(540 + frame, 262, 78, 87)), Detection(Box(536 + frame, 260, 81, 90))], frame * 0.2)
        tracker.close()
    assert [track.id for track in tracker.tracks] == [1] and tracker.tracks[0].hits == 5


def test_a_later_box_on_a_face_already_seen_in_the_frame_starts_no_track():
    tracker = Tracker()
    tracker.join([Detection(Box(100, 100, 80, 80))], 0.0)
    tracker.close()
    tracker.join([Detection(Box(104, 100, 80, 80))], 0.2)  # the frontal search
    tracker.join([Detection(Box(98, 104, 82, 82), profile=True)], 0.2)  # the profile search or the sweep, after
    tracker.close()
    assert [track.id for track in tracker.tracks] == [1]


def test_two_faces_side_by_side_keep_two_tracks():
    tracker = Tracker()
    for frame in range(3):
        tracker.join([Detection(Box(100, 100, 80, 80)), Detection(Box(150, 100, 80, 80))], frame * 0.2)
        tracker.close()
    assert [track.id for track in tracker.tracks] == [1, 2]  # overlapping by a quarter: two people, close
