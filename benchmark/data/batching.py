"""Training and evaluation batches of waveforms, zero-padded, with their true lengths.

Two training regimes (docs/design-space.md section 7):
* "crop" (sgmse): a fixed number of items per batch, each a random crop of `crop_seconds`
  (shorter items are kept whole and zero-padded). Crop length is in seconds of audio; the front
  end turns 2.048 s into sgmse's 256 frames at hop 128.
* "bucket" (brever, after Gonzalez et al., ICASSP 2023): whole utterances grouped into
  `n_buckets` length buckets with limits spread uniformly up to the longest item; a batch holds
  floor(batch_seconds / right bucket limit) items, so every batch carries about the same audio.
Everything random is drawn from (seed, epoch): a resumed run sees the same batches.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ..audio.io import SAMPLE_RATE


def _collate(items: Sequence[tuple[np.ndarray, np.ndarray]], width: int) -> dict:
    clean = torch.zeros(len(items), width)
    noisy = torch.zeros(len(items), width)
    lengths = torch.zeros(len(items), dtype=torch.long)
    for row, (c, n) in enumerate(items):
        clean[row, :c.size] = torch.from_numpy(c)
        noisy[row, :n.size] = torch.from_numpy(n)
        lengths[row] = c.size
    return {"clean": clean, "noisy": noisy, "lengths": lengths}


def _crop(item: dict, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    clean, noisy = item["clean"], item["noisy"]
    if clean.size <= length:
        return clean, noisy
    start = int(rng.integers(0, clean.size - length + 1))
    return clean[start:start + length], noisy[start:start + length]


def bucket_batches(lengths: Sequence[int], batch_samples: int, n_buckets: int,
                   rng: np.random.Generator) -> list[list[int]]:
    """Index lists of brever's bucket sampler (dynamic batch size in samples), shuffled."""
    lengths = np.asarray(lengths)
    limits = np.linspace(lengths.max() / n_buckets, lengths.max(), n_buckets)
    # an item longer than a whole batch is cropped to the batch (brever: max_segment_length)
    capacity = np.maximum(batch_samples // np.minimum(limits, batch_samples), 1).astype(int)
    buckets: list[list[int]] = [[] for _ in range(n_buckets)]
    batches = []
    for i in rng.permutation(lengths.size):
        b = min(int(np.searchsorted(limits, lengths[i])), n_buckets - 1)
        buckets[b].append(int(i))
        if len(buckets[b]) == capacity[b]:
            batches.append(buckets[b])
            buckets[b] = []
    batches += [b for b in buckets if b]
    order = rng.permutation(len(batches))
    return [batches[k] for k in order]


def train_batches(dataset, *, mode: str = "crop", batch_size: int = 8, crop_seconds: float = 2.0,
                  batch_seconds: float = 32.0, n_buckets: int = 10, seed: int = 0,
                  epoch: int = 0) -> Iterator[dict]:
    """One epoch of dict(clean=[B, L], noisy=[B, L], lengths=LongTensor[B] in samples)."""
    rng = np.random.default_rng([seed, epoch])
    if mode == "crop":
        width = int(round(crop_seconds * SAMPLE_RATE))
        if width <= 0 or batch_size <= 0:
            raise ValueError("crop batching needs crop_seconds > 0 and batch_size > 0")
        order = rng.permutation(len(dataset))
        for start in range(0, len(order), batch_size):
            items = [_crop(dataset[int(i)], width, rng) for i in order[start:start + batch_size]]
            yield _collate(items, width)
    elif mode == "bucket":
        batch_samples = int(round(batch_seconds * SAMPLE_RATE))
        if batch_samples <= 0 or n_buckets <= 0:
            raise ValueError("bucket batching needs batch_seconds > 0 and n_buckets > 0")
        for indices in bucket_batches(dataset.lengths, batch_samples, n_buckets, rng):
            items = [_crop(dataset[i], batch_samples, rng) for i in indices]
            yield _collate(items, max(c.size for c, _ in items))
    else:
        raise ValueError(f"unknown batching mode {mode!r}; use 'crop' or 'bucket'")


def eval_batches(dataset, batch_seconds: float = 32.0) -> Iterator[dict]:
    """Whole utterances sorted by length, grouped while B * longest <= batch_seconds of audio.

    Adds `names` and `indices` to each batch. An utterance longer than a batch goes alone,
    uncropped: evaluation always sees whole files.
    """
    budget = batch_seconds * SAMPLE_RATE
    order = sorted(range(len(dataset)), key=lambda i: dataset.lengths[i])
    group: list[int] = []
    for i in order + [None]:
        if group and (i is None or (len(group) + 1) * dataset.lengths[i] > budget):
            items = [dataset[j] for j in group]
            batch = _collate([(it["clean"], it["noisy"]) for it in items],
                             max(it["clean"].size for it in items))
            yield {**batch, "names": [it["name"] for it in items], "indices": list(group)}
            group = []
        if i is not None:
            group.append(i)
