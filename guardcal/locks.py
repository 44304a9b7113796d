"""One writer per run folder: an advisory lock (`fcntl.flock`) held while a run writes there.

A second `guardcal score` (or report) on the same run stops at once with a message naming the
holder, instead of redoing the work beside it; the lock goes with the process that held it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunBusy(RuntimeError):
    """Another process holds the run folder's lock; the message names the folder and holder."""


@contextmanager
def run_lock(path: Path, what: str) -> Iterator[None]:
    """Hold the lock file `path` (created if missing) while the block runs, or raise RunBusy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another guardcal process"
            raise RunBusy(
                f"{path.parent}: busy, {holder} is writing this run; wait for it to finish "
                "or give this run another name"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{what} (pid {os.getpid()})")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
