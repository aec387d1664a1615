"""Stopping a command: SIGTERM stops it as Ctrl-C does, and a stage stops when DVC is gone.

DVC (3.x, `dvc/stage/run.py`) runs a stage's cmd as `$SHELL -c "<cmd>"`, with DVC_STAGE in its
environment, and ignores SIGINT while it waits: Ctrl-C in a terminal reaches the stage through
the process group (a `kill -INT` of DVC alone does nothing). A SIGTERM or SIGHUP sent to DVC
alone (`kill <pid>`, a CI runner cancelling) ends DVC at once and would leave the stage running
on its own. So under DVC a daemon thread checks every WATCH_SECONDS that the processes from this
one up to DVC still have their parents (one link when the shell execs the cmd, two when it waits
for it), and stops this process with SIGTERM once a link is broken.

SIGTERM and SIGHUP (a closed terminal's; either is left alone where it is ignored, as SIGHUP is
under nohup) raise `Stopped`, a KeyboardInterrupt, in the main thread: every `with` block
unwinds as for Ctrl-C (temporary files removed, nothing renamed into place; train keeps its last
checkpoint and the next run resumes from it), and `python -m pipeline` ends with one line and
status 128 + the signal's number. Workers of a torch launcher (LOCAL_RANK set) are left to it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

WATCH_SECONDS = 0.1
STOP_SIGNALS = ("SIGTERM", "SIGHUP")  # kill's default; a closed terminal's
DVC_ENV = "DVC_STAGE"  # set by DVC for a stage's command (and whatever it starts)
_dvc_gone = threading.Event()


class Stopped(KeyboardInterrupt):
    """A stop asked by a signal other than Ctrl-C's."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def install() -> dict[int, object]:
    """For a `python -m pipeline` process: SIGTERM and SIGHUP raise Stopped (unless ignored,
    as under nohup); under DVC, the watch. Returns the handlers it replaced."""
    replaced: dict[int, object] = {}
    if "LOCAL_RANK" in os.environ:
        return replaced

    def stop(signum: int, frame: object) -> None:
        raise Stopped(signum)

    for name in STOP_SIGNALS:
        signum = getattr(signal, name, None)  # no SIGHUP on Windows
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            replaced[signum] = signal.signal(signum, stop)
    if DVC_ENV in os.environ:
        links = _links_to_dvc()
        threading.Thread(target=_watch, args=(links,), name="watch-dvc", daemon=True).start()
    return replaced


def stopped(command: str, exc: KeyboardInterrupt) -> tuple[str, int]:
    """The one line to say (without `error: `) and the exit status, for a stop."""
    signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
    why = signal.Signals(signum).name
    if _dvc_gone.is_set():
        why += ", as the dvc that ran it has stopped"
    then = "; the next run resumes from its last checkpoint" if command == "train" else ""
    return f"{command}: stopped by {why}; no output is left half-written{then}", 128 + signum


def _links_to_dvc() -> list[tuple[int, int]]:
    """(process, its parent) from this process up to DVC: the first ancestor without DVC_ENV
    in its environment (one we may not read, or all of them where there is no /proc, counts
    as DVC)."""
    links = [(os.getpid(), os.getppid())]
    while len(links) < 8 and links[-1][1] > 1 and _under_dvc(links[-1][1]):
        pid = links[-1][1]
        parent = _parent(pid)
        if parent is None:
            break
        links.append((pid, parent))
    return links


def _under_dvc(pid: int) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return any(entry.startswith(f"{DVC_ENV}=".encode()) for entry in environ.split(b"\0"))


def _parent(pid: int) -> int | None:
    """The parent of `pid` (None when it is gone or cannot be read)."""
    if pid == os.getpid():
        return os.getppid()
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (name) state"


def _watch(links: list[tuple[int, int]]) -> None:
    while all(_parent(pid) == parent for pid, parent in links):
        time.sleep(WATCH_SECONDS)
    _dvc_gone.set()
    os.kill(os.getpid(), signal.SIGTERM)
