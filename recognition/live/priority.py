"""Who gets the CPU first when the machine is short: the stream, the privacy search (which bounds itself:
at most 4 searches a second) and the requests; recognition (its threads, the model process) takes what
is left. The CNN sweep keeps the normal priority: it bounds itself (a sweep every few seconds), and
starved it answered too late to follow a turned face. At a lower priority the privacy search fell
behind the stream on a loaded machine, and the stream then hid whole frames."""
from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

RECOGNITION_NICENESS = 15  # CPU weight about a thirtieth of the stream's and the requests'


def yield_to_the_stream() -> None:
    """Lower the calling thread's scheduling priority (Linux keeps one per thread): when the machine is
    short, the stream, the privacy search and the requests run first, and recognition analyses fewer
    frames a second, never the other way round."""
    lower_priority(os.PRIO_PROCESS, threading.get_native_id())


def lower_this_process() -> None:
    """The same for a whole process (the model process, the sweep): every thread it starts inherits it."""
    lower_priority(os.PRIO_PROCESS, 0)


def lower_priority(which: int, who: int, niceness: int = RECOGNITION_NICENESS) -> None:
    try:
        if os.getpriority(which, who) < niceness:
            os.setpriority(which, who, niceness)
    except (OSError, AttributeError):  # not Linux, or not allowed: recognition then shares as equals
        log.debug("recognition runs at the stream's priority")
