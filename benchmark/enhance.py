"""Enhance recordings with a trained model: `python -m benchmark.enhance model=… input=… output=…`.

    python -m benchmark.enhance model=<checkpoint file, run folder or MLflow run id> \
        input=<wav file or folder> output=<folder> [sampler=edm sampler.steps=8 …] [device=cpu]
    python -m benchmark.enhance model=reference:<name> input=… output=…
    python -m benchmark.enhance --list-models

`model=reference:<name>` enhances with a model shipped in the package (the reference run's, trained
already: no training here); `--list-models` lists their names, studies, steps and sizes.

Writes 16 kHz wavs under the input's names and lengths, and prints NFE and the real-time factor.
Files longer than `chunk_seconds` (default 30, more than the 1 s cross-fade) are enhanced in
overlapping chunks, so memory stays flat whatever the length. A file that cannot be read is listed
at the end, after every other file was enhanced, and the exit status is 1.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import shipped
from .audio.io import SAMPLE_RATE, AudioError, read_audio, write_audio
from .audio.stft import Frontend, peak_normalise
from .config import ConfigError, parse_cli, sampler_from_config
from .preflight import PreflightError, apart, writable_dir, writable_file
from .runtime import autocast, inference_precision, synchronize

DEFAULT_CHUNK_SECONDS = 30.0
OVERLAP_SECONDS = 1.0          # the cross-fade between chunks of a long file


@dataclass
class Enhanced:
    audio: np.ndarray
    nfe: int            # network evaluations, summed over chunks
    seconds: float      # wall time, STFT and iSTFT included


def _enhance_chunk(model, frontend: Frontend, noisy: torch.Tensor, sampler, generator, precision: str):
    y = frontend.stft(noisy[None])
    with autocast(precision, noisy.device):          # the network only: STFT and sampler stay fp32
        out = model.enhance(y, sampler, generator)
    return frontend.istft(out.x, noisy.shape[-1])[0], out.nfe


@torch.no_grad()
def enhance_waveform(model, frontend: Frontend, noisy: np.ndarray, sampler, *, device=None,
                     generator=None, chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
                     overlap_seconds: float = OVERLAP_SECONDS, precision: str = "fp32") -> Enhanced:
    """One utterance: peak-normalise by the mixture, enhance, undo the normalisation.

    precision: the network's autocast (runtime.inference_precision gives the configured one)."""
    device = device or next(model.parameters()).device
    start = time.perf_counter()
    wav = torch.as_tensor(np.asarray(noisy, dtype=np.float32), device=device)
    factor, wav = peak_normalise(wav)
    n = wav.shape[-1]
    chunk = int(chunk_seconds * SAMPLE_RATE) if chunk_seconds else n
    if chunk_seconds and chunk <= int(overlap_seconds * SAMPLE_RATE):
        # the hop would be ≤ 0: range() would then yield no chunk and the output would be silence
        raise ValueError(f"chunk_seconds={chunk_seconds} must exceed overlap_seconds={overlap_seconds}")
    if n <= chunk:
        out, nfe = _enhance_chunk(model, frontend, wav, sampler, generator, precision)
    else:
        hop_len = chunk - int(overlap_seconds * SAMPLE_RATE)
        out = torch.zeros(n, device=device)
        weight = torch.zeros(n, device=device)
        ramp_len = chunk - hop_len
        nfe = 0
        for begin in range(0, n, hop_len):
            end = min(begin + chunk, n)
            piece, k = _enhance_chunk(model, frontend, wav[begin:end], sampler, generator, precision)
            w = torch.ones(end - begin, device=device)
            r = min(ramp_len, end - begin)
            if begin > 0:
                w[:r] = torch.linspace(0, 1, r + 2, device=device)[1:-1]      # cross-fade with the previous chunk
            if end < n:
                w[-r:] = torch.minimum(w[-r:], torch.linspace(1, 0, r + 2, device=device)[1:-1])
            out[begin:end] += w * piece
            weight[begin:end] += w
            nfe += k
            if end == n:
                break
        out = out / weight.clamp(min=1e-8)
    out = (out * factor).float()
    synchronize(torch.device(device))
    return Enhanced(out.cpu().numpy(), nfe, time.perf_counter() - start)


def _inputs(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".wav", ".flac"))
        if not files:
            raise AudioError(f"{path}: no .wav or .flac files in this folder")
        return files
    raise AudioError(f"{path}: no such file or folder")


def _outputs(files: list[Path], source: Path, out_dir: Path) -> dict[Path, Path]:
    """Where each input will be written, every target checked before any work: a collision or an
    unwritable place would otherwise lose an output, or the minutes spent computing it."""
    writable_dir(out_dir, "output")
    if source.is_dir():
        apart(out_dir, source, "output")
    targets: dict[Path, Path] = {}
    for path in files:
        target = out_dir / (path.stem + ".wav")
        # Refused rather than renamed (a.flac.wav): outputs keep the input's name so that evaluate
        # pairs them with references by name, and evaluate itself refuses two formats of one name.
        if target in targets:
            raise PreflightError(f"{targets[target]} and {path} would both be written to {target}: "
                                 "keep one format per name")
        if target.resolve() == path.resolve():
            raise PreflightError(f"output {target} would overwrite the input {path}: choose another folder")
        targets[target] = path
        writable_file(target, "output")
    return {path: target for target, path in targets.items()}


def chunk_seconds_arg(args: dict) -> float:
    """`chunk_seconds=` as a number of seconds longer than the cross-fade between chunks."""
    text = args.get("chunk_seconds", str(DEFAULT_CHUNK_SECONDS))
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > OVERLAP_SECONDS):
        raise ValueError(f"chunk_seconds={text!r}: expected a number of seconds > {OVERLAP_SECONDS:g} "
                         f"(each chunk overlaps the next by {OVERLAP_SECONDS:g} s)")
    return value


def main(argv: list[str] | None = None) -> int:
    """0 when every file was enhanced; 1 when some could not be read (listed, the rest are
    written); 2 for bad arguments, a bad model, no input files or an output that cannot take them
    (the input folder, a file, two inputs of one name), before anything is written."""

    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    if "--list-models" in argv:
        try:
            models = shipped.list_models()
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print("\n".join(map(shipped.describe, models)) or "no reference models are shipped yet")
        return 0
    try:
        args, overrides = parse_cli(argv, required=("model", "input", "output"))
        if "jobs" in args:      # parse_cli takes it for every front door; silently ignoring it misleads
            raise ConfigError(f"jobs={args['jobs']}: enhance has no jobs setting (it runs one file "
                              "at a time; use device=cuda for speed)")
        chunk_seconds = chunk_seconds_arg(args)
        files = _inputs(Path(args["input"]))
        out_dir = Path(args["output"])
        targets = _outputs(files, Path(args["input"]), out_dir)
        loaded = shipped.load(args["model"], overrides)
    except (ConfigError, AudioError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model, frontend, cfg = loaded.model, loaded.frontend, loaded.config
    sampler = sampler_from_config(cfg, model)
    gen = torch.Generator(device=loaded.device).manual_seed(int(cfg.get("seed", 0)))
    precision = inference_precision(cfg, loaded.device)
    total_audio = total_time = 0.0
    failures: list[str] = []
    for path in files:
        try:
            noisy = read_audio(path)
        except AudioError as e:     # one bad file must not cost the enhancement of the others
            failures.append(" ".join(str(e).split()))
            continue
        res = enhance_waveform(model, frontend, noisy, sampler, device=loaded.device, generator=gen,
                               chunk_seconds=chunk_seconds, overlap_seconds=OVERLAP_SECONDS,
                               precision=precision)
        write_audio(targets[path], res.audio)
        dur = len(noisy) / SAMPLE_RATE
        total_audio += dur
        total_time += res.seconds
        print(f"{path.name}: {dur:.2f} s, NFE {res.nfe}, RTF {res.seconds / dur:.3f}")
    print(f"enhanced {len(files) - len(failures)} file(s) into {out_dir}: {total_audio:.1f} s of audio, "
          f"RTF {total_time / max(total_audio, 1e-9):.3f} on {loaded.device}")
    if failures:
        print(f"error: {len(failures)} of {len(files)} file(s) could not be enhanced:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
