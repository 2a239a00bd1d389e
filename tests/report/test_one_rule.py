"""One significance rule on every page (issue 46): a paired difference counts when its Holm-adjusted
Wilcoxon p is below 0.05, with the sign of its mean; the paired 95% CI is shown but does not decide.

The fixture study is turned into a drift study (sde × drift, with per-utterance files) holding the
reviewer's case: OUVE's without − with difference has a paired CI that excludes 0 while its Holm p is
far above 0.05. The study page's colours, counts and claim sentences, the scorecard's verdict, the
exported CSV, LaTeX and Markdown bold must all read it the same way: not significant. The committed
README's verdicts table must say what the committed scorecard and pages say."""
import html as html_lib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmark.audio.metrics import mean_ci95
from benchmark.report import build_report
from benchmark.report.index import build_index

from .conftest import STUDY, read_tables

ROOT = Path(__file__).resolve().parents[2]
N = 200
ALPHA = 0.05
DRIFT = {"pc N=30": "with", "heun N=8": "without"}      # the fixture's samplers, recast as the drift


def designed(rng, mean_shift: float = 0.0) -> np.ndarray:
    """A difference whose t-interval excludes 0 while Wilcoxon finds nothing: 190 values placed
    symmetrically about 0 (their ranks cancel) and 10 outliers of +0.2 that carry the mean."""
    half = np.arange(1, 96) * 0.0005
    d = np.concatenate([half, -half, np.full(10, 0.2)]) + mean_shift
    return rng.permutation(d)


def drift_study(dirs) -> None:
    """Rewrite the scratch copy: axes sde × drift, the test split and PESQ-WB only, a per-utterance
    file per system, and cells.csv's means and CIs recomputed from those files."""
    rng = np.random.default_rng(3)
    spec = yaml.safe_load((dirs.studies / f"{STUDY}.yaml").read_text())
    spec["axes"] = {"sde": spec["axes"]["sde"],
                    "drift": {"with": ["sde.stiffness=1.5"], "without": ["sde.stiffness=0"]}}
    (dirs.studies / f"{STUDY}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    table = dirs.table()
    table = table[(table["split"] == "test") & (table["metric"] == "pesq_wb")
                  & ((table["kind"] != "diffusion") | table["sampler"].isin(list(DRIFT)))].copy()
    table["sampler"] = table["sampler"].map(lambda v: DRIFT.get(v, v))
    table = table.rename(columns={"sampler": "drift"})
    diffusion = table["kind"] == "diffusion"
    table.loc[diffusion, "label"] = table["sde"] + " · " + table["drift"]

    level = rng.normal(1.5, 0.3, N)
    base = {"ouve": 0.10, "ouvp": 0.20, "oucosine": 0.25}
    gap = {"ouve": None, "ouvp": 0.20, "oucosine": 0.10}       # without − with; None: the reviewer's case
    outputs = {}
    for (sde, drift), rows in table[diffusion].groupby(["sde", "drift"]):
        if drift == "with":
            outputs[(sde, "with")] = level + base[sde] + rng.normal(0, 0.05, N)
    for sde in base:
        step = designed(rng) if gap[sde] is None else gap[sde] + rng.normal(0, 0.05, N)
        outputs[(sde, "without")] = outputs[(sde, "with")] + step
    best = outputs[("ouvp", "without")]
    scores = {}
    for _, row in table.drop_duplicates("cell").iterrows():
        if row["kind"] == "diffusion":
            scores[row["cell"]] = outputs[(row["sde"], row["drift"])]
        elif row["kind"] == "predictive":        # the split's best, a hair above the best diffusion cell
            scores[row["cell"]] = best + designed(rng, mean_shift=0.0)
    for cell, out in scores.items():
        folder = dirs.results / STUDY / "cells" / cell
        folder.mkdir(parents=True)
        pd.DataFrame({"split": "test", "name": [f"u{i:03d}" for i in range(N)], "metric": "pesq_wb",
                      "input": level, "output": out, "delta": out - level}).to_csv(
            folder / "per_utterance.csv", index=False)
    for index, row in table.iterrows():
        out = scores.get(row["cell"], level)
        values = {"input": level, "output": out, "delta": out - level}[row["which"]]
        mean, ci, n, _ = mean_ci95(values)
        table.loc[index, ["mean", "ci95", "n", "n_nan"]] = [f"{mean:.6f}", f"{ci:.6f}", str(n), "0"]
    dirs.save(table)


def rule(mean: float, p_holm: float) -> int:
    """The rule, written out here rather than imported: what every page must agree with."""
    return int(np.sign(mean)) if p_holm < ALPHA else 0


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html)))


def claims(html: str) -> dict[str, tuple[str, str]]:
    """The first split's claim check: topic -> (badge, sentence)."""
    block = re.search(r'<ul class="claims">(.*?)</ul>', html, re.S).group(1)
    out = {}
    for li in re.findall(r"<li[^>]*>(.*?)</li>", block, re.S):
        badge = text_of(re.search(r'<span class="badge">(.*?)</span>', li, re.S).group(1)).strip()
        topic = text_of(re.search(r'<span class="topic">(.*?)</span>', li, re.S).group(1)).strip(" :")
        out[topic] = (badge, text_of(li))
    return out


def count(pattern: str, sentence: str) -> int:
    found = re.search(pattern, sentence)
    return int(found.group(1)) if found else 0


def test_the_page_the_scorecard_and_the_exports_read_a_difference_by_one_rule(dirs):
    drift_study(dirs)
    page = build_report(*dirs.args()).read_text()
    index = build_index(dirs.results, dirs.reports, dirs.studies).read_text()
    pairs = pd.read_csv(dirs.results / STUDY / "pairs.csv")
    drift = pairs[(pairs["axis"] == "drift") & (pairs["split"] == "test") & (pairs["metric"] == "pesq_wb")]
    assert set(drift["value"]) == {"without"} and set(drift["reference"]) == {"with"}
    expected = {r.context: rule(r.mean, r.p_holm) for r in drift.itertuples()}

    # The reviewer's case is here: OUVE's CI excludes 0, its Holm p does not count.
    reviewer = drift[drift["context"] == "sde=ouve"].iloc[0]
    assert reviewer["mean"] - reviewer["ci95"] > 0 and reviewer["p_holm"] >= ALPHA
    assert expected == {"sde=ouve": 0, "sde=ouvp": 1, "sde=oucosine": 1}

    # The page's paired table: green for +1, red for −1, no colour for 0.
    table = next(t for t in read_tables(page) if [c for c, _ in t[0][:3]] == ["drift", "− reference", "context"])
    header = [text for text, _ in table[0]]
    pesq = next(i for i, h in enumerate(header) if "PESQ-WB" in h)
    colour = {row[header.index("context")][0]: row[pesq][1] for row in table[1:]}
    for context, sign in expected.items():
        want = {1: ["up"], -1: ["down"], 0: []}[sign]
        assert [c for c in colour[context] if c in ("up", "down")] == want, context

    # The page's drift claim counts by the rule (the claim is with − without: a +1 here is a "better without").
    better_without = sum(s > 0 for s in expected.values())
    helps = sum(s < 0 for s in expected.values())
    badge, sentence = claims(page)["progressive transformation"]
    better = count(r"without the drift is (?:significantly )?better[^.;]*? in (\d+) of 3", sentence)
    assert better == better_without, sentence
    assert count(r"drift helps[^.;]*? in (\d+) of 3", sentence) == helps, sentence

    # The scorecard's drift finding counts the same comparisons the same way.
    _, drifted = finding(index, 1)
    assert f"({better_without} improve)" in drifted, drifted
    assert "significantly in none of the 3 SDE(s)" in drifted
    for context in expected:
        assert re.search(rf"{re.escape(context)}: Δ PESQ-WB \(without − with\) [+-]", drifted)

    # Bold: not distinguishable from the best by the same rule (vs_best's Holm p), the same on the
    # page, in the CSV, the LaTeX and the Markdown table.
    vs = pd.read_csv(dirs.results / STUDY / "vs_best.csv", dtype={"cell": str, "best_cell": str})
    vs = vs[(vs["split"] == "test") & (vs["metric"] == "pesq_wb")]
    tied = {vs["best_cell"].iloc[0]} | {r.cell for r in vs.itertuples() if rule(r.mean, r.p_holm) >= 0}
    close = vs[(vs["mean"] + vs["ci95"] < 0) & (vs["p_holm"] >= ALPHA)]
    assert len(close), "a cell whose CI against the best excludes 0 and whose Holm p does not count"
    assert set(close["cell"]) <= tied
    main = next(t for t in read_tables(page) if t and t[0] and t[0][0][0] == "#")
    head = [text for text, _ in main[0]]
    col = next(i for i, h in enumerate(head) if h.startswith("PESQ-WB"))
    labels = dict(zip(dirs.table()["label"], dirs.table()["cell"]))
    on_page = {labels[row[head.index("label")][0]] for row in main[1:] if "best" in row[col][1]}
    assert on_page == tied
    exported = pd.read_csv(dirs.reports / STUDY / "test.csv", dtype={"cell": str})
    assert set(exported.loc[exported["pesq_wb_bold"].astype(bool), "cell"].str[1:]) == tied
    md = (dirs.reports / STUDY / "tables.md").read_text()
    by_label = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in md.splitlines()
                if line.startswith("|") and "---" not in line and "cell" not in line.split("|")[1]}
    assert {labels[label] for label, v in by_label.items() if v.startswith("**")} == tied
    tex = (dirs.reports / STUDY / "test.tex").read_text()
    assert tex.count(r"\textbf") == len(tied)

    # The claim against the predictive baseline reads vs_best's test of the best diffusion cell.
    badge, sentence = claims(page)["best diffusion vs predictive"]
    row = vs[vs["cell"] == labels["ouvp · without"]].iloc[0]
    assert rule(row["mean"], row["p_holm"]) == 0 and badge == "tie", sentence
    assert "p = " in sentence


def _readme_verdicts() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = text.split("**Verdicts so far**", 1)[1].split("\n\n", 2)[1]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()
            if line.startswith("|")]
    return rows[2:]


def finding(index_html: str, number: int) -> tuple[str, str]:
    """A scorecard finding: (its badge, its sentence and numbers as text)."""
    part = index_html.split(f'id="finding-{number}"', 1)[1].split('id="finding-', 1)[0]
    part = part.split('<p class="splits">', 1)[0]
    badge = text_of(re.search(r'<span class="badge">(.*?)</span>', part, re.S).group(1)).strip()
    return badge, text_of(part)


def test_the_readmes_verdicts_table_says_what_the_committed_pages_say():
    rows = _readme_verdicts()
    index = (ROOT / "reports" / "index.html").read_text()
    numbered = [r for r in rows if re.match(r"\d\.", r[0])]
    assert [int(r[0][0]) for r in numbered] == [1, 2, 3, 4, 5]
    for r in numbered:
        verdict, sentence = finding(index, int(r[0][0]))
        would = re.search(r'would have read "([^"]+)"', sentence).group(1)
        assert r[1] == verdict, (r[0], verdict)
        assert r[3].split(":")[0].split(" (")[0] == would, (r[0], would)
    ours = next(r for r in rows if r[0].startswith("(ours)"))
    page = (ROOT / "reports" / "beyond_paper.html").read_text()
    badge, sentence = claims(page)["few-step methods vs the recommended setting"]
    assert ours[1] == badge, sentence
    _, drift = finding(index, 1)
    none = re.search(r"significantly in none of the (\d+) SDE", drift)
    if none:
        assert f"in none of {none.group(1)} SDEs" in numbered[0][3]
