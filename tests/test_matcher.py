"""Same-person and different-person decisions with the real Dlib model on real photos."""
import itertools

import numpy as np
import pytest

from recognition.matching.matcher import AlreadyEnrolled, Matcher, identity_hash
from tests.conftest import load_photo, open_store

PEOPLE = {
    "obama": ["obama/obama1.jpg", "obama/obama2.jpg", "obama/obama3.jpg", "obama/obama4.jpg", "obama/obama_240p.jpg"],
    "biden": ["biden/biden1.jpg", "biden/biden2.jpg"],
    "kit": ["kit_harington/kit1.jpg", "kit_harington/kit2.jpg", "kit_harington/kit3.jpg"],
    "rose": ["rose_leslie/rose1.jpg", "rose_leslie/rose2.jpg"],
    "alex": ["alex_lacamoire/alex1.jpg", "alex_lacamoire/alex2.png", "alex_lacamoire/alex3.jpg"],
    "lin": ["lin_manuel_miranda/lin1.png"],
}

@pytest.fixture(scope="module")
def vectors(detector, aligner, embedder):
    """The largest face's embedding of every labelled photo."""
    from recognition.pipeline.analyzer import FaceAnalyzer

    analyzer = FaceAnalyzer(detector, aligner, embedder, matcher=None)
    out = {}
    for person, photos in PEOPLE.items():
        for photo in photos:
            _, embeddings = analyzer.embed(load_photo(photo))
            out[photo] = (person, embeddings[0])
    return out

def test_embeddings_are_unit_length(vectors):
    for photo, (_, vector) in vectors.items():
        assert abs(np.linalg.norm(vector) - 1.0) < 1e-4, photo

def test_every_same_person_pair_matches_and_every_other_pair_does_not(vectors, store):
    matcher = Matcher(store, "Dlib")
    wrong = []
    for (a, (pa, va)), (b, (pb, vb)) in itertools.combinations(vectors.items(), 2):
        decided_same = matcher.similarity(va, vb) >= matcher.threshold
        if decided_same != (pa == pb):
            wrong.append((a, b, round(matcher.similarity(va, vb), 3)))
    assert wrong == []

def test_enrolled_person_is_identified_from_another_photo(vectors, store):
    matcher = Matcher(store, "Dlib")
    obama = matcher.enroll(vectors["obama/obama1.jpg"][1], "Barack")
    biden = matcher.enroll(vectors["biden/biden1.jpg"][1], "Joe")
    found = matcher.identify(np.stack([vectors["obama/obama4.jpg"][1], vectors["biden/biden2.jpg"][1],
                                       vectors["kit_harington/kit1.jpg"][1]]))
    assert [m.identity_hash if m else None for m in found] == [obama.hash, biden.hash, None]
    assert found[0].name == "Barack"

def test_second_enrollment_of_same_person_is_refused_with_existing_hash(vectors, store):
    matcher = Matcher(store, "Dlib")
    first = matcher.enroll(vectors["kit_harington/kit1.jpg"][1])
    with pytest.raises(AlreadyEnrolled) as refused:
        matcher.enroll(vectors["kit_harington/kit2.jpg"][1])
    assert refused.value.match.identity_hash == first.hash
    assert len(store) == 1

def test_two_faces_in_one_frame_never_share_an_identity(vectors, store):
    matcher = Matcher(store, "Dlib")
    obama = matcher.enroll(vectors["obama/obama1.jpg"][1])
    # Two sightings of the same person in one frame (a photo held up beside him, say).
    found = matcher.identify(np.stack([vectors["obama/obama2.jpg"][1], vectors["obama/obama4.jpg"][1]]))
    hashes = [m.identity_hash for m in found if m]
    assert hashes == [obama.hash]

def test_identity_hash_is_salted_per_installation(vectors, tmp_path):
    vector = vectors["rose_leslie/rose1.jpg"][1]
    one, two = open_store(tmp_path / "one"), open_store(tmp_path / "two")
    first = Matcher(one, "Dlib").enroll(vector)
    second = Matcher(two, "Dlib").enroll(vector)
    assert first.hash != second.hash
    assert first.hash == identity_hash(one.secret, vector) and len(first.hash) == 64

def test_galleries_are_per_model(vectors, store):
    Matcher(store, "Dlib").enroll(vectors["lin_manuel_miranda/lin1.png"][1])
    other_model = Matcher(store, "Facenet")
    assert other_model.identify(vectors["lin_manuel_miranda/lin1.png"][1][np.newaxis, :]) == [None]

def test_an_identity_with_several_vectors_matches_on_its_closest_one(vectors, store):
    from recognition.store.identity import Identity

    first, second = vectors["obama/obama1.jpg"][1], vectors["obama/obama3.jpg"][1]
    store.add_many([Identity(hash="0f" * 32, model="Dlib", embeddings=[first, second], name="Barack")])
    probe = vectors["obama/obama4.jpg"][1]
    match = Matcher(store, "Dlib").identify(probe[np.newaxis, :])[0]
    assert match.identity_hash == "0f" * 32
    assert match.similarity == pytest.approx(max(float(first @ probe), float(second @ probe)), abs=1e-5)
