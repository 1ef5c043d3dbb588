"""A server process that indexes a shared album and stalls after its first claim, to be killed there:

    python -m tests.support.album_claimer URL DATA_DIR KEY_FILE ALBUM MARKER CLAIM_SECONDS

It opens the shared store, walks the album and claims a file through the real shared indexer (its claim
kept alive by the real claim keeper); only the pause is the test's: once claimed, it writes the claimed
paths and its server id to MARKER (JSON) and waits to be killed. It never writes a result.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from recognition.album.index import album_settings
from recognition.album.indexer import MAX_SIDE
from recognition.album.shared_index import open_shared_index
from recognition.album.shared_indexer import SharedAlbumIndexer
from recognition.store.postgres.store import PostgresStore
from tests.conftest import EMBEDDINGS_CACHE, MODEL
from tests.support.recorded_embedder import RecordedEmbedder

STALL_SECONDS = 300  # longer than any test waits: the test kills it first


def main(url: str, data_dir: str, key_file: str, album: str, marker: str, claim_seconds: str) -> int:
    store = PostgresStore(url, Path(data_dir), Path(key_file), follow=False)
    never = RuntimeError("the claimer never embeds: it is killed after its claim")
    embedder = RecordedEmbedder.in_folder(EMBEDDINGS_CACHE, MODEL, lambda: (_ for _ in ()).throw(never))
    settings = album_settings(MODEL, MAX_SIDE, MAX_SIDE)
    index = open_shared_index(store.album_files(), store.key, store.secret, Path(album).name, settings)
    indexer = None

    def stall(paths: list[str]) -> None:
        Path(marker).write_text(json.dumps({"server": indexer.server_id, "paths": paths}))
        time.sleep(STALL_SECONDS)

    indexer = SharedAlbumIndexer.for_model(embedder, rows=store.album_files, claim_timeout=float(claim_seconds),
                                           claim_batch=1, after_claim=stall)
    indexer.index([(Path(album), index)])
    return 1  # killed before this


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
