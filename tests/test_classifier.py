"""The classifier (issue 11, part 2), on the fixture photos with the real model, over the HTTP API."""
import io
import json

import numpy as np

from recognition.matching.trained import FILE
from recognition.store.identity import Identity
from tests.conftest import fixture_path, load_photo

TRAINING = {"Barack": ["obama/obama1.jpg", "obama/obama2.jpg", "obama/obama4.jpg"],
            "Kit": ["kit_harington/kit1.jpg", "kit_harington/kit2.jpg"],
            "Alex": ["alex_lacamoire/alex1.jpg", "alex_lacamoire/alex3.jpg"],
            "Rose": ["rose_leslie/rose1.jpg", "rose_leslie/rose2.jpg"]}


def enroll_people(analyzer, store) -> dict:
    people = {}
    for number, (name, photos) in enumerate(TRAINING.items()):
        vectors = []
        for photo in photos:
            image = load_photo(photo)
            for variant in (image, image[:, ::-1].copy()):  # as taken and mirrored: a few vectors each
                boxes, found = analyzer.embed(variant)
                vectors.append(found[0])
        people[name] = Identity(hash=f"{number + 1:064x}", model="Dlib", embeddings=vectors, name=name)
    store.add_many(list(people.values()))
    return people


def refuse(constant: str):
    raise ValueError(f"{constant} is not JSON")


def predict(client, photo: str, field: str = "file"):
    with open(fixture_path(f"faces/{photo}"), "rb") as handle:
        return client.post("/predict_face", data={field: (io.BytesIO(handle.read()), photo.split("/")[-1])})


def test_nothing_to_predict_with_before_training_and_nothing_to_train_on_without_people(client):
    answer = predict(client, "obama/obama3.jpg")
    assert answer.status_code == 409 and "/train_model" in answer.get_json()["error"]
    refused = client.post("/train_model")
    assert refused.status_code == 409 and "two" in refused.get_json()["error"]


def test_trained_it_names_known_people_and_says_unknown_for_strangers(client, analyzer, store):
    people = enroll_people(analyzer, store)
    trained = client.post("/train_model")
    report = trained.get_json()
    assert trained.status_code == 200, report
    assert report["people"] == 4 and report["vectors"] == 18 and report["method"] in ("nearest", "knn", "softmax", "dense")
    assert report["cv_accuracy"] >= 0.9 and report["unknown_rejection"] >= 0.95 and report["stale"] is False
    assert set(report["methods"]) == {"nearest", "knn", "softmax", "dense"}
    body = predict(client, "obama/obama3.jpg").get_json()  # a photo of him it was not trained on
    assert [(f["name"], f["known"]) for f in body["faces"]] == [("Barack", True)] and body["method"] == report["method"]
    assert predict(client, "kit_harington/kit3.jpg", "image").get_json()["faces"][0]["name"] == "Kit"
    for stranger in ("biden/biden1.jpg", "biden/biden2.jpg", "lin_manuel_miranda/lin1.png"):
        strict = json.loads(predict(client, stranger).data, parse_constant=refuse)  # valid JSON: no Infinity
        faces = strict["faces"]
        assert faces and all(f["known"] is False and f["name"] is None for f in faces), (stranger, faces)
    # Read back from its file (as after a restart), it decides the same.
    from recognition.matching.trained import ClassifierFile

    reread = ClassifierFile(store.data_dir, store.key).get()
    query = np.stack(people["Barack"].embeddings[:1] + people["Kit"].embeddings[:1])
    assert reread.model.method == report["method"] and reread.model.predict(query) == \
        client.application.extensions["faceapp"].classifier.file.get().model.predict(query)
    # Sealed: none of the vectors it holds is in the file in the clear.
    sealed = (store.data_dir / FILE).read_bytes()
    assert people["Barack"].embeddings[0].tobytes()[:64] not in sealed
    # People change: it says it is stale; a deleted person's vectors do not outlive them in it.
    _, joe = analyzer.embed(load_photo("biden/biden1.jpg"))
    analyzer.matcher.enroll(joe[0], "Joe")
    assert predict(client, "obama/obama3.jpg").get_json()["stale"] is True
    assert client.delete(f"/faces/{people['Rose'].hash}").status_code == 200
    assert not (store.data_dir / FILE).exists()
    assert predict(client, "obama/obama3.jpg").status_code == 409


def test_a_photo_without_faces_and_a_bad_upload(client, analyzer, store):
    enroll_people(analyzer, store)
    assert client.post("/train_model").status_code == 200
    empty = client.post("/predict_face", data={"file": (io.BytesIO(np.zeros(10, np.uint8).tobytes()), "x.jpg")})
    assert empty.status_code in (400, 415) and "error" in empty.get_json()
    assert client.post("/predict_face").status_code == 400
