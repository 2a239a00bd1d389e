"""The study driver end to end on the smoke study: train, evaluate, log, results, report; a re-run
redoes nothing; a run killed mid-cell is finished by the next one; MLflow holds the nested runs."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


def _cmd(results, tiny, *extra):
    return [sys.executable, "-m", "benchmark.run", "study=smoke", f"--results={results}",
            f"--reports={results.parent / 'reports'}", "--quiet", "--jobs", "1", *tiny, "trainer.max_steps=8",
            "trainer.val_every=4", *extra]


def _run(results, tiny, *extra, check=True):
    return subprocess.run(_cmd(results, tiny, *extra), cwd=REPO, capture_output=True, text=True,
                          timeout=900, check=check)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, tiny):
    results = tmp_path_factory.mktemp("study") / "results"
    first = _run(results, tiny)
    return results, first


def test_every_cell_is_trained_once_evaluated_and_reported(smoke):
    results, first = smoke
    assert "5/5 cells done" in first.stdout, first.stdout + first.stderr
    cells = pd.read_csv(results / "smoke" / "cells.csv", dtype={"cell": str, "training_hash": str})
    assert cells["cell"].nunique() == 5
    # γ is inference-only under all-EDM: the four diffusion cells share one model, plus the predictive one.
    assert cells.groupby("kind")["training_hash"].nunique().to_dict() == {"diffusion": 1, "predictive": 1}
    # each cell records the digest of the weights it was scored on: one per model here
    assert cells["weights"].str.fullmatch("[0-9a-f]{12}").all()
    assert cells.groupby("training_hash")["weights"].nunique().max() == 1
    assert cells.groupby("kind")["weights"].nunique().to_dict() == {"diffusion": 1, "predictive": 1}
    assert set(cells["which"]) == {"input", "output", "delta"}
    assert set(cells["metric"]) == {"pesq_wb", "estoi", "si_sdr"}
    nfe = cells.drop_duplicates("cell").set_index("label")["nfe"].to_dict()
    assert nfe["with · heun"] == 3 and nfe["with · pc"] == 4 and nfe["predictive baseline"] == 1
    assert len(list((results / "models").iterdir())) == 2
    assert (results.parent / "reports" / "smoke.html").is_file()
    # each evaluated cell kept its work while it ran (partial.py) and dropped it once its rows were written
    assert len(list((results / "smoke" / "cells").glob("*/per_utterance.csv"))) == 5
    assert not list((results / "smoke" / "cells").glob("*/partial"))
    assert first.stdout.count("cell ") >= 5                        # a one-line summary per cell
    assert "(5/5 cells done)" in first.stdout and "training model" in first.stdout
    meta = json.loads((results / "smoke" / "meta.json").read_text())
    assert meta["runs"][0]["cells_done"] == 5 and meta["wall_minutes"] == meta["runs"][0]["minutes"]
    assert f"{meta['wall_minutes']} min over 1 invocation" in (results.parent / "reports" / "smoke.html").read_text()
    # each model's own training rate is kept to price the next ones (price.observe_training)
    costs = json.loads((results / "costs.json").read_text())
    rates = [e["observed_step_s"] for dev in costs.values() for e in dev.values() if "observed_step_s" in e]
    assert len(rates) == 2 and all(list(r) == ["2"] and len(r["2"]) == 1 for r in rates)   # trainer.threads=2
    # and each scored cell's enhancement rate, RTF over NFE, prices the next cells (price.observe_enhancement)
    calls = [v for dev in costs.values() for e in dev.values() for v in e.get("observed_call_s", {}).get("2", [])]
    assert len(calls) == 5 and all(v > 0 for v in calls)


def test_second_run_redoes_nothing(smoke, tiny):
    results, _ = smoke
    done = {p: p.stat().st_mtime for p in (results / "models").glob("*/done.json")}
    before = (results / "smoke" / "cells.csv").read_text()
    again = _run(results, tiny)
    assert "5 done, 0 queued" in again.stdout
    runs = json.loads((results / "smoke" / "meta.json").read_text())["runs"]
    assert len(runs) == 2 and runs[0]["cells_done"] == runs[1]["cells_done"] == 5
    assert {p: p.stat().st_mtime for p in (results / "models").glob("*/done.json")} == done
    assert (results / "smoke" / "cells.csv").read_text() == before


def test_a_dry_run_on_a_machine_without_the_models_says_finished_cells_need_nothing(smoke, tiny, tmp_path):
    # a run resumed from git on a fresh machine: cells.csv and the journal are there, the models not
    results = tmp_path / "results"
    shutil.copytree(smoke[0], results, ignore=shutil.ignore_patterns("models"))
    dry = subprocess.run([*_cmd(results, tiny), "--dry-run"], cwd=REPO, capture_output=True, text=True,
                         timeout=900, check=True)
    assert "5 cells (5 done, 0 shared, 0 to do), 2 models (0 to train)" in dry.stdout, dry.stdout
    rows = [ln.split() for ln in dry.stdout.splitlines() if re.match(r"^[0-9a-f]{8}  ", ln)]
    assert len(rows) == 5 and {r[2] for r in rows} == {"done"}
    assert "0 model(s) to train" in dry.stdout


def test_a_run_resumed_from_git_on_a_fresh_machine_makes_its_study_run_again(smoke, tiny, tmp_path):
    # what git keeps of a partial run: the journal (which names the old machine's MLflow parent run)
    # and the tidy results; not the MLflow store nor the models
    from mlflow.tracking import MlflowClient

    results = tmp_path / "results"
    shutil.copytree(smoke[0], results, ignore=shutil.ignore_patterns("models", "mlflow.db", "mlartifacts"))
    again = _run(results, tiny, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "5 done, 0 queued" in again.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")
    [study_run] = client.search_runs([client.get_experiment_by_name("smoke").experiment_id],
                                     "tags.role = 'study'")
    assert study_run.info.status == "FINISHED"


def test_a_run_whose_journal_was_lost_takes_its_finished_cells_from_cells_csv(smoke, tiny, tmp_path):
    # a session ended before its journal was committed: the next machine has cells.csv and the
    # per-utterance files the run wrote, and no queue. One cell lacks its per-utterance file (as if
    # killed between the two writes) and is scored again; the other four are not.
    import optuna

    results = tmp_path / "results"
    shutil.copytree(smoke[0], results, ignore=shutil.ignore_patterns("optuna.journal*", "mlflow.db", "mlartifacts"))
    before = pd.read_csv(results / "smoke" / "cells.csv", dtype={"cell": str, "training_hash": str})
    redo = sorted(before["cell"].unique())[0]
    (results / "smoke" / "cells" / redo / "per_utterance.csv").unlink()
    again = _run(results, tiny, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4 cell(s) finished in" in again.stdout and "4 done, 1 queued" in again.stdout, again.stdout
    after = pd.read_csv(results / "smoke" / "cells.csv", dtype={"cell": str, "training_hash": str})
    assert len(after) == len(before) and after["cell"].nunique() == 5             # no row twice
    key = ["cell", "split", "metric", "which"]
    kept = before[before["cell"] != redo].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(after[after["cell"] != redo].sort_values(key).reset_index(drop=True), kept)
    assert (results / "smoke" / "cells" / redo / "per_utterance.csv").is_file()
    assert again.stdout.count("enhancing and scoring") == 1
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
        str(results / "smoke" / "optuna.journal")))
    trials = optuna.load_study(study_name="smoke", storage=storage).get_trials()
    recovered = [t for t in trials if t.user_attrs.get("recovered_from") == "cells.csv"]
    assert sorted(t.user_attrs["cell"] for t in recovered) == sorted(set(before["cell"]) - {redo})
    assert all(t.state.name == "COMPLETE" and t.user_attrs["rows"] for t in recovered)


def test_another_configuration_moves_the_old_results_aside_instead_of_mixing(smoke, tiny, tmp_path):
    """The same study under other settings (here fewer scored utterances: every cell's hash moves,
    no model's) starts a fresh folder; the old one is kept whole beside it."""
    import shutil

    results = tmp_path / "results"
    shutil.copytree(smoke[0], results)
    before = (results / "smoke" / "cells.csv").read_text()
    old_hashes = set(pd.read_csv(results / "smoke" / "cells.csv", dtype=str)["cell"])
    dry = subprocess.run(_cmd(results, tiny, "eval.max_utterances=2", "--dry-run"), cwd=REPO,
                         capture_output=True, text=True, timeout=900, check=True)
    assert "holds 5 of these cells under another configuration" in dry.stdout
    again = _run(results, tiny, "eval.max_utterances=2")
    assert "held 5 cell(s) of another configuration" in again.stderr, again.stderr
    assert "0 done, 5 queued" in again.stdout and "training model" not in again.stdout
    moved = list(results.glob("smoke.superseded-*"))
    assert len(moved) == 1 and (moved[0] / "cells.csv").read_text() == before
    new = set(pd.read_csv(results / "smoke" / "cells.csv", dtype=str)["cell"])
    assert len(new) == 5 and not new & old_hashes


def test_a_cell_another_study_scored_is_taken_not_scored_again(smoke, tiny, tmp_path):
    """smoke_twin holds three of smoke's cells (same configuration, so the same hashes) and two of
    its own: the three are read from smoke's folder, rows and conditions as smoke wrote them, and the
    price counts only the two."""
    import shutil

    from benchmark.driver.grid import expand, load_study
    from benchmark.driver.price import left_to_do

    results = tmp_path / "results"
    shutil.copytree(smoke[0], results)
    text = (REPO / "studies" / "smoke.yaml").read_text().replace("name: smoke", "name: smoke_twin")
    text = text.replace("pc: [sampler=pc, sampler.steps=2]", "heun3: [sampler=edm, sampler.steps=3, sampler.churn=0]")
    twin = tmp_path / "smoke_twin.yaml"
    twin.write_text(text)
    overrides = [*tiny, "trainer.max_steps=8", "trainer.val_every=4"]
    cells = expand(load_study(str(twin)), overrides)
    mine = {c.hash for c in cells} - set(pd.read_csv(results / "smoke" / "cells.csv", dtype=str)["cell"])
    shared = sorted({c.hash for c in cells} - mine)
    assert len(cells) == 5 and len(mine) == 2
    full = left_to_do(cells, tmp_path / "empty", tmp_path / "empty" / "smoke_twin", 1)
    left = left_to_do(cells, results, results / "smoke_twin", 1)
    assert left.utterances * 5 == full.utterances * 2 and full.utterances > 0

    cmd = [c.replace("study=smoke", f"study={twin}") for c in _cmd(results, tiny)]
    dry = subprocess.run([*cmd, "--dry-run"], cwd=REPO, capture_output=True, text=True, timeout=900, check=True)
    assert sum(h in line and "shared" in line for h in shared for line in dry.stdout.splitlines()) == 3, dry.stdout
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, check=True)
    assert out.stdout.count("was scored by study smoke; its scores are taken") == 3, out.stdout + out.stderr
    read = {d: pd.read_csv(results / d / "cells.csv", dtype={"cell": str, "training_hash": str})
            for d in ("smoke", "smoke_twin")}
    assert set(read["smoke_twin"]["cell"]) == {c.hash for c in cells}
    assert set(read["smoke_twin"]["study"]) == {"smoke_twin"}
    keep = [c for c in read["smoke"].columns if c not in ("study", "label", "sampler", "finished_at")]
    a, b = (read[d][read[d]["cell"].isin(shared)].sort_values(["cell", "split", "metric", "which"])[keep]
            .reset_index(drop=True) for d in ("smoke", "smoke_twin"))
    pd.testing.assert_frame_equal(a, b)
    if (results / "smoke" / "conditions.csv").is_file():
        cond = {d: pd.read_csv(results / d / "conditions.csv", dtype={"cell": str}) for d in ("smoke", "smoke_twin")}
        sizes = {d: len(c[c["cell"].isin(shared)]) for d, c in cond.items()}
        assert sizes["smoke"] == sizes["smoke_twin"] > 0
    for h in shared:
        assert list((results / "smoke_twin" / "cells" / h / "examples").glob("*.wav"))
    assert (results.parent / "reports" / "smoke_twin.html").is_file()


def test_a_shared_cell_whose_model_is_absent_is_taken_without_training_it(smoke, tiny, tmp_path):
    """A fresh machine: smoke's results came from git, its models did not. smoke_twin shares smoke's
    predictive cell (and three diffusion cells); the diffusion model is trained for the twin's own
    cells, the predictive one is not trained at all, and the shared rows are smoke's."""
    results = tmp_path / "results"
    shutil.copytree(smoke[0], results, ignore=shutil.ignore_patterns("models"))
    text = (REPO / "studies" / "smoke.yaml").read_text().replace("name: smoke", "name: smoke_twin")
    text = text.replace("pc: [sampler=pc, sampler.steps=2]", "heun3: [sampler=edm, sampler.steps=3, sampler.churn=0]")
    twin = tmp_path / "smoke_twin.yaml"
    twin.write_text(text)
    smoke_rows = pd.read_csv(results / "smoke" / "cells.csv", dtype={"cell": str, "training_hash": str})
    predictive = smoke_rows[smoke_rows["kind"] == "predictive"]
    [model] = predictive["training_hash"].unique()
    cmd = [c.replace("study=smoke", f"study={twin}") for c in _cmd(results, tiny)]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, check=True)
    assert f"model {model} not here and not needed" in out.stdout, out.stdout + out.stderr
    assert not (results / "models" / model).exists()
    assert len(list((results / "models").iterdir())) == 1                   # the diffusion model, for heun3
    twin_rows = pd.read_csv(results / "smoke_twin" / "cells.csv", dtype={"cell": str, "training_hash": str})
    keep = ["cell", "split", "metric", "which", "mean", "train_steps", "train_minutes", "device", "weights"]
    a, b = (r[r["kind"] == "predictive"].sort_values(keep[:4])[keep].reset_index(drop=True)
            for r in (smoke_rows, twin_rows))
    pd.testing.assert_frame_equal(a, b)
    assert a["train_steps"].notna().all()
    # the diffusion model trained again on this machine has smoke's weights, bit for bit: the cells
    # taken from smoke and the one scored here read one digest, and the report names no twin
    diffusion = twin_rows[twin_rows["kind"] == "diffusion"]
    assert diffusion["weights"].nunique() == 1
    assert set(diffusion["weights"]) == set(smoke_rows.loc[smoke_rows["kind"] == "diffusion", "weights"])
    assert "was trained more than once" not in (results.parent / "reports" / "smoke_twin.html").read_text()


def test_mlflow_holds_study_training_and_cell_runs(smoke):
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from mlflow.tracking import MlflowClient

    results, _ = smoke
    client = MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name("smoke")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    by_role = {}
    for r in runs:
        by_role.setdefault(r.data.tags.get("role"), []).append(r)
    assert len(by_role["study"]) == 1 and len(by_role["training"]) == 2 and len(by_role["cell"]) == 5
    parent = by_role["study"][0].info.run_id
    train_ids = {r.info.run_id for r in by_role["training"]}
    assert all(r.data.tags["mlflow.parentRunId"] == parent for r in by_role["training"])
    assert all(r.data.tags["mlflow.parentRunId"] in train_ids for r in by_role["cell"])
    train = by_role["training"][0]
    assert "train_loss" in train.data.metrics and "model_dir" in train.data.params
    assert len(client.get_metric_history(train.info.run_id, "train_loss")) >= 2
    cell = next(r for r in by_role["cell"] if r.data.params.get("sampler.name") == "pc")
    assert "test.pesq_wb.output" in cell.data.metrics and "test.nfe" in cell.data.metrics
    scores = sorted(k for k in cell.data.metrics if k.startswith("score."))   # the runs table's columns
    assert {"score.test.pesq_wb", "score.test.estoi", "score.test.si_sdr"} <= set(scores)
    assert cell.data.metrics["score.test.pesq_wb"] == cell.data.metrics["test.pesq_wb.output"]
    names = {a.path for a in client.list_artifacts(cell.info.run_id)}
    assert {"config.yaml", "per_utterance.csv", "examples"} <= names
    assert any(a.path.endswith(".png") for a in client.list_artifacts(cell.info.run_id, "examples"))
    assert any(a.path == "model.pt" for a in client.list_artifacts(train.info.run_id))
    assert cell.data.metrics["test.eval_minutes"] > 0
    import torch
    for run in (train, cell, by_role["study"][0]):          # each run says what produced it
        params = run.data.params
        assert params["versions.torch"] == torch.__version__ and params["device_name"].startswith("cpu")
        assert len(params["git_commit"].removesuffix("-dirty")) == 40 or params["git_commit"] == "unknown"


@pytest.mark.slow     # also test_run_kills.py's kill -9 anywhere, and test_fit.py's resume to the same end
def test_a_run_killed_mid_cell_is_finished_by_the_next(tmp_path, tiny):
    results = tmp_path / "results"
    proc = subprocess.Popen(_cmd(results, tiny, "trainer.max_steps=30"), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while time.time() < deadline and not list((results / "models").glob("*/last.pt")):
        if proc.poll() is not None:
            pytest.fail("the study finished before it could be killed")
        time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (results / "smoke" / "cells.csv").exists()
    again = _run(results, tiny, "trainer.max_steps=30")
    assert "5/5 cells done" in again.stdout, again.stdout + again.stderr
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(results / "smoke" / "optuna.journal")))
    trials = optuna.load_study(study_name="smoke", storage=storage).get_trials()
    states = [t.state.name for t in trials if "cell" in t.user_attrs]
    assert states.count("COMPLETE") == 5 and states.count("FAIL") == 1    # the killed cell, retried
    trained = [json.loads(p.read_text()) for p in (results / "models").glob("*/done.json")]
    assert [t["steps"] for t in trained] == [30, 30]
    assert sorted(t["resumed_from"] > 0 for t in trained) == [False, True]   # the killed one resumed
    runs = json.loads((results / "smoke" / "meta.json").read_text())["runs"]
    assert len(runs) == 2 and "finished_at" not in runs[0] and "minutes" in runs[0]   # killed, yet on record
    assert runs[1]["cells_done"] == 5


def test_a_run_killed_mid_evaluation_goes_on_from_the_kept_utterances(tmp_path, tiny):
    """The worker keeps a cell's enhancement as it goes (partial.py: there, the numbers are
    shown equal to an unbroken run's); here, that a killed run's next invocation finds it."""
    results = tmp_path / "results"
    proc = subprocess.Popen(_cmd(results, tiny, "trainer.max_steps=10"), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and not list((results / "smoke" / "cells").glob("*/partial/*.scores.csv")):
        if proc.poll() is not None:
            pytest.fail("the study finished before it could be killed")
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {p.parts[-3] for p in (results / "smoke" / "cells").glob("*/partial/*.npz")}
    again = _run(results, tiny, "trainer.max_steps=10")
    assert "5/5 cells done" in again.stdout, again.stdout + again.stderr
    assert "enhanced by an earlier run are kept; going on from there" in again.stdout
    assert kept and not list((results / "smoke" / "cells").glob("*/partial"))


def test_enhance_takes_an_mlflow_run_id(smoke, tmp_path, monkeypatch):
    import soundfile as sf
    from mlflow.tracking import MlflowClient

    from benchmark import enhance
    from benchmark.audio.io import write_audio

    results, _ = smoke
    uri = f"sqlite:///{results / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("smoke")
    run = next(r for r in client.search_runs([exp.experiment_id], "tags.role = 'training'")
               if r.data.params.get("model.kind") == "diffusion")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    noisy = 0.05 * __import__("numpy").random.default_rng(0).standard_normal(20000)
    write_audio(tmp_path / "in" / "a.wav", noisy)
    rc = enhance.main([f"model={run.info.run_id}", f"input={tmp_path / 'in'}", f"output={tmp_path / 'out'}",
                       "sampler.steps=1"])
    assert rc == 0 and len(sf.read(tmp_path / "out" / "a.wav")[0]) == 20000


def test_two_jobs_share_the_queue_without_duplicates(tmp_path, tiny):
    """--jobs 2: every cell runs once (no GridSampler-style repeat), the shared model trains once."""
    results = tmp_path / "results"
    out = _run(results, tiny, "--jobs", "2")
    assert "5/5 cells done" in out.stdout, out.stdout + out.stderr
    cells = pd.read_csv(results / "smoke" / "cells.csv", dtype={"cell": str})
    from benchmark.data import sources
    splits = {"test", "test_mismatched"} | ({"real"} if sources.available() else set())
    assert set(cells["split"]) == splits
    # each model's convergence over its last quarter, for the report's validity check
    training = pd.read_csv(results / "smoke" / "training.csv", dtype={"training_hash": str})
    assert set(training["training_hash"]) == set(cells["training_hash"].astype(str)) and training["gain"].notna().all()
    assert cells["cell"].nunique() == 5 and len(cells) == 5 * len(splits) * 3 * 3   # cells × splits × metrics × which
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(results / "smoke" / "optuna.journal")))
    trials = [t for t in optuna.load_study(study_name="smoke", storage=storage).get_trials() if "cell" in t.user_attrs]
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs["cell"] for t in done) == sorted(cells["cell"].unique())   # each once
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}   # PRUNED: put back in the queue
    assert len({t.user_attrs["pid"] for t in done}) == 2             # both workers took cells
    trained = [json.loads(p.read_text()) for p in (results / "models").glob("*/done.json")]
    assert len(trained) == 2 and all(t["resumed_from"] == 0 for t in trained)
    costs = json.loads((results / "costs.json").read_text())      # a job of two has half the cores
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert {t for dev in costs.values() for e in dev.values() for t in e.get("observed_step_s", {})} == {share}
    assert {t for dev in costs.values() for e in dev.values() for t in e.get("observed_call_s", {})} == {share}


def test_workers_train_different_models_before_waiting_on_one(tiny):
    """Queue order puts each model's first cell first; a popped cell whose model another worker is
    training goes to the back while a cell with a free model is queued."""
    import optuna

    from benchmark.driver.grid import expand, load_study
    from benchmark.driver.queue import enqueue, next_cell, open_study, queue_order

    cells = expand(load_study("smoke"), tiny)
    ordered = queue_order(cells)
    models = list(dict.fromkeys(c.training_hash for c in cells))
    assert [c.training_hash for c in ordered[:len(models)]] == models and len(models) == 2
    study = open_study("q", optuna.storages.InMemoryStorage())
    enqueue(study, cells)
    diffusion, predictive = models if cells[0].kind == "diffusion" else models[::-1]
    busy = lambda h: h == diffusion  # noqa: E731  (another worker is training the diffusion model)
    first = next_cell(study, busy)
    assert first.user_attrs["training_hash"] == predictive
    second = next_cell(study, busy)                 # only busy cells left: take one and wait for it
    assert second.user_attrs["training_hash"] == diffusion
    states = [t.state.name for t in study.get_trials()]
    assert states.count("PRUNED") == 1 and states.count("RUNNING") == 2 and states.count("WAITING") == 3
    assert next_cell(study) and next_cell(study) and next_cell(study) and next_cell(study) is None


def test_a_model_with_a_checkpoint_is_resumed_before_a_new_one_is_started(tiny):
    """A killed cell is re-queued at the end; its half-trained model still comes first, unless
    another worker is training it."""
    import optuna

    from benchmark.driver.grid import expand, load_study
    from benchmark.driver.queue import enqueue, next_cell, open_study

    cells = expand(load_study("smoke"), tiny)
    study = open_study("q", optuna.storages.InMemoryStorage())
    enqueue(study, cells)
    head = study.get_trials(deepcopy=False)[0].user_attrs["training_hash"]
    other = next(c.training_hash for c in cells if c.training_hash != head)
    started = lambda h: h == other  # noqa: E731  (a checkpoint of `other` is on disk)
    assert next_cell(study, started=started).user_attrs["training_hash"] == other
    assert next_cell(study).user_attrs["training_hash"] == head      # no preference: queue order again

    study = open_study("q2", optuna.storages.InMemoryStorage())
    enqueue(study, cells)
    busy = lambda h: h == other  # noqa: E731  (and another worker is training it)
    assert next_cell(study, busy, started).user_attrs["training_hash"] == head
    assert [t.state.name for t in study.get_trials()].count("PRUNED") == 0


def test_a_cell_whose_evaluation_was_begun_comes_before_the_other_evaluations(tiny):
    """A killed run's cell goes back to the end of the queue; when the next run finds part of its
    evaluation kept (partial.py) and its model trained, it is popped before the other cells of
    that model, and not before a cell that costs only a copy."""
    import optuna

    from benchmark.driver.grid import expand, load_study
    from benchmark.driver.queue import enqueue, next_cell, open_study

    cells = expand(load_study("smoke"), tiny)
    study = open_study("q", optuna.storages.InMemoryStorage())
    enqueue(study, cells)
    queued = [t.user_attrs for t in study.get_trials(deepcopy=False)]
    head = queued[0]["training_hash"]
    reuses = [a["cell"] for a in queued if a["training_hash"] == head]
    late = reuses[-1]
    ready = lambda h: h == head  # noqa: E731
    begun = lambda c: c == late  # noqa: E731
    assert next_cell(study, ready=ready, begun=begun).user_attrs["cell"] == late
    assert next_cell(study, ready=ready, begun=begun).user_attrs["cell"] != late

    study = open_study("q2", optuna.storages.InMemoryStorage())
    enqueue(study, cells)
    other = next(a["cell"] for a in queued if a["cell"] != late)
    taken = next_cell(study, ready=ready, begun=begun, shared=lambda c: c == other)
    assert taken.user_attrs["cell"] == other
    # without a trained model the kept work is of other weights (cell_progress discards it): no preference
    assert next_cell(study, begun=begun).user_attrs["cell"] != late


def test_cells_of_a_trained_model_come_before_training_another(tiny):
    """One worker finishes every cell of the model it trained before it trains the next: a fresh
    machine next session would otherwise have to train that model again for its reuses."""
    import optuna

    from benchmark.driver.grid import expand, load_study
    from benchmark.driver.queue import enqueue, next_cell, open_study

    cells = expand(load_study("smoke"), tiny)
    study = open_study("q", optuna.storages.InMemoryStorage())
    enqueue(study, cells)
    queued = [t.user_attrs["training_hash"] for t in study.get_trials(deepcopy=False)]
    head = queued[0]
    assert queued.count(head) > 1 and queued[1] != head       # queue order: the other model next
    assert next_cell(study).user_attrs["training_hash"] == head   # trains it
    trained = {head}
    second = next_cell(study, ready=lambda h: h in trained)
    assert second.user_attrs["training_hash"] == head         # a reuse, not the other model's training
    started = lambda h: h != head  # noqa: E731  (even with a checkpoint of the other model on disk)
    assert next_cell(study, started=started, ready=lambda h: h in trained).user_attrs["training_hash"] == head


def test_a_cell_another_study_scored_comes_first_even_while_its_model_is_busy(tiny):
    """Taking a shared cell costs a copy: it is popped before a trained model's reuse, and another
    worker's training of its model does not send it to the back."""
    import optuna

    from benchmark.driver.grid import expand, load_study
    from benchmark.driver.queue import enqueue, next_cell, open_study

    cells = expand(load_study("smoke"), tiny)
    study = open_study("q", optuna.storages.InMemoryStorage())
    enqueue(study, cells)
    queued = [t.user_attrs for t in study.get_trials(deepcopy=False)]
    head = queued[0]["training_hash"]
    last = queued[-1]
    assert last["training_hash"] == head                        # a reuse of the first model, queued last
    ready = lambda h: h != head  # noqa: E731  (the other model is trained: its cells would come first)
    busy = lambda h: h == head  # noqa: E731   (and another worker is training this one)
    taken = next_cell(study, busy, ready=ready, shared=lambda c: c == last["cell"])
    assert taken.user_attrs["cell"] == last["cell"]
    assert next_cell(study, busy, ready=ready).user_attrs["training_hash"] != head   # without it: as before


def test_beyond_paper_runs_end_to_end(tmp_path, tiny):
    # beyond_paper at smoke size: the Schrödinger bridge and flow matching train with their own
    # objectives, sample at the NFE their labels say, and the report checks the few-step claim.
    results = tmp_path / "results"
    cmd = [c if c != "study=smoke" else "study=beyond_paper" for c in _cmd(results, tiny)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    cells = pd.read_csv(results / "beyond_paper" / "cells.csv", dtype={"cell": str, "training_hash": str})
    per_cell = cells.drop_duplicates("cell").set_index("label")
    assert len(per_cell) == 13 and cells.groupby("training_hash")["cell"].nunique().size == 5
    for label, row in per_cell.iterrows():
        said = re.search(r"NFE (\d+)", label)
        if said:
            assert row["nfe"] == int(said.group(1)), label
    assert per_cell.loc["recommended, one step D(σ_max)", "nfe"] == 1
    scores = cells[(cells["which"] == "output") & cells["metric"].isin(["pesq_wb", "si_sdr"])]
    assert scores["mean"].notna().all() and (scores["n_nan"] == 0).all()
    page = (results.parent / "reports" / "beyond_paper.html").read_text()
    assert "few-step methods vs the recommended setting" in page


def test_a_cell_queued_twice_runs_once(tiny):
    """Two trials of one cell (queued by a re-queue and a coordinator at once): the earlier runs,
    the later is a duplicate while it runs and once it is done; other cells are not."""
    import optuna
    from optuna.trial import TrialState

    from benchmark.driver.grid import expand, load_study
    from benchmark.driver.queue import duplicate, enqueue, next_cell, open_study

    cells = expand(load_study("smoke"), tiny)[:2]
    study = open_study("d", optuna.storages.InMemoryStorage())
    enqueue(study, cells)
    study.enqueue_trial(
        {"cell": cells[0].hash}, user_attrs={"cell": cells[0].hash, "training_hash": cells[0].training_hash,
                                             "label": cells[0].label})
    popped = [next_cell(study) for _ in range(3)]
    twice = [t for t in popped if t.user_attrs["cell"] == cells[0].hash]
    other = next(t for t in popped if t.user_attrs["cell"] == cells[1].hash)
    assert len(twice) == 2 and twice[0].number < twice[1].number
    assert not duplicate(study, twice[0]) and duplicate(study, twice[1]) and not duplicate(study, other)
    study.tell(twice[0], 1.0)
    study.tell(twice[1], state=TrialState.PRUNED)
    study.enqueue_trial({"cell": cells[0].hash}, user_attrs={"cell": cells[0].hash, "training_hash": "x", "label": ""})
    assert duplicate(study, next_cell(study))               # done already


def test_models_reference_scores_a_study_from_shipped_weights_without_training(smoke, tiny, tmp_path,
                                                                                monkeypatch, capsys):
    # issue 47: the study's models exported as the package's weights, then the same study run afresh
    # with --models reference: nothing trains and every score is the first run's
    from benchmark import run, shipped

    results, _ = smoke
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", tmp_path / "weights")
    for i, folder in enumerate(sorted((results / "models").iterdir())):
        shipped.export(folder, f"smoke-{i}", study="smoke", commit="test", host="test")
    mine = tmp_path / "mine"
    capsys.readouterr()
    assert run.main([*_cmd(mine, tiny, "--models", "reference")[3:]]) == 0
    out = capsys.readouterr().out
    assert "2 shipped model(s) ready" in out and "training model" not in out, out
    assert sorted(p.name for p in (mine / "models-reference").iterdir()) == sorted(
        p.name for p in (results / "models").iterdir())
    key = ["cell", "split", "metric", "which"]
    ours = pd.read_csv(mine / "smoke" / "cells.csv", dtype={"cell": str}).set_index(key)["mean"].sort_index()
    theirs = pd.read_csv(results / "smoke" / "cells.csv", dtype={"cell": str}).set_index(key)["mean"].sort_index()
    pd.testing.assert_series_equal(ours, theirs, rtol=0, atol=1e-9)


def test_models_reference_without_shipped_models_is_refused_in_one_line(tiny, tmp_path, monkeypatch, capsys):
    from benchmark import run, shipped

    monkeypatch.setattr(shipped, "WEIGHTS_DIR", tmp_path / "weights")
    assert run.main(["study=smoke", f"--results={tmp_path / 'r'}", "--models", "reference", "--dry-run", *tiny]) == 2
    err = capsys.readouterr().err.strip()
    assert "no model is shipped" in err and "\n" not in err and not (tmp_path / "r").exists()
