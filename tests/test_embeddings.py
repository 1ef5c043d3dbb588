"""Embeddings in and out: /process-frame, extraction from images and videos, /compare_embeddings."""
from dataclasses import replace
import base64
import io
import json

import numpy as np
import pytest

from recognition.pipeline.video import VideoLimits
from tests.conftest import CLIP, fixture_path


def upload(field, relative):
    return {field: (io.BytesIO(fixture_path("faces/" + relative).read_bytes()), relative.rsplit("/", 1)[-1])}


def extract(client, relative):
    response = client.post("/extract_embeddings_from_image", data=upload("image", relative))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_process_frame_names_a_known_face_from_a_file_or_base64(client):
    enrolled = client.post("/enroll", data={**upload("image", "biden/biden1.jpg"), "name": "Joe"}).get_json()
    as_file = client.post("/process-frame", data=upload("frame", "biden/biden2.jpg")).get_json()
    encoded = base64.b64encode(fixture_path("faces/biden/biden2.jpg").read_bytes()).decode()
    as_base64 = client.post("/process-frame", data={"frame": "data:image/jpeg;base64," + encoded}).get_json()
    for body in (as_file, as_base64):
        assert body["hash"] == enrolled["hash"] and body["name"] == "Joe"
        assert len(body["coords"]) == 4 and len(body["embedding"]) == 128
        assert abs(np.linalg.norm(body["embedding"]) - 1) < 1e-4
        assert body["faces"][0]["box"] == body["coords"]
    stranger = client.post("/process-frame", data=upload("frame", "kit_harington/kit1.jpg")).get_json()
    assert stranger["hash"] is None and len(stranger["embedding"]) == 128


def test_process_frame_bad_input(client):
    assert client.post("/process-frame", data={"frame": "%%% not base64"}).status_code == 400
    response = client.post("/process-frame", data={"frame": base64.b64encode(b"hello").decode()})
    assert response.status_code == 415 and "not a usable image" in response.get_json()["error"]
    assert client.post("/process-frame", data={}).status_code == 400
    import cv2

    ok, blank = cv2.imencode(".png", np.full((200, 200, 3), 127, np.uint8))
    response = client.post("/process-frame", data={"frame": (io.BytesIO(blank.tobytes()), "blank.png")})
    assert response.status_code == 422 and response.get_json()["error"] == "no face was found in the frame"


def test_extract_from_image_gives_one_entry_per_face(client):
    body = extract(client, "group/obama_and_biden.jpg")
    assert body["model"] == "Dlib" and len(body["embeddings"]) == 2
    first, second = (np.asarray(e["embedding"]) for e in body["embeddings"])
    assert first @ second < 0.91  # two different people
    assert all(len(e["box"]) == 4 for e in body["embeddings"])


def test_compare_decides_same_and_different_people(client):
    vector = {p: extract(client, p)["embeddings"][0]["embedding"] for p in
              ["obama/obama1.jpg", "obama/obama2.jpg", "biden/biden1.jpg", "rose_leslie/rose1.jpg", "rose_leslie/rose2.jpg"]}
    def compare(a, b):
        response = client.post("/compare_embeddings", json={"embedding1": vector[a], "embedding2": vector[b]})
        assert response.status_code == 200
        return response.get_json()
    same = compare("obama/obama1.jpg", "obama/obama2.jpg")
    assert same["match"] is True and same["threshold"] == 0.93 and same["model"] == "Dlib"
    assert compare("rose_leslie/rose1.jpg", "rose_leslie/rose2.jpg")["match"] is True
    different = compare("obama/obama1.jpg", "biden/biden1.jpg")
    assert different["match"] is False and different["similarity"] < 0.91
    assert compare("rose_leslie/rose1.jpg", "obama/obama2.jpg")["match"] is False


@pytest.mark.parametrize("body, status, message", [
    ({"embedding1": [0.1] * 128}, 400, "needs 'embedding2'"),
    ({"embedding1": [0.1] * 127, "embedding2": [0.1] * 128}, 422, "has 127 values"),
    ({"embedding1": ["a"] * 128, "embedding2": [0.1] * 128}, 400, "numbers only"),
    ({"embedding1": [True] * 128, "embedding2": [0.1] * 128}, 400, "numbers only"),
    ({"embedding1": [0.0] * 128, "embedding2": [0.1] * 128}, 400, "zero vector"),
    ({"embedding1": [1e308] * 128, "embedding2": [0.1] * 128}, 400, "too large"),
    ({"embedding1": "x", "embedding2": [0.1] * 128}, 400, "non-empty list"),
    ([1, 2], 400, "must be an object"),
])
def test_compare_refuses_bad_vectors(client, body, status, message):
    response = client.post("/compare_embeddings", json=body)
    assert response.status_code == status and message in response.get_json()["error"]


def test_compare_refuses_non_finite_numbers_and_non_json(client):
    text = json.dumps({"embedding1": [0.1] * 127 + [float("nan")], "embedding2": [0.1] * 128})
    response = client.post("/compare_embeddings", data=text, content_type="application/json")
    assert response.status_code == 400 and "non-finite" in response.get_json()["error"]
    response = client.post("/compare_embeddings", data="{broken", content_type="application/json")
    assert response.status_code == 400 and "JSON" in response.get_json()["error"]


def test_video_gives_good_frames_of_the_person_in_the_clip(client):
    lin = np.asarray(extract(client, "lin_manuel_miranda/lin1.png")["embeddings"][0]["embedding"])
    response = client.post("/extract_embeddings_from_video",
                           data={"video": (io.BytesIO(fixture_path("video/short_hamilton_clip.mp4").read_bytes()), "clip.mp4")})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["frames_read"] == 275 and body["frames_analysed"] <= 275 / 10  # a few frames a second, not all
    faces = body["embeddings"]
    assert faces and all(face["quality"] >= body["min_quality"] for face in faces)
    assert body["faces_seen"] > len(faces)  # blurred audience faces (from frame 215 on) were left out
    assert max(face["frame"] for face in faces) < 215
    similarities = [float(np.asarray(face["embedding"]) @ lin) for face in faces]
    assert sum(s >= 0.91 for s in similarities) >= len(faces) * 0.7  # mostly Lin-Manuel Miranda, on stage
    assert all(face["frame"] % 15 == 0 and abs(face["time"] - face["frame"] / 29.97) < 0.01 for face in faces)


def test_video_limits_and_bad_videos(services):
    from webapp import create_app

    data = CLIP.read_bytes()
    client = create_app(replace(services, video_limits=VideoLimits(max_seconds=3))).test_client()
    response = client.post("/extract_embeddings_from_video", data={"video": (io.BytesIO(data), "clip.mp4")})
    assert response.status_code == 413 and response.get_json()["error"] == "the video lasts 9 s; the limit is 3 s"
    for bad in (b"", b"not a video" * 100, data[: len(data) // 3]):
        response = client.post("/extract_embeddings_from_video", data={"video": (io.BytesIO(bad), "v.mp4")})
        assert response.status_code in (400, 415), response.get_json()
        assert response.get_json()["error"]
    assert client.post("/extract_embeddings_from_video", data={}).status_code == 400
