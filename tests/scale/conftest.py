"""The servers of the scale-out tests: a throw-away PostgreSQL cluster and an MLflow tracking
server on 127.0.0.1 (scripts/test-services.sh), started once per module and stopped after. Missing
PostgreSQL or its driver fails the tests in CI (.ci/run installs both) and skips them elsewhere."""
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "test-services.sh"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """(Optuna storage URL of an empty database, MLflow tracking URI)."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing: .ci/run installs it (scripts/test-services.sh install)")
        pytest.skip("no PostgreSQL: bash scripts/test-services.sh install")
    if importlib.util.find_spec("psycopg") is None:
        if os.environ.get("CI"):
            pytest.fail("psycopg is missing: .ci/run installs .[test], which includes .[scale]")
        pytest.skip("no psycopg: pip install -e '.[scale]'")
    folder = tmp_path_factory.mktemp("services")
    started = subprocess.run(["bash", str(SCRIPT), "start", str(folder), sys.executable],
                             capture_output=True, text=True, timeout=300)
    try:
        assert started.returncode == 0, started.stderr
        storage, tracking = started.stdout.split()
        yield storage, tracking
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=120)


def fresh_db(storage: str, name: str) -> str:
    """A database of its own for one test, on the module's server."""
    import psycopg
    base = storage.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return storage.rsplit("/", 1)[0] + f"/{name}"


def set_up(storage: str, coordinator, output, cells: int = 5, timeout: float = 300):
    """The study, once the coordinator has made its MLflow parent run and queued the grid (workers
    join then); output() is what the coordinator said, for the failure message."""
    import optuna

    deadline = time.monotonic() + timeout
    while True:
        try:
            study = optuna.load_study(study_name="smoke", storage=storage)
            if study.user_attrs.get("mlflow_parent") and len(study.get_trials(deepcopy=False)) >= cells:
                return study
        except KeyError:
            pass
        assert coordinator.poll() is None and time.monotonic() < deadline, output()
        time.sleep(0.3)
