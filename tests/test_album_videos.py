"""Faces in album videos, with the real detector and model over real HTTP: a phone-sized video of a street
where people walk in, stand a while (small faces, darker than their photos) and leave, one of them twice.
Searching with another photo of a person finds the video at the times they are in view; the frame is
served highlighted, decoded in memory; their appearances join their album person; broken and huge videos
are skipped with their reason."""
import shutil
from dataclasses import replace

import cv2
import numpy as np
import pytest
import requests

from recognition.album.library import AlbumLibrary
from tests.conftest import fixture_path, wait_until
from tests.support.home_video import Visit, home_video
from webapp import create_app

KIT_FIRST, BIDEN, KIT_AGAIN = (1.0, 7.0), (8.0, 13.0), (15.0, 19.0)  # seconds in view, walking in and out
# Kit stands at the same place both times: his two appearances differ by their time only.
VISITS = [Visit("kit_harington/kit1.jpg", *KIT_FIRST), Visit("biden/biden1.jpg", *BIDEN, x=0.6),
          Visit("kit_harington/kit1.jpg", *KIT_AGAIN)]


@pytest.fixture(scope="module")
def street_video(tmp_path_factory):
    return home_video(tmp_path_factory.mktemp("video") / "street.mp4", VISITS, seconds=20.0)


def within(appearance, span) -> bool:
    return span[0] - 0.5 <= appearance["start"] <= appearance["at"] <= appearance["end"] <= span[1] + 0.5


@pytest.fixture
def video_album(tmp_path, services, analyzer, street_video):
    """An album of photos of Kit and Biden and the street video; a video that is not one, and one too large."""
    folder = tmp_path / "Phone"
    folder.mkdir()
    for relative in ("kit_harington/kit2.jpg", "kit_harington/kit3.jpg", "biden/biden2.jpg"):
        shutil.copyfile(fixture_path(f"faces/{relative}"), folder / relative.split("/")[1])
    (folder / "2024").mkdir()
    shutil.copyfile(street_video, folder / "2024" / "street.mp4")
    (folder / "2024" / "broken.mov").write_bytes(np.random.default_rng(3).bytes(50_000))
    huge = cv2.VideoWriter(str(folder / "2024" / "huge.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (4000, 2500))
    for _ in range(3):
        huge.write(np.zeros((2500, 4000, 3), np.uint8))
    huge.release()
    parts = replace(services, albums=AlbumLibrary.for_server([folder], services.store, analyzer).start())
    assert wait_until(lambda: parts.albums.progress.state == "ready", timeout=300)
    yield parts, folder
    parts.albums.stop()


@pytest.fixture
def video_server(video_album, live_server):
    parts, folder = video_album
    return live_server(create_app(parts)), parts, folder


def search(server, photo: str) -> dict:
    with open(fixture_path(f"faces/{photo}"), "rb") as handle:
        answer = requests.post(server.url + "/album/search", files={"image": handle}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_person_in_a_video_is_found_by_their_photo_at_the_right_times(video_server):
    server, parts, _ = video_server
    progress = requests.get(server.url + "/album", timeout=10).json()
    assert progress["state"] == "ready" and progress["skipped_by_reason"] == {"unreadable": 1, "too-large": 1}
    matches = search(server, "kit_harington/kit1.jpg")["matches"]  # the photo he was filmed from: the model's own
    video = next(m for m in matches if m.get("video") == "2024/street.mp4")
    assert "photo" not in video and {"kit2.jpg", "kit3.jpg"} <= {m.get("photo") for m in matches}
    # Both of his visits are found, each within the time he was in view; never during Biden's.
    assert len(video["appearances"]) == 2, video
    assert any(within(a, KIT_FIRST) for a in video["appearances"]) and any(
        within(a, KIT_AGAIN) for a in video["appearances"])
    assert not any(BIDEN[0] <= a["at"] <= BIDEN[1] for a in video["appearances"])
    assert video["at"] == video["appearances"][0]["at"] and video["box"] == video["appearances"][0]["box"]
    x, y, w, h = video["box"]
    assert 0 < x and x + w < 1280 and 0 < y and y + h < 720 and 60 <= h <= 200  # his face, at HD size
    biden = search(server, "biden/biden1.jpg")["matches"]
    in_video = next(m for m in biden if m.get("video") == "2024/street.mp4")
    assert [within(a, BIDEN) for a in in_video["appearances"]] == [True]


def test_another_photo_of_a_person_finds_them_in_the_video(video_server):
    """A photo the video was not made from: his other photos in the album and his time in the video."""
    server, _, _ = video_server
    matches = search(server, "kit_harington/kit2.jpg")["matches"]
    video = next((m for m in matches if m.get("video") == "2024/street.mp4"), None)
    assert video is not None, matches
    assert all(within(a, KIT_FIRST) or within(a, KIT_AGAIN) for a in video["appearances"])


def test_the_frame_is_served_highlighted_from_memory(video_server):
    server, _, folder = video_server
    video = next(m for m in search(server, "kit_harington/kit1.jpg")["matches"] if m.get("video"))
    box = ",".join(str(v) for v in video["box"])
    answer = requests.get(server.url + "/album/frame", params={"album": "Phone", "video": video["video"],
                                                               "at": video["at"], "box": box}, timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/jpeg", answer.text
    frame = cv2.imdecode(np.frombuffer(answer.content, np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (720, 1280, 3)
    x, y, w, h = video["box"]
    edge = frame[y, x + w // 2].astype(int)  # the highlight's colour on the box's top edge
    assert edge[2] > 200 and edge[1] > 150 and edge[0] < 80, edge
    small = requests.get(server.url + "/album/frame", params={"album": "Phone", "video": video["video"],
                                                              "at": video["at"], "size": "320"}, timeout=30)
    assert cv2.imdecode(np.frombuffer(small.content, np.uint8), cv2.IMREAD_COLOR).shape[1] == 320
    for params, status in [({"album": "Phone", "video": "kit2.jpg", "at": "1"}, 404),  # a photo is not a video
                           ({"album": "Phone", "video": "2024/broken.mov", "at": "1"}, 404),  # not indexed
                           ({"album": "Phone", "video": "../Phone/2024/street.mp4", "at": "1"}, 404),
                           ({"album": "Phone", "video": video["video"], "at": "0.1"}, 404),  # nobody in view yet
                           ({"album": "Phone", "video": video["video"], "at": "14"}, 404),  # nor between visits
                           ({"album": "Phone", "video": video["video"], "at": "nan"}, 400),
                           ({"album": "Phone", "video": video["video"], "at": "-1"}, 400),
                           ({"album": "Phone", "video": video["video"], "at": "3", "box": "1,2"}, 400)]:
        answer = requests.get(server.url + "/album/frame", params=params, timeout=30)
        assert answer.status_code == status and "error" in answer.json(), (params, answer.text)
    # A video is never served as a photo.
    assert requests.get(server.url + "/album/photo", params={"album": "Phone", "photo": video["video"]},
                        timeout=10).status_code == 404


def test_appearances_join_the_album_people(video_server):
    server, _, _ = video_server
    people = requests.get(server.url + "/album/people", timeout=30).json()["people"]
    kit = next(p for p in people if any(f["photo"] == "kit2.jpg" for f in p["faces"]))
    in_video = [f for f in kit["faces"] if f["photo"] == "2024/street.mp4"]
    assert len(in_video) == 2 and all(f["video"] and f["start"] <= f["at"] <= f["end"] for f in in_video)
    assert any(f["photo"] == "kit3.jpg" for f in kit["faces"])
    assert not any(BIDEN[0] <= f["at"] <= BIDEN[1] for f in in_video)


def test_an_unchanged_video_is_not_read_again(video_album, analyzer):
    parts, folder = video_album
    before = parts.albums._indexes["Phone"].entries["2024/street.mp4"]
    again = AlbumLibrary.for_server([folder], parts.store, analyzer).start()
    try:
        assert wait_until(lambda: again.progress.state == "ready", timeout=60)
        assert again.progress.read == 0  # nothing re-read: the video's size and time are as indexed
        entry = again._indexes["Phone"].entries["2024/street.mp4"]
        assert np.array_equal(entry.times, before.times) and entry.faces == before.faces == 3
    finally:
        again.stop()


def test_a_correction_on_one_appearance_holds_through_a_re_index_from_scratch(video_server, services, analyzer,
                                                                                live_server):
    """Kit's second visit taken out of his person stays out, and his first stays in, after the index is
    rebuilt: a mark on an appearance keeps its time (his box is the same both times)."""
    from tests.test_album_people_api import index_again

    server, parts, folder = video_server
    kit = next(p for p in requests.get(server.url + "/album/people", timeout=30).json()["people"]
               if any(f["photo"] == "kit2.jpg" for f in p["faces"]))
    second = next(f for f in kit["faces"] if f.get("video") and within(f, KIT_AGAIN))
    answer = requests.post(f"{server.url}/album/people/{kit['id']}/take-out",
                           json={k: second[k] for k in ("album", "photo", "face")}, timeout=30)
    assert answer.status_code == 200, answer.text
    server, library = index_again(parts.albums, folder, services, analyzer, live_server)
    try:
        people = requests.get(server.url + "/album/people", timeout=30).json()["people"]
        kit = next(p for p in people if p["id"] == kit["id"])
        in_video = [f for f in kit["faces"] if f.get("video")]
        assert len(in_video) == 1 and within(in_video[0], KIT_FIRST), in_video
    finally:
        library.stop()
