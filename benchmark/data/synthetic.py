"""The embedded default dataset (`data=synthetic`): made on first use into a cache, then reused.

Layout, the same as `data=folder` plus metadata:
    <cache_dir>/synthetic-<hash>/{train,valid,test,test_mismatched}/{clean,noisy}/<name>.wav
    <cache_dir>/synthetic-<hash>/<split>/metadata.csv     voice, text, noise type, SNR, seed...
    <cache_dir>/synthetic-<hash>/settings.json            what the hash covers
The hash covers every setting that changes the audio, the generator version and the espeak-ng
wheel version; `cache_dir` and `workers` are left out because they do not change a sample: each
utterance depends only on its seed and the settings (mixture.py), so the files are bit-identical
whatever the number of worker processes or their scheduling.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import soundfile as sf

from . import flite, mixture, noise, sources, tts
from .cache import cache_root, ensure_folder, is_complete
from .corpora import pair_folders
from .paired import PairedDataset
from .sources import train_noise_files, train_speech_groups

GENERATOR_VERSION = 2      # bump when a change to the generator changes any sample
SPLITS = ("train", "valid", "test", "test_mismatched")
CHUNK = 20                 # utterances per job sent to a worker process
_NOT_HASHED = ("name", "cache_dir", "workers")
METADATA_FIELDS = ("name", "voice", "accent", "variant", "rate", "pitch", "pitch_range", "text",
                   "noise", "snr_db", "speech_level_db", "seconds", "seed", "bandlimit_hz")


# settings that, at these values, leave every sample as it was before they existed: left out of
# the hash then, so datasets made before them are reused
_NEUTRAL = {"real_noise": False, "real_speech": False, "bandlimit_prob": 0.0, "flite_speech": False,
            "real_noise_perturb": 0.0, "real_noise_opensfx": False}
_NEUTRAL_WITH = {"real_noise": ("real_noise_prob", "real_noise_perturb", "real_noise_opensfx"),
                 "real_speech": ("real_speech_prob",), "bandlimit_prob": ("bandlimit_hz",),
                 "flite_speech": ("flite_prob", "flite_voices"), "real_noise_perturb": (),
                 "real_noise_opensfx": ()}
# settings added after reference models were trained: at these values left out of a model's id
# too (config.training_config), so those models are still found
LATER_NEUTRAL = {"real_noise_perturb": 0.0, "real_noise_opensfx": False}
_told_no_recordings: set[str] = set()


def _pools(key: str, cfg: Mapping):
    if key == "real_noise":
        return sources.train_noise_files(cfg.get("real_noise_opensfx") is True)
    return sources.train_speech_groups()


def effective(cfg: Mapping) -> dict:
    """The settings with `real_noise` / `real_speech: auto` decided: on where the recordings are
    installed, else off with a note (once) saying what that loses and how to install them."""
    cfg = dict(cfg)
    for key in ("real_noise", "real_speech"):
        if cfg.get(key) == "auto":
            try:
                _pools(key, {})
                cfg[key] = True
            except sources.MissingSource as e:
                cfg[key] = False
                if key not in _told_no_recordings:
                    what = "procedural noise" if key == "real_noise" else "espeak-ng speech"
                    print(f"note: data.{key}=auto trains on {what} only, which transfers worse to "
                          f"real recordings (docs/data.md): {e}", file=sys.stderr, flush=True)
                    _told_no_recordings.add(key)
    if cfg.get("real_noise_opensfx") == "auto":
        cfg["real_noise_opensfx"] = cfg.get("real_noise") is True and not sources.missing([sources.OPENSFX])
        if cfg.get("real_noise") is True and not cfg["real_noise_opensfx"] and "opensfx" not in _told_no_recordings:
            print(f"note: data.real_noise_opensfx=auto trains without OpenSFX's recordings, fewer real "
                  f"noises (docs/data.md): {sources.OPENSFX.install_hint()}", file=sys.stderr, flush=True)
            _told_no_recordings.add("opensfx")
    if cfg.get("flite_speech") == "auto":
        cfg["flite_speech"] = flite.binary() is not None
        if not cfg["flite_speech"] and "flite" not in _told_no_recordings:
            print(f"note: data.flite_speech=auto trains on espeak-ng voices only, less natural "
                  f"speech (docs/data.md): no flite ({flite.INSTALL})", file=sys.stderr, flush=True)
            _told_no_recordings.add("flite")
    return cfg


def _hashed_settings(cfg: Mapping) -> dict:
    try:
        espeak = version("espeakng-loader")
    except PackageNotFoundError:
        espeak = "missing"
    settings = {k: v for k, v in cfg.items() if k not in _NOT_HASHED}
    for key, neutral in _NEUTRAL.items():
        if settings.get(key, neutral) == neutral:
            for k in (key, *_NEUTRAL_WITH[key]):
                settings.pop(k, None)
    out = {"settings": settings, "generator_version": GENERATOR_VERSION, "espeakng_loader": espeak}
    if "bandlimit_prob" in settings:   # before this, band-limiting also reached valid and test
        out["bandlimit_splits"] = ["train"]
    if settings.get("flite_speech"):
        out["flite"] = flite.version()
    for key in ("real_noise", "real_speech"):   # the recordings are part of what the data is
        if settings.get(key):
            pools = [(p[0], p[-1]) for p in _pools(key, settings)]
            out[f"recordings_{key}"] = sorted([s.package, s.version(), [str(f) for f in files]]
                                              for s, files in pools)
    return out


def dataset_dir(cfg: Mapping) -> Path:
    blob = json.dumps(_hashed_settings(effective(cfg)), sort_keys=True).encode()
    return cache_root(cfg) / f"synthetic-{hashlib.sha256(blob).hexdigest()[:12]}"


def check_settings(cfg: Mapping) -> None:
    """Clear errors for settings that would make a broken or leaky dataset."""
    def fail(msg):
        raise ValueError(f"data=synthetic: {msg}")

    sizes = cfg["sizes"]
    for split in SPLITS:
        if int(sizes.get(split, 0)) < 0:
            fail(f"sizes.{split} must be >= 0")
    for key in ("seconds", "snr_db", "speech_level_db", "rate", "pitch", "pitch_range",
                "babble_talkers"):
        lo, hi = cfg[key]
        if lo > hi:
            fail(f"{key} is a [min, max] range, got {list(cfg[key])}")
    if cfg["seconds"][0] < 1.0:
        fail("seconds: utterances shorter than 1 s leave no room for speech")
    for key in ("real_noise", "real_speech", "flite_speech", "real_noise_opensfx"):
        if cfg.get(key, False) not in (True, False, "auto"):
            fail(f"{key} is true, false or auto, got {cfg.get(key)!r}")
    if cfg.get("flite_speech") in (True, "auto"):
        try:
            flite.check_voices(cfg.get("flite_voices") or [])
        except flite.FliteMissing as e:
            fail(str(e))
        if not cfg.get("flite_voices"):
            fail("flite_voices is empty but flite_speech is on")
    for key in ("real_noise_prob", "real_speech_prob", "bandlimit_prob", "flite_prob", "real_noise_perturb"):
        if not 0 <= float(cfg.get(key, 0)) <= 1:
            fail(f"{key} must be in [0, 1]")
    lo, hi = cfg.get("bandlimit_hz", (3400, 7000))
    if not 1000 <= lo <= hi < 8000:
        fail(f"bandlimit_hz is a [min, max] cutoff range within 1000..7999 Hz, got {[lo, hi]}")
    if cfg["speech_level_db"][1] > -6:
        fail("speech_level_db above -6 dBFS would clip most mixtures")
    if not 0 <= cfg["second_noise_prob"] <= 1:
        fail("second_noise_prob must be in [0, 1]")
    unknown = set(cfg["noise_types"]) - set(noise.KINDS)
    if unknown:
        fail(f"unknown noise types {sorted(unknown)}; known: {', '.join(noise.KINDS)}")
    if not set(cfg["heldout_noise_types"]) <= set(cfg["noise_types"]):
        fail("heldout_noise_types must be a subset of noise_types")
    if not _kinds(cfg, "train"):
        fail("holding out every noise type leaves nothing to train on")
    splits = {s: set(cfg["variants"][s]) for s in SPLITS}
    splits["babble"] = set(cfg["babble_variants"])
    names = list(splits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = splits[a] & splits[b]
            if both:  # a shared voice would leak speakers between splits
                fail(f"voice variants {sorted(both)} are in both {a} and {b}")
    for split in SPLITS:
        if int(sizes.get(split, 0)) > 0 and not splits[split]:
            fail(f"variants.{split} is empty but sizes.{split} > 0")
    known = set(tts.variants())
    missing = set().union(*splits.values()) - known
    if missing:
        fail(f"espeak-ng has no voice variants {sorted(missing)}")
    if set(cfg["accents"]) & set(cfg["heldout_accents"]):
        fail("an accent is both in accents and heldout_accents")


def _kinds(cfg: Mapping, split: str) -> list[str]:
    held = list(cfg["heldout_noise_types"])
    if split == "test_mismatched":
        return held or list(cfg["noise_types"])
    return [k for k in cfg["noise_types"] if k not in held]


def _accents(cfg: Mapping, split: str) -> list[str]:
    if split == "test_mismatched":
        return list(cfg["heldout_accents"]) or list(cfg["accents"])
    return list(cfg["accents"])


def utterance_seed(seed: int, split: str, index: int) -> int:
    return int(np.random.SeedSequence([int(seed), SPLITS.index(split), index]).generate_state(1)[0])


def encode_wav(x: np.ndarray) -> bytes:
    # one write per file: soundfile writing straight to disk makes many small writes (5x slower)
    buf = io.BytesIO()
    sf.write(buf, x, mixture.SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _make_chunk(cfg: dict, split: str, start: int, stop: int, out: str) -> list[dict]:
    """Make utterances [start, stop) of a split; return their metadata rows."""
    accents, kinds = _accents(cfg, split), _kinds(cfg, split)
    variants = list(cfg["variants"][split])
    recordings, voices, flite_voices = (), (), ()
    if split != "train":   # band-limiting and recordings only train: the synthetic test splits
        cfg = {**cfg, "bandlimit_prob": 0.0}   # stay byte-identical, so cells pair across recipes
    else:
        if cfg.get("flite_speech") is True:
            flite_voices = list(cfg["flite_voices"])
        if cfg.get("real_noise") is True:
            recordings = [(src, f) for src, files in train_noise_files(cfg.get("real_noise_opensfx") is True)
                          for f in files]
        if cfg.get("real_speech") is True:
            voices = train_speech_groups()
    rows = []
    for i in range(start, stop):
        name = f"{split}_{i:05d}"
        seed = utterance_seed(cfg["seed"], split, i)
        clean, noisy, meta = mixture.make(seed, cfg, accents, variants, kinds, recordings, voices,
                                          flite_voices)
        for kind, x in (("clean", clean), ("noisy", noisy)):
            Path(out, split, kind, f"{name}.wav").write_bytes(encode_wav(x))
        rows.append({"name": name, **meta})
    return rows


def _default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _run(jobs: list, cfg: dict, out: str, workers: int):
    """Yield (split, start, stop, rows) per job, in parallel when workers > 1."""
    if workers <= 1 or len(jobs) <= 1:
        for split, start, stop in jobs:
            yield split, start, stop, _make_chunk(cfg, split, start, stop, out)
        return
    # fork: the workers run numpy and espeak only, and fork needs no importable __main__
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = {pool.submit(_make_chunk, cfg, *job, out): job for job in jobs}
        for fut in as_completed(futures):
            yield (*futures[fut], fut.result())


def build(cfg: dict, target: Path) -> None:
    """Make the whole dataset into a temporary folder, then move it into place in one rename."""
    check_settings(cfg)
    ensure_folder(target, lambda tmp: _fill(cfg, target, tmp))


def _fill(cfg: dict, target: Path, tmp: Path) -> None:
    jobs = []
    for split in SPLITS:
        for kind in ("clean", "noisy"):
            (tmp / split / kind).mkdir(parents=True, exist_ok=True)
        n = int(cfg["sizes"].get(split, 0))
        jobs += [(split, a, min(a + CHUNK, n)) for a in range(0, n, CHUNK)]
    total = sum(stop - start for _, start, stop in jobs)
    workers = int(cfg.get("workers") or _default_workers())
    print(f"Making the embedded dataset ({total} utterances, {workers} processes) in {target}",
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    rows = {split: [] for split in SPLITS}
    from tqdm import tqdm
    with tqdm(total=total, unit="utt", desc="synthetic data", file=sys.stderr) as bar:
        for split, start, stop, result in _run(jobs, cfg, str(tmp), workers):
            rows[split] += result
            bar.update(stop - start)
    for split in SPLITS:
        with open(tmp / split / "metadata.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METADATA_FIELDS)
            writer.writeheader()
            writer.writerows(sorted(rows[split], key=lambda r: r["name"]))
    info = {**_hashed_settings(cfg), "seconds_to_build": round(time.perf_counter() - t0, 1),
            "sample_rate": mixture.SR}
    (tmp / "settings.json").write_text(json.dumps(info, indent=2, sort_keys=True))
    print(f"Embedded dataset ready in {time.perf_counter() - t0:.1f} s: {target}",
          file=sys.stderr, flush=True)


def ensure(cfg: dict) -> Path:
    """The dataset folder for these settings, made first if absent."""
    cfg = effective(cfg)
    target = dataset_dir(cfg)
    if not is_complete(target):
        build(cfg, target)
    return target


_INT_FIELDS = ("rate", "pitch", "pitch_range", "seed")
_FLOAT_FIELDS = ("snr_db", "speech_level_db", "seconds")


def read_metadata(split_dir: Path) -> list[dict]:
    with open(split_dir / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row.update({k: int(row[k]) for k in _INT_FIELDS})
        row.update({k: float(row[k]) for k in _FLOAT_FIELDS})
    return rows


def load(cfg: dict, split: str) -> PairedDataset:
    """One split of the embedded dataset, made first if needed."""
    if split not in SPLITS:
        raise ValueError(f"data=synthetic has splits {', '.join(SPLITS)}, not {split!r}")
    if int(cfg["sizes"].get(split, 0)) <= 0:
        raise ValueError(f"data=synthetic: sizes.{split} is 0, so there is no {split} split")
    base = ensure(cfg) / split
    pairs = pair_folders(base / "clean", base / "noisy")
    rows = {row["name"]: row for row in read_metadata(base)}
    return PairedDataset(pairs, metadata=[rows[p.name] for p in pairs],
                         description=f"synthetic {split} ({base.parent})")
