"""The package layout is a map of the data path: no import cycles (TYPE_CHECKING imports count), few modules at the
root, tools apart from the runtime, modules short enough to read in one sitting."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "streamer"
MAX_ROOT_MODULES = 5
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every streamer module `path` imports anywhere (functions and TYPE_CHECKING blocks included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `from a.b import C` -> a.b; `import a.b.c` -> a.b.c
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    files = [p for p in PACKAGE.rglob("*.py")]
    known = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, known) for p in files}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a list of modules, or None. Importing a module runs the __init__ of every package above it, so
    it also depends on those (except its own ancestors, which are being imported already when it runs)."""
    deps = {m: set(e) for m, e in edges.items()}
    for m, e in edges.items():
        for target in e:
            parts = target.split(".")
            packages = {".".join(parts[:i]) for i in range(2, len(parts))}
            deps[m].update(p for p in packages if p in edges and p != m and not m.startswith(p + "."))
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(deps.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(deps):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycles():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()) or [])


def test_the_cycle_finder_finds_cycles():  # the check above can fail
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_few_modules_at_the_root():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root


def test_tools_are_imported_only_by_the_cli():
    for module, targets in graph().items():
        if module.startswith(("streamer.tools", "streamer.cli")):  # the command line's modules: `bench` runs them
            continue
        assert not [t for t in targets if t.startswith("streamer.tools")], module


def test_config_imports_no_stage():
    # The one redaction function (core, no dependencies) is allowed: `--check` output and error messages use it.
    for module, targets in graph().items():
        if module.startswith("streamer.config"):
            assert all(t.startswith(("streamer.config", "streamer.errors")) or t == "streamer.core.redact"
                       for t in targets), (module, targets)


def test_no_module_is_too_long():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_geometry_imports_no_stage():
    # The camera model, back-projection and fits are shared by sources, steady, publishers and offline tools.
    # The one bounded JSON reader (core, no dependencies) is allowed: the error model is a file users hand in.
    for module, targets in graph().items():
        if module.startswith("streamer.geometry"):
            assert all(t.startswith(("streamer.geometry", "streamer.config", "streamer.errors"))
                       or t in ("streamer.core", "streamer.core.jsonlimit") for t in targets), (module, targets)
