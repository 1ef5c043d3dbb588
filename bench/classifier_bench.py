"""The classifier's methods against nearest neighbour (the matcher), on held-out fixture photos.

Every fixture photo of one person and its camera-like variants (bench/compare_accuracy.py's) are
embedded with the real model. Each person's photos are split: the first half (at least one) trains,
the rest are held out; a person with one photo is only ever a stranger. For every method:
- held-out accuracy: the share of held-out photos of trained people named right (a miss or a wrong
  name both count against), at the cut-off /train_model calibrated for that method, which names no
  more strangers than the matcher does (equal false-accept rate on the people left out in training);
- strangers named: each trained person in turn is removed, the method refitted, and that person's
  held-out photos asked (plus the one-photo people, always strangers);
- training time (the whole /train_model: every method, cross-validation, calibration) and prediction
  time per face.

Run: make bench-classifier   (or .venv/bin/python bench/classifier_bench.py)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.compare_accuracy import VARIANTS, labelled_photos  # noqa: E402
from bench.parts import FIXTURES, scratch_parts  # noqa: E402
from recognition.matching import classifier  # noqa: E402


def embedded(analyzer) -> dict[str, dict[str, list[np.ndarray]]]:
    """person -> photo -> the vectors of its variants (those with a face)."""
    people: dict[str, dict[str, list[np.ndarray]]] = {}
    for person, path in labelled_photos(FIXTURES / "faces"):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        for change in VARIANTS.values():
            boxes, vectors = analyzer.embed(change(image))
            if len(boxes):
                people.setdefault(person, {}).setdefault(path.name, []).append(vectors[0])
    return people


def main() -> int:
    work, store, analyzer = scratch_parts("classifier-bench-")
    try:
        people = embedded(analyzer)
    finally:
        analyzer.embedder.stop()
    trained, held, strangers = {}, {}, []
    for person, photos in people.items():
        names = sorted(photos)
        if len(names) < 2:
            strangers.extend(v for name in names for v in photos[name])
            continue
        cut = max(1, len(names) // 2)
        trained[person] = [v for name in names[:cut] for v in photos[name]]
        held[person] = [v for name in names[cut:] for v in photos[name]]
    bar = analyzer.matcher.required
    print(f"{len(trained)} people trained on {sum(map(len, trained.values()))} vectors; "
          f"{sum(map(len, held.values()))} held-out vectors of them; {len(strangers)} of one-photo strangers\n")
    names = list(trained)
    started = time.perf_counter()
    chosen, report = classifier.train(names, [trained[n] for n in names], bar)
    training = time.perf_counter() - started
    print(f"/train_model: chose {report.method}, cross-validated accuracy {report.cv_accuracy:.3f}, "
          f"{training:.2f} s for every method with cross-validation and calibration")
    data = np.concatenate([trained[n] for n in names])
    labels = np.concatenate([np.full(len(trained[n]), i) for i, n in enumerate(names)])
    baseline = None
    for method, figures in report.methods.items():
        model = classifier._fit(method, data, labels, names, bar)
        model.cutoff = figures["cutoff"]
        right = total = 0
        for person in names:
            for name, _ in model.predict(np.stack(held[person])):
                right += name == person
                total += 1
        named = sum(name is not None for name, _ in model.predict(np.stack(strangers)))
        asked = len(strangers)
        for out in names:  # each trained person as a stranger to the others
            keep = labels != names.index(out)
            others = [n for n in names if n != out]
            relabel = np.array([others.index(names[label]) for label in labels[keep]])
            refit = classifier._fit(method, data[keep], relabel, others, bar)
            refit.cutoff = figures["cutoff"]
            named += sum(name is not None for name, _ in refit.predict(np.stack(held[out])))
            asked += len(held[out])
        one = np.stack(held[names[0]])[:1]
        started = time.perf_counter()
        for _ in range(200):
            model.predict(one)
        per_face = (time.perf_counter() - started) / 200 * 1000
        accuracy = right / total
        baseline = accuracy if method == "nearest" else baseline
        ratio = f"{accuracy / baseline:.2f}x nearest's" if baseline else ""
        print(f"{method:8} held-out accuracy {accuracy:.3f} ({right} of {total}) {ratio}; strangers named "
              f"{named} of {asked}; cut-off {figures['cutoff']:.4f}; predicting {per_face:.2f} ms per face")
    return 0


if __name__ == "__main__":
    sys.exit(main())
