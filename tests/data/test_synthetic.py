import hashlib

import pytest

from benchmark.data import load_split, synthetic
from benchmark.data.settings import resolve

TINY = {"train": 12, "valid": 4, "test": 4, "test_mismatched": 4}


def _digests(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "settings.json"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cfg = {"name": "synthetic", "cache_dir": str(tmp_path_factory.mktemp("cache")),
           "sizes": TINY, "workers": 2}
    return cfg, {split: load_split(cfg, split) for split in TINY}


def test_splits_have_the_requested_sizes_and_metadata(built):
    _, data = built
    for split, n in TINY.items():
        ds = data[split]
        assert len(ds) == n == len(ds.metadata) == len(ds.lengths)
        item = ds[0]
        assert item["clean"].size == item["noisy"].size == ds.lengths[0]
        for row in ds.metadata:
            assert row["name"].startswith(split) and row["text"] and row["voice"]
            assert -5 <= row["snr_db"] <= 20 and 2.0 <= row["seconds"] <= 5.0


def test_splits_are_voice_disjoint_and_mismatch_is_held_out(built):
    cfg, data = built
    full = resolve(cfg)
    variants = {s: {r["variant"] for r in data[s].metadata} for s in TINY}
    for a in TINY:
        for b in TINY:
            if a < b:
                assert not variants[a] & variants[b]
    held = set(full["heldout_noise_types"])
    for split in ("train", "valid", "test"):
        for row in data[split].metadata:
            assert not set(row["noise"].split("+")) & held
            assert row["accent"] in full["accents"] or (split == "train" and row["voice"].startswith("real:"))
    for row in data["test_mismatched"].metadata:
        assert set(row["noise"].split("+")) <= held
        assert row["accent"] in full["heldout_accents"]


def test_second_use_reuses_the_cache(built, monkeypatch):
    cfg, data = built
    monkeypatch.setattr(synthetic, "build", lambda *a: pytest.fail("rebuilt a cached dataset"))
    again = load_split(cfg, "valid")
    assert again.names == data["valid"].names


def test_same_settings_give_bit_identical_files(built, tmp_path):
    cfg, _ = built
    other = {**cfg, "cache_dir": str(tmp_path), "workers": 1}
    first, second = synthetic.dataset_dir(resolve(cfg)), synthetic.dataset_dir(resolve(other))
    assert first.name == second.name   # cache_dir and workers are not part of the hash
    load_split(other, "train")
    assert _digests(first) == _digests(second)


def test_settings_change_the_hash_and_the_cache_location(tmp_path, monkeypatch):
    base = resolve({"name": "synthetic", "cache_dir": str(tmp_path)})
    assert synthetic.dataset_dir(base) != synthetic.dataset_dir({**base, "seed": 1})
    assert synthetic.dataset_dir(base).parent == tmp_path
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path / "env"))
    assert synthetic.dataset_dir({**base, "cache_dir": None}).parent == tmp_path / "env"
    monkeypatch.delenv("BENCHMARK_CACHE")
    assert synthetic.cache_root({}).name == "benchmark"


@pytest.mark.parametrize("override, message", [
    ({"variants": {"valid": ["m1"]}}, r"\['m1'\] are in both train and valid"),
    ({"noise_types": ["pink", "rain"]}, "unknown noise types"),
    ({"heldout_noise_types": ["white", "pink", "brown", "bandlimited", "modulated", "hum",
                              "impulsive", "babble"]}, "nothing to train on"),
    ({"seconds": [5.0, 2.0]}, r"seconds is a \[min, max\] range"),
    ({"babble_variants": ["nobody"]}, "no voice variants"),
])
def test_bad_settings_are_named(override, message, tmp_path):
    cfg = resolve({"name": "synthetic", "cache_dir": str(tmp_path), **override})
    with pytest.raises(ValueError, match=message):
        synthetic.check_settings(cfg)


def test_bad_split_or_empty_split_is_refused(tmp_path):
    cfg = {"name": "synthetic", "cache_dir": str(tmp_path), "sizes": {**TINY, "test": 0}}
    with pytest.raises(ValueError, match="splits"):
        load_split(cfg, "training")
    with pytest.raises(ValueError, match="sizes.test is 0"):
        load_split(cfg, "test")


def test_parallel_workers_wait_for_one_build(tmp_path):
    """Two processes asking for the same missing dataset (`--jobs 2`) build it once, not twice."""
    import subprocess
    import sys

    cfg = {"name": "synthetic", "cache_dir": str(tmp_path), "workers": 1,
           "sizes": {"train": 20, "valid": 1, "test": 1, "test_mismatched": 1}}
    code = ("import sys; from benchmark.data import load_split; "
            f"print(load_split({cfg!r}, 'train').description)")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0]                                 # the same folder
    logs = outs[0][1] + outs[1][1]
    assert logs.count("Making the embedded dataset") == 1, logs
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_band_limiting_trains_only_and_leaves_the_test_splits_byte_identical(built, tmp_path):
    cfg, _ = built
    plain, limited = ({**cfg, "cache_dir": str(tmp_path / str(p)), "bandlimit_prob": p} for p in (0.0, 1.0))
    assert all(row["bandlimit_hz"] for row in load_split(limited, "train").metadata)
    load_split(plain, "train")
    before = _digests(synthetic.dataset_dir(resolve(plain)))
    after = _digests(synthetic.dataset_dir(resolve(limited)))
    for split in ("valid", "test", "test_mismatched"):
        assert {k: v for k, v in after.items() if k.startswith(split + "/")} == \
            {k: v for k, v in before.items() if k.startswith(split + "/")}, split
    train = [k for k in after if k.startswith("train/noisy/")]
    assert train and all(after[k] != before[k] for k in train)
