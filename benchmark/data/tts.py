"""espeak-ng speech synthesis through the `espeakng-loader` wheel (ctypes; no system package).

Determinism: libespeak-ng keeps state between calls that no API resets (the pitch-flutter and
glottal phases of its wave generator), so the same call gives different samples later in a
process. Static state lives in the loaded library, so a `Session` loads a private copy of the
library, seeds its random generators, and unloads it on exit: every session starts pristine and
the same calls give the same samples, whatever ran before in the process. A session costs about
a millisecond.
"""
from __future__ import annotations

import _ctypes
import ctypes
import ctypes.util
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

NATIVE_RATE = 22_050
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4   # espeak_PARAMETER values
# espeak's default volume (100) clips several variants at fast rates and high pitch; at 35 none of
# the clean-speech variants clips, and the quietest stays about 60 dB above 16-bit quantisation.
VOLUME = 35
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)
_BUFFER_MS = 5_000   # long callback buffers: one Python callback per 5 s instead of per ~60 ms
_libc = None
_library_bytes: bytes | None = None


class TTSError(RuntimeError):
    """espeak-ng is missing or refused a voice or a text."""


def _loader():
    try:
        import espeakng_loader
    except ImportError:
        raise TTSError("the embedded dataset needs the PyPI package espeakng-loader "
                       "(pip install espeakng-loader)") from None
    return espeakng_loader


def data_path() -> Path:
    return Path(_loader().get_data_path())


def variants() -> list[str]:
    """Voice variants shipped with espeak-ng (the `+name` part of a voice), sorted."""
    return sorted(p.name for p in (data_path() / "voices" / "!v").iterdir() if p.is_file())


def _private_library() -> tuple[ctypes.CDLL, int | None]:
    """A fresh instance of libespeak-ng and the descriptor to close once it is unloaded.

    dlopen shares one instance per file, so ours is loaded from a copy of its own: even if other
    code in the process has the wheel's library open, ours starts fresh and really unloads. The
    copy lives in memory (memfd, 0.7 ms a session) where Linux has it; a copy in the temp folder,
    kept for the process's lifetime, was left behind by every pool worker and killed run (they
    never reach atexit). The descriptor stays open while the library is loaded, so no two
    instances alive at once share a /proc/self/fd path (dlopen also matches by name)."""
    global _library_bytes
    if _library_bytes is None:
        _library_bytes = Path(_loader().get_library_path()).read_bytes()
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("libespeak-ng.so")
        try:
            with open(fd, "wb", closefd=False) as copy:   # writes it whole
                copy.write(_library_bytes)
            return ctypes.CDLL(f"/proc/self/fd/{fd}", mode=ctypes.RTLD_LOCAL), fd
        except BaseException:
            os.close(fd)
            raise
    folder = tempfile.mkdtemp(prefix="benchmark-espeak-")   # elsewhere: deleted once mapped
    try:
        path = Path(folder) / "libespeak-ng.so"
        path.write_bytes(_library_bytes)
        return ctypes.CDLL(str(path), mode=ctypes.RTLD_LOCAL), None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _c_library():
    global _libc
    if _libc is None:   # find_library runs a subprocess: once per process is enough
        _libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return _libc


class Session:
    """A pristine espeak-ng for the duration of a `with` block."""

    def __enter__(self) -> "Session":
        self._lib, self._fd = _private_library()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS,
                                           str(data_path()).encode(), 0)
        if rate != NATIVE_RATE:
            self._close()
            raise TTSError(f"espeak-ng initialisation failed (returned {rate})")
        self._chunks: list[bytes] = []
        self._callback = _CALLBACK(self._collect)   # kept alive while espeak holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                           ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                           ctypes.c_void_p, ctypes.c_void_p]
        # breath and voicing noise come from espeak's own generator and from libc rand()
        self._lib.espeak_ng_SetRandSeed(ctypes.c_long(1))
        _c_library().srand(1)
        return self

    def __exit__(self, *exc) -> None:
        self._lib.espeak_Terminate()
        self._close()

    def _close(self) -> None:
        _ctypes.dlclose(self._lib._handle)
        del self._lib
        if self._fd is not None:
            os.close(self._fd)

    def _collect(self, wav, n, _events) -> int:
        if n > 0:
            self._chunks.append(ctypes.string_at(wav, 2 * n))   # n int16 samples
        return 0

    def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
        """Float32 samples in [-1, 1] at 22,050 Hz; voice is 'accent+variant', e.g. 'en-us+f3'."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise TTSError(f"espeak-ng has no voice {voice!r}")
        settings = ((_RATE, rate), (_VOLUME, VOLUME), (_PITCH, pitch), (_RANGE, pitch_range))
        for param, value in settings:
            self._lib.espeak_SetParameter(param, int(value), 0)
        data = text.encode("utf-8")
        self._chunks = []
        status = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                        None, None)
        if status != 0 or not self._chunks:
            raise TTSError(f"espeak-ng failed (status {status}) on {text!r} with voice {voice!r}")
        return np.frombuffer(b"".join(self._chunks), dtype=np.int16).astype(np.float32) / 32768.0
