"""What `python -m benchmark.run` checks once, before any work (issue 48): the folders it will write,
the study's meta.json, each cell's device and each cell's data. A bad one would otherwise surface
cell by cell, after the stores, the queue and model folders were made and the retries spent; here it
is one line naming the path or key, and nothing is created. --dry-run checks the same, since it
says what a run would do (and measures unit costs into --results)."""
from __future__ import annotations

import json
from pathlib import Path

from ..audio.io import AudioError
from ..config import to_dict
from ..data import resolve
from ..data.corpora import FOLDER_SPLITS, pair_folders
from ..preflight import PreflightError, readable_dir, writable_dir
from ..runtime import select_device
from . import ledger
from .invocations import check_meta


def check_run(args, spec, cells) -> None:
    """Raise PreflightError (one line) for the first thing that would make the run fail."""
    results = Path(args.results)
    writable_dir(results, "--results")
    writable_dir(ledger.study_dir(results, spec.name), "the study's results folder")
    writable_dir(ledger.models_root(results, args.models), "--models" if args.models else "the models folder")
    if not args.no_report:
        writable_dir(args.reports, "--reports")
    check_meta(ledger.meta_json(ledger.study_dir(results, spec.name)))
    for device in sorted({str(c.config.device) for c in cells}):
        try:
            select_device(device)
        except ValueError as e:                  # runtime.py's own one line, naming device=
            raise PreflightError(str(e)) from None
    seen = set()
    for c in cells:                              # a study may vary the data across cells
        key = json.dumps(to_dict(c.config.data), sort_keys=True)
        if key not in seen:
            seen.add(key)
            check_data(c.config.data)


def _wav_pairs(root: Path, clean: Path, noisy: Path) -> None:
    """The pairs data/corpora.py will read: both folders there and every file with its partner
    (names only: the files' headers are checked by the loader, when a cell reads them)."""
    for folder in (clean, noisy):
        readable_dir(folder, f"data.root {root}:")
    try:
        pairs = pair_folders(clean, noisy)
    except AudioError as e:
        raise PreflightError(f"data.root {root}: {e}") from None
    if not pairs:
        raise PreflightError(f"data.root {root}: no .wav files in {clean}")


def check_data(data_cfg) -> None:
    """data=folder and data=vbdmd: data.root is given, is a readable folder, and holds every split's
    clean and noisy folders in the layout data/corpora.py reads (benchmark/configs/data/<name>.yaml).
    The synthetic set is made by the suite itself: nothing to check."""
    try:
        d = resolve(data_cfg)
    except ValueError as e:
        raise PreflightError(str(e)) from None
    if d["name"] == "synthetic":
        return
    if not d.get("root"):
        raise PreflightError(f"data={d['name']} needs the corpus folder: data.root=DIR")
    root = Path(str(d["root"])).expanduser()
    readable_dir(root, "data.root")
    if d["name"] == "folder":
        for split in FOLDER_SPLITS:
            _wav_pairs(root, root / split / "clean", root / split / "noisy")
    else:                                        # vbdmd: train and valid share the trainset folders
        for sub in (d.get("trainset") or "trainset_28spk", "testset"):
            _wav_pairs(root, root / f"clean_{sub}_wav", root / f"noisy_{sub}_wav")
