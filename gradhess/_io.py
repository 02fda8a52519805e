"""Atomic file output: write to a temporary file (or folder) beside the target, then
rename.

A run that fails midway leaves no partial file behind, and a folder is replaced as a
whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path in ``path``'s folder; on success it replaces ``path``, with
    the permissions a plain write would give it (``path``'s own if it exists, else those the
    umask allows: ``mkstemp`` creates files readable by their owner only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask: read from ``/proc`` where there is one (setting it to read it
    back, the portable way, briefly changes it for every thread)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def check_folder_target(path, what: str, marker: str) -> Path:
    """Refuse, before any work, a folder target that :func:`atomic_folder` could not replace:
    an existing file, a folder that is not empty and has no ``marker`` file (someone else's
    folder), or a place where no folder can be made."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not (path / marker).is_file():
        raise ValueError(f"{what} {path} is a folder with other contents (no {marker}): "
                         f"refusing to replace it; give a new or empty folder")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path}: cannot write in {parent}")
    return path


@contextlib.contextmanager
def atomic_folder(path):
    """Yield a new empty folder beside ``path``; on success it replaces ``path`` as a whole
    (an old folder there is removed only once the new one is in place), with the
    permissions a plain ``mkdir`` would give it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    old = None
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path) if path.is_dir() else 0o777 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
    except BaseException:
        if old is not None and not path.exists():  # put the old folder back
            os.replace(old / path.name, path)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
