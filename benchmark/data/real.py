"""The `real` evaluation split: real speech in real noise, from the packages' held-out pool.

The embedded default is synthetic, so its findings are only as good as their transfer to real
speech in real noise. This split measures that transfer off-domain, from the `real` pool of the
recordings in sources.py (never trained on). It is made on first use into
<cache>/real-<hash>/real/{clean,noisy}/*.wav with metadata.csv (package, version, path and licence
of every source), the hash covering the generator, the packages' versions and file lists. If a
package is missing the split is skipped with the commands that install it (`MissingSource`).
"""
from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .cache import cache_root, ensure_folder, is_complete
from .corpora import pair_folders
from .mixture import mix
from .p56 import active_level
from .paired import PairedDataset
from .signal import SR
from .sources import HELD_OUT, SECONDS, SOURCES, noise_crop, pool, require, speech, speech_groups
from .synthetic import encode_wav

GENERATOR_VERSION = 1
SPLIT = "real"
SIZE = 120                   # pairs: enough for a paired CI of a few hundredths of PESQ
SNR_DB = (0.0, 20.0)
SPEECH_LEVEL_DB = (-35.0, -15.0)
SEED = 0
METADATA_FIELDS = ("name", "language", "speech_package", "speech_version", "speech_licence",
                   "speech_paths", "noise", "noise_package", "noise_version", "noise_licence",
                   "noise_path", "snr_db", "speech_level_db", "seconds", "seed")


def _utterance(seed: int, speech_pools, noise_pools):
    rng = np.random.default_rng(seed)
    clean, source, group, used = speech(rng, speech_pools)
    level = active_level(clean, SR)
    # a noise file drawn uniformly over all sources' files
    nsource, npath = noise_pools[int(rng.integers(len(noise_pools)))]
    noise_x, _ = noise_crop(rng, [npath], clean.size)
    clean, noisy, info = mix(rng, clean, noise_x, level.power, level.db, SNR_DB, SPEECH_LEVEL_DB)
    meta = dict(language=group if source.style == "words" else "", speech_package=source.package,
                speech_version=source.version(), speech_licence=source.licence,
                speech_paths=";".join(str(p) for p in used), noise=npath.stem,
                noise_package=nsource.package, noise_version=nsource.version(),
                noise_licence=nsource.licence, noise_path=str(npath), **info, seed=seed)
    return clean, noisy, meta


def _identity() -> dict:
    return {"generator_version": GENERATOR_VERSION, "size": SIZE, "seconds": SECONDS, "snr_db": SNR_DB,
            "speech_level_db": SPEECH_LEVEL_DB, "held_out": HELD_OUT, "seed": SEED,
            "sources": {s.package: {"version": s.version(), "files": [str(p) for p in s.files()]}
                        for s in SOURCES}}


def dataset_dir(cfg: Mapping) -> Path:
    blob = json.dumps(_identity(), sort_keys=True).encode()
    return cache_root(cfg) / f"real-{hashlib.sha256(blob).hexdigest()[:12]}"


def _fill(tmp: Path) -> None:
    voices = speech_groups(SPLIT)
    noise = [(s, f) for s in SOURCES if s.kind == "noise" for f in pool(s, SPLIT)]
    for kind in ("clean", "noisy"):
        (tmp / SPLIT / kind).mkdir(parents=True)
    rows = []
    for i in range(SIZE):
        seed = int(np.random.SeedSequence([SEED, 7, i]).generate_state(1)[0])
        clean, noisy, meta = _utterance(seed, voices, noise)
        name = f"{SPLIT}_{i:05d}"
        for kind, x in (("clean", clean), ("noisy", noisy)):
            (tmp / SPLIT / kind / f"{name}.wav").write_bytes(encode_wav(x))
        rows.append({"name": name, **meta})
    with open(tmp / SPLIT / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=METADATA_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    (tmp / "settings.json").write_text(json.dumps(_identity(), indent=2, sort_keys=True))


def ensure(cfg: Mapping) -> Path:
    require()
    target = dataset_dir(cfg)
    if not is_complete(target):
        print(f"Making the real-recordings split ({SIZE} pairs) in {target}", file=sys.stderr, flush=True)
        ensure_folder(target, _fill)
    return target


def load(cfg: Mapping) -> PairedDataset:
    base = ensure(cfg) / SPLIT
    pairs = pair_folders(base / "clean", base / "noisy")
    with open(base / "metadata.csv", newline="") as f:
        rows = {r["name"]: {**r, "snr_db": float(r["snr_db"])} for r in csv.DictReader(f)}
    return PairedDataset(pairs, metadata=[rows[p.name] for p in pairs],
                         description=f"real recordings ({base.parent})")
