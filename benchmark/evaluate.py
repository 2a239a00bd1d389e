"""Score any system's enhanced folder against clean references: `python -m benchmark.evaluate`.

    python -m benchmark.evaluate clean=DIR enhanced=DIR [noisy=DIR] [output=DIR] [jobs=N]
                                 [metrics=[pesq_wb,estoi,...]]

Files pair by their path relative to each folder, without the extension (x.flac pairs x.wav), so
every system is scored on exactly the same utterances. A file in one folder and not the other is an
error, not a silent subset. Enhanced files must be 16 kHz: a system's output is scored at the rate
the benchmark runs at, never resampled behind its back. Clean and noisy references may come at
another rate (VoiceBank-DEMAND is 48 kHz); they are resampled to 16 kHz with
`benchmark.audio.io.RESAMPLER`, and a note says so. After that, lengths must match exactly.

Writes per_utterance.csv (name, metric, input, output, delta, floored) and summary.csv (metric,
which, mean, ci95, n, n_nan, n_floored) into `output`, by default the sibling folder
`<enhanced>_scores`, and prints the summary. Without noisy=, input scores are NaN and SI-SIR/SI-SAR
are skipped. An output on which a metric cannot be computed (silent, NaN) while the reference
defines it is scored at the metric's worst value, counted in the mean and in n_floored, and a note
says so; it is never dropped from the mean (benchmark.audio.metrics).
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import soundfile as sf
from omegaconf import OmegaConf

from benchmark.audio.io import RESAMPLER, SAMPLE_RATE, AudioError, read_audio
from benchmark.audio.metrics import WORST, resolve_metrics, score_many, summarise
from benchmark.preflight import writable_file

AUDIO_SUFFIXES = (".wav", ".flac")
KEYS = ("clean", "enhanced", "noisy", "output", "jobs", "metrics")
TABLES = ("per_utterance.csv", "summary.csv")


class EvaluateError(ValueError):
    """Bad folders or arguments; the message names the file or argument and the problem."""


def list_audio(folder: str | Path, role: str) -> dict[str, Path]:
    """Audio files under `folder`, keyed by relative path without extension."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluateError(f"{folder}: {role} folder not found")
    files: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
            continue
        key = path.relative_to(folder).with_suffix("").as_posix()
        if key in files:
            raise EvaluateError(f"{path}: same name as {files[key]}; keep one format per name")
        files[key] = path
    if not files:
        raise EvaluateError(f"{folder}: no {'/'.join(AUDIO_SUFFIXES)} files in the {role} folder")
    return files


def _unmatched(have: dict[str, Path], want: dict[str, Path], want_dir: Path, role: str) -> None:
    missing = [have[k] for k in have if k not in want]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3]) + (" …" if len(missing) > 3 else "")
        raise EvaluateError(f"{len(missing)} file(s) have no counterpart in the {role} folder "
                            f"{want_dir}: {shown}")


def pair_files(clean: Path, enhanced: Path, noisy: Path | None = None) -> list[dict]:
    """One dict per utterance: name and the clean, enhanced and (optional) noisy paths."""
    folders = {"clean": clean, "enhanced": enhanced} | ({"noisy": noisy} if noisy else {})
    found = {role: list_audio(folder, role) for role, folder in folders.items()}
    roles = list(found)
    for a in roles:
        for b in roles:
            if a != b:
                _unmatched(found[a], found[b], Path(folders[b]), b)
    return [{"name": key, **{role: found[role][key] for role in roles}}
            for key in found["enhanced"]]


def _sample_rate(path: Path) -> int:
    try:
        return sf.info(str(path)).samplerate
    except Exception as e:  # soundfile raises several types for unreadable files
        raise AudioError(f"{path}: cannot read audio ({e})") from None


def load_pair(paths: dict, resampled: dict[str, set]) -> dict:
    """Read one utterance's files, checking rate and length; `resampled` collects rates seen."""
    rate = _sample_rate(paths["enhanced"])
    if rate != SAMPLE_RATE:
        raise EvaluateError(f"{paths['enhanced']}: sample rate {rate} Hz; enhanced files must be "
                            f"{SAMPLE_RATE} Hz")
    item = {"name": paths["name"], "enhanced": read_audio(paths["enhanced"]), "noisy": None}
    for role in ("clean", "noisy"):
        if role not in paths:
            continue
        rate = _sample_rate(paths[role])
        if rate != SAMPLE_RATE:
            resampled.setdefault(role, set()).add(rate)
        with warnings.catch_warnings():
            # one summary note replaces a warning per file
            warnings.filterwarnings("ignore", message=".*resampled to")
            item[role] = read_audio(paths[role])
        if len(item[role]) != len(item["enhanced"]):
            raise EvaluateError(
                f"{paths['enhanced']}: {len(item['enhanced'])} samples, but {role} file "
                f"{paths[role]} has {len(item[role])} at {SAMPLE_RATE} Hz; lengths must match")
    return item


def evaluate_folders(clean: str | Path, enhanced: str | Path, noisy: str | Path | None = None,
                     jobs: int | None = None, metrics: Sequence[str] | None = None,
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-utterance table, summary) of an enhanced folder; see the module docstring for rules."""
    resolve_metrics(metrics, noisy is not None)  # fail on bad names before reading any audio
    pairs = pair_files(Path(clean), Path(enhanced), Path(noisy) if noisy else None)
    resampled: dict[str, set] = {}
    items = [load_pair(p, resampled) for p in pairs]
    for role, rates in resampled.items():
        print(f"note: {role} files at {sorted(rates)} Hz were resampled to {SAMPLE_RATE} Hz with "
              f"{RESAMPLER}", file=sys.stderr)
    table = score_many(items, metrics=metrics, jobs=jobs)
    return table, summarise(table)


def format_summary(summary: pd.DataFrame) -> str:
    """One line per metric: mean ± 95% CI for input, output and delta, and NaN counts."""
    cell = summary.apply(lambda r: f"{r['mean']:.3f} ± {r['ci95']:.3f}", axis=1)
    wide = summary.assign(cell=cell).pivot(index="metric", columns="which", values="cell")
    wide = wide.reindex(index=summary["metric"].unique(), columns=["input", "output", "delta"])
    nans = summary.pivot(index="metric", columns="which", values="n_nan")
    output = summary[summary["which"] == "output"].set_index("metric")
    wide["n"] = output["n"]
    wide["nan_in"], wide["nan_out"] = nans["input"], nans["output"]
    wide["floored"] = output["n_floored"]
    if (summary.loc[summary["which"] == "input", "n"] == 0).all():  # no noisy folder given
        wide = wide.drop(columns=["input", "delta", "nan_in"])
    return wide.to_string()


def nan_notes(summary: pd.DataFrame, have_noisy: bool = True) -> list[str]:
    """Lines that say how many scores are NaN or floored, so neither an average over fewer files
    nor a worst-value score is ever hidden."""
    shown = ("input", "output") if have_noisy else ("output",)
    notes = []
    for row in summary[(summary["n_nan"] > 0) & summary["which"].isin(shown)].itertuples():
        notes.append(f"note: {row.metric} could not be computed for {row.n_nan} of "
                     f"{row.n + row.n_nan} {row.which} files (no speech, silent or too short); "
                     "they are left out of the mean")
    if "n_floored" in summary:
        yardstick = "the noisy input" if have_noisy else "the clean reference against itself"
        for row in summary[(summary["n_floored"] > 0) & (summary["which"] == "output")].itertuples():
            notes.append(f"note: {row.metric} could not be computed for {row.n_floored} of "
                         f"{row.n + row.n_nan} output files (silent or non-finite output) although "
                         f"{yardstick} defines it; they are scored at the worst value "
                         f"({WORST[row.metric]:g}) and kept in the mean")
    return notes


def parse_args(argv: Sequence[str]) -> dict:
    try:
        conf = OmegaConf.to_container(OmegaConf.from_dotlist(list(argv)))
    except Exception as e:
        raise EvaluateError(f"cannot parse arguments {list(argv)}: {e}") from None
    unknown = sorted(set(conf) - set(KEYS))
    if unknown:
        raise EvaluateError(f"unknown argument(s) {unknown}; expected key=value with keys {KEYS}")
    for key in ("clean", "enhanced"):
        if not conf.get(key):
            raise EvaluateError(f"missing argument {key}=DIR")
    jobs = conf.get("jobs")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise EvaluateError(f"jobs={jobs}: expected a positive integer")
    return conf


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    try:
        conf = parse_args(argv)
        enhanced = Path(conf["enhanced"])
        output = Path(conf.get("output") or enhanced.parent / f"{enhanced.name}_scores")
        for name in TABLES:      # before the scoring: a refused write would lose all of it
            writable_file(output / name, "output")
        table, summary = evaluate_folders(conf["clean"], enhanced, conf.get("noisy"),
                                          jobs=conf.get("jobs"), metrics=conf.get("metrics"))
    except (EvaluateError, AudioError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    output.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(TABLES, (table, summary)):
        frame.to_csv(output / name, index=False)
    print(f"{table['name'].nunique()} utterances, mean ± 95% CI; written to {output}")
    print(format_summary(summary))
    for note in nan_notes(summary, have_noisy=bool(conf.get("noisy"))):
        print(note, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
