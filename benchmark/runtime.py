"""Where and how torch runs: device, threads, mixed precision. One place, so every command agrees."""
from __future__ import annotations

import contextlib
import os
from functools import lru_cache

import torch


def select_device(name: str = "auto") -> torch.device:
    """The torch device `device=` names: auto, cpu, cuda or cuda:N. Anything else, or CUDA this
    machine lacks, is a ValueError in one line, so every front door can refuse it before any work."""
    name = str(name)
    kind, _, index = name.partition(":")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if kind != "cuda" or (index and not index.isdigit()) or name.endswith(":"):
        raise ValueError(f"device={name}: unknown device; choose auto, cpu or cuda")
    if not torch.cuda.is_available():
        raise ValueError(f"device={name}: no CUDA device on this machine")
    if index and int(index) >= torch.cuda.device_count():
        raise ValueError(f"device={name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"numbered from 0")
    return torch.device(name)


def set_threads(threads: int | None) -> int:
    """Torch CPU threads: the given number, else the cores this process may use."""
    n = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic (AVX512-BF16 or AMX): without it bf16 autocast is emulated and slower."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """auto → bf16 where the hardware does it natively, else fp32 (fp16 only when asked, CUDA only)."""
    allowed = ("auto", "fp32", "bf16", "fp16")
    if precision not in allowed:
        raise ValueError(f"trainer.precision={precision!r} is not one of {list(allowed)}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_bf16() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("trainer.precision=fp16 needs CUDA; on CPU use bf16 or fp32")
    return precision


def inference_precision(cfg, device: torch.device) -> str:
    """eval.precision, else the trainer's: a model is evaluated in the numerics it was trained in.
    bf16 inference changed cell metrics by far less than their 95% CI (perf/inference_precision.py)."""
    chosen = cfg.eval.get("precision") if "eval" in cfg else None
    return resolve_precision(chosen or cfg.trainer.precision, device)


def autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
