"""--hide-with avatar: the faces --blur hides wear synthetic avatars in the stream, over the pixelated
patch. On a 1080p street crowd an independent detector (dlib's HOG) finds the people's faces in the
camera's frames; in the stream it finds cartoon heads (an avatar is drawn to look like a face), so what
it finds there is judged by the model: none of it is any of the people in the crowd."""
import cv2
import numpy as np
import pytest

from recognition.faces import Box
from tests.conftest import load_photo, wait_until
from tests.support.mjpeg_client import MjpegClient
from webapp import create_app


@pytest.fixture
def hog():
    import dlib

    detector = dlib.get_frontal_face_detector()
    return lambda image: [Box(r.left(), r.top(), r.width(), r.height())
                          for r in detector(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), 1)]


def crowd_vectors(analyzer) -> np.ndarray:
    """The vector of each person the crowd is made of (from their fixture photos)."""
    from tests.crowd import PEOPLE

    return np.stack([analyzer.embed(load_photo(photo))[1][0] for photo in PEOPLE])


def people_found(analyzer, image, boxes, people: np.ndarray) -> int:
    """How many of the boxes show a face the model takes for one of the people."""
    if not boxes:
        return 0
    vectors = np.asarray(analyzer.embedder.embed(analyzer.chips(image, boxes)))
    return int(((vectors @ people.T).max(axis=1) >= analyzer.matcher.threshold).sum())


def avatar_eyes(image) -> int:
    """Pixels of an avatar's eye whites: pure white, which a street of people has little of."""
    return int((image > 245).all(axis=2).sum())


def test_a_1080p_crowd_wears_avatars_and_no_face_is_found(camera_services, live_server, tmp_path, hog, analyzer):
    from tests.crowd import CrowdScene

    clip = CrowdScene(seed=31).write(tmp_path / "crowd.avi", 8.0)
    services = camera_services(str(clip), blur="unknown", hide_with="avatar")
    server = live_server(create_app(services))
    assert wait_until(lambda: services.privacy.shield.latest is not None, timeout=60)
    plain, seq = [], services.frames.latest.seq
    for _ in range(4):
        frame = services.frames.wait_newer(seq + 7, timeout=10)
        plain.append(frame.image)
        seq = frame.seq
    viewer = MjpegClient(server.url + "/streaming")
    try:
        pictures = [viewer.next_part() for _ in range(24)]
    finally:
        viewer.close()
    shown = [cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) for jpeg in pictures[::3]]
    people = crowd_vectors(analyzer)
    assert sum(people_found(analyzer, image, hog(image), people) for image in plain) >= 10  # the check sees them
    assert [people_found(analyzer, image, hog(image), people) for image in shown] == [0] * len(shown)
    assert sum(avatar_eyes(image) > avatar_eyes(plain[0]) + 50 for image in shown) >= len(shown) // 2


def test_a_stranger_keeps_their_avatar_across_a_short_absence(camera_services, live_server, tmp_path):
    """A stranger in view, gone for a second, back: the same visitor id, so the same avatar (its look
    drawn from the id), in the stream both times."""
    from recognition.live.avatar import look_for
    from tests.support.clips import write_clip

    stranger = load_photo("kit_harington/kit1.jpg")
    gone = np.zeros_like(stranger)
    clip = write_clip(tmp_path / "cam.avi", [stranger] * 5 + [gone] + [stranger] * 5, seconds_each=1.0, fps=15)
    services = camera_services(str(clip), blur="unknown", hide_with="avatar")
    server = live_server(create_app(services))

    def visitor():
        latest = services.worker.latest
        return next((f.visitor for f in latest.faces if f.visitor), None) if latest else None

    def skin_shown(look, parts=20) -> int:
        """How many of the next streamed pictures show the look's skin over a face-sized area. A viewer of
        its own, opened now: one opened earlier and left unread would be read from its backlog, pictures
        from before the stranger had a visitor id."""
        viewer = MjpegClient(server.url + "/streaming")
        try:
            shown = 0
            for _ in range(parts):
                image = cv2.imdecode(np.frombuffer(viewer.next_part(), np.uint8), cv2.IMREAD_COLOR).astype(int)
                shown += (np.abs(image - np.array(look.skin)).max(axis=2) <= 12).sum() > 2000
            return shown
        finally:
            viewer.close()

    assert wait_until(lambda: visitor() is not None, timeout=30)
    first = visitor()
    look = look_for(f"visitor-{first}")
    assert skin_shown(look) >= 5
    assert wait_until(lambda: services.worker.latest and not services.worker.latest.faces, timeout=30)  # gone
    assert wait_until(lambda: visitor() is not None, timeout=30)  # back
    assert visitor() == first
    assert skin_shown(look) >= 5
