"""artproxy's modules import one another without a cycle, counting imports inside functions
(which only hide a cycle until the function runs); imports under ``if TYPE_CHECKING:`` are for
the type checker and do not count. Contract modules import nothing that implements them."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.real_server import PROJECT_DIR

# Tests import the source; the source never imports a test. Virtualenvs (.venv, and
# .venv-litellm and .venv-bench-litellm beside it) hold other projects' code.
LEFT_OUT = {"tests"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_DIR).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for path in PROJECT_DIR.rglob("*.py")
            if not any(part in LEFT_OUT or part.startswith(".venv")
                       for part in path.relative_to(PROJECT_DIR).parts)}


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"))


def imported(tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    """The project's modules that ``tree`` imports anywhere but under TYPE_CHECKING."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if is_type_checking_block(node):
            for statement in node.orelse:  # type: ignore[attr-defined]
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    found.add(submodule)
                elif node.module in modules:
                    found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imported(ast.parse(path.read_text()), modules) - {name}
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                lowest[module] = min(lowest[module], lowest[other])
            elif other in stack:
                lowest[module] = min(lowest[module], index[other])
        if lowest[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_round_a_cycle():
    graph = import_graph()
    assert "generator_client" in graph and "web.openai_v1.images" in graph  # it read the tree
    assert cycles(graph) == []


def test_the_finder_sees_a_cycle_hidden_in_a_function():
    tree = ast.parse("import os\nif TYPE_CHECKING:\n    import jobs\nelse:\n    import web\n\n"
                     "def later():\n    from service import ImageService\n")
    known = {name: Path(f"{name}.py") for name in ("service", "jobs", "web")}
    assert imported(tree, known) == {"service", "web"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_contracts_import_no_implementation():
    graph = import_graph()
    assert not {name for name in graph["generator_client"] if name.startswith("providers")}
    assert not {name for name in graph["storage"] if name.startswith("storage.")}
    assert not {name for name in graph["jobs"] if name.startswith("jobs.")}
    assert not {name for name in graph["errors"]}
