"""The real-recordings split: deterministic, disjoint from the training pool, clear when a package
is missing. CI installs the packages (.ci/run), so there a missing package fails these tests;
elsewhere the tests that need them skip with the install command."""
import hashlib
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import eval_splits, load_split, real, sources, synthetic
from benchmark.data.settings import resolve

from ..optional import need


def _need_packages():
    need(sources.require, sources.MissingSource, "these packages (.ci/run)")


def _digests(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(real, "SIZE", 10)


def test_the_split_is_the_same_bytes_twice(tmp_path, small):
    _need_packages()
    first = load_split({"name": "synthetic", "cache_dir": str(tmp_path / "a")}, "real")
    second = load_split({"name": "synthetic", "cache_dir": str(tmp_path / "b")}, "real")
    a, b = (Path(ds.pairs[0].clean).parents[2] for ds in (first, second))
    assert a.name == b.name and a != b
    assert _digests(a) == _digests(b)
    assert len(first) == real.SIZE
    item = first[0]
    assert item["clean"].size == item["noisy"].size and np.abs(item["clean"]).max() > 0


def test_every_pair_names_its_sources_and_licences(tmp_path, small):
    _need_packages()
    ds = load_split({"name": "synthetic", "cache_dir": str(tmp_path)}, "real")
    packages = {s.package: s for s in sources.SOURCES}
    for row in ds.metadata:
        for kind in ("speech", "noise"):
            source = packages[row[f"{kind}_package"]]
            assert row[f"{kind}_licence"] == source.licence and row[f"{kind}_version"] == source.version()
        for path in row["speech_paths"].split(";") + [row["noise_path"]]:
            assert Path(path).is_file()
        assert real.SNR_DB[0] <= row["snr_db"] <= real.SNR_DB[1]


def test_pools_are_disjoint_and_the_split_draws_only_from_its_own(tmp_path, small):
    _need_packages()
    for source in sources.SOURCES:
        held, train = set(sources.pool(source, "real")), set(sources.pool(source, "train"))
        assert held and not held & train
        assert held | train == set(source.files())
        # whole speaker groups: no language or file is on both sides
        assert not {source.group(f) for f in held} & {source.group(f) for f in train}
    held = {str(f) for s in sources.SOURCES for f in sources.pool(s, "real")}
    ds = load_split({"name": "synthetic", "cache_dir": str(tmp_path)}, "real")
    used = {p for row in ds.metadata for p in row["speech_paths"].split(";") + [row["noise_path"]]}
    assert used <= held
    training = {str(f) for _, files in sources.train_noise_files() for f in files}
    assert training and not training & held


def test_synthetic_training_with_real_noise_uses_only_the_training_pool(tmp_path):
    _need_packages()
    cfg = {"name": "synthetic", "cache_dir": str(tmp_path), "real_noise": True, "real_noise_prob": 1.0,
           "sizes": {"train": 6, "valid": 2, "test": 2, "test_mismatched": 2}}
    train = load_split(cfg, "train")
    stems = {f.stem for _, files in sources.train_noise_files(opensfx=True) for f in files}
    held = {f.stem for s in sources.SOURCES if s.kind == "noise" for f in sources.pool(s, "real")}
    names = [row["noise"].split("+")[0] for row in train.metadata]
    assert all(n.startswith("real:") and n[5:] in stems and n[5:] not in held for n in names)
    # OpenSFX trains only: none of its recordings is in the split; the default leaves it out, auto
    # takes it where installed
    assert not any(s.package == "openttd-opensfx" for s in sources.SOURCES)
    sfx = {f.stem for f in sources.OPENSFX.files()}
    auto = resolve({**cfg, "real_noise_opensfx": "auto"})
    assert synthetic.effective(resolve(cfg))["real_noise_opensfx"] is False
    assert synthetic.effective(auto)["real_noise_opensfx"] is True
    assert sfx <= stems
    assert not any(n[5:] in sfx for n in names)
    assert synthetic.dataset_dir(auto) != synthetic.dataset_dir(resolve(cfg))
    assert {row["noise"].split("+")[0][5:] for row in load_split(auto, "train").metadata} & sfx
    # the synthetic test split stays synthetic, so it measures what it measured before
    assert not any(r["noise"].startswith("real:") for r in load_split(cfg, "test").metadata)
    # and the option is in the dataset's identity; off, it leaves the old identity alone
    base = {"name": "synthetic", "cache_dir": str(tmp_path), "real_noise": False, "real_speech": False,
            "bandlimit_prob": 0.0}          # scale=synthetic: the identity of datasets made before them
    assert synthetic.dataset_dir(resolve(cfg)) != synthetic.dataset_dir(resolve({**cfg, "real_noise": False}))
    assert (synthetic.dataset_dir(resolve({**base, "real_noise_prob": 0.9}))
            == synthetic.dataset_dir(resolve(base)))


@pytest.fixture
def nothing_installed(monkeypatch, tmp_path):
    monkeypatch.setattr(sources.Source, "root", lambda self: tmp_path / "empty")
    monkeypatch.setattr("benchmark.data._told_missing", False)


def test_a_missing_package_says_how_to_install_it(nothing_installed, tmp_path):
    with pytest.raises(sources.MissingSource) as e:
        load_split({"name": "synthetic", "cache_dir": str(tmp_path)}, "real")
    msg = str(e.value)
    assert "apt-get install klettres-data ktuberling-data" in msg
    assert "npm install -g supersonic-scsynth-samples@" in msg and "BENCHMARK_NPM_ROOT" in msg
    assert not list(tmp_path.glob("real-*"))


def test_without_the_packages_the_default_evaluation_skips_the_split_with_a_note(nothing_installed, capsys):
    assert eval_splits({"name": "synthetic"}) == ["test", "test_mismatched"]
    assert eval_splits({"name": "synthetic"}) == ["test", "test_mismatched"]
    err = capsys.readouterr().err
    assert err.count("the `real` split is skipped") == 1 and "apt-get install" in err
    assert eval_splits({"name": "synthetic"}, ["test", "real"]) == ["test", "real"]


def test_real_noise_auto_falls_back_to_procedural_noise_with_a_note(nothing_installed, capsys, monkeypatch):
    monkeypatch.setattr(synthetic, "_told_no_recordings", set())
    cfg = resolve({"name": "synthetic", "real_noise": "auto"})
    assert synthetic.effective(cfg)["real_noise"] is False
    assert synthetic.dataset_dir(cfg) == synthetic.dataset_dir(resolve({"name": "synthetic"}))
    assert "procedural noise only" in capsys.readouterr().err
    with pytest.raises(sources.MissingSource, match="data.real_noise needs"):
        synthetic.ensure(resolve({"name": "synthetic", "real_noise": True, "cache_dir": "/nonexistent"}))


def test_without_opensfx_auto_trains_on_the_other_recordings_with_a_note(monkeypatch, capsys, tmp_path):
    _need_packages()
    root = sources.Source.root
    monkeypatch.setattr(sources.Source, "root", lambda self: tmp_path if self is sources.OPENSFX else root(self))
    monkeypatch.setattr(synthetic, "_told_no_recordings", set())
    cfg = resolve({"name": "synthetic", "real_noise": True, "real_noise_opensfx": "auto"})
    assert synthetic.effective(cfg)["real_noise_opensfx"] is False
    assert "apt-get install openttd-opensfx" in capsys.readouterr().err
    assert synthetic.dataset_dir(cfg) == synthetic.dataset_dir({**cfg, "real_noise_opensfx": False})
    with pytest.raises(sources.MissingSource, match="data.real_noise_opensfx needs .*apt-get install openttd-opensfx"):
        synthetic.ensure({**cfg, "real_noise_opensfx": True, "cache_dir": str(tmp_path)})


def test_the_install_script_names_exactly_the_packages_the_sources_need():
    script = (Path(__file__).resolve().parents[2] / "scripts" / "real-sources.sh").read_text()
    deb = script.split('DEB="')[1].split('"')[0].split()
    npm = script.split('NPM="')[1].split('"')[0]
    assert sorted(deb) == sorted(s.package for s in sources.SOURCES + sources.TRAIN_ONLY if s.manager == "deb")
    assert [npm] == [f"{s.package}@{sources.NPM_VERSION}" for s in sources.SOURCES if s.manager == "npm"]


def test_auto_enters_a_models_hash_as_what_it_decided_on_this_machine(monkeypatch, capsys):
    from benchmark.config import compose, training_hash
    auto = ["data.real_noise=auto", "data.real_speech=auto"]
    on, off = (["data.real_noise=" + v, "data.real_speech=" + v] for v in ("true", "false"))
    assert sources.available(), "the real-recordings packages are missing: bash scripts/real-sources.sh"
    assert training_hash(compose(auto)) == training_hash(compose(on)) != training_hash(compose(off))
    monkeypatch.setattr(sources.Source, "root", lambda self: Path("/nonexistent"))
    monkeypatch.setattr(synthetic, "_told_no_recordings", set())
    assert training_hash(compose(auto)) == training_hash(compose(off))


def test_a_noise_recording_replayed_slower_is_lower_and_tilted_up_is_brighter(tmp_path):
    rate = 16000
    t = np.arange(2 * rate) / rate
    path = tmp_path / "tone.wav"
    import soundfile as sf
    sf.write(path, 0.5 * np.sin(2 * np.pi * 1000 * t) + 0.01 * np.random.default_rng(0).normal(size=t.size), rate)

    def peak_hz(x):
        return np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(np.abs(np.fft.rfft(x)))]

    def high_share(x):
        power = np.abs(np.fft.rfft(x)) ** 2
        return power[np.fft.rfftfreq(x.size, 1 / rate) > 4000].sum() / power.sum()

    n = 8000
    plain, _ = sources.noise_crop(np.random.default_rng(1), [path], n)
    slow, _ = sources.noise_crop(np.random.default_rng(1), [path], n, speed=2 ** -0.5)
    bright, _ = sources.noise_crop(np.random.default_rng(1), [path], n, tilt=3.0)
    assert all(x.size == n and np.isclose(np.sqrt(np.mean(x ** 2)), 1.0) for x in (plain, slow, bright))
    assert abs(peak_hz(plain) - 1000) < 5 and abs(peak_hz(slow) - 1000 * 2 ** -0.5) < 15
    assert high_share(bright) > 2 * high_share(plain)


def test_perturbing_real_noise_is_in_the_datasets_identity_only_when_on(tmp_path):
    base = resolve({"name": "synthetic", "cache_dir": str(tmp_path), "real_noise": True})
    assert synthetic.dataset_dir({**base, "real_noise_perturb": 0.0}) == synthetic.dataset_dir(
        {k: v for k, v in base.items() if k != "real_noise_perturb"})
    assert synthetic.dataset_dir({**base, "real_noise_perturb": 0.5}) != synthetic.dataset_dir(base)
    with pytest.raises(ValueError, match="real_noise_perturb must be in"):
        synthetic.check_settings({**base, "real_noise_perturb": 1.5})
    from benchmark.config import compose, training_config, training_hash
    assert "real_noise_perturb" not in training_config(compose([]))["data"]   # models trained before it keep their ids
    assert training_hash(compose(["data.real_noise_perturb=0.5"])) != training_hash(compose([]))
