"""Atomic file writes: every file guardcal writes appears whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

FILE_MODE = 0o644
"""Outputs are for reading: mkstemp's private 0600 would hide them from other users."""


def _temporary(path: Path) -> Path:
    """A unique hidden sibling of `path`: two writers (processes, threads) never share one."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a unique temporary sibling of `path`, then rename it onto `path`:
    readers see the old file or the new one, never half of one; a failure leaves neither."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` atomically, newlines as given (byte-stable tables)."""

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            f.write(text)

    return atomic_write(path, write)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path` to fill; on success it is renamed to `path`. If
    another process made `path` meanwhile, its copy is kept (both are built from the same input)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        try:
            tmp.rename(path)
        except OSError:
            if not path.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unwritable(folder: str | Path) -> str | None:
    """Why no file can be written under `folder` (None when one can): its nearest existing
    ancestor is not a folder, or refuses a new file. Answered by creating and removing one, which
    holds for root, read-only mounts and ACLs alike (os.access does not)."""
    existing = Path(folder).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        handle, name = tempfile.mkstemp(prefix=".guardcal-probe-", dir=existing)
    except OSError as exc:
        return f"{existing} is not writable ({exc.strerror})"
    os.close(handle)
    os.unlink(name)
    return None
