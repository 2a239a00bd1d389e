import pytest

from benchmark.config import ConfigError, cell_hash, compose, gamma_free, training_config, training_hash


def test_defaults_compose_and_groups_replace_whole_nodes():
    cfg = compose()
    assert cfg.sde.name == "oucosine" and cfg.sampler.name == "edm" and cfg.net.name == "small"
    cfg = compose(["sde=ouvp", "sde.stiffness=0", "sampler=pc", "sampler.steps=5"])
    assert cfg.sde.name == "ouvp" and cfg.sde.stiffness == 0 and "shift" not in cfg.sde
    assert cfg.sampler.steps == 5 and "churn" not in cfg.sampler


def test_unknown_key_fails_naming_it():
    with pytest.raises(ConfigError, match="trainer.max_stepz"):
        compose(["trainer.max_stepz=3"])
    with pytest.raises(ConfigError, match="not of the form"):
        compose(["sde"])


def test_bad_values_fail_before_work_listing_allowed_values():
    with pytest.raises(ConfigError, match=r"sde=.*ouvq.*not one of.*oucosine"):
        compose(["sde=ouvq"])
    with pytest.raises(ConfigError, match="scaling"):
        compose(["sampler.scaling=vp"])
    with pytest.raises(ConfigError, match="needs σ⁻¹"):
        compose(["sde=bbed", "sampler.scaling=none"])            # churn ∞ needs σ⁻¹
    with pytest.raises(ConfigError, match="preconditioning.cout"):
        compose(["preconditioning.cout=karras"])
    with pytest.raises(ConfigError, match="model.kind"):
        compose(["model.kind=gan"])
    with pytest.raises(ConfigError, match="lr_decay"):
        compose(["trainer.lr_decay=step"])
    with pytest.raises(ConfigError, match="max_steps"):                 # cosine needs a step budget
        compose(["trainer.max_steps=null", "trainer.max_minutes=5"])


def test_gamma_is_inference_only_under_all_edm_preconditioning():
    a = compose(["sde=ouvp", "sde.stiffness=0"])
    b = compose(["sde=ouvp", "sde.stiffness=1.5"])
    assert gamma_free(a) and training_hash(a) == training_hash(b) and cell_hash(a) != cell_hash(b)
    # a richter term (c_in = s(t)) makes γ part of training
    c = compose(["sde=ouvp", "sde.stiffness=0", "preconditioning.cin=richter"])
    d = compose(["sde=ouvp", "sde.stiffness=1.5", "preconditioning.cin=richter"])
    assert not gamma_free(c) and training_hash(c) != training_hash(d)
    # richter-ouve: γ changes σ(t) itself
    e = compose(["sde=richter-ouve", "sde.stiffness=0"])
    f = compose(["sde=richter-ouve"])
    assert training_hash(e) != training_hash(f)
    # ... except that at γ = 0 it is brever's OUVE, which all-EDM training shares across γ
    assert gamma_free(e) and not gamma_free(f)
    assert cell_hash(e) != cell_hash(compose(["sde=ouve", "sde.stiffness=0"]))      # still its own cell
    assert training_hash(e) == training_hash(compose(["sde=ouve", "sde.stiffness=1.5"]))
    g = compose(["sde=richter-ouve", "sde.stiffness=0", "preconditioning.cin=richter"])
    assert training_hash(g) == training_hash(compose(["sde=ouve", "sde.stiffness=0", "preconditioning.cin=richter"]))
    assert training_hash(g) != training_hash(compose(["sde=ouve", "sde.stiffness=1.5", "preconditioning.cin=richter"]))


def test_training_hash_ignores_what_training_does_not_read():
    base = compose()
    same = compose(["sampler.steps=4", "eval.max_utterances=5", "trainer.log_every=7", "data.workers=1"])
    other = compose(["trainer.lr=0.001"])
    assert training_hash(base) == training_hash(same)
    assert training_hash(base) != training_hash(other)
    assert "sampler" not in training_config(base)


def test_the_patch_setting_leaves_earlier_model_ids_alone_and_a_patched_net_is_another_model():
    base = compose()
    assert base.net.patch == 1 and "patch" not in training_config(base)["net"]
    assert training_hash(compose(["net.patch=1"])) == training_hash(base)
    patched, cpu = compose(["net.patch=2"]), compose(["net=cpu"])
    assert training_config(patched)["net"]["patch"] == 2
    assert len({training_hash(base), training_hash(patched), training_hash(cpu)}) == 3
    with pytest.raises(ConfigError, match="net.patch"):
        compose(["net.patch=0"])


def test_predictive_model_ignores_diffusion_settings():
    a = compose(["model.kind=predictive", "sde=ouve"])
    b = compose(["model.kind=predictive", "sde=oucosine", "preconditioning.bundle=richter"])
    assert training_hash(a) == training_hash(b)


def test_scale_paper_restores_the_papers_net_trainer_front_end_and_sampler():
    emb, paper = compose(), compose(["scale=paper"])
    assert (paper.net.name, paper.trainer.name, paper.sampler.name, paper.frontend.n_fft) == (
        "ncsnpp_m", "paper", "edm", 512)
    assert paper.sampler.steps == 16 and paper.sampler.sigma_start is None and paper.scale == "paper"
    assert training_hash(emb) != training_hash(paper)
    # the caller's overrides still win, wherever `scale=` sits among them
    cfg = compose(["frontend.n_fft=256", "scale=paper", "net=small"])
    assert cfg.net.name == "small" and cfg.frontend.n_fft == 256 and cfg.trainer.name == "paper"
    with pytest.raises(ConfigError, match=r"scale=.*huge.*not one of.*paper"):
        compose(["scale=huge"])


def test_the_default_trains_on_real_sources_where_installed_and_scale_synthetic_does_not():
    emb, synth = compose(), compose(["scale=synthetic"])
    assert (emb.frontend.n_fft, emb.trainer.max_steps, emb.data.real_noise, emb.data.real_speech,
            emb.data.bandlimit_prob, emb.frontend.hop) == (512, 4000, "auto", "auto", 0.25, 256)
    assert (synth.frontend.n_fft, synth.trainer.max_steps, synth.data.real_noise, synth.data.real_speech,
            synth.data.bandlimit_prob, synth.frontend.hop) == (256, 4000, False, False, 0.0, 128)
    assert synth.net.name == emb.net.name and synth.trainer.name == emb.trainer.name
    assert training_hash(emb) != training_hash(synth)


def test_eval_splits_default_to_the_datas_own_including_the_mismatched_synthetic_split():
    from benchmark.data import eval_splits, sources
    cfg = compose()
    assert cfg.eval.splits is None
    extra = ["real"] if sources.available() else []   # the real recordings, where installed
    assert eval_splits(cfg.data, cfg.eval.splits) == ["test", "test_mismatched"] + extra
    assert eval_splits(compose(["data=folder", "data.root=/x"]).data, None) == ["test"] + extra
    assert eval_splits(cfg.data, compose(["eval.splits=[valid]"]).eval.splits) == ["valid"]


def test_numbers_are_range_checked_first_naming_key_value_and_range():
    # each was accepted: Heun crashed with IndexError, PC ran with NFE 0, the optimiser raised TypeError
    with pytest.raises(ConfigError, match=r"^sampler\.steps=-1: expected an integer ≥ 1$"):
        compose(["sampler.steps=-1"])
    with pytest.raises(ConfigError, match=r"^sampler\.steps=0: expected an integer ≥ 1$"):
        compose(["sampler=pc", "sampler.steps=0"])
    with pytest.raises(ConfigError, match=r"^trainer\.lr='abc': expected a number > 0$"):
        compose(["trainer.lr=abc"])
    # before the registries: a bridge under the embedded x-space sampler is refused too, later
    with pytest.raises(ConfigError, match=r"^sde\.k=-1: expected a number > 0"):
        compose(["sde=bbed", "sde.k=-1"])


def test_input_perturbation_leaves_earlier_model_ids_alone_and_reaches_the_model():
    from benchmark.config import build_model

    base = compose()
    assert base.loss.input_perturbation == 0.0 and "input_perturbation" not in training_config(base)["loss"]
    assert training_hash(compose(["loss.input_perturbation=0.0"])) == training_hash(base)
    perturbed = compose(["loss.input_perturbation=0.1"])
    assert training_hash(perturbed) != training_hash(base)
    assert build_model(perturbed).input_perturbation == 0.1 and build_model(base).input_perturbation == 0.0
    with pytest.raises(ConfigError, match="loss.input_perturbation"):
        compose(["loss.input_perturbation=-0.1"])
