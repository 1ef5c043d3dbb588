"""A model's child process and the parent's end of its pipe, held together.

Both exist only while the child runs: whoever holds a Child may talk to it, and a part with no child
holds None, never a process without its pipe or the reverse.
"""
from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Callable


@dataclass(frozen=True)
class Child:
    process: BaseProcess
    connection: Connection  # the parent's end

    @classmethod
    def spawn(cls, target: Callable[..., None], args: tuple[Any, ...], name: str) -> "Child":
        """Start target(connection, *args) in a daemon child; the child's end of the pipe is closed here,
        so the parent reads EOF when the child exits."""
        context = multiprocessing.get_context("spawn")  # fork would copy the server's threads and locks
        parent, child = context.Pipe()
        process = context.Process(target=target, args=(child, *args), name=name, daemon=True)
        process.start()
        child.close()
        return cls(process, parent)
