"""The package's shape: imports only go down, no cycles, small modules and functions, and
scikit-learn's estimator contract for the three estimators."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "forecasting"
MAX_MODULE_LINES = 500
MAX_STATEMENTS = 60


def import_cycles(package: str) -> list[list[str]]:
    """Strongly connected groups of more than one module in ``package``'s import graph
    (runtime imports: those under ``if TYPE_CHECKING`` do not run)."""
    import grimp

    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v] & edges.keys():
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return groups


def test_the_package_has_no_import_cycle() -> None:
    assert import_cycles("forecasting") == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "cyclic_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclic_pkg import b\n")
    (pkg / "b.py").write_text("from cyclic_pkg import c\n")
    (pkg / "c.py").write_text("import cyclic_pkg.a\n")
    (pkg / "d.py").write_text("from cyclic_pkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cyclic_pkg") == [["cyclic_pkg.a", "cyclic_pkg.b", "cyclic_pkg.c"]]


def test_layers_hold_with_import_linter() -> None:
    """The contracts in pyproject.toml: layers (imports only go down), MLflow only in
    tracking and serving, the synthetic generator only in the demo."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is a dev dependency"
    proc = subprocess.run(
        [exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_import_linter_breaks_on_an_import_that_goes_up(tmp_path: Path) -> None:
    """The layers contract is not vacuous: the same contract on a copy of the package in
    which tracking imports the predictor fails."""
    copy = tmp_path / "forecasting"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    store = copy / "tracking" / "store.py"
    store.write_text(store.read_text() + "\nfrom forecasting.predictor import gate  # noqa\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None
    env = {"PYTHONPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run(
        [exe, "--no-cache"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode != 0
    assert "forecasting.tracking.store -> forecasting.predictor.gate" in proc.stdout


def _python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(f.relative_to(ROOT)): n
        for f in _python_files()
        if (n := len(f.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def _statements(node: ast.AST) -> int:
    return sum(isinstance(x, ast.stmt) for x in ast.walk(node)) - 1


def test_no_function_is_over_60_statements_without_a_reason() -> None:
    """A long function says why in its docstring ("One long procedure on purpose")."""
    long = []
    for f in _python_files():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node) or ""
                if _statements(node) > MAX_STATEMENTS and "on purpose" not in doc:
                    long.append(f"{f.relative_to(ROOT)}:{node.name} ({_statements(node)})")
    assert long == []


def test_the_statement_count_sees_a_long_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_STATEMENTS + 1))
    tree = ast.parse(textwrap.dedent(f"def f():\n{body}\n"))
    assert _statements(tree.body[0]) == MAX_STATEMENTS + 1


@pytest.mark.parametrize(
    "name", ["DemandForecaster", "PropensityModel", "ElasticSkuPredictor", "CustomerLinker"]
)
def test_estimators_follow_the_scikit_learn_contract(name: str) -> None:
    from sklearn.base import clone

    import forecasting

    cls = getattr(forecasting, name)
    default = cls()
    config = type(default.config)(seed=7) if hasattr(default.config, "seed") else None
    est = cls(config) if config is not None else cls()
    twin = clone(est)
    assert type(twin) is cls
    assert twin.get_params(deep=False) == est.get_params(deep=False) == {"config": est.config}
    assert twin.config == est.config
    # nothing learned before fit: fitted state (a trailing underscore) comes with fit
    assert [a for a in vars(twin) if a.endswith("_")] == []
    deep = est.get_params(deep=True)
    if config is not None:
        assert deep["config__seed"] == 7


def test_the_public_face() -> None:
    import forecasting

    for name in forecasting.__all__:
        assert getattr(forecasting, name) is not None
    with pytest.raises(AttributeError):
        _ = forecasting.NoSuchThing  # type: ignore[attr-defined]
