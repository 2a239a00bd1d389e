"""Corpora that users bring: paired folders (the sgmse layout) and VoiceBank-DEMAND."""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

from ..audio.io import AudioError
from .paired import Pair, PairedDataset

FOLDER_SPLITS = ("train", "valid", "test")
VBDMD_TEST_FILES = 824   # the official test set (Valentini-Botinhao et al., 2016)


def _root(cfg: Mapping, name: str) -> Path:
    if not cfg.get("root"):
        raise ValueError(f"data={name} needs the corpus folder: data.root=DIR")
    root = Path(str(cfg["root"])).expanduser()
    if not root.is_dir():
        raise AudioError(f"{root}: data.root is not a folder")
    return root


def _wavs(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise AudioError(f"{folder}: folder not found")
    return {p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() == ".wav"}


def pair_folders(clean_dir: Path, noisy_dir: Path, keep=lambda name: True) -> list[Pair]:
    """Pairs by file name; a file without its partner is an error that names it."""
    clean, noisy = _wavs(clean_dir), _wavs(noisy_dir)
    for have, lack_dir, lack in ((clean, noisy_dir, noisy), (noisy, clean_dir, clean)):
        for name, path in have.items():
            if name not in lack and keep(name):
                raise AudioError(f"{path}: no partner {lack_dir / name}")
    return [Pair(Path(n).stem, clean[n], noisy[n]) for n in clean if keep(n)]


def load_folder(cfg: Mapping, split: str) -> PairedDataset:
    """data=folder: DIR/{train,valid,test}/{clean,noisy}/*.wav, pairs share a file name."""
    if split not in FOLDER_SPLITS:
        raise ValueError(f"data=folder has splits {', '.join(FOLDER_SPLITS)}, not {split!r}")
    base = _root(cfg, "folder") / split
    pairs = pair_folders(base / "clean", base / "noisy")
    return PairedDataset(pairs, resampler=cfg.get("resampler", "poly"), description=str(base))


def load_vbdmd(cfg: Mapping, split: str) -> PairedDataset:
    """data=vbdmd: VoiceBank-DEMAND's own folders at 48 kHz, resampled to 16 kHz.

    train and valid come from {clean,noisy}_<trainset>_wav, with the speakers in
    `valid_speakers` (brever: p226 and p287) kept for validation; test is {clean,noisy}_testset_wav.
    """
    if split not in FOLDER_SPLITS:
        raise ValueError(f"data=vbdmd has splits {', '.join(FOLDER_SPLITS)}, not {split!r}")
    root = _root(cfg, "vbdmd")
    held = tuple(f"{s}_" for s in cfg.get("valid_speakers", ()))
    sub = "testset" if split == "test" else cfg.get("trainset", "trainset_28spk")

    def keep(name: str) -> bool:
        if split == "test":
            return True
        return (bool(held) and name.startswith(held)) == (split == "valid")

    pairs = pair_folders(root / f"clean_{sub}_wav", root / f"noisy_{sub}_wav", keep)
    if not pairs:
        speakers = list(cfg.get("valid_speakers", []))
        raise AudioError(f"{root}: no {split} files (valid speakers: {speakers})")
    if split == "test" and len(pairs) != VBDMD_TEST_FILES:
        warnings.warn(f"{root / 'clean_testset_wav'}: {len(pairs)} test files, the official "
                      f"VoiceBank-DEMAND test set has {VBDMD_TEST_FILES}", stacklevel=2)
    return PairedDataset(pairs, resampler=cfg.get("resampler", "fft"), quiet_rates=(48_000,),
                         description=f"{root} ({split})")
