"""A study's grid: its file, its cells and their hashes.

A study file (studies/<name>.yaml) names axes; each axis value is a list of overrides. The grid is
the product of the axes (minus `exclude`), plus the predictive baseline. Every cell is composed into
a full configuration and identified by hashes of what it depends on (config.training_hash,
config.cell_hash); the queue (queue.py) holds the grid's state.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from ..audio.metrics import resolve_metrics
from ..config import ConfigError, cell_hash, compose, sampler_from_config, to_dict, training_hash

STUDIES_DIR = Path("studies")
PREDICTIVE = "predictive"


@dataclass
class Cell:
    hash: str
    training_hash: str
    axes: dict                   # axis -> value label ("" for the baseline)
    overrides: list
    config: object = field(repr=False)

    @property
    def kind(self) -> str:
        return self.config.model.kind

    @property
    def label(self) -> str:
        if self.kind == PREDICTIVE:
            return "predictive baseline"
        return " · ".join(f"{v}" for v in self.axes.values())

    def nfe_budget(self) -> int:
        """Network evaluations per utterance the cell's sampler will make (the sampler's own count)."""
        if self.kind == PREDICTIVE:
            return 1
        return sampler_from_config(self.config).nfe_budget()


def find_study_file(name: str, studies_dir: Path = STUDIES_DIR) -> Path:
    path = Path(name) if name.endswith(".yaml") else studies_dir / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in studies_dir.glob("*.yaml"))
        raise ConfigError(f"study={name!r}: no file {path}; studies are {known}")
    return path


def load_study(name: str, studies_dir: Path = STUDIES_DIR):
    spec = OmegaConf.load(find_study_file(name, studies_dir))
    for key in ("name", "title", "claim", "axes"):       # the report needs all four: refuse before any work
        if key not in spec:
            raise ConfigError(f"study {name}: the study file has no `{key}`")
    return spec


def expand(spec, cli_overrides: list[str] = ()) -> list[Cell]:
    """Every cell of the study: axes product minus exclusions, then the predictive baseline."""
    axes = {a: dict(v) for a, v in to_dict(spec.axes).items()}
    excludes = [dict(e) for e in to_dict(spec.get("exclude", []) or [])]
    for e in excludes:
        for a, v in e.items():
            if a not in axes or v not in axes[a]:
                raise ConfigError(f"study {spec.name}: exclude entry {e} names an unknown axis value {a}={v}")
    base = [str(o) for o in spec.get("base", []) or []]
    cells, seen = [], {}
    for combo in itertools.product(*[list(v.items()) for v in axes.values()]):
        labels = {a: label for a, (label, _) in zip(axes, combo)}
        if any(all(labels.get(a) == v for a, v in e.items()) for e in excludes):
            continue
        overrides = base + [str(o) for _, ovs in combo for o in ovs] + list(cli_overrides)
        cells.append(_make_cell(spec.name, labels, overrides))
    for extra in to_dict(spec.get("extra", []) or []):
        labels = {a: str(extra.get("axes", {}).get(a, "")) for a in axes}
        cells.append(_make_cell(spec.name, labels, base + [str(o) for o in extra["overrides"]] + list(cli_overrides)))
    if spec.get("baselines", True):
        overrides = base + ["model.kind=predictive"] + list(cli_overrides)
        cells.append(_make_cell(spec.name, {a: "" for a in axes}, overrides))
    for c in cells:
        if c.hash in seen:
            raise ConfigError(f"study {spec.name}: cells {seen[c.hash]} and {c.axes} resolve to the same "
                              f"configuration (hash {c.hash}); an axis value changes nothing")
        seen[c.hash] = c.axes
    return cells


def _make_cell(study: str, labels: dict, overrides: list[str]) -> Cell:
    try:
        cfg = compose(overrides)
        resolve_metrics(list(cfg.eval.metrics), have_noisy=True)   # DNSMOS's packages, before training
    except (ConfigError, ImportError) as e:
        where = ", ".join(f"{a}={v}" for a, v in labels.items() if v) or "predictive baseline"
        raise ConfigError(f"study {study}, cell [{where}]: {e}") from None
    return Cell(cell_hash(cfg), training_hash(cfg), labels, overrides, cfg)
