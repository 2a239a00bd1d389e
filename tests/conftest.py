import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("data_cache")


@pytest.fixture(scope="session")
def tiny(data_cache):
    """Overrides for a model and dataset that train in seconds."""
    return ["net=tiny", "trainer=smoke", f"data.cache_dir={data_cache}", "data.sizes.train=12",
            "data.sizes.valid=2", "data.sizes.test=3", "data.sizes.test_mismatched=2",
            "data.seconds=[1.5,2.5]", "eval.metrics=[pesq_wb,estoi,si_sdr]", "eval.jobs=1", "eval.examples=1",
            "trainer.val_utterances=1", "trainer.threads=2"]
