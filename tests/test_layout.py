"""The package's layout is its pipeline: imports run one way, from the interfaces down to the records.

The import graph is read from the source with ``ast`` (every import, the ones inside functions included, since
a lazy import is still a dependency), so this holds without importing anything.
"""

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "briefqa"

#: Each top-level part of the package and its layer: a module may import its own layer or those below.
LAYERS = {
    "errors": 0, "records": 0, "settings": 0, "text": 0,  # what every stage shares
    "store": 1,  # the store interface and its backends
    "models": 2,  # the neural models, from their packages
    "relevance": 3, "scale": 3,  # how well text answers a question; Ray fan-out
    "ingestion": 4, "retrieval": 4, "answering": 4, "news": 4,  # the stages
    "api": 5,  # BriefQA: the stages tied together
    "evaluation": 6,  # a user of the API, as the CLI is
    "ui": 7,  # the command line and the chat
}
#: The facade (``briefqa/__init__.py`` re-exports public names lazily) and ``python -m briefqa`` stand outside.
OUTSIDE = {"briefqa", "briefqa.__main__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The briefqa modules ``name`` imports, resolved to modules (``from .x import y`` is x.y when y is one)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "briefqa"}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module or ""
            if base.split(".")[0] != "briefqa":
                continue
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found - {name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph``, as the path that closes it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(m) for m in _modules() if m not in OUTSIDE}
    assert parts == set(LAYERS), f"give each new part a layer in LAYERS: {parts ^ set(LAYERS)}"


def test_no_module_imports_one_above_its_layer():
    upward = [f"{m} imports {t}" for m, targets in _graph().items() if m not in OUTSIDE
              for t in targets if t not in OUTSIDE and LAYERS[_part(t)] > LAYERS[_part(m)]]
    assert upward == []


def test_no_module_imports_the_facade():
    # Inside the package, names come from their modules; importing `briefqa` itself would tie a module to all.
    assert [m for m, targets in _graph().items() if m not in OUTSIDE and "briefqa" in targets] == []


def test_modules_import_in_no_circle():
    graph = {m: {t for t in targets if t not in OUTSIDE} for m, targets in _graph().items() if m not in OUTSIDE}
    assert _cycle(graph) is None


def test_the_parts_of_the_package_import_in_no_circle():
    parts: dict[str, set[str]] = defaultdict(set)
    for m, targets in _graph().items():
        if m not in OUTSIDE:
            parts[_part(m)] |= {_part(t) for t in targets if t not in OUTSIDE and _part(t) != _part(m)}
    assert _cycle(parts) is None


def _third_party(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_interfaces_import_gradio_and_only_scale_imports_ray():
    modules = _modules()
    gradio = sorted(m for m, p in modules.items() if "gradio" in _third_party(p) and _part(m) != "ui")
    ray = sorted(m for m, p in modules.items() if "ray" in _third_party(p) and _part(m) != "scale")
    assert (gradio, ray) == ([], [])


def test_every_module_opens_with_a_docstring_saying_why_it_exists():
    bare = [m for m, p in _modules().items() if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert bare == []


def test_the_checks_would_see_a_circle_and_an_import_up_the_stack():
    # The checks themselves, on graphs made up for the purpose.
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert LAYERS[_part("briefqa.store.base")] < LAYERS[_part("briefqa.answering.extractive")]
