"""How often /compare_embeddings decides right at the server's own threshold, over real HTTP.

Labelled faces come from a folder with one sub-folder per person (default: the fixtures' faces/;
point --faces at any other set, e.g. an LFW extract, to measure on photos the project has never
seen). Group photos (folder "group") and images without exactly one face are left out. Each photo
is also varied the way cameras vary them (mirrored, half size, darker, brighter, heavy JPEG), and
every pair of images of different photos is compared: same person should match, different people
should not. Pairs of a photo with its own variant are not counted (too easy).

Frames of the fixture clip (Lin-Manuel Miranda on stage, frames 0-212, as kept by
/extract_embeddings_from_video) are added as further images of him: the threshold was chosen on
still photos, never on these.

Prints accuracy, false accepts and false rejects, and the same figures at the best threshold for
this set, as a ratio against the server's (a baseline in the same run).

Run: make bench-accuracy   (or .venv/bin/python bench/compare_accuracy.py --faces DIR)
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.parts import FIXTURES  # noqa: E402
from tests.support.server_thread import ServerThread as LiveServer  # noqa: E402

UNLABELLED = {"group", "odd"}  # the fixtures' folders of several people, or of format oddities, not of one person

VARIANTS = {
    "original": lambda image: image,
    "mirrored": lambda image: cv2.flip(image, 1),
    "half size": lambda image: cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
    "darker": lambda image: cv2.convertScaleAbs(image, alpha=0.6, beta=0),
    "brighter": lambda image: cv2.convertScaleAbs(image, alpha=1.2, beta=30),
    "jpeg q20": lambda image: cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 20])[1], 1),
}


def labelled_photos(folder: Path) -> list[tuple[str, Path]]:
    return sorted((person.name, photo) for person in folder.iterdir() if person.is_dir() and person.name not in UNLABELLED
                  for photo in person.iterdir() if photo.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp"))


def embed_all(url: str, photos) -> list[tuple[str, str, str, list[float]]]:
    """(person, photo, variant, embedding) for every variant with exactly one face."""
    rows = []
    for person, path in photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        for variant, change in VARIANTS.items():
            ok, png = cv2.imencode(".png", change(image))
            response = requests.post(f"{url}/extract_embeddings_from_image", files={"image": ("x.png", png.tobytes())},
                                     timeout=60)
            faces = response.json().get("embeddings", [])
            if response.status_code == 200 and len(faces) == 1:
                rows.append((person, path.name, variant, faces[0]["embedding"]))
    return rows


def embed_clip(url: str, clip: Path, person: str, first: int, last: int) -> list[tuple[str, str, str, list[float]]]:
    """The largest face of each frame /extract_embeddings_from_video keeps, in frames known to show person."""
    response = requests.post(f"{url}/extract_embeddings_from_video", files={"video": (clip.name, clip.read_bytes())},
                             timeout=300)
    faces = [f for f in response.json()["embeddings"] if first <= f["frame"] <= last]
    largest = {}
    for face in faces:
        if face["frame"] not in largest or face["box"][2] > largest[face["frame"]]["box"][2]:
            largest[face["frame"]] = face
    return [(person, f"{clip.name}#{frame}", "video frame", face["embedding"]) for frame, face in sorted(largest.items())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=FIXTURES / "faces", help="one sub-folder of photos per person")
    parser.add_argument("--clip", type=Path, default=FIXTURES / "video" / "short_hamilton_clip.mp4",
                        help="a video whose frames FIRST-LAST show one labelled person ('' for none)")
    parser.add_argument("--clip-person", default="lin_manuel_miranda:0-212", metavar="PERSON:FIRST-LAST")
    args = parser.parse_args()
    from bench.parts import scratch_parts
    from webapp import create_app
    from webapp.parts import Parts

    _, store, analyzer = scratch_parts("faceacc-")
    from webapp.http.throttle import ModelThrottle

    # Hundreds of photos from one client: the model's rate limit (a defence against strangers) is off.
    server = LiveServer(create_app(Parts.build(store=store, analyzer=analyzer, throttle=ModelThrottle(0))))
    try:
        rows = embed_all(server.url, labelled_photos(args.faces))
        if str(args.clip) and args.clip.is_file():
            person, frames = args.clip_person.split(":")
            first, last = (int(n) for n in frames.split("-"))
            rows += embed_clip(server.url, args.clip, person, first, last)
        pairs = [(a, b) for a, b in itertools.combinations(rows, 2) if a[1] != b[1] or a[0] != b[0]]
        results = []
        session = requests.Session()
        for a, b in pairs:
            body = session.post(f"{server.url}/compare_embeddings", json={"embedding1": a[3], "embedding2": b[3]},
                                timeout=30).json()
            results.append((a[0] == b[0], body["similarity"], body["match"], a[2], b[2]))
        threshold = body["threshold"]
    finally:
        server.close()
        analyzer.embedder.stop()
        store.close()
    people = len({r[0] for r in rows})
    photos = len({(r[0], r[1]) for r in rows if r[2] != "video frame"})
    frames = sum(1 for r in rows if r[2] == "video frame")
    print(f"{len(rows)} images of {people} people: {photos} photos from {args.faces} in up to {len(VARIANTS)} "
          f"variants, and {frames} frames of {args.clip.name}; {len(results)} pairs")
    server_figures = report("server threshold", threshold, results, [r[2] for r in results])
    for variant in [*VARIANTS, "video frame"]:
        involved = [r for r in results if variant in (r[3], r[4])]
        report(f"  pairs with a {variant!r} image, server threshold", threshold, involved, [r[2] for r in involved])
    best = max(np.unique([r[1] for r in results]), key=lambda t: accuracy(results, t))
    best_figures = report("best threshold for this set", float(best), results, [r[1] >= best for r in results])
    print(f"accuracy at the server's threshold / at the best one: {server_figures / best_figures:.3f}")
    return 0


def accuracy(results, threshold: float) -> float:
    return sum((r[1] >= threshold) == r[0] for r in results) / len(results)


def report(label: str, threshold: float, results, decisions) -> float:
    same = sum(1 for r in results if r[0])
    false_rejects = sum(1 for r, d in zip(results, decisions) if r[0] and not d)
    false_accepts = sum(1 for r, d in zip(results, decisions) if not r[0] and d)
    right = len(results) - false_rejects - false_accepts
    print(f"{label} {threshold:.3f}: {right}/{len(results)} right = {100 * right / len(results):.2f}%; "
          f"false accepts {false_accepts}/{len(results) - same}, false rejects {false_rejects}/{same}")
    return right / len(results)


if __name__ == "__main__":
    sys.exit(main())
