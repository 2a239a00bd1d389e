"""MLflow logging: an experiment per study, a parent run for the study, a run per training config,
and a nested run per inference cell.

Everything goes through an explicit `MlflowClient` and run ids (no fluent global "active run"), so
worker processes can log concurrently. The default store is SQLite under results/ (no server); the
coordinator creates it before any worker starts, because two processes migrating a fresh SQLite
store at once crash one of them (measured here: docs/scaling.md).
"""
from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")   # the network is closed; never phone home

import mlflow  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from ..config import ConfigError  # noqa: E402
from ..durable import pid_alive  # noqa: E402
from . import ledger

# MLflow's own INFO lines ("Creating initial MLflow database tables...", alembic's migrations) say
# nothing a user acts on and bury the study's progress lines; its warnings and errors still show.
for _name in ("mlflow", "alembic"):
    logging.getLogger(_name).setLevel(logging.WARNING)

MAX_PARAM = 6000
# MLflow's experiment kind: model training, not GenAI. Kept for the API and for UIs that honour it,
# but MLflow 3.17.2's UI does not: it takes the kind from its GenAI / Model training switch (the
# URL's ?workflowType=, else the browser's remembered choice, GenAI at first), so a plain experiment
# link opens on the GenAI overview (traces: 0). Hence runs_url, the link run.py prints
# (tests/test_mlflow_ui.py checks both in headless Chromium).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
UI = "http://127.0.0.1:5000"           # where `mlflow ui` listens by default


def runs_url(experiment_id: str, base: str = UI) -> str:
    """The experiment's runs table in MLflow's Model training view."""
    return f"{base}/#/experiments/{experiment_id}?workflowType=machine_learning"


def default_uri(results_dir: Path) -> str:
    return f"sqlite:///{ledger.mlflow_db(results_dir).resolve()}"


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


class Tracker:
    """`provenance` (git commit, package versions, device) goes into the params of every run this
    tracker starts, so a run read on its own, out of its study, still says what produced it."""

    def __init__(self, uri: str, experiment: str, artifact_root: Path | None = None,
                 provenance: dict | None = None):
        self.uri = uri
        self.provenance = dict(provenance or {})
        _create_sqlite_store(uri)
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            location = artifact_root.resolve().as_uri() if artifact_root else None
            exp_id = self.client.create_experiment(experiment, artifact_location=location)
        else:
            exp_id = exp.experiment_id
        self.experiment_id = exp_id
        # A run found by its tags keeps its id, so a worker asks the server once per run: with a
        # tracking server each lookup is a round trip, and every cell would repeat its model's.
        self._found: dict[str, str] = {}
        self.finished: set[str] = set()          # runs this tracker saw or made FINISHED
        if exp is None or exp.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
            self.client.set_experiment_tag(exp_id, *EXPERIMENT_KIND)

    # -- runs ------------------------------------------------------------------------------
    def find_run(self, **tags) -> str | None:
        query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
        if query not in self._found:
            runs = self.client.search_runs([self.experiment_id], filter_string=query, max_results=1)
            if not runs:
                return None
            self._found[query] = runs[0].info.run_id
        return self._found[query]

    def get_or_create_run(self, name: str, tags: dict, parent: str | None = None, reopen: bool = True) -> str:
        """Find the run with these tags (a resumed study reuses it) or start it; it is then RUNNING
        and owned by this process (host and pid tags) until `finish` (unless reopen=False)."""
        existing = self.find_run(**tags)
        if existing:
            if reopen:
                self.reopen(existing)
            return existing
        all_tags = {**tags, "mlflow.runName": name, **_owner()}
        if parent:
            all_tags["mlflow.parentRunId"] = parent
        if self.provenance.get("git_commit"):
            all_tags["mlflow.source.git.commit"] = self.provenance["git_commit"]   # shown by `mlflow ui`
        run_id = self.client.create_run(self.experiment_id, tags=all_tags, run_name=name).info.run_id
        if self.provenance:
            self.log_params(run_id, self.provenance)
        return run_id

    def log_params(self, run_id: str, params: dict) -> None:
        flat = flatten(params)
        existing = self.client.get_run(run_id).data.params
        items = [Param(k[:250], str(v)[:MAX_PARAM]) for k, v in flat.items() if k[:250] not in existing]
        for i in range(0, len(items), 100):      # log_batch takes at most 100 params a call
            self.client.log_batch(run_id, params=items[i:i + 100])

    def has_run(self, run_id: str) -> bool:
        try:
            return self.client.get_run(run_id).info.experiment_id == self.experiment_id
        except MlflowException as e:
            if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            return False

    def status(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.status

    def reopen(self, run_id: str) -> None:
        """A run taken up again (a retried cell, a resumed training) is RUNNING under its new owner."""
        if self.status(run_id) != "RUNNING":
            self.client.update_run(run_id, status="RUNNING")
        self.set_tags(run_id, _owner())

    def close_orphans(self) -> list[str]:
        """End as KILLED the RUNNING runs whose owning process on this host is gone (killed, crashed).

        Runs owned by other hosts are left to their own workers: a pid means nothing across machines.
        """
        closed = []
        host = socket.gethostname()
        runs = self.client.search_runs([self.experiment_id], filter_string="attributes.status = 'RUNNING'",
                                       max_results=5000)
        for run in runs:
            tags = run.data.tags
            if tags.get("owner_host") == host and not pid_alive(int(tags.get("owner_pid", -1))):
                self.client.set_terminated(run.info.run_id, "KILLED")
                closed.append(run.info.run_id)
        return closed

    def log_metrics(self, run_id: str, metrics: dict, step: int = 0, once: bool = True) -> None:
        """Idempotent: a key already logged (a retried cell, a training closed again after a kill)
        is skipped, so a kill while logging never leaves a doubled metric history. The first
        complete logging stands: evaluation is seeded, so a retry differs in its timings only.
        once=False logs a new point at `step` (a series, one point per step)."""
        now = int(time.time() * 1000)
        logged = self.client.get_run(run_id).data.metrics if once else {}
        items = [Metric(k, float(v), now, int(step)) for k, v in metrics.items() if v == v and k not in logged]
        for i in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[i:i + 1000])

    def set_tags(self, run_id: str, tags: dict) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, run_id: str, path: Path, subdir: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), subdir)

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)
        (self.finished.add if status == "FINISHED" else self.finished.discard)(run_id)

    def curve_logger(self, run_id: str, every_seconds: float = 5.0):
        """A `log(metrics, step)` for fit() that batches calls (an HTTP server costs ~50 ms a call)."""
        pending: list[Metric] = []
        last = [time.monotonic()]
        logged_to: dict[str, int] = {}    # key -> last step on the server: a resumed fit re-runs a few steps

        def already(key: str, step: int) -> bool:
            if key not in logged_to:
                history = self.client.get_metric_history(run_id, key)
                logged_to[key] = max((m.step for m in history), default=-1)
            return step <= logged_to[key]

        def log(metrics: dict, step: int, flush: bool = False):
            now = int(time.time() * 1000)
            pending.extend(Metric(k, float(v), now, int(step)) for k, v in metrics.items()
                           if v == v and not already(k, int(step)))
            if pending and (flush or time.monotonic() - last[0] > every_seconds or len(pending) > 500):
                self.client.log_batch(run_id, metrics=list(pending))
                pending.clear()
                last[0] = time.monotonic()
        return log


def _create_sqlite_store(uri: str) -> None:
    """A new SQLite store is migrated in a file of its own, then renamed into place: a kill during
    MLflow's dozens of schema migrations would otherwise leave a store no later run can open
    ("table … already exists"). Callers hold the stores lock, so no two processes race here."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///"))
    _remove_stale_fresh_stores(path)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{os.getpid()}.new")
    fresh.unlink(missing_ok=True)
    MlflowClient(tracking_uri=f"sqlite:///{fresh}").search_experiments(max_results=1)   # migrates
    os.replace(fresh, path)


def _remove_stale_fresh_stores(path: Path) -> None:
    """Remove the half-migrated stores (and SQLite's journals of them) that a kill during
    _create_sqlite_store left: named by their maker's pid, they are stale once it is gone. The
    folder is this machine's (SQLite's locking does not hold across machines), so the pid is too."""
    if not path.parent.is_dir():
        return
    prefix = f".{path.name}."
    for p in path.parent.glob(f"{prefix}*.new*"):
        pid = p.name[len(prefix):].split(".")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            p.unlink(missing_ok=True)


HEALTH_TIMEOUT = 5        # seconds; MLflow's own client retries a dead server for minutes
SQLITE_HEADER = b"SQLite format 3\x00"


def check_store(uri: str) -> None:
    """Before any work, refuse in one line a tracking store that cannot be used: a tracking server
    that does not answer (MLflow's client would retry it silently for minutes, then fail mid-study)
    or an SQLite store that is not SQLite (a traceback from deep in SQLAlchemy)."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if path.is_file() and path.stat().st_size:
            with open(path, "rb") as f:
                head = f.read(len(SQLITE_HEADER))
            if head != SQLITE_HEADER:
                raise ConfigError(f"MLflow store {path} is not an SQLite database (damaged, or another file in "
                                  "its place): move it aside and run again for a fresh store (the results do not "
                                  "depend on it), or give --tracking-uri of the right one")
    elif uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=HEALTH_TIMEOUT):
                pass
        except urllib.error.HTTPError as e:      # it answered: a 4xx is the server's to explain
            if e.code >= 500:
                raise ConfigError(f"--tracking-uri {uri}: the server answered HTTP {e.code} ({e.reason}); "
                                  "check the MLflow server, then run again") from None
        except OSError as e:                     # refused, timed out, no such host
            raise ConfigError(f"--tracking-uri {uri}: no MLflow server answers there "
                              f"({getattr(e, 'reason', e)}); start it (mlflow server --host ... --port ...) "
                              "or correct the URI") from None


def _owner() -> dict:
    return {"owner_host": socket.gethostname(), "owner_pid": str(os.getpid())}


def mlflow_version() -> str:
    return mlflow.__version__
