"""Post hoc: what a sampler feeds a trained denoiser, step by step, against what it was trained on.

    python perf/sampler_trace.py results/models/<hash> \
        '{"PC 4": ["pc", {"steps": 4}], "PC 8": ["pc", {"steps": 8}]}' --utterances 8
    python perf/sampler_trace.py results/models/<hash> '{}' --sigmas 0.02,0.1,0.3,1   # in distribution only

At every network evaluation it prints σ, the RMS of the denoiser's input x̃ = (x − y)/s against the
RMS it has in training at that σ, √(σ² + |x0 − y|²) (x̃ = x0 − y + σ·n there), and the RMS error of
the denoiser's output D against the true x0 − y, all over the first `--utterances` of a split, for
the trained net and for the exact denoiser of a Gaussian x0 − y with the utterances' own spread
(docs/design-space.md §5d). A sampler that walks the state off the training distribution shows an input
ratio far from 1 where the trained net's error grows and the oracle's does not. How the collapse
of PC at N = 4 on the cosine model (sampler_ablation) was traced. --sigmas adds the net's error
where its input is what it was trained on, so a poor net and a walk off the distribution part.
"""
import argparse
import json

import torch

from benchmark.audio.stft import peak_normalise
from benchmark.data import load_split
from benchmark.diffusion.samplers import build_sampler, sample
from benchmark.diffusion.sdes import complex_randn
from benchmark.store import load_for_inference


def _rms(z):
    return float(z.abs().pow(2).mean().sqrt())


class Traced:
    """Wraps D(x̃, y, σ, t); records (σ, rms x̃, rms in training, rms of D − (x0 − y)) per call."""

    def __init__(self, denoiser, target):
        self.denoiser, self.target, self.rows = denoiser, target, []

    def __call__(self, x_tilde, y, sigma, t):
        d = self.denoiser(x_tilde, y, sigma, t)
        sig = float(torch.as_tensor(sigma).reshape(-1)[0])
        trained = (sig ** 2 + _rms(self.target) ** 2) ** 0.5
        self.rows.append((sig, _rms(x_tilde), trained, _rms(d - self.target)))
        return d


def gaussian_oracle(sigma_d):
    """E[x0 − y | x̃] for x0 − y ~ CN(0, σ_d²): the Wiener shrinkage x̃·σ_d²/(σ_d² + σ²)."""
    def D(x_tilde, y, sigma, t):
        return x_tilde * sigma_d ** 2 / (sigma_d ** 2 + torch.as_tensor(sigma) ** 2)
    return D


def trace(denoiser, sde, sampler, y, target, seed=0):
    """(rows, output error / input error in the compressed spectrogram, the output x̂0)."""
    traced = Traced(denoiser, target)
    out = sample(sampler, traced, sde, y, torch.Generator().manual_seed(seed)).x
    return traced.rows, _rms(out - y - target) / _rms(target), out


def snr_db(clean, wav):
    """The waveform's SNR against the clean signal: the compression's inverse squares magnitudes,
    so an error that is moderate in the compressed spectrogram can be large here."""
    return float(10 * torch.log10(clean.pow(2).sum() / (wav - clean).pow(2).sum().clamp(min=1e-12)))


def spectra(item, frontend, device):
    """(noisy, clean, y, x0): one utterance peak-normalised by its mixture, and their STFTs."""
    _, noisy, clean = peak_normalise(*(torch.as_tensor(item[k], dtype=torch.float32, device=device)
                                       for k in ("noisy", "clean")))
    return noisy, clean, frontend.stft(noisy[None]), frontend.stft(clean[None])


def in_distribution(denoiser, sde, frontend, data, sigmas, utterances, device):
    """The denoiser fed what it was trained on, x̃ = x0 − y + σ·n: its error / rms(x0 − y) at each
    σ, beside the Gaussian oracle's and the identity's (D = x̃). Against the walk's errors above,
    this separates a net that is poor at a σ from a walk that leaves the training distribution."""
    gen = torch.Generator().manual_seed(0)
    print("in distribution: σ   err/|x0−y| net | oracle | identity", flush=True)
    for sig in sigmas:
        errs = []
        for i in range(min(utterances, len(data))):
            _, _, y, x0 = spectra(data[i], frontend, device)
            d0, s = x0 - y, torch.tensor([sig], device=device)
            x_tilde = d0 + sig * complex_randn(d0, gen)
            t = sde.sigma_inv(s) if sde.has_sigma_inv else None
            with torch.no_grad():
                outs = (denoiser(x_tilde, y, s, t), gaussian_oracle(_rms(d0))(x_tilde, y, s, t), x_tilde)
            errs.append([_rms(o - d0) / _rms(d0) for o in outs])
        net, oracle, identity = (sum(e[j] for e in errs) / len(errs) for j in range(3))
        print(f"  {sig:8.4f}  net {net:6.2f}  oracle {oracle:6.2f}  identity {identity:8.2f}", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", help="a model folder, a .pt checkpoint in one, or a training run's id")
    p.add_argument("samplers", help='JSON: {"label": ["name", {settings}], ...}')
    p.add_argument("--split", default="valid")
    p.add_argument("--utterances", type=int, default=8)
    p.add_argument("--sigmas", default="", help="comma-separated σ: also the denoiser's error in distribution there")
    a = p.parse_args()
    loaded = load_for_inference(a.model)
    model, frontend, device = loaded.model, loaded.frontend, loaded.device
    data = load_split(loaded.config.data, a.split)
    if a.sigmas:
        in_distribution(model.denoiser, model.sde, frontend, data, [float(v) for v in a.sigmas.split(",")],
                        a.utterances, device)
    for label, (name, settings) in json.loads(a.samplers).items():
        sampler = build_sampler(name, model.sde, **settings)
        print(f"{label}: σ   rms x̃ / in training   rms(D − (x0 − y)) net | oracle", flush=True)
        errors = {"net": [], "oracle": []}
        snrs = {"input": [], "net": [], "oracle": []}
        for i in range(min(a.utterances, len(data))):
            noisy, clean, y, x0 = spectra(data[i], frontend, device)
            with torch.no_grad():
                net_rows, net_err, net_x = trace(model.denoiser, model.sde, sampler, y, x0 - y)
                orc_rows, orc_err, orc_x = trace(gaussian_oracle(_rms(x0 - y)), model.sde, sampler, y, x0 - y)
            errors["net"].append(net_err)
            errors["oracle"].append(orc_err)
            for who, wav in (("input", noisy[None]), ("net", frontend.istft(net_x, noisy.shape[-1])),
                             ("oracle", frontend.istft(orc_x, noisy.shape[-1]))):
                snrs[who].append(snr_db(clean[None], wav))
            if i == 0:   # one utterance's walk; the others differ in scale, not in shape
                for (sig, xin, trained, err), (_, oxin, _, oerr) in zip(net_rows, orc_rows):
                    print(f"  {sig:8.4f}  net {xin / trained:6.2f}  oracle {oxin / trained:6.2f}"
                          f"   err/|x0−y| net {err / _rms(x0 - y):6.2f}  oracle {oerr / _rms(x0 - y):6.2f}")
        mean = {k: sum(v) / len(v) for k, v in errors.items()}
        print(f"  output rms(x̂0 − x0)/rms(x0 − y) over {len(errors['net'])} utterances:"
              f" net {mean['net']:.2f}  oracle {mean['oracle']:.2f}; waveform SNR dB, utterance by utterance:"
              + "".join(f"  {who} " + " ".join(f"{v:.1f}" for v in vals) for who, vals in snrs.items()),
              flush=True)


if __name__ == "__main__":
    main()
