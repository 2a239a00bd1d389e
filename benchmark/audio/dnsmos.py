"""DNSMOS P.835 (Reddy et al., ICASSP 2022): non-intrusive SIG, BAK and OVRL of one signal, 16 kHz.

  dnsmos_sig   speech signal quality (ITU-T P.835 SIG), MOS scale 1..5
  dnsmos_bak   background noise intrusiveness (P.835 BAK), 1..5
  dnsmos_ovrl  overall quality (P.835 OVRL), 1..5

Optional: `pip install -e '.[dnsmos]'` (onnxruntime and the `speechmos` wheel). Nothing is
downloaded: the model is a file inside the wheel, speechmos/dnsmos_models/sig_bak_ovr.onnx,
byte-identical to microsoft/DNS-Challenge DNSMOS/DNSMOS/sig_bak_ovr.onnx (sha256 269fbebd...).
That is the regular P.835 model, not the personalized one (pdnsmos_models/, for target-speaker
suppression), with the regular second-order polynomial fit below: what
`speechmos.dnsmos.run(x, 16000)` and DNS-Challenge's `dnsmos_local.py` without `-p` report.

Only the model file comes from speechmos. Its `dnsmos` module imports librosa (for the mel
spectrogram of the P.808 model, a fourth score not reported here) and requests (unused) at module
level, neither of which the wheel declares, and it starts onnxruntime with a thread per core. Here
onnxruntime runs the P.835 model directly, one thread per process (scoring is already a pool of
processes), with dnsmos_local.py's framing: a clip is repeated until it lasts 9.01 s, then scored
in 9.01 s windows every second, and the per-window scores averaged. Its window ends are computed
in floating point, which drops the windows starting at 7-23 s (their slice is one sample short);
that is kept, so that clips over 16 s score as they do everywhere else DNSMOS is reported.
"""
from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmark.audio.io import SAMPLE_RATE, resample

NAMES = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
INSTALL = "pip install -e '.[dnsmos]'"
INPUT_LENGTH = 9.01               # seconds per window (dnsmos_local.py)
# raw network output -> P.835 MOS, highest power first (np.poly1d), the non-personalized fit
POLYFIT = {"dnsmos_sig": (-0.08397278, 1.22083953, 0.0052439),
           "dnsmos_bak": (-0.13166888, 1.60915514, -0.39604546),
           "dnsmos_ovrl": (-0.06766283, 1.11546468, 0.04602535)}


class DNSMOSUnavailable(ImportError):
    """DNSMOS was asked for, and onnxruntime or speechmos is not installed."""


def require():
    """(the onnxruntime module, the model's path); DNSMOSUnavailable naming the install command."""
    try:
        import onnxruntime
        import speechmos  # an empty __init__: neither librosa nor requests is imported
    except ImportError as e:
        raise DNSMOSUnavailable(f"the DNSMOS metrics {list(NAMES)} need the optional packages "
                                f"onnxruntime and speechmos ({e}); install them with `{INSTALL}`") from e
    path = Path(speechmos.__file__).parent / "dnsmos_models" / "sig_bak_ovr.onnx"
    if not path.is_file():
        raise DNSMOSUnavailable(f"speechmos has no {path}; reinstall it with `{INSTALL}`")
    return onnxruntime, path


_SESSION: tuple[int, object] | None = None        # (pid, session): a forked worker makes its own


def session():
    """The P.835 model's onnxruntime session, made once per process, single-threaded."""
    global _SESSION
    if _SESSION is None or _SESSION[0] != os.getpid():
        ort, path = require()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3                # errors only
        _SESSION = (os.getpid(), ort.InferenceSession(str(path), options,
                                                      providers=["CPUExecutionProvider"]))
    return _SESSION[1]


def windows(x: np.ndarray) -> np.ndarray:
    """The (n, 144160) windows dnsmos_local.py scores, with its arithmetic (see the docstring)."""
    n = int(INPUT_LENGTH * SAMPLE_RATE)
    while len(x) < n:
        x = np.concatenate([x, x])
    hops = int(np.floor(len(x) / SAMPLE_RATE) - INPUT_LENGTH) + 1
    cuts = [x[int(i * SAMPLE_RATE):int((i + INPUT_LENGTH) * SAMPLE_RATE)] for i in range(hops)]
    return np.stack([c for c in cuts if len(c) == n]).astype(np.float32)


def scores(x: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """{dnsmos_sig, dnsmos_bak, dnsmos_ovrl} of one 1-D signal; NaN if empty or not finite."""
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0 or not np.all(np.isfinite(x)):
        return {m: math.nan for m in NAMES}
    x = resample(x, sr)
    sess = session()
    raw = sess.run(None, {sess.get_inputs()[0].name: windows(x)})[0]    # (windows, 3): sig, bak, ovr
    return {m: float(np.mean(np.polyval(POLYFIT[m], raw[:, k]))) for k, m in enumerate(NAMES)}


# The three metrics score the same signal one after another: keep the last few results, keyed by
# the samples' digest (a few hundred µs against tens of ms for the network).
_RECENT: dict[tuple, dict[str, float]] = {}


def _cached(x: np.ndarray, sr: int) -> dict[str, float]:
    x = np.ascontiguousarray(x, dtype=np.float32)
    key = (sr, x.shape, hashlib.blake2b(x.tobytes(), digest_size=16).digest())
    if key not in _RECENT:
        if len(_RECENT) >= 4:
            _RECENT.pop(next(iter(_RECENT)))
        _RECENT[key] = scores(x, sr)
    return _RECENT[key]


def _metric(name: str) -> Callable[..., float]:
    def metric(clean, estimate, noisy, sr):
        return _cached(estimate, sr)[name]      # non-intrusive: the estimate alone
    return metric


# Each callable takes (clean, estimate, noisy or None, sr), as benchmark.audio.metrics.METRICS.
METRICS: dict[str, Callable[..., float]] = {m: _metric(m) for m in NAMES}
