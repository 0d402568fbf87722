"""The import graph of `qa/` has no cycles, between modules or between folders (rooms: `qa.search`, `qa.reader`,
…, each top-level module its own), the query side never imports the build, and the serving side never imports
training.

Read statically from every `import` in every module (function-level ones included: an import inside a
function is still a dependency, only a deferred one)."""

from __future__ import annotations

import ast
from pathlib import Path

QA = Path(__file__).resolve().parent.parent / "qa"


def module_name(path: Path) -> str:
    parts = path.relative_to(QA.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in QA.rglob("*.py")}


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The qa modules `path` imports: `from qa.x import y` is qa.x.y when that is a module, else qa.x."""
    found: set[str] = set()
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in found if m in known and m != this}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) for name, path in known.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def room(module: str) -> str:
    """The folder a module lives in (`qa.search.fuse` → `qa.search`); a top-level module is its own room."""
    return ".".join(module.split(".")[:2])


def folder_graph(g: dict[str, set[str]]) -> dict[str, set[str]]:
    """Which rooms import which (imports inside one room left out)."""
    out: dict[str, set[str]] = {}
    for module, deps in g.items():
        out.setdefault(room(module), set()).update(room(d) for d in deps if room(d) != room(module))
    for deps in list(out.values()):
        for d in deps:
            out.setdefault(d, set())
    return out


def reaches(g: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for w in g[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_the_walk_sees_function_level_imports() -> None:
    g = graph()
    assert "qa.search.retriever" in g["qa"]  # only imported inside `qa.__getattr__`
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_folder_cycles_are_seen_where_modules_have_none() -> None:
    g = {"qa.a.x": {"qa.b.y"}, "qa.b.y": {"qa.a.z"}, "qa.a.z": set(), "qa.c": {"qa.a.x"}}
    assert cycles(g) == []
    assert cycles(folder_graph(g)) == [["qa.a", "qa.b"]]


def test_no_folder_cycles() -> None:
    assert cycles(folder_graph(graph())) == []


def test_serving_side_never_imports_training() -> None:
    g = graph()
    training = {m for m in g if m == "qa.training" or m.startswith("qa.training.")}
    assert training  # the walk sees the room
    serving = ("qa.search", "qa.serve", "qa.reader", "qa.index", "qa.embed", "qa.ingest")
    for start in (m for m in g if room(m) in serving):
        assert not reaches(g, start) & training, start


def test_query_side_never_imports_the_build() -> None:
    g = graph()
    build = {m for m in g if m == "qa.build" or m.startswith("qa.build.")}
    for start in ("qa.search.retriever", "qa.serve.api", "qa.index.stores.milvus_store"):
        assert not reaches(g, start) & build, start
