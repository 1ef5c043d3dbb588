"""Filters on the live stream over real HTTP: a viewer picks one (/streaming?filter=sunglasses); a known
person wears it, placed on their eyes; two viewers of one filter cost one encode per frame, and a filter
nobody watches costs nothing."""
import threading

import cv2
import numpy as np
import requests

from recognition.liveness.pose import loaded_pose_model
from tests.conftest import load_photo, wait_until, write_clip
from tests.support.mjpeg_client import MjpegClient
from webapp import create_app


def decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_a_known_person_wears_the_sunglasses_a_viewer_picked(camera_services, live_server, tmp_path, analyzer,
                                                              pose_model):
    analyzer.matcher.enroll(analyzer.embed(load_photo("obama/obama1.jpg"))[1][0], "Barack")
    clip = write_clip(tmp_path / "cam.avi", ["obama/obama2.jpg"], seconds_each=4.0, fps=20)
    services = camera_services(str(clip))
    server = live_server(create_app(services))
    assert wait_until(lambda: services.worker.latest and any(f.known for f in services.worker.latest.faces), 30)
    face = next(f for f in services.worker.latest.faces if f.known)
    points = pose_model.landmarks(services.frames.latest.image, face.box)
    eyes = np.round(np.vstack([points[36:42], points[42:48]])).astype(int)

    def dark_eyes(image) -> float:  # the share of his eye points under a dark lens
        return float(np.mean([image[y, x].max() <= 40 for x, y in eyes]))

    # The server loads the landmark model as the camera starts (a second in which every thread stands still).
    assert wait_until(lambda: loaded_pose_model() is not None, 30)
    plain, filtered = MjpegClient(server.url + "/streaming"), MjpegClient(server.url + "/streaming?filter=sunglasses")
    try:
        best = max(dark_eyes(decode(filtered.next_part())) for _ in range(30))
        assert best >= 0.9, best
        assert max(dark_eyes(decode(plain.next_part())) for _ in range(10)) < 0.5  # the plain stream: no glasses
    finally:
        plain.close()
        filtered.close()


def test_two_viewers_of_one_filter_cost_one_encode_per_frame(camera_services, live_server, tmp_path):
    clip = write_clip(tmp_path / "cam.avi", ["kit_harington/kit1.jpg"], seconds_each=3.0, fps=25)
    services = camera_services(str(clip))
    server = live_server(create_app(services))
    feed = services.camera().feed
    viewers = [MjpegClient(server.url + "/streaming?filter=hat") for _ in range(2)]
    counts = [0, 0]
    seq_before = services.frames.latest.seq if services.frames.latest else 0
    before = dict(feed.encoded_by)

    def watch(index):
        counts[index] = len(viewers[index].parts_for(3.0))

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    for viewer in viewers:
        viewer.close()
    published = services.frames.latest.seq - seq_before
    hats = feed.encoded_by.get("hat", 0) - before.get("hat", 0)
    assert all(count >= 0.8 * published for count in counts), (counts, published)
    assert hats <= published + 1, (hats, published)  # once per frame, not once per viewer
    assert feed.encoded_by.get("sunglasses", 0) == 0  # nobody watched it: never drawn
    assert feed.encoded_by.get(None, 0) == before.get(None, 0)  # nor the plain stream


def test_an_unknown_filter_is_refused(camera_services, live_server, tmp_path):
    clip = write_clip(tmp_path / "cam.avi", ["kit_harington/kit1.jpg"], seconds_each=1.0, fps=10)
    server = live_server(create_app(camera_services(str(clip))))
    answer = requests.get(server.url + "/streaming?filter=moustache", timeout=10)
    assert answer.status_code == 400 and "sunglasses" in answer.json()["error"]
