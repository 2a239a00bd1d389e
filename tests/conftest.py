import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session", autouse=True)
def shared_unit_costs(tmp_path_factory):
    """One file of measured unit costs for the session's many fresh results folders (and the study
    runs started as subprocesses, which inherit it): benchmark/driver/price.py. driver/test_price.py unsets it."""
    os.environ["BENCHMARK_COSTS_CACHE"] = str(tmp_path_factory.mktemp("costs") / "costs.json")
    yield
    os.environ.pop("BENCHMARK_COSTS_CACHE", None)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("data_cache")


@pytest.fixture(scope="session")
def tiny(data_cache):
    """Overrides for a model and dataset that train in seconds."""
    return ["net=tiny", "trainer=smoke", f"data.cache_dir={data_cache}", "data.sizes.train=12",
            "data.sizes.valid=2", "data.sizes.test=3", "data.sizes.test_mismatched=2",
            "data.seconds=[1.5,2.5]", "eval.metrics=[pesq_wb,estoi,si_sdr]", "eval.jobs=1", "eval.examples=1",
            "eval.max_utterances=3",
            "trainer.val_utterances=1", "trainer.threads=2"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny):
    """(model folder, its config): 6 steps of the tiny net, saved as benchmark.train would."""
    import torch
    from omegaconf import OmegaConf

    from benchmark.config import build_model, compose, frontend_from
    from benchmark.data import load_split
    from benchmark.fit import TrainerSettings, fit

    out = tmp_path_factory.mktemp("model")
    cfg = compose(tiny + ["trainer.max_steps=6", "trainer.val_every=0"])
    OmegaConf.save(cfg, out / "config.yaml")
    torch.manual_seed(0)
    fit(build_model(cfg), frontend_from(cfg), load_split(cfg.data, "train"),
        TrainerSettings.from_config(cfg.trainer), out, progress=False)
    return out, cfg


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (tests/browser.py), one per session. Missing: a failure in CI (.ci/run
    installs Debian's chromium), a skip elsewhere."""
    from .browser import Browser, find_chromium
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("no chromium: apt-get install chromium")
    with Browser(binary) as b:
        yield b
