"""The MLflow UI, as the README opens it (`mlflow ui --backend-store-uri sqlite:///...`), shows a
study's experiment in headless Chromium: its runs table, and no console error of the app."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from benchmark.driver.tracking import EXPERIMENT_KIND, Tracker, runs_url

STUDY = "sde_ablation"
# Waits until the app has routed (its title says which page) and, on a runs page, the study's run
# is in the table (the count, '0 matching runs' at first, comes before the rows are drawn).
RENDERED = """(() => {
  const title = document.title, text = document.body ? document.body.innerText : '';
  if (!/ - Experiment \\d+ - MLflow$/.test(title) || !document.querySelector('h2')) return null;
  if (/^(Training runs|Runs) /.test(title) && !text.includes('study STUDY')) return null;
  return {title, href: location.href, heading: document.querySelector('h2').innerText, text};
})()""".replace("STUDY", STUDY)
# The app asks for the signed-in user, which a server without the basic-auth app answers with 404.
APP_NOISE = re.compile(r"favicon|/ajax-api/2\.0/mlflow/users/current")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_ui(tmp_path_factory):
    """(base URL, experiment id): a study's store as run.py lays it out (study run, training run,
    cell runs nested under it), served by `mlflow ui` on a free loopback port."""
    tmp = tmp_path_factory.mktemp("mlflow_ui")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    t = Tracker(uri, STUDY, tmp / "art")
    study = t.get_or_create_run(f"study {STUDY}", {"study": STUDY, "role": "study"})
    train = t.get_or_create_run("train 1a2b3c", {"training_hash": "1a2b3c", "role": "training"}, study)
    t.log_metrics(train, {"train_loss": 0.5}, step=1, once=False)
    for i, sde in enumerate(("ouve", "ouvp")):
        cell = t.get_or_create_run(f"cell {i}{i}{i} sde={sde}", {"cell": f"{i}" * 3, "role": "cell"}, train)
        t.log_metrics(cell, {"test.pesq_wb.output": 1.5 + i, "test.estoi.output": 0.7})
        t.finish(cell)
    for run in (train, study):
        t.finish(run)
    port = free_port()
    log = open(tmp / "server.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=5).read()
                break
            except OSError:
                log.seek(0)
                assert server.poll() is None and time.monotonic() < deadline, log.read()[-3000:]
                time.sleep(0.5)
        yield base, t.experiment_id
    finally:
        os.killpg(server.pid, signal.SIGTERM)      # the server and its worker, its own group
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


def open_experiment(browser, base, query, shot):
    report = browser.open(f"{base}/#/experiments/{query}", allowed_origin=base, timeout=60,
                          wait_for=RENDERED, settle=1, screenshot=shot)
    assert report.waited, f"the MLflow app did not render in 60 s (what it showed: {shot})"
    return report


def assert_runs_table(report):
    page = report.waited
    assert page["heading"] in ("Runs", "Training runs"), page
    assert f"study {STUDY}" in page["text"] and "4 matching runs" in page["text"].replace("\n", " ")
    assert not report.external and not report.exceptions
    assert not [e for e in report.errors if not APP_NOISE.search(e)], report.errors


GENAI_LANDING = (
    f"MLflow 3.17.2's UI ignores the {EXPERIMENT_KIND[0]} tag: an experiment's kind comes from the "
    "global GenAI / Model training switch (localStorage mlflow.workflowType, default genai, or the "
    "URL's ?workflowType=), so /#/experiments/<id> opens on the GenAI Overview")


def test_the_experiment_page_opens_on_the_runs_table(mlflow_ui, browser, tmp_path):
    base, experiment = mlflow_ui
    report = open_experiment(browser, base, experiment, tmp_path / "page.png")
    if report.waited["heading"] == "Overview" and "workflowType=genai" in report.waited["href"]:
        pytest.xfail(GENAI_LANDING)          # exactly this landing; anything else is checked below
    assert_runs_table(report)


def test_the_link_run_py_prints_opens_the_runs_table(mlflow_ui, browser, tmp_path):
    base, experiment = mlflow_ui
    url = runs_url(experiment, base)
    assert url.startswith(f"{base}/#/experiments/")
    report = open_experiment(browser, base, url.split("/#/experiments/", 1)[1], tmp_path / "page.png")
    assert_runs_table(report)
    assert "/runs" in report.waited["href"] and "Overview" not in report.waited["heading"]
