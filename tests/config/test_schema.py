"""Every numeric setting is type- and range-checked when a configuration is composed."""
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from benchmark.config import CONFIG_DIR, GROUPS, ConfigError, compose, group_choices
from benchmark.config.schema import RANGES, RELATIONS, ListOf, Number, Pair

# Leaves that are null (or an empty list) in every file, so the YAML does not show their type,
# and that are not numbers. A new nullable number must go into ranges.RANGES instead.
NOT_NUMERIC = {"data.root", "data.cache_dir", "eval.splits", "eval.precision",
               *(f"preconditioning.{t}" for t in ("cskip", "cout", "cin", "cshift", "cnoise", "weight"))}


def _leaves(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, path + ".")
        else:
            yield path, value


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sources():
    """(overrides that load the file, its settings under their composed keys), for defaults.yaml
    and every file of every group."""
    yield [], OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "defaults.yaml"))
    for group in GROUPS:
        for choice in group_choices(group):
            tree = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / group / f"{choice}.yaml"))
            yield [f"{group}={choice}"], {group: tree}


LEAVES = [(ctx, key, value) for ctx, tree in _sources() for key, value in _leaves(tree)]
CONTEXT: dict[str, list[str]] = {}           # a key → the group choice that has it
DEFAULT: dict[str, object] = {}              # a key → a valid value from the YAML files
for _ctx, _key, _value in LEAVES:
    if _key in RANGES:
        CONTEXT.setdefault(_key, _ctx)
        if _value not in (None, []):
            DEFAULT.setdefault(_key, _value)


def test_every_numeric_setting_in_the_config_files_has_a_declared_range():
    undeclared = sorted({key for _, key, v in LEAVES if key not in RANGES and (
        _is_number(v) or (isinstance(v, list) and any(_is_number(x) for x in v)))})
    assert not undeclared, f"numeric settings without a range in benchmark/config/schema.py: {undeclared}"
    untyped = sorted({key for _, key, v in LEAVES if v in (None, []) and key not in RANGES
                      and key not in NOT_NUMERIC})
    assert not untyped, f"null settings of unknown type (declare a range or list them here): {untyped}"


def test_every_declared_range_is_a_setting_and_every_default_is_in_range():
    keys = {key for _, key, _ in LEAVES}
    stale = sorted(k for k in [*RANGES, *(r.key for r in RELATIONS), *(r.other for r in RELATIONS)]
                   if k not in keys)
    assert not stale, f"ranges for settings no config file has: {stale}"
    for ctx, key, value in LEAVES:
        if key in RANGES:
            assert RANGES[key].accepts(value), (ctx, key, value)


@pytest.mark.parametrize("key", sorted(RANGES))
def test_a_string_is_refused_for_every_numeric_key(key):
    with pytest.raises(ConfigError, match="^" + re.escape(f"{key}='abc': expected ")):
        compose(CONTEXT[key] + [f"{key}='abc'"])


def test_messages_name_the_key_the_value_and_the_range():
    cases = {
        "sampler.steps=-1": "sampler.steps=-1: expected an integer ≥ 1",
        "sampler.steps=2.5": "sampler.steps=2.5: expected an integer ≥ 1",
        "sampler.steps=true": "sampler.steps=True: expected an integer ≥ 1",
        "trainer.lr=abc": "trainer.lr='abc': expected a number > 0",
        "trainer.ema_decay=1": "trainer.ema_decay=1: expected a number in [0, 1)",
        "loss.t_eps=.nan": "loss.t_eps=nan: expected a number in (0, 1)",
        "eval.jobs=0": "eval.jobs=0: expected an integer ≥ 1 or null",
        "trainer.max_minutes=.inf": "trainer.max_minutes=inf: expected a number > 0 or null",
        "frontend.n_fft=257": "frontend.n_fft=257: expected an even integer ≥ 16",
        "data.seconds=[3.0,2.0]": "data.seconds=[3.0, 2.0]: expected a [min, max] pair of numbers ≥ 1",
        "net.channel_mult=[1,0]": "net.channel_mult=[1, 0]: expected a non-empty list of integers ≥ 1",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError) as err:
            compose([override])
        assert str(err.value).startswith(message) and "\n" not in str(err.value), override


@pytest.mark.parametrize("context, key, edge, beyond", [
    ([], "sampler.steps", "1", "0"),
    ([], "sampler.churn", ".inf", "-1"),
    ([], "sampler.s_max", ".inf", "-.inf"),
    ([], "sampler.t_start", "1", "1.001"),
    ([], "sampler.sigma_start", "null", "0"),
    ([], "trainer.ema_decay", "0", "1.0"),
    ([], "trainer.lr", "1", "0"),                                   # an int for a float is fine
    ([], "trainer.max_minutes", "null", "0"),
    ([], "trainer.val_every", "0", "-1"),
    ([], "frontend.hop", "256", "0"),                              # n_fft/2 with n_fft 512
    ([], "eval.examples", "0", "-1"),
    ([], "eval.jobs", "null", "2.0"),
    ([], "sde.lambda_max", ".inf", ".nan"),
    ([], "sde.beta_clamp", ".inf", "0"),
    ([], "data.sizes.valid", "0", "-1"),
    ([], "data.seconds", "[2.0,2.0]", "[0.5,2.0]"),
    ([], "data.second_noise_prob", "1", "1.5"),
    (["sampler=pc"], "sampler.corrector_steps", "0", "-1"),
    (["sde=bbed", "sampler=pc"], "sde.k", "0.5", "1"),
    (["net=ncsnpp"], "net.attn_resolutions", "[]", "[0]"),
])
def test_the_edge_of_a_range_is_accepted_and_just_beyond_it_refused(context, key, edge, beyond):
    compose(context + [f"{key}={edge}"])
    with pytest.raises(ConfigError, match="^" + re.escape(f"{key}=")):
        compose(context + [f"{key}={beyond}"])


@pytest.mark.parametrize("overrides, key", [
    (["sampler.s_min=2", "sampler.s_max=1"], "sampler.s_min"),
    (["sampler.t_start=0.01"], "sampler.t_start"),                        # t_min is 0.01
    (["sde=ouve", "sde.sigma_min=0.5"], "sde.sigma_min"),                  # sigma_max is 0.5
    (["sde=richter-ouve", "sde.sigma_max=0.01"], "sde.sigma_min"),
    (["sde=ouvp", "sde.beta_min=2"], "sde.beta_min"),
    (["sde.lambda_max=-20"], "sde.lambda_min"),
    (["frontend.hop=257"], "frontend.hop"),                               # n_fft 512
])
def test_settings_that_bound_each_other_are_checked_together(overrides, key):
    with pytest.raises(ConfigError, match="^" + re.escape(f"{key}=") + r".*: expected (less than|more than|at most) "):
        compose(overrides)


# ---------------------------------------------------------------------------------------------
# Random overrides of every numeric key with values of the wrong type or out of range.

FINITE = st.floats(allow_nan=False, allow_infinity=False)
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=8)


def bad_numbers(spec: Number):
    """Values a Number refuses: strings, bools, NaN, -∞, out-of-range numbers, floats for ints."""
    options = [WORDS.map(lambda s: ("str", s)), st.booleans(), st.just(math.nan), st.just(-math.inf)]
    if not spec.inf:
        options.append(st.just(math.inf))
    if not spec.null:
        options.append(st.none())
    # the filters only drop -0.0 and 0.0 where they sit on the wrong side of a closed bound at 0
    if spec.lo is not None:
        options.append(st.integers(max_value=math.ceil(spec.lo) - 1) if spec.integer else
                       st.floats(max_value=spec.lo, exclude_max=not spec.lo_open, allow_nan=False,
                                 allow_infinity=False)
                       .filter(lambda x: x < spec.lo or (spec.lo_open and x == spec.lo)))
    if spec.hi is not None:
        options.append(st.integers(min_value=math.floor(spec.hi) + 1) if spec.integer else
                       st.floats(min_value=spec.hi, exclude_min=not spec.hi_open, allow_nan=False,
                                 allow_infinity=False)
                       .filter(lambda x: x > spec.hi or (spec.hi_open and x == spec.hi)))
    if spec.integer:
        options.append(FINITE)                         # 2.0 is not an integer setting either
    if spec.even:
        options.append(st.integers(min_value=8, max_value=10_000).map(lambda n: 2 * n + 1))
    if spec.exclude:
        options.append(st.sampled_from(spec.exclude))
    return st.one_of(options)


def bad_values(key: str):
    spec = RANGES[key]
    if isinstance(spec, Number):
        return bad_numbers(spec)
    good = DEFAULT[key]
    item = good[0]
    options = [bad_numbers(spec.item).map(lambda x: [item, x]),     # one bad element
               st.just(item)]                                        # not a list
    if isinstance(spec, Pair):
        options += [st.just(list(reversed(good))), st.just([item]), st.just([item, item, item])]
    if isinstance(spec, ListOf):
        if spec.min_len:
            options.append(st.just([item] * (spec.min_len - 1)))
        if spec.not_all_zero:
            options.append(st.just([0.0] * max(spec.min_len, 1)))
    return st.one_of(options)


def render(value) -> str:
    """The override text that OmegaConf parses back to `value`."""
    if isinstance(value, tuple):                       # ("str", s): a quoted string
        return f"'{value[1]}'"
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    return repr(value)


@settings(max_examples=250, deadline=None)
@given(st.data())
def test_random_bad_values_of_every_numeric_key_are_refused_naming_the_key(data):
    key = data.draw(st.sampled_from(sorted(RANGES)), label="key")
    override = f"{key}={render(data.draw(bad_values(key), label='value'))}"
    with pytest.raises(ConfigError) as err:
        compose(CONTEXT[key] + [override])
    assert str(err.value).startswith(f"{key}="), (override, str(err.value))


# ---------------------------------------------------------------------------------------------
# The front doors refuse before writing anything.

def _run(tmp_path, *args):
    # from the repository root, where studies/ is; every output path points into tmp_path
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])


@pytest.mark.parametrize("extra", [[], ["--dry-run"]])
def test_run_refuses_a_bad_number_before_writing_any_file(tmp_path, extra):
    results = tmp_path / "results"
    done = _run(tmp_path, "benchmark.run", "study=smoke", "sampler.steps=-1", f"--results={results}",
                *extra)
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "sampler.steps=-1: expected an integer ≥ 1" in err
    assert list(tmp_path.rglob("*")) == []


def test_train_refuses_a_string_learning_rate_before_writing_any_file(tmp_path):
    done = _run(tmp_path, "benchmark.train", f"out={tmp_path / 'm'}", "trainer.lr=abc")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "error: trainer.lr='abc': expected a number > 0"
    assert list(tmp_path.rglob("*")) == []
