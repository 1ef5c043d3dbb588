"""POST /faces/<hash>/photos: more photos of a person, each checked, with the real model (issue 11, part 1)."""
import io

import cv2
import numpy as np

from tests.conftest import fixture_path, load_photo
from tests.test_live import clip_frames


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def photo_file(relative: str) -> tuple:
    return (fixture_path(f"faces/{relative}").open("rb"), relative.split("/")[-1])


def enroll(analyzer, relative: str, name: str):
    _, vectors = analyzer.embed(load_photo(relative))
    return analyzer.matcher.enroll(vectors[0], name)


def test_a_second_photo_makes_a_frame_recognised_that_one_photo_alone_missed(client, analyzer):
    lin = enroll(analyzer, "lin_manuel_miranda/lin1.png", "Lin")
    first, later = clip_frames(82, 82)[0], clip_frames(108, 108)[0]  # on stage, 0.9 s apart
    assert [f.identity_hash for f in analyzer.analyze(first)] == [None]  # his one photo: 0.929, under 0.93
    added = client.post(f"/faces/{lin.hash}/photos", data={"image": [(io.BytesIO(jpeg(later)), "stage.jpg")]})
    assert added.status_code == 200, added.get_json()
    assert added.get_json()["added"] == 1 and added.get_json()["vectors"] == 2
    assert [f.identity_hash for f in analyzer.analyze(first)] == [lin.hash]
    listed = {face["hash"]: face for face in client.get("/faces").get_json()["faces"]}
    assert listed[lin.hash]["vectors"] == 2


def test_photos_of_someone_else_or_poor_ones_are_refused_and_nothing_is_added(client, analyzer):
    obama = enroll(analyzer, "obama/obama1.jpg", "Barack")
    joe = enroll(analyzer, "biden/biden1.jpg", "Joe")
    url = f"/faces/{obama.hash}/photos"
    wrong = client.post(url, data={"image": [photo_file("obama/obama2.jpg"), photo_file("biden/biden2.jpg")]})
    body = wrong.get_json()
    assert wrong.status_code == 409 and "Joe" in body["error"] and body["matches"] == joe.hash
    assert "photo 2 (biden2.jpg)" in body["error"]
    stranger = client.post(url, data={"image": [photo_file("lin_manuel_miranda/lin1.png")]})  # enrolled by nobody
    assert stranger.status_code == 409 and "not look enough like" in stranger.get_json()["error"]
    blurred = next(b for sigma in (3, 4, 5, 6, 8) if analyzer.detector.detect(
        b := cv2.GaussianBlur(load_photo("obama/obama2.jpg"), (0, 0), sigma)))  # blurred, the face still found
    poor = client.post(url, data={"image": [(io.BytesIO(jpeg(blurred)), "blurred.jpg")]})
    assert poor.status_code == 422 and "the face is blurred" in poor.get_json()["error"], poor.get_json()
    empty = client.post(url, data={"image": [(io.BytesIO(jpeg(np.full((300, 300, 3), 128, np.uint8))), "wall.jpg")]})
    assert empty.status_code == 422 and "no face" in empty.get_json()["error"]
    assert len(analyzer.matcher.store.get(obama.hash).embeddings) == 1  # none of it was added
    good = client.post(url, data={"image": [photo_file("obama/obama2.jpg"), photo_file("obama/obama3.jpg")]})
    assert good.status_code == 200 and good.get_json()["added"] == 2 and good.get_json()["vectors"] == 3
    again = client.post(url, data={"image": [photo_file("obama/obama2.jpg")]})
    assert again.status_code == 409 and "already" in again.get_json()["error"]
    twice = client.post(url, data={"image": [photo_file("obama/obama4.jpg"), photo_file("obama/obama4.jpg")]})
    assert twice.status_code == 409 and "photo 2" in twice.get_json()["error"]  # the same photo twice: once
    assert client.post(url).status_code == 400
    assert client.post(f"/faces/{'0' * 64}/photos", data={"image": [photo_file("obama/obama2.jpg")]}).status_code == 404


def test_the_command_line_imports_a_folder_per_person_with_a_progress_bar(tmp_path, weights_dir):
    """python -m tools.people import DIR: people enrolled from their folders, photos added to one
    already enrolled, and what cannot be used reported with the reason."""
    import os
    import shutil
    import subprocess
    import sys

    from tests.conftest import ROOT, open_store

    people = tmp_path / "people"
    for name, photos in {"Barack": ["obama/obama1.jpg", "obama/obama2.jpg", "obama/obama3.jpg", "biden/biden1.jpg"],
                         "Kit": ["kit_harington/kit1.jpg", "kit_harington/kit2.jpg"]}.items():
        (people / name).mkdir(parents=True)
        for photo in photos:
            shutil.copyfile(fixture_path(f"faces/{photo}"), people / name / photo.replace("/", "-"))
    (people / "Kit" / "broken.jpg").write_bytes(b"not a photo")
    (people / "Empty").mkdir()
    env = dict(os.environ, FACE_DATA_DIR=str(tmp_path / "db"), FACE_KEY_FILE=str(tmp_path / "keys" / "store.key"),
               FACE_MODEL="Dlib", DEEPFACE_HOME=str(weights_dir.parent.parent), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-m", "tools.people", "import", str(people)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "importing" in done.stderr and "7/7" in done.stderr  # the progress bar
    assert "2 people enrolled" in done.stdout and "5 photos added" in done.stdout
    assert "Barack/biden-biden1.jpg" in done.stdout and "no-photos" in done.stdout and "unreadable" in done.stdout
    with open_store(tmp_path) as store:
        vectors = {i.name: len(i.embeddings) for i in store.identities()}
    assert vectors == {"Barack": 3, "Kit": 2}
    again = subprocess.run([sys.executable, "-m", "tools.people", "import", str(people)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 people enrolled, 0 given more photos, 0 photos added" in again.stdout
    assert "5 duplicate" in again.stdout  # the same photos again add nothing


def zipped(entries: dict) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_of_a_folder_per_person_is_imported_over_http(client, analyzer):
    face = lambda relative: fixture_path(f"faces/{relative}").read_bytes()  # noqa: E731
    kit = enroll(analyzer, "kit_harington/kit1.jpg", "Kit")
    data = zipped({"People/Barack/a.jpg": face("obama/obama1.jpg"), "People/Barack/b.jpg": face("obama/obama2.jpg"),
                   "People/Barack/stray.jpg": face("biden/biden1.jpg"), "People/Kit/k2.jpg": face("kit_harington/kit2.jpg"),
                   "People/Kit/notes.txt": b"not a photo", "__MACOSX/People/._a.jpg": b"junk"})
    answer = client.post("/people/import", data={"zip": (io.BytesIO(data), "people.zip")})
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert body["created"] == ["Barack"] and body["updated"] == ["Kit"] and body["added"] == 3
    assert [(s["photo"], s["reason"]) for s in body["skipped"]] == [("People/Barack/stray.jpg", "someone-else")]
    assert len(analyzer.matcher.store.get(kit.hash).embeddings) == 2
    damaged = bytearray(zipped({"Ada/a.jpg": face("obama/obama1.jpg")}))
    damaged[200:260] = bytes(60)  # inside the photo's compressed data: its check fails when unpacked
    for bad, why in [(b"not a zip", "not a zip"), (bytes(damaged), "cannot be unpacked"), (zipped({"loose.jpg": face("obama/obama1.jpg")}), "folder named"),
                     (zipped({f"Many/{n}.jpg": b"x" for n in range(201)}), "at most 200")]:
        refused = client.post("/people/import", data={"zip": (io.BytesIO(bad), "bad.zip")})
        assert refused.status_code == 400 and why in refused.get_json()["error"], refused.get_json()
    assert client.post("/people/import").status_code == 400


def test_photos_are_decoded_one_at_a_time_and_a_refusal_stops_the_rest(client, analyzer):
    """A request holds one decoded photo at a time: the first refused photo answers, and the photos after it
    are never decoded (here the second is no picture at all, which would answer 415 had it been read)."""
    obama = enroll(analyzer, "obama/obama1.jpg", "Barack")
    enroll(analyzer, "biden/biden1.jpg", "Joe")
    refused = client.post(f"/faces/{obama.hash}/photos",
                          data={"image": [photo_file("biden/biden2.jpg"), (io.BytesIO(b"not a picture"), "x.jpg")]})
    assert refused.status_code == 409 and "photo 1 (biden2.jpg)" in refused.get_json()["error"], refused.get_json()
