"""Reference models shipped in the package: enhance with the reference run's models, no training.

    benchmark/weights/<name>.safetensors  a model's EMA weights (last.pt's: what enhance and the study
                                          driver use by default), no pickle; its header names the
                                          training hash, steps and dtype, so a file alone says what it is
    benchmark/weights/index.json          {"format": 1, "models": {name: entry}}: training_hash, sha256,
                                          bytes, dtype, steps, commit, host, study, config (config.yaml's
                                          text), done (the folder's done.json)

    python -m benchmark.shipped export <model folder> <name> [--study S] [--dtype auto|fp32|bf16]
    python -m benchmark.shipped list | check
    python -m benchmark.enhance model=reference:<name> input=… output=…

materialize() turns an entry into a model folder (config.yaml, weights.safetensors, done.json) that
store.py loads as it loads a trained one; every file is checked against index.json first.
"""
from __future__ import annotations

import argparse
import copy
import itertools
import platform
import re
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from omegaconf import OmegaConf

from . import provenance, store
from .config import ConfigError, build_model, training_hash
from .durable import read_json, write_bytes_atomic, write_json

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"     # tests point this elsewhere
INDEX = "index.json"
CAP_BYTES = 64_000_000        # all shipped files together: the wheel stays a download, not a data set
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ShippedError(ValueError):
    """One line: the shipped file or name, and what is wrong with it (front doors print ValueErrors)."""


@dataclass
class Entry:
    name: str
    training_hash: str
    sha256: str
    bytes: int
    dtype: str
    steps: int
    commit: str
    host: str
    study: str | None
    config: str
    done: dict = field(default_factory=dict)


def _dir(weights_dir) -> Path:
    return Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR    # looked up per call: patchable


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def read_index(weights_dir=None) -> dict[str, Entry]:
    """The shipped entries by name; none when index.json is absent, `{}` or lists none."""
    path = _dir(weights_dir) / INDEX
    if not path.exists():
        return {}
    raw = read_json(path)
    models = raw.get("models", {}) if isinstance(raw, dict) else None
    if not isinstance(models, dict):
        raise ShippedError(f"{path}: not an index of shipped models (expected {{\"models\": {{name: entry}}}})")
    out = {}
    for name, entry in models.items():
        if not _NAME.fullmatch(str(name)):
            raise ShippedError(f"{path}: {name!r} is not a model name (letters, digits, '.', '_', '-')")
        try:
            out[name] = Entry(**{**entry, "name": name})
        except TypeError as e:
            raise ShippedError(f"{path}: entry {name!r} is malformed ({e})") from None
    return out


def _write_index(weights_dir: Path, entries: dict[str, Entry]) -> None:
    models = {n: {k: v for k, v in asdict(e).items() if k != "name"} for n, e in sorted(entries.items())}
    write_json(weights_dir / INDEX, {"format": 1, "models": models})        # atomic: a rename


def names(weights_dir=None) -> list[str]:
    return sorted(read_index(weights_dir))


def list_models(weights_dir=None) -> list[Entry]:
    return [e for _, e in sorted(read_index(weights_dir).items())]


def entry(name: str, weights_dir=None) -> Entry:
    entries = read_index(weights_dir)
    if name not in entries:
        have = f"shipped: {', '.join(sorted(entries))}" if entries else "none are shipped yet"
        raise ShippedError(f"model={store.REFERENCE}{name}: no such shipped model ({have})")
    return entries[name]


def verified(name: str, weights_dir=None) -> tuple[Entry, bytes]:
    """The entry and its file's bytes, refused in one line naming the file unless its size, sha256
    and header agree with index.json (the bytes checked are the bytes then used: no re-read)."""
    e = entry(name, weights_dir)
    path = _dir(weights_dir) / f"{name}.safetensors"
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ShippedError(f"{path}: unreadable, though {INDEX} lists it ({store._first_line(err)})") from None
    if len(data) != e.bytes:
        raise ShippedError(f"{path}: {len(data)} bytes, {INDEX} says {e.bytes}: truncated or replaced")
    if store.sha256_of(data) != e.sha256:
        raise ShippedError(f"{path}: sha256 {store.sha256_of(data)[:12]}… is not {INDEX}'s {e.sha256[:12]}…: "
                           "the file was altered or damaged")
    meta = store.safetensors_header(data, path)
    for key, want in (("training_hash", e.training_hash), ("steps", str(e.steps))):
        if meta.get(key) != want:
            raise ShippedError(f"{path}: its header says {key} {meta.get(key)}, {INDEX} {want}: the index "
                               "and the file disagree")
    return e, data


def materialize(name: str, root, weights_dir=None) -> Path:
    """root/<training hash>/ holding the shipped model as a finished model folder. A folder there
    that a training finished (its own last.pt, no weights.safetensors) is the same model: kept."""
    e, data = verified(name, weights_dir)
    folder = store.folder_of(Path(root), e.training_hash)
    if store.model_done(folder) and not (folder / store.WEIGHTS).exists():
        return folder
    if store.started(folder) and not store.model_done(folder):
        # its last.pt would be loaded before weights.safetensors: a half-trained model under the shipped name
        raise ShippedError(f"{folder}: holds an unfinished training of shipped model {name} ({e.training_hash}): "
                           "finish it, or delete the folder to use the shipped weights")
    record = store.finished(folder) or {}
    if record.get("weights_sha256") == e.sha256 and (folder / store.WEIGHTS).is_file() \
            and store.sha256_of((folder / store.WEIGHTS).read_bytes()) == e.sha256:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / store.DONE).unlink(missing_ok=True)      # done.json last: a kill in between leaves no model
    write_bytes_atomic(folder / store.CONFIG, e.config.encode())
    if training_hash(store.read_config(folder)) != e.training_hash:
        raise ShippedError(f"{_dir(weights_dir) / INDEX}: {name}'s config hashes to "
                           f"{training_hash(store.read_config(folder))}, not its training hash {e.training_hash}")
    write_bytes_atomic(folder / store.WEIGHTS, data)
    store.mark_done(folder, {**e.done, "training_hash": e.training_hash, "steps": e.steps, "out_dir": str(folder),
                             "shipped": name, "weights_sha256": e.sha256, "dtype": e.dtype})
    return folder


def materialize_all(root, weights_dir=None) -> dict[str, Path]:
    """Every shipped model as a model folder under root: {training hash: folder}."""
    return {e.training_hash: materialize(e.name, root, weights_dir) for e in list_models(weights_dir)}


def load(ref: str, overrides=()) -> store.Loaded:
    """model=…: `reference:<name>` is a shipped model, anything else store.load_for_inference's."""
    if ref.startswith(store.REFERENCE):
        return load_reference(ref[len(store.REFERENCE):], overrides)
    return store.load_for_inference(ref, overrides)


def load_reference(name: str, overrides=()) -> store.Loaded:
    """A shipped model loaded for inference (model=reference:<name>); its
    folder is temporary, gone once the weights are in memory."""
    with tempfile.TemporaryDirectory(prefix="benchmark-reference-") as tmp:
        return store.load_for_inference(str(materialize(name, tmp)), overrides)


def _pinned_config(folder: Path, recorded: str | None):
    """The folder's configuration with data's `auto` choices written out as the ones it was trained
    with: `auto` hashes to what the machine at hand has installed, so a shipped config keeping it
    would name another model (and be refused as edited) where the recordings differ."""
    cfg = store.read_config(folder)
    recorded = recorded or training_hash(cfg)             # no record: this machine's choices
    autos = [k for k, v in cfg.data.items() if v == "auto"] if cfg.data.get("name") == "synthetic" else []
    for choice in itertools.product((True, False), repeat=len(autos)):
        candidate = copy.deepcopy(cfg)
        for key, value in zip(autos, choice):
            candidate.data[key] = value
        if training_hash(candidate) == recorded:
            return candidate
    raise ShippedError(f"{folder / store.CONFIG}: hashes to no training hash {recorded} ({folder / store.DONE}) "
                       "under any data choice: edited after training")


def _stamps(cfg) -> tuple[str, str]:
    try:
        device = provenance.device_name(cfg)
    except ValueError:                       # trained on a device this machine lacks
        device = "unknown device"
    return provenance._git_commit(), f"{platform.node()}: {device}"


def export(model_folder, name: str, dest=None, *, study: str | None = None, dtype: str = "auto",
           commit: str | None = None, host: str | None = None, cap: int = CAP_BYTES) -> Entry:
    """Ship a finished model folder's EMA weights (last.pt's) as dest/<name>.safetensors, in index.json.

    dtype auto: bf16 where config.yaml (or done.json's `precision`, where a trainer records it) says
    bf16, else fp32. The EMA weights are fp32
    master weights whatever the autocast, but a bf16-trained model's convolutions and matmuls only ever
    ran on them rounded to bf16, so halving the file loses nothing they computed with; `auto`
    precision was decided on the training host and recorded nowhere, so it keeps the lossless fp32."""
    from safetensors.torch import save

    folder, dest = Path(model_folder), _dir(dest)
    if not _NAME.fullmatch(name):
        raise ShippedError(f"name {name!r}: letters, digits, '.', '_' and '-' only, at most 64, not a path")
    if not store.model_done(folder):
        raise ShippedError(f"{folder}: not a finished model folder (no readable {store.DONE}: train it to the end)")
    recorded = store.finished(folder).get("training_hash")
    cfg = _pinned_config(folder, recorded)
    thash = recorded or training_hash(cfg)
    if dtype == "auto":
        trained_in = store.finished(folder).get("precision") or str(cfg.trainer.precision)
        dtype = "bf16" if trained_in == "bf16" else "fp32"
    if dtype not in ("fp32", "bf16"):
        raise ShippedError(f"dtype={dtype!r}: choose auto, fp32 or bf16")
    model = build_model(cfg)
    info = store.load_weights(model, folder, "last")
    steps = int(info["step"])

    def encode(kind: str) -> bytes:
        cast = torch.bfloat16 if kind == "bf16" else torch.float32
        tensors = {k: (v.to(cast) if v.is_floating_point() else v).detach().clone().contiguous()
                   for k, v in model.state_dict().items()}      # clones: safetensors refuses shared storage
        meta = {"format": "benchmark.shipped/1", "name": name, "training_hash": thash, "steps": str(steps),
                "dtype": kind}
        return save(tensors, meta)

    data = encode(dtype)
    entries = read_index(dest)
    if name in entries and entries[name].training_hash != thash:
        raise ShippedError(f"name {name!r} is shipped already for model {entries[name].training_hash}, not "
                           f"{thash}: choose another name or remove it from {dest / INDEX}")
    twin = [n for n, e in entries.items() if e.training_hash == thash and n != name]
    if twin:
        raise ShippedError(f"model {thash} is shipped already as {twin[0]!r}: one name per model")
    others = sum(e.bytes for n, e in entries.items() if n != name)
    if others + len(data) > cap:
        smaller = len(encode("bf16")) if dtype == "fp32" else None
        fits = smaller is not None and others + smaller <= cap
        hint = f"; in bf16 it is {_mb(smaller)} ({'fits: --dtype bf16' if fits else 'too big too'})" if smaller else ""
        raise ShippedError(f"{name}: {_mb(len(data))} would bring the shipped weights in {dest} to "
                           f"{_mb(others + len(data))}, over the {_mb(cap)} cap: {_mb(max(cap - others, 0))} "
                           f"fits{hint}")
    if commit is None or host is None:
        stamped = _stamps(cfg)
        commit, host = commit or stamped[0], host or stamped[1]
    done = {k: v for k, v in store.finished(folder).items() if k not in ("out_dir", "weights_sha256", "shipped")}
    new = Entry(name, thash, store.sha256_of(data), len(data), dtype, steps, commit, host, study,
                OmegaConf.to_yaml(cfg), done)
    write_bytes_atomic(dest / f"{name}.safetensors", data)          # the file first: an index never lists
    _write_index(dest, {**entries, name: new})                      # a file that is not there
    return new


def check(weights_dir=None) -> list[str]:
    """What is wrong with a weights folder: every entry verified, no file without an entry."""
    problems, entries = [], read_index(weights_dir)
    for name in entries:
        try:
            verified(name, weights_dir)
        except ValueError as e:
            problems.append(str(e))
    for path in sorted(_dir(weights_dir).glob("*.safetensors")):
        if path.stem not in entries:
            problems.append(f"{path}: not in {INDEX} (a leftover, or an export cut short)")
    return problems


def describe(e: Entry) -> str:
    return f"{e.name}  study {e.study or '-'}, {e.steps} steps, {_mb(e.bytes)} {e.dtype}, model {e.training_hash}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.shipped", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="ship a finished model folder's weights as <name>")
    ex.add_argument("folder")
    ex.add_argument("name")
    for flag in ("--study", "--commit", "--host"):
        ex.add_argument(flag)
    ex.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16"))
    for p in (ex, sub.add_parser("list", help="the shipped models"), sub.add_parser("check", help="verify them")):
        p.add_argument("--dest", type=Path, help="the weights folder (default: the package's)")
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            print("shipped " + describe(export(args.folder, args.name, args.dest, study=args.study, dtype=args.dtype,
                                               commit=args.commit, host=args.host)))
        elif args.command == "list":
            print("\n".join(map(describe, list_models(args.dest))) or "no reference models are shipped yet")
        elif problems := check(args.dest):
            print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
            return 1
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
