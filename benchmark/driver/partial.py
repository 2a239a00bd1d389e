"""A cell's evaluation resumed where it stopped, with the numbers an unbroken run gives.

A cell enhances every utterance of each split, then scores the split: at NFE 60 on two CPU cores
that is about 85 minutes, and a run stopped in the middle (a session's end, kill -9, a lost
machine) used to start the cell over. Now the enhanced audio is kept in the cell's folder as it is
made, in chunks written at most SAVE_EVERY_S apart, each with the sampler's random state after its
last utterance, and a split's scores once it is scored. The next run of the cell reads them and
goes on from the next utterance with the generator's state restored (not reseeded), so its
per-utterance scores equal an unbroken run's bit for bit (tests/driver/test_partial.py). The
worker removes the folder once the cell's rows are in cells.csv.

Kept work is used only by the same cell on the same weights: the folder carries a fingerprint of
the cell's configuration and of the model's weights (their bytes: a model retrained bit for bit
counts as the same), and a mismatch discards it, saying so.

    <results>/<study>/cells/<hash>/partial/
        fingerprint                      the configuration's and the weights' digest
        <split>.<first utterance>.npz    enhanced audio of a run of utterances, their NFE, the
                                         seconds and minutes spent so far, the generator's state
        <split>.scores.csv               the split's scores (written at full float precision)
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..config import stable_hash, to_dict
from ..durable import write_atomic, write_bytes_atomic

SAVE_EVERY_S = 60.0        # at most this much enhancement is redone after a kill


def _digest_weights(digest, model: torch.nn.Module):
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest


def fingerprint(cfg, model: torch.nn.Module) -> str:
    return _digest_weights(hashlib.sha256(stable_hash(to_dict(cfg)).encode()), model).hexdigest()[:20]


def weights_id(model: torch.nn.Module) -> str:
    """The weights' own digest (names and bytes), which cells.csv records per cell: one training
    config retrained on another host (fp32 on AVX2, bf16 autocast where the CPU has it) gives other
    weights under the same training hash, and the report names such twins."""
    return _digest_weights(hashlib.sha256(), model).hexdigest()[:12]


@dataclass
class Kept:
    """What a split has so far: enhanced audio in utterance order and the sums that go with it."""
    enhanced: list[np.ndarray] = field(default_factory=list)
    nfe: list[float] = field(default_factory=list)
    seconds: float = 0.0            # sampler seconds (the RTF's numerator)
    audio: float = 0.0              # seconds of audio enhanced
    minutes: float = 0.0            # wall-clock spent on the split in earlier sittings
    state: torch.Tensor | None = None


class CellProgress:
    def __init__(self, folder: Path, print_fn=print):
        self.folder = Path(folder)
        self._print = print_fn

    @classmethod
    def open(cls, folder: Path, mark: str, print_fn=print) -> "CellProgress":
        """The kept work in `folder`, discarded first if it belongs to another configuration or other weights."""
        progress = cls(folder, print_fn)
        stamp = progress.folder / "fingerprint"
        found = stamp.read_text().strip() if stamp.is_file() else None
        if found != mark:
            if found is not None:
                print_fn(f"{progress.folder}: kept enhancement is of another configuration or other "
                         "weights; starting this cell's evaluation over", flush=True)
            shutil.rmtree(progress.folder, ignore_errors=True)
            write_atomic(stamp, mark + "\n")
        return progress

    @staticmethod
    def begun(folder: Path) -> bool:
        """Whether `folder` keeps enhanced audio or scores of an evaluation a killed run began."""
        folder = Path(folder)
        return folder.is_dir() and (any(folder.glob("*.npz")) or any(folder.glob("*.scores.csv")))

    def load(self, split: str) -> Kept:
        """The split's chunks, in order; a gap (a chunk lost to a kill between writes) ends them."""
        kept = Kept()
        for path in sorted(self.folder.glob(f"{split}.*.npz"), key=lambda p: int(p.name.split(".")[-2])):
            if int(path.name.split(".")[-2]) != len(kept.enhanced):
                break
            with np.load(path, allow_pickle=False) as chunk:
                bounds = np.cumsum(chunk["lengths"])[:-1]
                kept.enhanced += np.split(chunk["audio"], bounds)
                kept.nfe += chunk["nfe"].tolist()
                sums = json.loads(str(chunk["sums"]))
                kept.state = torch.from_numpy(chunk["state"].copy())
            kept.seconds, kept.audio, kept.minutes = sums["seconds"], sums["audio"], sums["minutes"]
        if kept.enhanced:
            self._print(f"{self.folder}: {split}: {len(kept.enhanced)} utterance(s) enhanced by an "
                        "earlier run are kept; going on from there", flush=True)
        return kept

    def save(self, split: str, first: int, enhanced: list[np.ndarray], nfe: list[float],
             seconds: float, audio: float, minutes: float, state: torch.Tensor) -> None:
        """Utterances first … first + len(enhanced) − 1 of `split`, with the sums up to their end."""
        import io

        buffer = io.BytesIO()
        np.savez(buffer, audio=np.concatenate(enhanced), lengths=np.array([len(a) for a in enhanced]),
                 nfe=np.asarray(nfe, dtype=float), state=state.numpy(),
                 sums=np.array(json.dumps({"seconds": seconds, "audio": audio, "minutes": minutes})))
        write_bytes_atomic(self.folder / f"{split}.{first}.npz", buffer.getvalue())

    def scores(self, split: str) -> tuple[pd.DataFrame, float] | None:
        """The split's kept scores and the minutes it took in all, or None."""
        path = self.folder / f"{split}.scores.csv"
        if not path.is_file():
            return None
        minutes = float(path.with_suffix(".minutes").read_text())
        table = pd.read_csv(path, dtype={"name": str, "metric": str}, keep_default_na=False,
                            na_values=[""], float_precision="round_trip")
        table["floored"] = table["floored"].astype(bool)
        return table, minutes

    def save_scores(self, split: str, table: pd.DataFrame, minutes: float) -> None:
        path = self.folder / f"{split}.scores.csv"
        write_atomic(path.with_suffix(".minutes"), f"{minutes!r}\n")
        write_atomic(path, table.to_csv(index=False, float_format="%.17g"))

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
