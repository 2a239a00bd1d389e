"""A study's price: unit costs measured once per device and configuration, then plain arithmetic."""
import pytest

from benchmark.driver import price
from benchmark.driver.grid import expand, load_study
from benchmark.run import main


@pytest.fixture(autouse=True)
def own_costs(monkeypatch):
    """These tests count measurements and fake some: none of it may reach the session's shared file.
    They also read a quiet machine: in CI the servers the suite started can take more than BUSY of
    the cores while a faked (instant) measurement runs, and a contended figure is rightly not kept,
    so the count would depend on what else ran. The contention tests below set their own share."""
    monkeypatch.delenv(price.COSTS_CACHE, raising=False)
    monkeypatch.setattr(price, "Others", _Share(0.0))


def test_a_machine_wide_costs_file_is_measured_once_for_every_results_folder(tiny, tmp_path, monkeypatch):
    cfg = expand(load_study("smoke"), tiny)[0].config
    monkeypatch.setenv(price.COSTS_CACHE, str(tmp_path / "machine.json"))
    measured = []
    monkeypatch.setattr(price, "_measure", lambda cfg: measured.append(1) or {"train_step_s": 0.5, "call_s": 0.01,
                                                                               "score_s": 0.02})
    first = price.unit_costs(cfg, tmp_path / "a", "dev")
    price.observe_training(cfg, tmp_path / "a", "dev", {"steps": 10, "minutes": 1}, 2)
    second = price.unit_costs(cfg, tmp_path / "b", "dev")
    assert measured == [1] and first == second == {"train_step_s": 0.5, "call_s": 0.01, "score_s": 0.02}
    assert (tmp_path / "b" / "costs.json").is_file()                  # each folder still keeps its own
    assert price.unit_costs(cfg, tmp_path / "c", "another device") and measured == [1, 1]
    # the observed rate stays with the folder whose run it describes
    assert price.observed_step_s(price.unit_costs(cfg, tmp_path / "a", "dev"), 2) == 6.0
    assert price.observed_step_s(second, 2) is None


def test_unit_costs_are_measured_once_then_read_back(tiny, tmp_path, monkeypatch):
    cell = expand(load_study("smoke"), tiny)[0]
    first = price.unit_costs(cell.config, tmp_path, "dev")
    assert all(v > 0 for v in first.values()) and set(first) == {"train_step_s", "call_s", "score_s"}
    monkeypatch.setattr(price, "_measure", lambda cfg: pytest.fail("measured again"))
    assert price.unit_costs(cell.config, tmp_path, "dev") == first


def test_two_cpus_of_the_same_core_count_are_priced_apart(tiny, tmp_path, monkeypatch):
    # an AVX2 host once read the costs an AVX512-BF16 host had measured: both were '2 cores, x86_64'
    import torch

    from benchmark import provenance, runtime

    cfg = expand(load_study("smoke"), tiny)[0].config
    monkeypatch.setattr(provenance, "cpu_kind", provenance.cpu_kind.__wrapped__)   # uncached: two CPUs here
    names = set()
    for capability, bf16 in (("AVX2", False), ("AVX512", True)):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        monkeypatch.setattr(runtime, "cpu_has_bf16", lambda b=bf16: b)
        names.add(provenance.device_name(cfg))
        monkeypatch.setattr(price, "_measure", lambda cfg, c=capability: {"train_step_s": len(c), "call_s": 1,
                                                                         "score_s": 1})
        assert price.unit_costs(cfg, tmp_path, provenance.device_name(cfg))["train_step_s"] == len(capability)
    assert len(names) == 2 and any(n.endswith("AVX512 with native bf16)") for n in names)


@pytest.mark.parametrize("batch, expected", [
    (["trainer.batch_mode=crop", "trainer.batch_size=3", "trainer.crop_seconds=0.5"], (3, 0.5)),
    (["trainer.batch_mode=bucket", "trainer.batch_seconds=2.5"], (1, 2.5)),     # not one 4 s utterance
    (["trainer.batch_mode=bucket", "trainer.batch_seconds=32"], (8, 4.0)),      # brever's batch
])
def test_the_measured_step_trains_on_the_batch_the_trainer_will_see(tiny, batch, expected, monkeypatch):
    # a step costs what its frames cost: the measurement's batch must hold the trainer's audio
    cfg = expand(load_study("smoke"), [*tiny, *batch])[0].config
    seen = []
    monkeypatch.setattr(price, "plain_step", lambda model, opt, x0, *a: seen.append(tuple(x0.shape)))
    price._measure(cfg)
    frontend_frames = seen[0][-1]
    n, seconds = expected
    assert seen[0][0] == n and abs(frontend_frames * cfg.frontend.hop / 16000 - seconds) < 0.05


def test_the_price_is_the_sum_of_measured_unit_costs(tiny, tmp_path, monkeypatch):
    cells = expand(load_study("smoke"), [*tiny, "eval.splits=[test,test_mismatched]"])   # 2 models, 5 cells, 2 splits
    monkeypatch.setattr(price, "unit_costs", lambda cfg, results, device: {"train_step_s": 0.5, "call_s": 0.01,
                                                                       "score_s": 0.2})
    monkeypatch.setattr(price.os, "sched_getaffinity", lambda pid: {0}, raising=False)   # a 1-core pool
    p = price.price(cells, tmp_path, "dev", jobs=1)
    steps = int(cells[0].config.trainer.max_steps)
    assert p.models == 2 and p.steps == 2 * steps
    assert p.train_minutes == pytest.approx(2 * steps * 0.5 * price.FIT_OVERHEAD / 60)
    audio = {s: price.split_audio(cells[0].config.data, s)[1] for s in ("test", "test_mismatched")}
    enhance = sum(audio.values()) * 0.01 * sum(c.nfe_budget() for c in cells)
    # every split's input is scored by its first cell only: 5 cells score outputs, 1 scores inputs
    score = sum(audio.values()) * 0.2 * (1 + 4 * 0.5)
    assert p.eval_minutes == pytest.approx((enhance + score) / 60)
    assert price.price(cells, tmp_path, "dev", jobs=2).train_minutes == pytest.approx(p.train_minutes / 1.2)
    done = price.price(cells, tmp_path, "dev", jobs=1, done_models={cells[0].training_hash},
                       done_cells={cells[0].hash})
    assert done.models == 1 and done.steps == steps
    # a killed run's model resumes from its checkpoint: only the steps after it are priced
    resumed = price.price(cells, tmp_path, "dev", jobs=1, done_models={cells[0].training_hash},
                          done_cells={cells[0].hash}, steps_done={cells[-1].training_hash: steps - 3})
    assert resumed.models == 1 and resumed.steps == 3


def test_a_rate_observed_while_training_prices_the_next_models_instead_of_the_bare_step(tiny, tmp_path,
                                                                                      monkeypatch):
    # the AVX2 pair timed the bare step at 1.24 s and trained at 1.00 s a step: every ETA read 1.4x long
    cells = expand(load_study("smoke"), tiny)                        # 2 models, a diffusion and a predictive one
    cfg = cells[0].config
    models = list({c.training_hash: c.config for c in cells}.values())
    monkeypatch.setattr(price, "_measure", lambda cfg: {"train_step_s": 0.5, "call_s": 0.01, "score_s": 0.2})
    monkeypatch.setattr(price.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)   # 2 cores
    steps = int(cfg.trainer.max_steps)
    bare = price.price(cells, tmp_path, "dev", jobs=1)
    assert bare.observed == 0 and bare.train_minutes == pytest.approx(2 * steps * 0.5 * price.FIT_OVERHEAD / 60)
    for minutes in (1.0, 9.0, 2.0):                                  # the median of what was seen
        for m in models:
            price.observe_training(m, tmp_path, "dev", {"steps": steps, "minutes": minutes * steps / 60}, 2)
    seen = price.price(cells, tmp_path, "dev", jobs=1)
    assert seen.observed == 2 and seen.train_minutes == pytest.approx(2 * steps * 2.0 / 60)
    assert "2 at the rate such a model trained here" in price.describe(seen, "dev", 1)
    assert price.observed_rates(cfg, tmp_path, "dev") == {2: pytest.approx(2.0)}
    # --jobs 2 gives each job one thread: a rate seen at two threads says nothing about it
    assert price.price(cells, tmp_path, "dev", jobs=2).observed == 0
    price.observe_training(cfg, tmp_path, "dev", {"steps": steps, "minutes": 3.0 * steps / 60}, 1)
    two = price.price(cells, tmp_path, "dev", jobs=2)              # the other model: its bare step
    assert two.observed == 1 and two.train_minutes == pytest.approx(
        (steps * 3.0 / 2 + steps * 0.5 * price.FIT_OVERHEAD / price.JOBS_SPEEDUP[2]) / 60)
    price.observe_training(models[1], tmp_path, "dev", {"steps": steps, "minutes": 3.0 * steps / 60}, 1)
    two = price.price(cells, tmp_path, "dev", jobs=2)
    assert two.observed == 2 and two.train_minutes == pytest.approx(2 * steps * 3.0 / 2 / 60)
    # the measured unit costs stay beside the rates, and only the last few rates are kept
    for _ in range(10):
        price.observe_training(cfg, tmp_path, "dev", {"steps": steps, "minutes": 4.0 * steps / 60}, 1)
    assert price.observed_rates(cfg, tmp_path, "dev")[1] == pytest.approx(4.0)
    assert price.unit_costs(cfg, tmp_path, "dev")["train_step_s"] == 0.5


def test_an_enhancement_rate_observed_on_scored_cells_prices_the_next_cells_instead_of_the_bare_call(
        tiny, tmp_path, monkeypatch):
    # the AVX512-BF16 pair timed the bare call at 0.0158 s and enhanced at 0.020-0.024 s: 1.4x short
    cells = expand(load_study("smoke"), [*tiny, "eval.splits=[test]"])
    diffusion = [c for c in cells if c.kind != "predictive"]
    monkeypatch.setattr(price, "_measure", lambda cfg: {"train_step_s": 0.5, "call_s": 0.01, "score_s": 0.2})
    monkeypatch.setattr(price.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)   # 2 cores
    models = {c.training_hash for c in cells}
    bare = price.price(diffusion, tmp_path, "dev", jobs=1, done_models=models)
    assert bare.observed_cells == 0
    cfg = diffusion[0].config
    for rtf, nfe in ((0.3, 10), (0.9, 10), (0.4, 20)):          # 0.03, 0.09, 0.02 a call: the median is 0.03
        price.observe_enhancement(cfg, tmp_path, "dev", {"test": {"rtf": rtf, "nfe": nfe, "utterances": 3}}, 2)
    seen = price.price(diffusion, tmp_path, "dev", jobs=1, done_models=models)
    assert seen.observed_cells == len(diffusion)
    audio = price.split_audio(cfg.data, "test")[1]
    nfe = sum(c.nfe_budget() for c in diffusion)
    assert seen.eval_minutes - bare.eval_minutes == pytest.approx(audio * nfe * (0.03 - 0.01) / 60)
    assert f"{len(diffusion)} cell(s) at the rate cells enhanced here" in price.describe(seen, "dev", 1)
    # a rate seen at two threads says nothing of a --jobs 2 job's one thread; a cell without NFE adds none
    assert price.price(diffusion, tmp_path, "dev", jobs=2, done_models=models).observed_cells == 0
    price.observe_enhancement(cfg, tmp_path, "dev", {"test": {"rtf": 0.0, "nfe": 0.0}}, 1)
    assert price.price(diffusion, tmp_path, "dev", jobs=2, done_models=models).observed_cells == 0
    assert price.unit_costs(cfg, tmp_path, "dev")["call_s"] == 0.01


def test_a_rate_observed_before_any_unit_cost_does_not_stop_the_costs_being_measured(tiny, tmp_path,
                                                                                     monkeypatch):
    cfg = expand(load_study("smoke"), tiny)[0].config
    price.observe_training(cfg, tmp_path, "dev", {"steps": 10, "minutes": 0.5}, 2)
    monkeypatch.setattr(price, "_measure", lambda cfg: {"train_step_s": 0.5, "call_s": 0.01, "score_s": 0.2})
    costs = price.unit_costs(cfg, tmp_path, "dev")
    assert costs["train_step_s"] == 0.5 and price.observed_step_s(costs, 2) == pytest.approx(3.0)


def test_the_steps_a_model_resumes_from_are_read_from_its_checkpoint(tmp_path):
    import torch

    from benchmark.store import steps_trained

    assert steps_trained(tmp_path) == 0
    torch.save({"step": 700, "model": {"w": torch.zeros(2)}}, tmp_path / "last.pt")
    assert steps_trained(tmp_path) == 700
    (tmp_path / "last.pt").write_bytes(b"cut short by a kill")
    assert steps_trained(tmp_path) == 0


class _Share:
    """Others() as it would read with other processes holding `share` of the machine."""
    def __init__(self, share):
        self.share = share

    def __call__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_dry_run_prints_the_price(tiny, tmp_path, capsys, monkeypatch):
    assert main(["study=smoke", "--dry-run", f"--results={tmp_path}", *tiny]) == 0
    out = capsys.readouterr().out
    assert "estimated on cpu" in out and "2 model(s) to train" in out and (tmp_path / "costs.json").is_file()


def test_a_unit_cost_is_the_fastest_call_after_a_warm_up(monkeypatch):
    # Load from other work only adds time; a slow first call (kernel selection) is never the figure.
    clock, durations = [0.0], iter([2.0, 0.5, 0.3, 0.4])

    def call():
        clock[0] += next(durations)

    monkeypatch.setattr(price.time, "perf_counter", lambda: clock[0])
    assert price._timed(call, lambda: None) == pytest.approx(0.3)
    clock[0], durations = 0.0, iter([6.0, 7.0, 1.0])       # a slow net: one call after the warm-up
    assert price._timed(call, lambda: None) == pytest.approx(7.0)


def test_figures_timed_while_other_processes_hold_the_cores_are_used_and_said_but_not_kept(tiny, tmp_path,
                                                                                          monkeypatch):
    # a --dry-run beside a training study timed the step at 8 s (0.38 s idle) and kept it for good
    cells = expand(load_study("smoke"), tiny)
    cfg = cells[0].config
    monkeypatch.setenv(price.COSTS_CACHE, str(tmp_path / "machine.json"))
    monkeypatch.setattr(price, "_measure", lambda cfg: {"train_step_s": 8.0, "call_s": 0.5, "score_s": 0.2})
    monkeypatch.setattr(price, "Others", _Share(0.55))
    busy = price.unit_costs(cfg, tmp_path / "busy", "dev")
    assert busy["train_step_s"] == 8.0
    assert not (tmp_path / "busy" / "costs.json").exists() and not (tmp_path / "machine.json").exists()
    said = price.describe(price.price(cells, tmp_path / "busy", "dev", 1), "dev", 1)
    assert "other processes held 55% of this machine's cores" in said and "not kept" in said
    # the same configuration timed on an idle machine is kept, in both files, and says nothing of it
    monkeypatch.setattr(price, "_measure", lambda cfg: {"train_step_s": 0.4, "call_s": 0.01, "score_s": 0.2})
    monkeypatch.setattr(price, "Others", _Share(0.02))
    idle = price.unit_costs(cfg, tmp_path / "idle", "dev")
    assert idle["train_step_s"] == 0.4 and (tmp_path / "idle" / "costs.json").is_file()
    assert (tmp_path / "machine.json").is_file()
    assert "other processes" not in price.describe(price.price(cells, tmp_path / "idle", "dev", 1), "dev", 1)
