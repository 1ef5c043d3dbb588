"""Strangers are not named, however many photos the people they are compared with have (issue 11,
part 0): real faces, the real model, a gallery where every person has several vectors."""
import numpy as np
import pytest
from statistics import NormalDist

from recognition.matching.calibration import IMPOSTORS, required_similarity
from recognition.matching.matcher import Matcher
from recognition.store.gallery import gallery_of
from recognition.store.identity import Identity
from tests.conftest import MODEL, fixture_path, load_photo

NOT_ONE_PERSON = {"group", "odd"}
VARIANTS = {"as taken": lambda image: image, "mirrored": lambda image: image[:, ::-1].copy(),
            "darker": lambda image: (image * 0.6).astype(np.uint8)}


@pytest.fixture(scope="module")
def faces(detector, aligner, embedder):
    """person -> [(photo, the largest face's vector)] for every photo and variant."""
    from recognition.pipeline.analyzer import FaceAnalyzer

    found, analyzer = {}, FaceAnalyzer(detector, aligner, embedder, None)
    folders = sorted(f for f in fixture_path("faces").iterdir() if f.is_dir() and f.name not in NOT_ONE_PERSON)
    for person, photo in ((folder.name, path.name) for folder in folders for path in sorted(folder.iterdir())):
        for change in VARIANTS.values():
            boxes, vectors = analyzer.embed(change(load_photo(f"{person}/{photo}")))
            if len(boxes):
                found.setdefault(person, []).append((photo, vectors[0]))
    return found


def test_a_stranger_is_not_named_against_people_with_several_photos_each(faces, store):
    matcher = Matcher(store, MODEL)
    # Everyone but the stranger is enrolled with every photo and variant of them: up to 18 vectors each.
    for stranger in faces:
        gallery = [Identity(hash=f"{i:064x}", model=MODEL, embeddings=[v for _, v in faces[p]], name=p)
                   for i, p in enumerate(faces) if p != stranger]
        queries = np.stack([v for _, v in faces[stranger]])
        named = [m.name for m in matcher.assign(gallery_of(gallery), queries) if m is not None]
        assert named == [], f"{stranger}'s photos were named {named}"


def test_known_people_are_still_named_from_their_other_photos(faces, store):
    matcher = Matcher(store, MODEL)
    enrolled = {p: photos[0][0] for p, photos in faces.items()}  # one photo each, as taken and its variants
    gallery = gallery_of([Identity(hash=f"{i:064x}", model=MODEL, name=p,
                                   embeddings=[v for photo, v in faces[p] if photo == enrolled[p]])
                          for i, p in enumerate(faces)])
    right = total = 0
    for person, photos in faces.items():
        for photo, vector in photos:
            if photo != enrolled[person]:
                match = matcher.assign(gallery, vector[None, :])[0]
                assert match is None or match.name == person  # never someone else
                right += match is not None
                total += 1
    assert right >= 0.85 * total, f"{right} of {total}"


def test_the_bar_keeps_a_stranger_s_chance_as_vectors_grow():
    """The best of k stranger similarities drawn as the model describes them clears the bar for k
    vectors about as often as one clears the threshold: more photos, no more chances."""
    impostors, threshold = IMPOSTORS["Dlib"], 0.93
    rng = np.random.default_rng(0)
    tail = 1 - NormalDist(impostors.mean, impostors.spread).cdf(threshold)
    for k in (1, 3, 10, 30):
        bar = required_similarity(threshold, k, impostors.mean, impostors.spread)
        best = rng.normal(impostors.mean, impostors.spread, size=(400_000, k)).max(axis=1)
        assert (best >= bar).mean() == pytest.approx(tail, rel=0.25), k
        assert (k == 1) == (bar == threshold) and bar < 0.99


def test_near_copies_of_a_photo_do_not_raise_the_bar_but_other_looks_do():
    from recognition.store.gallery import distinct_looks

    rng = np.random.default_rng(3)
    base = rng.normal(size=128)
    base /= np.linalg.norm(base)
    copies = [base + 0.01 * rng.normal(size=128) for _ in range(5)]  # one photo, re-encoded five times
    looks = [rng.normal(size=128) for _ in range(5)]  # five different photos
    unit = lambda vs: np.stack([v / np.linalg.norm(v) for v in vs]).astype(np.float32)  # noqa: E731
    assert distinct_looks(unit(copies)) == 1 and distinct_looks(unit(looks)) == 5
    gallery = gallery_of([Identity(hash="a" * 64, model=MODEL, embeddings=list(unit(copies))),
                          Identity(hash="b" * 64, model=MODEL, embeddings=list(unit(looks)))])
    assert gallery.vector_count(0) == 1 and gallery.vector_count(1) == 5
