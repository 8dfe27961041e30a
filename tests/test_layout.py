"""The package tree is the pipeline: a module imports only its own stage, earlier stages and the
shared basics; no import circle. Plain ``ast`` over the source (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "contribux_costs"
ROOT_BASICS = {"config", "errors", "periods", "models", "redact"}
FACE = {"__init__", "cli"}  # the public face may import every stage
# Root modules that run several stages, placed after the last stage they import.
ORCHESTRATORS = {"pipeline": 4.5}  # collect, then price into FOCUS
# Stage order: data flows store/demo → collect → pricing → focus → analysis → report (bench last).
STAGES = {
    "store": 1,
    "demo": 1,
    "collect": 2,
    "pricing": 3,
    "focus": 4,
    "analysis": 5,
    "report": 6,
    "bench": 7,
}
MAX_ROOT_MODULES = 8


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``contribux_costs`` module a file imports (at any depth, incl. TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("contribux_costs"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("contribux_costs"):
            base = str(node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if _exists(sub) else base)
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").exists() or (
        PACKAGE.parent / rel / "__init__.py"
    ).exists()


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _rank(module: str) -> float:
    """Where a module sits in the pipeline (basics 0, the face last)."""
    parts = module.split(".")
    if len(parts) == 1:
        return 99  # the package itself (__init__): the face
    if parts[1] in STAGES:
        return STAGES[parts[1]]
    if parts[1] in ORCHESTRATORS:
        return ORCHESTRATORS[parts[1]]
    return 99 if parts[1] in FACE else 0


def _violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in graph.items():
        for dep in deps:
            if _rank(dep) > _rank(mod):
                bad.append(f"{mod} imports {dep} from a later stage")
            if _imports_its_engine(mod, dep):
                bad.append(f"{mod} imports the engine that runs it")
    return sorted(bad)


def _imports_its_engine(mod: str, dep: str) -> bool:
    """Analysis modules are run by the engine; none of them may import it."""
    engine = "contribux_costs.analysis.engine"
    return dep == engine and mod.startswith("contribux_costs.analysis.") and mod != engine


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles (Tarjan's strongly connected components of size > 1, or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
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
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package_imports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` re-exporting its own modules is not a circle: drop those edges."""
    return {
        m: {d for d in deps if not (d.startswith(m + ".") and _is_package(m))}
        for m, deps in graph.items()
    }


def _is_package(module: str) -> bool:
    return (PACKAGE.parent / Path(*module.split(".")) / "__init__.py").exists()


def test_root_holds_only_the_face_and_shared_basics() -> None:
    modules = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_ROOT_MODULES, modules
    assert set(modules) <= ROOT_BASICS | FACE | set(ORCHESTRATORS), modules
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert packages == sorted(STAGES), packages


def test_no_module_imports_from_a_later_stage() -> None:
    assert _violations(_graph()) == []


def test_no_import_circle() -> None:
    assert _cycles(_package_imports(_graph())) == []


def test_the_checks_catch_a_later_stage_import_and_a_circle() -> None:
    # The checks themselves must be able to fail.
    planted = {
        "contribux_costs.collect.runner": {"contribux_costs.report.render"},
        "contribux_costs.analysis.alerts": {"contribux_costs.analysis.engine"},
        "contribux_costs.analysis.engine": {"contribux_costs.analysis.alerts"},
        "contribux_costs.periods": {"contribux_costs.store.core"},
    }
    bad = _violations(planted)
    assert "contribux_costs.collect.runner imports contribux_costs.report.render" in bad[1]
    assert any("imports the engine" in b for b in bad)
    assert any(b.startswith("contribux_costs.periods imports") for b in bad)
    assert _cycles(planted) == [
        ["contribux_costs.analysis.alerts", "contribux_costs.analysis.engine"]
    ]
