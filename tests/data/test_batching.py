import numpy as np
import pytest
import torch

from benchmark.data.batching import bucket_batches, eval_batches, train_batches

SR = 16000


class RampDataset:
    """In-memory pairs whose samples say where they come from (exact in float32):
    clean[k] = k + 1 and noisy[k] = -(clean[k] + 100000 * i) for item i."""

    def __init__(self, lengths):
        self.lengths = list(lengths)
        self.names = [f"u{i}" for i in range(len(lengths))]

    def __len__(self):
        return len(self.lengths)

    def __getitem__(self, i):
        clean = np.arange(1, self.lengths[i] + 1, dtype=np.float32)
        return {"name": self.names[i], "clean": clean, "noisy": -(clean + 100000 * i)}


def _lengths(n=40, seed=0):
    return np.random.default_rng(seed).integers(int(0.5 * SR), int(5 * SR), size=n)


def _item_ids(batch):
    return [int(-(n[0] + c[0]).item()) // 100000 for c, n in zip(batch["clean"], batch["noisy"])]


def test_crop_batches_are_random_crops_seeded_by_epoch():
    ds = RampDataset(_lengths())
    batches = list(train_batches(ds, mode="crop", batch_size=8, crop_seconds=1.0, seed=3, epoch=0))
    seen, starts = [], []
    for b in batches:
        assert b["clean"].shape == b["noisy"].shape == (len(b["lengths"]), SR)
        for row, i in enumerate(_item_ids(b)):
            n = int(b["lengths"][row])
            assert n == min(SR, ds.lengths[i])
            c, z = b["clean"][row].numpy(), b["noisy"][row].numpy()
            # a contiguous stretch of item i, then zeros; noisy is the same stretch
            assert np.array_equal(c[:n], c[0] + np.arange(n)) and 1 <= c[0] <= ds.lengths[i] - n + 1
            assert np.array_equal(-z[:n] - c[:n], np.full(n, 100000.0 * i))
            assert not c[n:].any() and not z[n:].any()
            seen.append(i)
            starts.append(c[0])
    assert sorted(seen) == list(range(len(ds)))
    assert len(set(starts)) > len(ds) // 2   # crops start at random places
    again = list(train_batches(ds, mode="crop", batch_size=8, crop_seconds=1.0, seed=3, epoch=0))
    other = list(train_batches(ds, mode="crop", batch_size=8, crop_seconds=1.0, seed=3, epoch=1))
    assert all(torch.equal(a["clean"], b["clean"]) for a, b in zip(batches, again))
    assert not all(torch.equal(a["clean"], b["clean"]) for a, b in zip(batches, other))


def test_bucket_batches_hold_whole_utterances_within_the_budget():
    ds = RampDataset(_lengths(60, seed=1))
    budget = 8 * SR
    batches = list(train_batches(ds, mode="bucket", batch_seconds=8.0, n_buckets=5, epoch=2))
    seen = []
    for b in batches:
        ids = _item_ids(b)
        assert b["lengths"].tolist() == [ds.lengths[i] for i in ids]   # whole utterances
        assert b["clean"].shape[1] == max(b["lengths"])
        assert len(ids) * b["clean"].shape[1] <= budget
        seen += ids
    assert sorted(seen) == list(range(len(ds)))
    # bucketing keeps padding low compared with batching in random order
    padding = sum(int(b["clean"].numel() - b["lengths"].sum()) for b in batches)
    assert padding < 0.25 * sum(ds.lengths)


def test_bucket_sizes_follow_brever():
    lengths = [100, 200, 300, 400, 1000, 1000, 1000, 1000, 1000]
    batches = bucket_batches(lengths, batch_samples=2000, n_buckets=2, rng=np.random.default_rng(0))
    # limits 500 and 1000: the short bucket takes 2000 // 500 = 4 items, the long one 2
    assert sorted(len(b) for b in batches) == [1, 2, 2, 4]
    for b in batches:
        assert len({lengths[i] > 500 for i in b}) == 1


def test_overlong_item_is_cropped_to_the_batch():
    ds = RampDataset([10 * SR, SR, SR])
    batches = list(train_batches(ds, mode="bucket", batch_seconds=4.0, n_buckets=2))
    assert max(b["clean"].shape[1] for b in batches) == 4 * SR


def test_eval_batches_sorted_whole_and_complete():
    ds = RampDataset(_lengths(30, seed=2))
    batches = list(eval_batches(ds, batch_seconds=10.0))
    order = [i for b in batches for i in b["indices"]]
    assert sorted(order) == list(range(len(ds)))
    assert [ds.lengths[i] for i in order] == sorted(ds.lengths)
    for b in batches:
        assert b["names"] == [ds.names[i] for i in b["indices"]]
        assert b["lengths"].tolist() == [ds.lengths[i] for i in b["indices"]]
        assert len(b["indices"]) == 1 or b["clean"].numel() <= 10 * SR


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown batching mode 'random'"):
        next(train_batches(RampDataset([SR]), mode="random"))
