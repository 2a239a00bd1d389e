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

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..audio.metrics import resolve_metrics
from ..config import ConfigError, cell_hash, compose, sampler_from_config, to_dict, training_hash
from .study_contrast import contrast_problem

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
    """The study file as a DictConfig, refused in one line naming the file where it cannot be read,
    is not the shape expand() reads, or would share another study's results (see _check_name)."""
    path = find_study_file(name, studies_dir)
    raw = _read(path)
    _check_shape(path, raw)
    _check_name(path, raw, studies_dir)
    return OmegaConf.create(raw)


def _read(path: Path) -> dict:
    try:
        spec = OmegaConf.load(path)
    except yaml.MarkedYAMLError as e:
        where = f" (line {e.problem_mark.line + 1}, column {e.problem_mark.column + 1})" if e.problem_mark else ""
        raise ConfigError(f"{path}: not valid YAML: {e.problem or e.context}{where}") from None
    except (yaml.YAMLError, OmegaConfBaseException, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not a readable study file: {' '.join(str(e).split())}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read: {e.strerror}") from None
    if not isinstance(spec, DictConfig):
        raise ConfigError(f"{path}: a study file is a mapping of name, title, claim, axes, …; "
                          f"this one is a {type(OmegaConf.to_container(spec)).__name__}")
    return OmegaConf.to_container(spec, resolve=False)


# Top-level keys and their types: every key a study file may hold (grid.py and the report read them),
# so a misspelt one (`exlude:`) is refused instead of silently doing nothing. Plain checks rather than
# an OmegaConf structured config: its errors name type hints and, in 2.4, sometimes the wrong key
# (`full_key: l` for axes.x.l), where this message must name the key as written in the file.
_KEYS = {"name": str, "title": str, "claim": str, "question": str, "primary_metric": str, "baseline": str,
         "diagnosis": str, "data": str, "few_step": dict, "base": list, "axes": dict, "exclude": list,
         "extra": list, "baselines": bool, "contrast": dict}
_TYPE_NAMES = {str: "text", dict: "a mapping", list: "a list", bool: "true or false"}


def _check_shape(path: Path, raw: dict) -> None:
    def refuse(problem: str):
        raise ConfigError(f"{path}: {problem}")

    for key in ("name", "title", "claim", "axes"):       # the report needs all four: refuse before any work
        if key not in raw:
            refuse(f"the study file has no `{key}`")
    for key, value in raw.items():
        if key not in _KEYS:
            refuse(f"unknown key `{key}`; a study file has {', '.join(_KEYS)}")
        if value is not None and not isinstance(value, _KEYS[key]):
            refuse(f"`{key}` must be {_TYPE_NAMES[_KEYS[key]]}, not {value!r}")

    def overrides(where: str, value) -> None:
        if not isinstance(value, list) or not all(isinstance(o, str) for o in value):
            refuse(f"`{where}` must be a list of key=value overrides, not {value!r}")

    if not raw["name"]:
        refuse("`name` is empty")
    overrides("base", raw.get("base") or [])
    if not raw["axes"]:
        refuse("`axes` must map each axis to its values, e.g. axes: {sde: {cosine: [sde=oucosine]}}")
    for axis, values in raw["axes"].items():
        # a label is printed and written to cells.csv as text: 16 or yes would not be kept as written
        if not isinstance(values, dict) or not values:
            refuse(f"`axes.{axis}` must map each value label to its list of overrides, not {values!r}")
        for label, ovs in values.items():
            if not isinstance(label, str):
                refuse(f"`axes.{axis}`: label {label!r} must be text: quote it")
            overrides(f"axes.{axis}.{label}", ovs)
    for entry in raw.get("exclude") or []:
        if not isinstance(entry, dict):
            refuse(f"`exclude` entries are mappings of axis to label, e.g. {{sde: cosine}}, not {entry!r}")
    for entry in raw.get("extra") or []:
        if not isinstance(entry, dict) or "overrides" not in entry or not isinstance(entry.get("axes", {}), dict):
            refuse(f"`extra` entries are mappings {{axes: {{axis: label}}, overrides: [...]}}, not {entry!r}")
        overrides("extra.overrides", entry["overrides"])
    problem = contrast_problem(raw)
    if problem:
        refuse(problem)


def _check_name(path: Path, raw: dict, studies_dir: Path) -> None:
    """A study's results folder, queue and MLflow experiment are found by its `name:`. So the name must
    be the file's stem (what the user typed names what is written), and a file outside studies/ named
    as a built-in study must hold that study (a copy changed but not renamed would resume, or supersede,
    the built-in study's results)."""
    if raw["name"] != path.stem:
        raise ConfigError(f"{path}: name: {raw['name']} differs from the file's name {path.stem}: a study's "
                          f"results and queue go by its name, so give it the file's ({path.stem})")
    built_in = studies_dir / path.name
    if built_in.is_file() and built_in.resolve() != path.resolve() and _read(built_in) != raw:
        raise ConfigError(f"{path}: {path.stem} is the built-in study {built_in}, whose results it would share; "
                          "rename the file and its name: for a study of your own")


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
