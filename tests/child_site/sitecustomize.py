"""Test support: conditions put on a Python process started by a test (the model process), read by Python
at start-up when this folder is on the process's PYTHONPATH. Each is switched on by an environment variable:

- CHILD_SITE_LOG: the file where the process notes (pid first) that the conditions are on and what it did.
- CHILD_SITE_OFFLINE=1: every internet connection and name lookup is refused (and noted): what needs
  the network fails there as on a machine without it.
- CHILD_SITE_NOTE_OPENS=SUFFIX: every file opened whose name ends with SUFFIX is noted.
- CHILD_SITE_HIDE=a,b: those top-level packages cannot be imported, as if they were not installed.
"""
import errno
import os
import socket
import sys

LOG = os.environ.get("CHILD_SITE_LOG")
OFFLINE = os.environ.get("CHILD_SITE_OFFLINE") == "1"
NOTE_OPENS = os.environ.get("CHILD_SITE_NOTE_OPENS")
HIDDEN = {name for name in os.environ.get("CHILD_SITE_HIDE", "").split(",") if name}
NETWORK_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def _note(line: str) -> None:
    if LOG:
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {line}\n")


def _audit(event: str, args: tuple) -> None:
    connecting = event in ("socket.connect", "socket.sendto", "socket.sendmsg")
    if OFFLINE and connecting and args[0].family in NETWORK_FAMILIES:
        _note(f"refused {event} {args[1]!r}")
        raise OSError(errno.ENETUNREACH, "the network is switched off for this process by the test")
    if OFFLINE and event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                             "socket.gethostbyaddr"):
        _note(f"refused {event} {args[0]!r}")
        raise OSError(errno.ENETUNREACH, "the network is switched off for this process by the test")
    if NOTE_OPENS and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if path.endswith(NOTE_OPENS):
            _note(f"opened {os.path.realpath(path)}")


class _Hidden:
    """A finder that says the hidden packages are not installed."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
        return None


if OFFLINE or NOTE_OPENS:
    sys.addaudithook(_audit)
if HIDDEN:
    sys.meta_path.insert(0, _Hidden())
if LOG:
    _note(f"on: offline={OFFLINE} hidden={','.join(sorted(HIDDEN)) or '-'}")
