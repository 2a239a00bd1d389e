"""What every front door checks before any work: that what it will read is there and readable, and
that where it will write can be written, each refused with one line naming the path and the
problem (docs/usage.md, 'Bad input'). Work that would end in a failed write is never started, so
nothing computed is lost. A leaf module: it imports nothing of the package."""
from __future__ import annotations

import os
from pathlib import Path


class PreflightError(ValueError):
    """One line for the user: the path, what it is for, and what is wrong with it. A ValueError, so
    the front doors' existing handlers print it."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def writable_dir(path: str | os.PathLike, what: str) -> Path:
    """`path` as a folder that is or can be made writable: refused if it (or a parent) is a file, or
    the nearest existing folder cannot be written. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PreflightError(f"{what} {path} is a file, not a folder")
    existing = _nearest_existing(path.resolve())
    if not existing.is_dir():
        raise PreflightError(f"{what} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PreflightError(f"{what} {path}: {existing} is not writable")
    return path


def writable_file(path: str | os.PathLike, what: str) -> Path:
    """`path` as a file that can be written (or replaced): not a folder, its folder writable."""
    path = Path(path)
    if path.is_dir():
        raise PreflightError(f"{what} {path} is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise PreflightError(f"{what} {path} is not writable")
    writable_dir(path.parent, what)
    return path


def readable_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise PreflightError(f"{what} {path} does not exist")
    if not path.is_file():
        raise PreflightError(f"{what} {path} is not a file")
    if not os.access(path, os.R_OK):
        raise PreflightError(f"{what} {path} is not readable")
    return path


def readable_dir(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise PreflightError(f"{what} {path} does not exist")
    if not path.is_dir():
        raise PreflightError(f"{what} {path} is not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise PreflightError(f"{what} {path} is not readable")
    return path


def apart(output: str | os.PathLike, inputs: str | os.PathLike, what: str) -> None:
    """Refuse an output folder that is the input folder or inside it (its files would be overwritten
    or read back as inputs)."""
    out, inp = Path(output).resolve(), Path(inputs).resolve()
    if out == inp or inp in out.parents:
        raise PreflightError(f"{what} {output} is inside the input folder {inputs}: choose a folder apart from it")
