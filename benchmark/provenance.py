"""What produced a run: the code's commit, package versions and the device (MLflow params, meta.json)."""
from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path

from . import runtime

# A run's own outputs (a reference run's committed results and reports, rewritten as it goes) do
# not make the code that produced them "dirty"; anything else that differs from HEAD does.
OUTPUTS = ("results", "reports")


def _git_commit(root: Path | None = None) -> str:
    """HEAD of the package's own checkout (not the caller's; `root` for another), `-dirty` when
    tracked files outside OUTPUTS differ from it."""
    here = Path(__file__).resolve().parent
    top = here if root is None else Path(root)
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=top, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", ".",
                                *(f":(exclude){d}" for d in OUTPUTS)], cwd=top, timeout=5).returncode
        return head.stdout.strip() + ("-dirty" if dirty == 1 else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


PACKAGES = ("benchmark", "torch", "mlflow", "optuna", "numpy", "pesq", "pystoi", "pandas", "seaborn")


def package_versions(packages=PACKAGES) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _versions() -> dict:
    return {"python": platform.python_version(), **package_versions()}


def provenance(cfg, commit: str | None = None) -> dict:
    """What produced a run: the code's commit, package versions and the device (MLflow params)."""
    return {"git_commit": commit or _git_commit(), "device_name": device_name(cfg), "versions": _versions()}


def device_name(cfg) -> str:
    dev = runtime.select_device(cfg.device)
    if dev.type == "cuda":
        import torch
        return torch.cuda.get_device_name(dev)
    return f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()}, {cpu_kind()})"


@functools.cache                 # asked on every price of the cells bar; the CPU does not change
def cpu_kind() -> str:
    """The vector unit PyTorch dispatches to, and whether bf16 is native. Two hosts that both read
    '2 cores, x86_64' differed 4x in a training step (0.36 s in bf16 on AVX512-BF16, 1.44 s in fp32
    on AVX2, where bf16 is emulated): the measured costs (price.py) are kept per device name, so the
    name must tell them apart."""
    import torch


    return torch.backends.cpu.get_cpu_capability() + (" with native bf16" if runtime.cpu_has_bf16() else "")
