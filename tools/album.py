"""Index albums from the command line, without a running server (the server indexes its --album
folders itself, in the background).

    python -m tools.album index ~/Pictures ~/Phone
    python -m tools.album status ~/Pictures

Uses the same --data-dir / --key-file (FACE_DATA_DIR / FACE_KEY_FILE) and --model as run.py; the index
goes into the data dir, sealed with the store's key. The data dir must not be in use by a server.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Mapping, Optional

from config import tool_parser, tool_recognition
from recognition.album.index import IndexDamaged, album_settings, open_album_index
from recognition.album.indexer import MAX_SIDE, AlbumIndexer
from tools.shell import with_store


def main(argv: Optional[list[str]] = None, given_env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if given_env is None else given_env
    parser = tool_parser("python -m tools.album", __doc__, env)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("index", "bring the albums' indexes up to date, with a progress bar"),
                       ("status", "what the albums' indexes hold, without reading any photo")):
        command = commands.add_parser(name, help=text)
        command.add_argument("albums", nargs="+", type=Path, help="album folders")
    args = parser.parse_args(argv)
    logging.basicConfig(level="WARNING", format="%(levelname)s: %(message)s")
    missing = [str(album) for album in args.albums if not album.is_dir()]
    if missing:
        print(f"error: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    return with_store(args, env, run, errors=(IndexDamaged,))


def run(args, store, env) -> int:
    from recognition.models.embedder_process import EmbedderProcess
    from recognition.models.weights import resolve_model

    recognition = tool_recognition(args, env)
    model = resolve_model(recognition.model, recognition.weights_dir, allow_download=False).name
    tag = album_settings(model, MAX_SIDE, MAX_SIDE)
    indexes = [(album, open_album_index(store.data_dir, store.key, store.secret, album, tag)) for album in args.albums]
    if args.command == "status":
        for album, index in indexes:
            entries = index.entries.values()
            print(f"{album}: {len(entries)} photos, {sum(e.faces for e in entries)} faces ({model})")
        return 0
    embedder = EmbedderProcess(model, recognition.weights_dir).load()
    try:
        indexer = AlbumIndexer.for_model(embedder)
        started = time.monotonic()
        progress = _with_bar(indexer, indexes)
        elapsed = time.monotonic() - started
    finally:
        embedder.stop()
        for _, index in indexes:
            index.close()
    skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(progress.skipped.items())) or "none"
    print(f"{progress.photos} photos, {progress.faces} faces indexed ({model}); skipped: {skipped}; "
          f"{progress.done} looked at, {progress.read} read, in {elapsed:.1f} s")
    return 0


def _with_bar(indexer: AlbumIndexer, indexes):
    from tqdm import tqdm

    with tqdm(unit="photo", desc="indexing", file=sys.stderr) as bar:
        def show(progress):
            bar.total = progress.total
            bar.update(progress.done - bar.n)
            bar.set_postfix(faces=progress.faces, skipped=sum(progress.skipped.values()), refresh=False)

        return indexer.index(indexes, on_progress=show)


if __name__ == "__main__":
    sys.exit(main())
