"""Field recordings from Debian's openttd-opensfx: a training-only real-noise source.

OpenSFX (CC-BY-SA-3.0 as a collection; each entry CC-BY-3.0, CC-BY-SA-3.0 or CC0, named in its
title) ships one container, `opensfx.cat`, of 73 WAV entries: vehicles, aircraft, machinery,
wind, applause, animals, most of them edited from freesound.org field recordings. OpenTTD's
sample catalogue format: a table of (offset | 0x80000000, size) pairs, uint32 little endian, the
first offset giving the table's length; at each offset a length-prefixed title, then a RIFF WAV.

Entries are addressed as virtual paths `<container>/<index>_<slug>.wav`, so the training pool,
its hash and `sources.read` treat them like files.
"""
from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

CONTAINER = Path("/usr/share/games/openttd/baseset/opensfx/opensfx.cat")
MIN_SECONDS = 1.0


@dataclass(frozen=True)
class Entry:
    index: int
    title: str
    offset: int          # of the WAV bytes
    size: int

    @property
    def recording(self) -> bool:
        # edited from a recording ("Original ... by"), not composed: jingles, beeps and morse are
        # by the set's editor; the Toyland set is cartoon effects; "Unused" entries are empty
        return "Original" in self.title and "Toyland" not in self.title

    def path(self, container: Path) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "_", self.title.split(".")[0].strip('"').lower()).strip("_")
        return container / f"{self.index:02d}_{slug}.wav"


@lru_cache(maxsize=4)
def _blob(container: Path) -> bytes:
    return container.read_bytes()


@lru_cache(maxsize=4)
def entries(container: Path = CONTAINER) -> tuple[Entry, ...]:
    blob = _blob(container)
    try:
        count = (struct.unpack_from("<I", blob, 0)[0] & 0x7FFFFFFF) // 8
        out = []
        for i in range(count):
            offset, size = struct.unpack_from("<II", blob, 8 * i)
            offset &= 0x7FFFFFFF
            n = blob[offset]
            title = blob[offset + 1:offset + 1 + n].rstrip(b"\0").decode("latin-1")
            out.append(Entry(i, title, offset + 1 + n, size - 1 - n))
    except (struct.error, IndexError) as e:
        raise ValueError(f"{container}: not an OpenTTD sample catalogue ({e})") from e
    return tuple(out)


def _decode(container: Path, entry: Entry) -> tuple[np.ndarray, int]:
    blob = _blob(container)[entry.offset:entry.offset + entry.size]
    if not blob:
        return np.zeros(0), 44100
    x, rate = sf.read(io.BytesIO(blob), dtype="float64", always_2d=True)
    return x.mean(axis=1), rate


def recordings(container: Path = CONTAINER) -> list[Path]:
    """The virtual paths of the entries that are recordings of at least MIN_SECONDS."""
    if not container.is_file():
        return []
    return list(_recordings(container))


@lru_cache(maxsize=4)
def _recordings(container: Path) -> tuple[Path, ...]:
    # once per process: every dataset hash and eval_splits call lists the sources
    out = []
    for e in entries(container):
        if e.recording:
            x, rate = _decode(container, e)
            if x.size >= MIN_SECONDS * rate:
                out.append(e.path(container))
    return tuple(out)


def read(path: Path) -> tuple[np.ndarray, int]:
    """(mono samples, rate) of a virtual path from `recordings`."""
    index = int(path.name.split("_", 1)[0])
    return _decode(path.parent, entries(path.parent)[index])


def title(path: Path) -> str:
    return entries(path.parent)[int(path.name.split("_", 1)[0])].title
