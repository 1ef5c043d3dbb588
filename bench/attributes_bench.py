"""What age, gender and emotion cost per face (--attributes), beside the embedding every face costs
already, both in the model process, measured in the same run on the fixture faces.

Run: make bench-attributes   (or .venv/bin/python bench/attributes_bench.py)
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.compare_accuracy import labelled_photos  # noqa: E402
from bench.parts import FIXTURES, scratch_parts  # noqa: E402
from recognition.models.attributes import attribute_chips  # noqa: E402

ROUNDS = 5


def main() -> int:
    work, store, analyzer = scratch_parts("attributes-bench-")
    try:
        faces = []
        for person, path in labelled_photos(FIXTURES / "faces"):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            boxes = analyzer.detector.detect(image)
            if boxes:
                faces.append((image, max(boxes, key=lambda b: b.area)))
        analyzer.embedder.attributes(attribute_chips(analyzer.aligner, faces[0][0], [faces[0][1]]))  # load them first
        size = analyzer.embedder.input_size
        timings = {"embedding (baseline)": [], "attributes: chips (server process)": [],
                   "attributes: models (model process)": []}
        for _ in range(ROUNDS):
            for image, box in faces:
                started = time.perf_counter()
                analyzer.embedder.embed(analyzer.aligner.chips(image, [box], size))
                timings["embedding (baseline)"].append(time.perf_counter() - started)
                started = time.perf_counter()
                chips = attribute_chips(analyzer.aligner, image, [box])
                timings["attributes: chips (server process)"].append(time.perf_counter() - started)
                started = time.perf_counter()
                analyzer.embedder.attributes(chips)
                timings["attributes: models (model process)"].append(time.perf_counter() - started)
    finally:
        analyzer.embedder.stop()
    baseline = statistics.median(timings["embedding (baseline)"])
    print(f"{len(faces)} fixture faces, {ROUNDS} rounds, one face per call\n")
    for what, values in timings.items():
        median = statistics.median(values)
        print(f"{what:38} median {median * 1000:6.1f} ms, p95 {sorted(values)[int(0.95 * len(values))] * 1000:6.1f} ms"
              f" = {median / baseline:.2f}x the embedding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
