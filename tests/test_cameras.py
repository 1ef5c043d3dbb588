"""Many cameras, one server: each camera names its own people with one model, a person keeps one
identity and a stranger one visitor id from camera to camera, a failing camera stays its own problem,
and cameras come and go at run time. Real clips, the real model, real HTTP (waitress)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import requests

from tests.conftest import load_photo, wait_until, write_clip
from tests.support.clips import write_clip as write_images
from tests.support.mjpeg_client import MjpegClient
from webapp import create_app

KEY = "camera-key"


def enroll(analyzer, photo: str, name: str) -> str:
    return analyzer.matcher.enroll(analyzer.embed(load_photo(photo))[1][0], name).hash


def hash_of(server, camera: str = "") -> dict:
    response = requests.get(server.url + "/hash" + (f"/{camera}" if camera else ""), headers={"X-API-Key": KEY},
                            timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def named(server, camera: str, identity: str, timeout: float = 30.0) -> bool:
    return bool(wait_until(lambda: hash_of(server, camera)["hash"] == identity, timeout=timeout))


def test_two_cameras_each_name_their_own_person(cameras_rig, live_server, analyzer, tmp_path):
    obama, biden = enroll(analyzer, "obama/obama1.jpg", "Barack"), enroll(analyzer, "biden/biden1.jpg", "Joe")
    door = write_clip(tmp_path / "door.avi", ["obama/obama2.jpg"], seconds_each=4.0, fps=15)
    hall = write_clip(tmp_path / "hall.avi", ["biden/biden2.jpg"], seconds_each=4.0, fps=15)
    parts = cameras_rig({"door": str(door), "hall": str(hall)}, api_key=KEY)
    server = live_server(create_app(parts))
    assert named(server, "door", obama) and named(server, "hall", biden)
    door_now, hall_now = hash_of(server, "door"), hash_of(server, "hall")
    assert [f["hash"] for f in door_now["faces"]] == [obama] and door_now["name"] == "Barack"
    assert [f["hash"] for f in hall_now["faces"]] == [biden] and hall_now["name"] == "Joe"
    listed = requests.get(server.url + "/cameras", headers={"X-API-Key": KEY}, timeout=10).json()
    assert [c["name"] for c in listed["cameras"]] == ["door", "hall"]
    people = {c["name"]: [p["hash"] for p in c["people"]] for c in listed["cameras"]}
    assert people == {"door": [obama], "hall": [biden]}
    assert listed["recognition"]["cores"] == 1 and listed["recognition"]["turns"]
    # Without a name, /hash and /streaming answer for the first camera, in the shape they always had.
    first = hash_of(server)
    assert first["camera"] == "door" and first["hash"] == obama and set(first) >= {"faces", "frame", "status"}
    viewer = MjpegClient(server.url + "/streaming", headers={"X-API-Key": KEY})
    try:
        assert viewer.content_type == "multipart/x-mixed-replace; boundary=frame" and viewer.next_part()[:2] == b"\xff\xd8"
    finally:
        viewer.close()
    assert requests.get(server.url + "/hash/garden", headers={"X-API-Key": KEY}, timeout=10).status_code == 404


def test_a_person_keeps_their_hash_from_one_camera_to_the_next_added_at_run_time(cameras_rig, live_server,
                                                                                 analyzer, tmp_path):
    obama = enroll(analyzer, "obama/obama1.jpg", "Barack")
    door = write_clip(tmp_path / "door.avi", ["obama/obama2.jpg"], seconds_each=4.0, fps=15)
    garden = write_clip(tmp_path / "garden.avi", ["obama/obama3.jpg"], seconds_each=4.0, fps=15, size=(800, 600))
    parts = cameras_rig({"door": str(door)}, api_key=KEY)
    server = live_server(create_app(parts))
    assert named(server, "door", obama)
    door_worker = parts.camera("door").worker
    analysed_before = door_worker.analysed
    added = requests.post(server.url + "/cameras", json={"name": "garden", "source": str(garden), "blur": "unknown"},
                          headers={"X-API-Key": KEY}, timeout=10)
    assert added.status_code == 201, added.text
    assert added.json()["settings"]["blur"] == "unknown"
    assert named(server, "garden", obama)  # the same person, the same hash, on the new camera
    # The door's own worker, untouched, goes on analysing beside the new camera.
    assert parts.camera("door").worker is door_worker
    assert wait_until(lambda: door_worker.analysed > analysed_before + 2, timeout=10)
    again = requests.post(server.url + "/cameras", json={"name": "garden", "source": str(garden)},
                          headers={"X-API-Key": KEY}, timeout=10)
    assert again.status_code == 409 and "garden" in again.json()["error"]

    viewer = MjpegClient(server.url + "/streaming/garden", headers={"X-API-Key": KEY})
    viewer.next_part()
    removed = requests.delete(server.url + "/cameras/garden", headers={"X-API-Key": KEY}, timeout=10)
    assert removed.status_code == 200 and removed.json() == {"removed": "garden"}
    try:  # the removed camera's stream ends; its viewer is not left waiting on a placeholder forever
        assert wait_until(lambda: viewer_ended(viewer), timeout=10)
    finally:
        viewer.close()
    assert requests.get(server.url + "/hash/garden", headers={"X-API-Key": KEY}, timeout=10).status_code == 404
    assert [c["name"] for c in requests.get(server.url + "/cameras", headers={"X-API-Key": KEY},
                                            timeout=10).json()["cameras"]] == ["door"]
    assert named(server, "door", obama, timeout=5)


def viewer_ended(viewer) -> bool:
    try:
        viewer.next_part()
    except Exception:
        return True
    return False


def test_cameras_are_added_and_removed_only_with_the_key(cameras_rig, live_server, tmp_path):
    clip = write_clip(tmp_path / "door.avi", ["kit_harington/kit1.jpg"], seconds_each=2.0, fps=10)
    keyed = live_server(create_app(cameras_rig({"door": str(clip)}, api_key=KEY)))
    body = {"name": "porch", "source": str(clip)}
    assert requests.post(keyed.url + "/cameras", json=body, timeout=10).status_code == 401
    assert requests.post(keyed.url + "/cameras", json=body, headers={"X-API-Key": "wrong"}, timeout=10).status_code == 401
    assert requests.delete(keyed.url + "/cameras/door", timeout=10).status_code == 401
    for wrong, what in (({"name": "Porch", "source": "0"}, "name"), ({"name": "porch"}, "source"),
                        ({"name": "porch", "source": "0", "blur": "some"}, "blur"),
                        ({"name": "porch", "source": "0", "fps": 5}, "fps")):
        refused = requests.post(keyed.url + "/cameras", json=wrong, headers={"X-API-Key": KEY}, timeout=10)
        assert refused.status_code == 400 and what in refused.json()["error"], (wrong, refused.text)
    assert requests.delete(keyed.url + "/cameras/nowhere", headers={"X-API-Key": KEY}, timeout=10).status_code == 404
    # Without --api-key (loopback), a source would be any file or URL anyone on the machine names: refused.
    open_server = live_server(create_app(cameras_rig({"door": str(clip)})))
    refused = requests.post(open_server.url + "/cameras", json=body, timeout=10)
    assert refused.status_code == 403 and "--api-key" in refused.json()["error"]
    assert requests.delete(open_server.url + "/cameras/door", timeout=10).status_code == 403


def test_a_stranger_keeps_one_visitor_id_across_cameras(cameras_rig, live_server, analyzer, tmp_path):
    enroll(analyzer, "obama/obama1.jpg", "Barack")  # someone is enrolled; the stranger is not
    kit = load_photo("kit_harington/kit1.jpg")
    door = write_images(tmp_path / "door.avi", [kit], seconds_each=4.0, fps=15)
    hall = write_images(tmp_path / "hall.avi", [np.ascontiguousarray(kit[:, ::-1])], seconds_each=4.0, fps=15,
                        size=(800, 600))  # the same stranger seen by another camera: mirrored, another size
    parts = cameras_rig({"door": str(door)}, api_key=KEY)
    server = live_server(create_app(parts))

    def visitor(camera):
        faces = hash_of(server, camera)["faces"]
        return faces[0]["visitor"] if faces and not faces[0]["known"] else None

    first = wait_until(lambda: visitor("door"), timeout=30)
    assert first and first.startswith("v-")
    requests.post(server.url + "/cameras", json={"name": "hall", "source": str(hall)}, headers={"X-API-Key": KEY},
                  timeout=10).raise_for_status()
    assert wait_until(lambda: visitor("hall"), timeout=30) == first


def test_a_failing_camera_disturbs_neither_the_others_stream_nor_their_names(cameras_rig, live_server, analyzer,
                                                                              tmp_path):
    biden = enroll(analyzer, "biden/biden1.jpg", "Joe")
    hall = write_clip(tmp_path / "hall.avi", ["biden/biden2.jpg"], seconds_each=6.0, fps=15)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(7).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    parts = cameras_rig({"broken": str(garbage), "missing": str(tmp_path / "nowhere.avi"), "hall": str(hall)},
                        api_key=KEY)
    server = live_server(create_app(parts))
    assert named(server, "hall", biden)
    for camera in ("broken", "missing"):
        status = wait_until(lambda: (s := hash_of(server, camera)["status"]["camera"])["state"] == "offline" and s,
                            timeout=20)
        assert status, hash_of(server, camera)["status"]
        assert hash_of(server, camera)["faces"] == []
    # The good camera's viewer gets its source's rate while the others fail and are retried.
    viewer = MjpegClient(server.url + "/streaming/hall", headers={"X-API-Key": KEY})
    try:
        viewer.next_part()
        started = time.monotonic()
        parts_seen = len(viewer.parts_for(3.0))
        rate = parts_seen / (time.monotonic() - started)
    finally:
        viewer.close()
    assert rate >= 0.8 * 15, rate
    listed = requests.get(server.url + "/cameras", headers={"X-API-Key": KEY}, timeout=10).json()["cameras"]
    states = {c["name"]: c["camera"]["state"] for c in listed}
    assert states == {"broken": "offline", "missing": "offline", "hall": "live"}
    # A failed camera's tile says so in its picture too (a placeholder, not nothing).
    tile = requests.get(server.url + "/cameras/missing/snapshot", headers={"X-API-Key": KEY}, timeout=10)
    assert tile.status_code == 200 and tile.headers["Content-Type"] == "image/jpeg" and tile.content[:2] == b"\xff\xd8"
    assert named(server, "hall", biden, timeout=5)


def test_a_url_camera_never_shows_its_password(cameras_rig, live_server, capsys):
    parts = cameras_rig({"door": "rtsp://admin:hunter2@127.0.0.1:9/stream?token=s3cr3t"}, api_key=KEY)
    server = live_server(create_app(parts))
    assert wait_until(lambda: hash_of(server, "door")["status"]["camera"]["state"] == "offline", timeout=20)
    shown = [requests.get(server.url + path, headers={"X-API-Key": KEY}, timeout=10).text
             for path in ("/cameras", "/hash/door", "/hash", "/health")]
    assert not any(secret in text for text in shown for secret in ("hunter2", "s3cr3t", "admin"))
    listed = requests.get(server.url + "/cameras", headers={"X-API-Key": KEY}, timeout=10).json()
    assert listed["cameras"][0]["camera"]["source"] == "rtsp://127.0.0.1:9/…"
    # Nor does a camera given wrongly on the command line repeat its text in the error.
    import config

    for wrong in ("rtsp://admin:hunter2@cam/x", "rtsp://cam/x?user=admin&pwd=hunter2"):
        with pytest.raises(SystemExit):
            config.parse_config(["--camera", wrong], env={})
        refused = capsys.readouterr().err
        assert "argument --camera" in refused and "hunter2" not in refused


@pytest.mark.slow  # a 1080p crowd through the recognizer, frame after frame: seconds even with recorded embeddings
def test_a_crowd_embeds_a_few_faces_a_turn_the_least_seen_first(analyzer):
    """Cameras share one model: a crowd's turn embeds at most max_embeds faces, the undecided and least
    seen first, so a door's newcomer waits for a few embeddings, not twenty, and no face of the crowd
    is left out for long."""
    from recognition.live.recognizer import LiveRecognizer
    from recognition.models.detectors import make_detector
    from tests.crowd import CrowdScene

    scene = CrowdScene(seed=5)
    recognizer = LiveRecognizer(analyzer, detector=make_detector("blazeface"), max_embeds=2)
    per_turn, seen_for = [], {}
    for index, frame in enumerate(scene.frames(12, step=2)):
        before = recognizer.embedded
        recognizer.advance(frame.image, index * 2 / scene.fps)
        recognizer.observe()
        per_turn.append(recognizer.embedded - before)
        for track in recognizer._tracker.tracks:
            seen_for[track.id] = (seen_for.get(track.id, (0, track))[0] + (track.misses == 0), track)
    assert max(per_turn) == 2 and sum(per_turn) >= 16, per_turn
    followed = [track for frames, track in seen_for.values() if frames >= 4]
    assert len(followed) > 2, "the crowd shows more faces than one turn embeds"
    assert all(track.sightings or track.swept_at is not None for track in followed)


def test_a_newcomer_seen_in_a_frame_whose_turn_timed_out_is_still_searched_for(analyzer):
    """The motion that made a camera urgent counts even when the frame it was seen in was never analysed
    (the camera's turn timed out): the next frame, where the newcomer stands still, is searched whole."""
    from recognition.live.budget import ARRIVAL, QUIET
    from recognition.live.recognizer import LiveRecognizer
    from recognition.models.detectors import make_detector
    from tests.support.clips import letterbox

    recognizer = LiveRecognizer(analyzer, detector=make_detector("blazeface"), full_search_every=60.0)
    person = letterbox(load_photo("obama/obama2.jpg"), (640, 480))
    empty = np.full_like(person, 90)
    recognizer.urgency_of(empty, 0.0)
    recognizer.advance(empty, 0.0)  # an empty scene, searched once
    assert recognizer.urgency_of(empty.copy(), 0.1) == QUIET
    assert recognizer.urgency_of(person, 0.2) == ARRIVAL  # someone came in; this frame's turn times out
    still = person.copy()
    assert recognizer.urgency_of(still, 0.3) == ARRIVAL  # standing still, but not yet looked for
    recognizer.advance(still, 0.3)
    assert len(recognizer.observe()) == 1
