"""The grouping rule itself, on vectors made to be clear cases."""
import numpy as np

from recognition.album.people import FaceRef, group_people


def around(centre: np.ndarray, count: int, spread: float, rng) -> np.ndarray:
    vectors = centre + rng.normal(scale=spread, size=(count, len(centre)))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_two_people_a_loner_and_never_two_faces_of_one_photo():
    rng = np.random.default_rng(0)
    first, second, loner = (rng.normal(size=128) for _ in range(3))
    first, second, loner = (v / np.linalg.norm(v) for v in (first, second, loner))
    vectors = np.vstack([around(first, 5, 0.01, rng), around(second, 4, 0.01, rng), loner[None, :],
                         around(first, 1, 0.01, rng)])
    refs = [FaceRef("a", f"p{i}.jpg", 0) for i in range(10)] + [FaceRef("a", "p0.jpg", 1)]  # a look-alike in p0
    people, alone = group_people(vectors, refs, threshold=0.9)
    groups = sorted(sorted(f.photo + f"#{f.face}" for f in person.faces) for person in people)
    assert groups == [sorted(f"p{i}.jpg#0" for i in range(5)), sorted(f"p{i}.jpg#0" for i in range(5, 9))]
    assert {f"{r.photo}#{r.face}" for r in alone} == {"p9.jpg#0", "p0.jpg#1"}
    again, _ = group_people(vectors[::-1], refs[::-1], threshold=0.9)
    assert sorted(p.id for p in again) == sorted(p.id for p in people)  # ids do not depend on the order


def test_a_single_chance_match_does_not_chain_two_people():
    rng = np.random.default_rng(1)
    first, second = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 64)))
    bridge = (first + second) / np.linalg.norm(first + second)  # a face a bit like both
    vectors = np.vstack([around(first, 4, 0.005, rng), around(second, 4, 0.005, rng), bridge[None, :]])
    refs = [FaceRef("a", f"p{i}.jpg", 0) for i in range(9)]
    threshold = float(bridge @ first) - 0.01
    people, alone = group_people(vectors, refs, threshold=threshold)
    assert sorted(len(p.faces) for p in people) in ([4, 5], [4, 4])  # the bridge joins one side at most
    assert not any({"p0.jpg", "p4.jpg"} <= {f.photo for f in p.faces} for p in people)
