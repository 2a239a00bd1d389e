"""done.py: one rule for "a cell is done", and every user of it agrees cell by cell.

One results folder of the smoke study holds a cell finished whole, a cell with its rows but no
per-utterance file (a run killed between the two writes, or a folder whose scores were not kept), a
cell with rows for only some of its splits, a second whole cell, and a cell absent. --dry-run, the
price, the run's resume from cells.csv (and so the queue's "N done"), and another study taking the
scores must all call the same two cells done; the issue this guards (47) was a dry run saying
"10 done" of a folder whose run then queued all ten again.
"""
import re

import pandas as pd
import pytest

from benchmark.data import eval_splits
from benchmark.driver import done, ledger, price, shared_cells
from benchmark.driver.grid import expand, find_study_file, load_study
from benchmark.run import main


def _rows(cell, splits) -> pd.DataFrame:
    """The cell's rows as the run writes them (cell.cell_rows), one metric."""
    return pd.DataFrame([{"study": "smoke", "cell": cell.hash, "training_hash": cell.training_hash, "kind": cell.kind,
                          "label": cell.label, **cell.axes, "split": split, "metric": "pesq_wb", "which": which,
                          "mean": 2.0, "ci95": 0.1, "n": 3, "n_nan": 0, "nfe": cell.nfe_budget(), "rtf": 0.5,
                          "train_steps": 8, "train_minutes": 0.2, "device": "cpu", "weights": "0123456789ab",
                          "finished_at": "2026-01-01T00:00:00+00:00"}
                         for split in splits for which in ("input", "output", "delta")])


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny):
    """(results, cells, {name: cell}): the five cases, in one results folder of study smoke."""
    cells = expand(load_study("smoke"), tiny)
    whole, no_scores, short, whole_too, absent = cells
    assert absent.kind == "predictive" and {c.training_hash for c in cells[:4]} == {whole.training_hash}
    results = tmp_path_factory.mktemp("done") / "results"
    out = results / "smoke"
    splits = {c.hash: eval_splits(c.config.data, c.config.eval.splits) for c in cells}
    assert len(splits[short.hash]) >= 2
    table = pd.concat([_rows(whole, splits[whole.hash]), _rows(no_scores, splits[no_scores.hash]),
                       _rows(short, splits[short.hash][:1]), _rows(whole_too, splits[whole_too.hash])])
    out.mkdir(parents=True)
    table.to_csv(ledger.cells_csv(out), index=False)
    for c in (whole, short, whole_too):
        ledger.cell_dir(out, c.hash).mkdir(parents=True)
        ledger.per_utterance(out, c.hash).write_text("split,name,metric,input,output\n")
    # the predictive model is trained, the diffusion one is not: the absent cell reuses, the others train
    trained = ledger.models_root(results) / absent.training_hash
    trained.mkdir(parents=True)
    (trained / "done.json").write_text('{"steps": 8, "minutes": 0.2}')
    names = {"whole": whole, "no_scores": no_scores, "short": short, "whole_too": whole_too, "absent": absent}
    return results, cells, names


def _expected(names) -> set[str]:
    return {names["whole"].hash, names["whole_too"].hash}


def _dry_run(capsys, tiny, study: str, results) -> tuple[dict, dict]:
    """(the counts of --dry-run's first line, cell hash -> its action)."""
    assert main([f"study={study}", "--dry-run", f"--results={results}", *tiny]) == 0
    out = capsys.readouterr().out
    head = re.search(r"(\d+) cells \((\d+) done, (\d+) shared, (\d+) to do\), (\d+) models \((\d+) to train\)", out)
    assert head, out
    counts = dict(zip(("cells", "done", "shared", "todo", "models", "to_train"), map(int, head.groups())))
    actions = {ln.split()[0]: ln.split()[2] for ln in out.splitlines() if re.match(r"^[0-9a-f]{8}  ", ln)}
    return counts, actions


def test_a_cell_is_done_only_whole_and_with_its_per_utterance_scores(folder):
    results, cells, names = folder
    found = done.finished(results / "smoke", cells)
    assert set(found) == done.done_hashes(results / "smoke", cells) == _expected(names)
    whole = names["whole"]
    assert set(found[whole.hash]["split"]) == set(eval_splits(whole.config.data, whole.config.eval.splits))
    assert found[whole.hash]["mean"].map(type).eq(str).all()          # the text the queue keeps
    assert done.finished(results / "nowhere", cells) == {}
    assert done.model_trained(ledger.models_root(results) / names["absent"].training_hash)
    assert not done.model_trained(ledger.models_root(results) / whole.training_hash)


def test_the_dry_run_the_price_and_the_run_agree_cell_by_cell(folder, tiny, capsys):
    import optuna

    from benchmark.driver.queue import enqueue
    from benchmark.driver.recover import recover_finished

    results, cells, names = folder
    out = results / "smoke"
    expected = _expected(names)
    counts, actions = _dry_run(capsys, tiny, "smoke", results)
    assert {h for h, a in actions.items() if a == "done"} == expected
    assert actions[names["no_scores"].hash] == "train"         # the first cell of the untrained model
    assert actions[names["short"].hash] == actions[names["absent"].hash] == "reuse"
    assert price.done_or_shared(out, cells) == expected
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    queue = optuna.create_study()                               # no journal: the run resumes from cells.csv
    assert set(recover_finished(queue, cells, out)) == expected
    run = enqueue(queue, cells)
    # the dry run's "N done" is what the run skips, and its "to do" what the run queues
    assert (counts["done"], counts["shared"], counts["todo"]) == (run["done"], 0, run["queued"]) == (2, 0, 3)
    todo = [c for c in cells if c.hash not in expected]
    assert counts["to_train"] == len({c.training_hash for c in todo
                                      if not done.model_trained(ledger.models_root(results) / c.training_hash)}) == 1
    empty = results.parent / "empty"
    full, left = price.left_to_do(cells, empty, empty / "smoke", 1), price.left_to_do(cells, results, out, 1)
    assert left.utterances * len(cells) == full.utterances * len(todo) and full.utterances > 0
    assert (full.models, left.models) == (2, 1)                 # the predictive model is trained


def test_another_study_takes_exactly_the_cells_done_here(folder, tiny, capsys, tmp_path):
    results, cells, names = folder
    expected = _expected(names)
    assert set(shared_cells.sources(results, "smoke_twin", cells)) == expected
    assert price.done_or_shared(results / "smoke_twin", cells) == expected
    twin = tmp_path / "smoke_twin.yaml"
    twin.write_text(find_study_file("smoke").read_text().replace("name: smoke", "name: smoke_twin"))
    assert {c.hash for c in expand(load_study(str(twin)), tiny)} == {c.hash for c in cells}
    counts, actions = _dry_run(capsys, tiny, str(twin), results)
    assert {h for h, a in actions.items() if a == "shared"} == expected
    assert (counts["done"], counts["shared"], counts["todo"]) == (0, 2, 3)
    taken = shared_cells.sources(results, "smoke_twin", cells)[names["whole"].hash]
    assert taken.study == "smoke" and taken.train == {"steps": 8, "minutes": 0.2}
    assert (taken.device, taken.weights) == ("cpu", "0123456789ab")
    assert {s: t["nfe"] for s, t in taken.timing.items()} == {
        s: float(names["whole"].nfe_budget()) for s in eval_splits(cells[0].config.data, cells[0].config.eval.splits)}
