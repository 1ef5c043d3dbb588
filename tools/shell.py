"""What the model-loading tools share: opening the store they work on, and saying what went wrong."""
from __future__ import annotations

import sys
from typing import Callable

from config import store_config
from recognition.models.weights import WeightsMissing
from recognition.store import open_store
from recognition.store.atomic import DataDirInUse
from recognition.store.interface import StoreRejected
from recognition.store.vault import StoreKeyError

ERRORS = (StoreRejected, StoreKeyError, DataDirInUse, WeightsMissing, PermissionError)


def with_store(args, env, run: Callable[..., int], errors: tuple = ()) -> int:
    """run(args, store, env) on the store the arguments name; its known failures (and errors) are
    printed as one line, exit status 1."""
    settings = store_config(args, env)
    try:
        with open_store(settings.data_dir, settings.key_path, **settings.options) as store:
            return run(args, store, env)
    except ERRORS + tuple(errors) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
