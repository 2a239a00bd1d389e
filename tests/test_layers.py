"""The package's layers point one way and never in a circle (README, Layout).

    front doors (run, train, enhance, evaluate, report) -> driver -> config, store -> fit, models
    -> diffusion, nets, audio, data

Every `import` is read from the source (module level and inside functions alike), so a new circle
or an import against the layers fails here before a reader meets it. An import inside a function
is allowed only where it keeps `--help` and the light commands from loading mlflow or matplotlib:
those are listed below, and a new one must be added here with its reason.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "benchmark"

# Which layer each module is in; a module may import its own layer and those below it.
LAYERS = [
    ("science", ("benchmark.diffusion", "benchmark.nets", "benchmark.audio", "benchmark.data",
                 "benchmark.runtime", "benchmark.durable", "benchmark.preflight", "benchmark.outputs",
                 "benchmark.provenance")),
    ("training", ("benchmark.fit", "benchmark.models")),
    ("configuration", ("benchmark.config",)),
    ("store", ("benchmark.store", "benchmark.shipped", "benchmark.enhance", "benchmark.evaluate")),
    ("driver", ("benchmark.driver",)),
    ("report", ("benchmark.report",)),
    ("front doors", ("benchmark.run", "benchmark.train", "benchmark")),
]
# The driver ends a study with its report, and the report reads the driver's layout: both ways,
# module by module never in a circle (checked below).
ALSO_ALLOWED = {("driver", "report")}
# (importer, imported) inside a function, each for the reason given.
LAZY = {
    ("benchmark.driver.coordinator", "benchmark.driver.tracking"): "mlflow, not needed by --dry-run",
    ("benchmark.driver.coordinator", "benchmark.driver.worker"): "mlflow (tracking), not needed by --dry-run",
    ("benchmark.driver.coordinator", "benchmark.report"): "matplotlib, only once a report is built",
    ("benchmark.driver.coordinator", "benchmark.report.index"): "matplotlib, only once a report is built",
    ("benchmark.driver.coordinator", "benchmark.report.load"): "with report.index",
    ("benchmark.report.__main__", "benchmark.report.build"): "matplotlib, not needed by --help",
    ("benchmark.run", "benchmark.shipped"): "torch and safetensors, only for --models reference",
    ("benchmark.report.__main__", "benchmark.report.index"): "matplotlib, not needed by --help",
    ("benchmark.report.__main__", "benchmark.report.load"): "with report.build",
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path) -> dict[str, set[tuple[str, bool]]]:
    """module -> {(imported module, inside a function)} for the package under `root`."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    top = root.name
    out = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(f)}
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for t in targets:
                if t.split(".")[0] != top:
                    continue
                while t not in files and "." in t:
                    t = t.rpartition(".")[0]
                if t != name:
                    found.add((t, id(node) in inner))
        out[name] = found
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> int:
    best = max(((len(p), i) for i, (_, prefixes) in enumerate(LAYERS) for p in prefixes
                if module == p or module.startswith(p + ".")), default=None)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[1]


@pytest.fixture(scope="module")
def graph():
    return imports(PACKAGE)


def test_no_module_imports_another_in_a_circle(graph):
    found = cycles({m: {t for t, _ in targets} for m, targets in graph.items()})
    assert not found, f"import circles: {found}"


def test_every_import_points_down_the_layers(graph):
    wrong = []
    for module, targets in graph.items():
        for target, _ in targets:
            a, b = layer(module), layer(target)
            if b > a and (LAYERS[a][0], LAYERS[b][0]) not in ALSO_ALLOWED:
                wrong.append(f"{module} ({LAYERS[a][0]}) imports {target} ({LAYERS[b][0]})")
    assert not wrong, "\n".join(wrong)


def test_imports_inside_functions_are_only_the_listed_lazy_ones(graph):
    lazy = {(m, t) for m, targets in graph.items() for t, inside in targets if inside}
    assert lazy <= set(LAZY), f"unlisted imports inside functions (move them up, or list them): {lazy - set(LAZY)}"


def test_the_checks_catch_a_circle_and_an_inner_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n")
    found = imports(pkg)
    assert found["pkg.a"] == {("pkg.sub.b", False)} and found["pkg.sub.b"] == {("pkg.a", True)}
    assert cycles({m: {t for t, _ in ts} for m, ts in found.items()}) == [["pkg.a", "pkg.sub.b"]]
