"""Schema: ConfigError, and the type and allowed range of every numeric setting, checked when a
configuration is composed.

`check(cfg)` runs first in `config.validate()`, so `compose()` (benchmark.run, benchmark.train,
benchmark.enhance, every study cell) refuses a bad number before any file is written, with a
ConfigError that names the key, the value and the allowed range:

    trainer.lr='abc': expected a number > 0

Integers must be ints (2.5 or 2.0 for `sampler.steps` is refused, and a bool is never a number);
a float setting takes ints. NaN is always refused, ∞ only where the range says `.inf`.
tests/config/test_schema.py walks every file of benchmark/configs and fails on a numeric key not declared
here, so a new setting cannot slip through unchecked. Where a bound is not obvious, `why` says it
and the error message repeats it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from omegaconf import OmegaConf


class ConfigError(ValueError):
    """A configuration the suite cannot run; the message names the key."""


def to_dict(cfg):
    """Plain dicts and lists from OmegaConf nodes or mappings of them (anything else as it is): the one
    place a configuration becomes plain data."""
    if OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    if isinstance(cfg, Mapping):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def flat_keys(d: Mapping, prefix: str = "") -> dict:
    """{"trainer.lr": 0.001, ...}: a nested mapping's leaves by dotted key, as overrides name them."""
    out = {}
    for k, v in d.items():
        out.update(flat_keys(v, f"{prefix}{k}.") if isinstance(v, Mapping) else {f"{prefix}{k}": v})
    return out


def _num(x: float) -> str:
    if isinstance(x, int) or (math.isfinite(x) and float(x).is_integer() and abs(x) < 1e15):
        return str(int(x))
    return f"{x:g}"


@dataclass(frozen=True)
class Number:
    """One number: an int (`integer`) or a float, within [lo, hi] (open ends where asked)."""
    integer: bool = False
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    null: bool = False              # None is allowed (it means "none" or "the default")
    inf: bool = False               # +∞ is allowed (it means "always" or "unbounded")
    even: bool = False
    exclude: tuple[float, ...] = ()
    why: str = ""

    def accepts(self, v) -> bool:
        if v is None:
            return self.null
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if self.integer and not isinstance(v, int):
            return False
        x = float(v) if not isinstance(v, int) else v
        if isinstance(x, float) and (math.isnan(x) or x == -math.inf):
            return False
        if x == math.inf:
            return self.inf
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            return False
        if self.hi is not None and (x > self.hi or (self.hi_open and x == self.hi)):
            return False
        if self.even and x % 2:
            return False
        return x not in self.exclude

    def describe(self, plural: bool = False) -> str:
        kind = ("even " if self.even else "") + ("integer" if self.integer else "number")
        text = f"{kind}s" if plural else f"an {kind}" if kind[0] in "ei" else f"a {kind}"
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None and lo == hi:
            text += f" = {_num(lo)}"
        elif lo is not None and hi is not None:
            text += (f" in {'(' if self.lo_open else '['}{_num(lo)}, {_num(hi)}"
                     f"{')' if self.hi_open else ']'}")
        elif lo is not None:
            text += f" {'>' if self.lo_open else '≥'} {_num(lo)}"
        elif hi is not None:
            text += f" {'<' if self.hi_open else '≤'} {_num(hi)}"
        elif not self.integer:
            text = text.replace("number", "finite number")
        if self.exclude:
            text += " other than " + ", ".join(_num(x) for x in self.exclude)
        if self.inf:
            text += " or .inf"
        if self.null:
            text += " or null"
        return text


@dataclass(frozen=True)
class ListOf:
    """A list of numbers, each in `item`'s range."""
    item: Number
    min_len: int = 0
    not_all_zero: bool = False
    why: str = ""

    def accepts(self, v) -> bool:
        return (isinstance(v, (list, tuple)) and len(v) >= self.min_len
                and all(self.item.accepts(x) for x in v)
                and not (self.not_all_zero and not any(v)))

    def describe(self) -> str:
        size = {0: "a list of", 1: "a non-empty list of"}.get(self.min_len,
                                                             f"a list of at least {self.min_len}")
        return (f"{size} {self.item.describe(plural=True)}"
                + (", not all 0" if self.not_all_zero else ""))


@dataclass(frozen=True)
class Pair:
    """A [min, max] range: two numbers in `item`'s range with min ≤ max."""
    item: Number
    why: str = ""

    def accepts(self, v) -> bool:
        return (isinstance(v, (list, tuple)) and len(v) == 2
                and all(self.item.accepts(x) for x in v) and v[0] <= v[1])

    def describe(self) -> str:
        return f"a [min, max] pair of {self.item.describe(plural=True)} with min ≤ max"


@dataclass(frozen=True)
class Relation:
    """`key` op `other` / `divisor`, checked when both are set (not null) and each is in range."""
    key: str
    op: str                        # "<", "<=" or ">"
    other: str
    divisor: int = 1
    why: str = ""

    def holds(self, a, b) -> bool:
        b = b / self.divisor if self.divisor != 1 else b
        return {"<": a < b, "<=": a <= b, ">": a > b}[self.op]

    def describe(self, b) -> str:
        word = {"<": "less than", "<=": "at most", ">": "more than"}[self.op]
        other = self.other + (f" / {self.divisor}" if self.divisor != 1 else "")
        bound = b / self.divisor if self.divisor != 1 else b
        return f"{word} {other} ({_num(bound) if isinstance(bound, (int, float)) else bound})"


def integer(ge: int | None = None, le: int | None = None, *, null: bool = False,
            even: bool = False, why: str = "") -> Number:
    return Number(integer=True, lo=ge, hi=le, null=null, even=even, why=why)


def real(*, gt: float | None = None, ge: float | None = None, lt: float | None = None,
         le: float | None = None, null: bool = False, inf: bool = False,
         exclude: tuple[float, ...] = (), why: str = "") -> Number:
    return Number(lo=gt if gt is not None else ge, hi=lt if lt is not None else le,
                  lo_open=gt is not None, hi_open=lt is not None, null=null, inf=inf,
                  exclude=exclude, why=why)


COUNT = integer(ge=1)
PROBABILITY = real(ge=0, le=1)

RANGES: dict[str, Number | ListOf | Pair] = {
    "seed": integer(ge=0, le=2**64 - 1, why="torch.Generator.manual_seed takes an unsigned 64-bit seed"),

    "preconditioning.sigma_data": real(gt=0),
    "loss.t_eps": real(gt=0, lt=1, why="t ~ U[t_eps, 1]; at t = 0 σ is 0 and the 1/σ² weight diverges"),
    "loss.p_mean": real(),
    "loss.p_std": real(gt=0),
    "loss.input_perturbation": real(ge=0, le=1, why="γ scales extra noise relative to the σ·n of training"),

    "frontend.n_fft": integer(ge=16, even=True,
                              why="the Nyquist bin is dropped, leaving n_fft/2 bins for the network"),
    "frontend.hop": integer(ge=1),
    "frontend.alpha": real(gt=0, le=1, why="the amplitude compression exponent; above 1 it expands"),
    "frontend.beta": real(gt=0),

    "eval.max_utterances": integer(ge=1, null=True),
    "eval.jobs": integer(ge=1, null=True),
    "eval.examples": integer(ge=0),

    # trainer/*.yaml (the fields of train.TrainerSettings)
    "trainer.max_steps": integer(ge=1, null=True),
    "trainer.max_epochs": integer(ge=1, null=True),
    "trainer.max_minutes": real(gt=0, null=True),
    "trainer.batch_size": COUNT,
    "trainer.crop_seconds": real(gt=0),
    "trainer.batch_seconds": real(gt=0),
    "trainer.n_buckets": COUNT,
    "trainer.lr": real(gt=0),
    "trainer.warmup_steps": integer(ge=0),
    "trainer.ema_decay": real(ge=0, lt=1, why="an EMA decay of 1 never leaves the random init"),
    "trainer.grad_clip": real(ge=0, why="0 means no clipping"),
    "trainer.val_every": integer(ge=0, why="0 validates only at the end"),
    "trainer.val_utterances": integer(ge=0),
    "trainer.checkpoint_every": COUNT,
    "trainer.log_every": COUNT,
    "trainer.threads": integer(ge=1, null=True),

    # sampler/*.yaml (samplers.PC and samplers.EDM, which euler is too)
    "sampler.steps": COUNT,
    "sampler.corrector_steps": integer(ge=0),
    "sampler.snr": real(gt=0),
    "sampler.churn": real(ge=0, inf=True, why="∞ gives brever's γ = √2 − 1 on every step"),
    "sampler.s_min": real(ge=0),
    "sampler.s_max": real(ge=0, inf=True),
    "sampler.s_noise": real(ge=0),
    "sampler.rho": real(gt=0),
    "sampler.t_min": real(gt=0, lt=1),
    "sampler.t_start": real(gt=0, le=1),
    "sampler.sigma_start": real(gt=0, null=True),
    "sampler.t_end": real(ge=0, lt=1, why="the last non-zero t of the grid (FlowSE's t_eps)"),

    # sde/*.yaml (diffusion/sdes.py)
    "sde.stiffness": real(ge=0, why="γ, the drift toward y"),
    "sde.sigma_min": real(ge=0, why="0 only for flow (FlowSE's default); the VE SDEs check σ_min > 0"),
    "sde.sigma_max": real(gt=0),
    "sde.beta_min": real(ge=0, why="g(t) = e^(−γt)·√β(t) needs β ≥ 0"),
    "sde.beta_max": real(gt=0),
    "sde.lambda_min": real(why="log-SNR at t = 1; −∞ would put σ(1) at ∞"),
    "sde.lambda_max": real(inf=True, why="log-SNR at t = 0; ∞ starts at σ = 0"),
    "sde.shift": real(why="an offset of the log-SNR; any finite value is a valid schedule"),
    "sde.beta_clamp": real(gt=0, inf=True, why="∞ means no clamp"),
    "sde.scaling": real(gt=0),
    "sde.t_max": real(gt=0, lt=1, why="τ = t_max·t; at t_max = 1 the bridge's drift t_max/(1 − τ) "
                                      "diverges at t = 1"),
    "sde.k": real(gt=0, exclude=(1.0,), why="BBED's and SB-VE's closed-form σ(t) divide by ln k"),
    "sde.c": real(gt=0, why="the SB's diffusion g = √c·k^t"),
    "sde.eps": real(gt=0, why="keeps the SB's s(1) = ε/(σ_T² + ε) above 0, so x̃ stays finite at the prior"),

    # net/*.yaml (nets.NCSNppSettings)
    "net.base_channels": COUNT,
    "net.channel_mult": ListOf(COUNT, min_len=1),
    "net.num_blocks_per_res": COUNT,
    "net.num_freqs": COUNT,
    "net.attn_resolutions": ListOf(COUNT),
    "net.noise_channel_mult": COUNT,
    "net.emb_channel_mult": COUNT,
    "net.fourier_scale": real(gt=0),
    "net.fir_kernel": ListOf(real(ge=0), min_len=2, not_all_zero=True,
                             why="a low-pass kernel normalised by its sum"),
    "net.skip_scale": real(gt=0),
    "net.dropout": real(ge=0, lt=1),
    "net.aux_out_channels": COUNT,
    "net.in_channels": integer(ge=4, le=4, why="the models feed Re/Im of the state and of y"),
    "net.out_channels": integer(ge=2, le=2, why="the models read Re/Im of the output"),
    "net.patch": integer(ge=1, le=8, why="the space-to-depth tile; beyond 8 a 256-bin input has under 32 rows"),

    # data/synthetic.yaml (the bounds of data.synthetic.check_settings, at config time)
    "data.seed": integer(ge=0, why="numpy's SeedSequence refuses negative seeds"),
    "data.workers": integer(ge=1, null=True),
    "data.sizes.train": integer(ge=1, why="every model trains on it"),
    "data.sizes.valid": integer(ge=0),
    "data.sizes.test": integer(ge=0),
    "data.sizes.test_mismatched": integer(ge=0),
    "data.seconds": Pair(real(ge=1), why="shorter than 1 s leaves no room for speech"),
    "data.snr_db": Pair(real()),
    "data.speech_level_db": Pair(real(le=-6), why="above −6 dBFS most mixtures would clip"),
    "data.rate": Pair(integer(ge=80, le=450), why="espeak-ng's words-per-minute range"),
    "data.pitch": Pair(integer(ge=0, le=100), why="espeak-ng's pitch scale"),
    "data.pitch_range": Pair(integer(ge=0, le=100), why="espeak-ng's pitch-range scale"),
    "data.second_noise_prob": PROBABILITY,
    "data.real_noise_prob": PROBABILITY,
    "data.real_noise_perturb": PROBABILITY,
    "data.real_speech_prob": PROBABILITY,
    "data.bandlimit_prob": PROBABILITY,
    "data.flite_prob": PROBABILITY,
    "data.bandlimit_hz": Pair(real(ge=1000, le=7999), why="a low-pass cutoff below the 8 kHz Nyquist frequency"),
    "data.babble_talkers": Pair(COUNT),
}

RELATIONS: tuple[Relation, ...] = (
    Relation("sampler.s_min", "<=", "sampler.s_max"),
    Relation("sampler.t_start", ">", "sampler.t_min"),
    Relation("sde.sigma_min", "<", "sde.sigma_max", why="σ(t) grows as (σ_max/σ_min)^t"),
    Relation("sde.beta_min", "<", "sde.beta_max", why="σ⁻¹ divides by β_max − β_min"),
    Relation("sde.lambda_min", "<", "sde.lambda_max",
             why="the log-SNR falls from λ_max at t = 0 to λ_min at t = 1"),
    Relation("frontend.hop", "<=", "frontend.n_fft", divisor=2,
             why="beyond 50 % hop a Hann window does not overlap-add to a constant"),
)

_ABSENT = object()


def lookup(tree, key: str):
    """The value at a dotted key of nested dicts, or _ABSENT."""
    for part in key.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return _ABSENT
        tree = tree[part]
    return tree


def _show(key: str, value) -> str:
    return f"{key}={value!r}"


def _because(why: str) -> str:
    return f" ({why})" if why else ""


def check(cfg) -> None:
    """Raise ConfigError for the first numeric setting of `cfg` outside its declared range."""
    tree = to_dict(cfg)
    for key, spec in RANGES.items():
        value = lookup(tree, key)
        if value is not _ABSENT and not spec.accepts(value):
            why = spec.why or getattr(getattr(spec, "item", None), "why", "")
            raise ConfigError(f"{_show(key, value)}: expected {spec.describe()}{_because(why)}")
    for rel in RELATIONS:
        a, b = lookup(tree, rel.key), lookup(tree, rel.other)
        if a in (_ABSENT, None) or b in (_ABSENT, None):
            continue
        if not rel.holds(a, b):
            raise ConfigError(f"{_show(rel.key, a)}: expected {rel.describe(b)}{_because(rel.why)}")
