"""The dependency rules of docs/architecture.md ("Dependencies point one way"), checked on the code: every import in
actionrec/ (top level, inside functions, under TYPE_CHECKING) goes to its own layer or one below, and no two modules
import each other, directly or round a longer cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import actionrec

PACKAGE = Path(actionrec.__file__).parent

# docs/architecture.md's layers, lowest first: a module may import its own layer and those below it, never above.
LAYERS = (
    ("errors", "model_meta", "choices", "results", "metrics", "tuning"),
    ("networks",),
    ("io", "cpu", "transforms"),
    ("ops",),
    ("data", "hub", "synth"),
    ("runtime",),
    ("training", "scoring", "onnx_export", "explain", "ray_predict"),
    ("cli", "__main__", ""),  # "": the package's own __init__ (lazy re-exports of runtime)
)
LAYER = {part: n for n, parts in enumerate(LAYERS) for part in parts}


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("actionrec", *path.relative_to(PACKAGE).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its source: `import a.b`, `from a import b` (the
    submodule b when there is one, else module a), relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {target for target in found if target in known and target != name}


def graph() -> dict[str, set[str]]:
    known = module_names()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(name: str) -> int:
    part = name.split(".")[1] if "." in name else ""
    part = part.removesuffix(".py")
    assert part in LAYER, f"{name}: its top-level part {part!r} is in no layer of docs/architecture.md"
    return LAYER[part]


def test_every_import_goes_to_its_own_layer_or_below():
    """No module imports one of a higher layer, not even inside a function or for type checking only."""
    edges = graph()
    assert len(edges) > 80 and sum(map(len, edges.values())) > 250  # the parser sees the whole package
    upward = sorted(
        f"{source} (layer {layer(source)}) imports {target} (layer {layer(target)})"
        for source, targets in edges.items()
        for target in targets
        if layer(target) > layer(source)
    )
    assert upward == []


def test_no_import_cycles():
    """No module reaches itself through the imports of others (function-level and TYPE_CHECKING imports count):
    Tarjan's strongly connected components of the import graph are all single modules."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert cycles == []


def test_the_checker_sees_function_level_and_type_checking_imports(tmp_path):
    """The parser finds imports inside functions and TYPE_CHECKING blocks, and resolves relative ones."""
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..runtime import segments\n"
        "def f():\n    from ..io.video import probe\n    import actionrec.cli\n"
    )
    known = {name: Path() for name in ("actionrec.runtime.segments", "actionrec.io.video", "actionrec.cli")}
    assert imports("actionrec.data.mod", source, known) == set(known)
