"""Import people from the command line, without a running server: one sub-folder per person, named
after them, holding their photos.

    python -m tools.people import ~/People        # ~/People/Ada/*.jpg, ~/People/Bo/*.heic, ...

Someone already enrolled under a folder's name gets its photos added; anyone else is enrolled from
their first usable photo. Each photo is checked as POST /faces/<hash>/photos checks it; what is
refused is listed with the reason. Uses the same --data-dir / --key-file (FACE_DATA_DIR /
FACE_KEY_FILE), --model and --threshold as run.py. The data dir must not be in use by a server.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Mapping, Optional

from config import tool_parser, tool_recognition
from tools.shell import with_store

SHOWN_SKIPS = 20  # refused photos listed one by one; the rest are counted


def main(argv: Optional[list[str]] = None, given_env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if given_env is None else given_env
    parser = tool_parser("python -m tools.people", __doc__, env, threshold=True)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("import", help="enroll or add photos from a folder per person, with a progress bar")
    command.add_argument("folder", type=Path, help="a folder with one sub-folder of photos per person")
    args = parser.parse_args(argv)
    logging.basicConfig(level="WARNING", format="%(levelname)s: %(message)s")
    if not args.folder.is_dir():
        print(f"error: not a folder: {args.folder}", file=sys.stderr)
        return 2
    return with_store(args, env, run)


def run(args, store, env) -> int:
    from tqdm import tqdm

    from recognition.models.weights import resolve_model
    from recognition.pipeline.build import build_analyzer
    from recognition.pipeline.people_import import import_people, person_folders

    recognition = tool_recognition(args, env)
    model = resolve_model(recognition.model, recognition.weights_dir, allow_download=False).name
    analyzer = build_analyzer(store, model, recognition.weights_dir, recognition.threshold)
    total = sum(len(photos) for _, photos in person_folders(args.folder))
    started = time.monotonic()
    try:
        with tqdm(total=total, unit="photo", desc="importing", file=sys.stderr) as bar:
            report = import_people(person_folders(args.folder), analyzer, on_photo=lambda photo: bar.update(1))
    finally:
        analyzer.embedder.stop()
    for path, reason, detail in report.skipped[:SHOWN_SKIPS]:
        print(f"skipped {path}: {detail}")
    if len(report.skipped) > SHOWN_SKIPS:
        print(f"... and {len(report.skipped) - SHOWN_SKIPS} more")
    reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(report.reasons().items())) or "none"
    print(f"{len(report.created)} people enrolled, {len(report.updated)} given more photos, {report.added} photos "
          f"added ({model}); skipped: {reasons}; {total} photos in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
