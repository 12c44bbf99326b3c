"""The layers hold: what the import contracts cannot say, said on the real import graph.

The contracts in pyproject.toml (run by `lint-imports`) keep screens > widgets > console >
backends and keep Textual out of console and backends. These tests add: the kernel imports
nothing of the project but itself, no module imports the test tree, and there is no import
cycle anywhere, between a package and its own modules included.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("console", "backends", "screens", "widgets")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Type-only imports count: a cycle through `if TYPE_CHECKING:` is still a cycle.
    return grimp.build_graph(*PACKAGES, include_external_packages=True,
                             exclude_type_checking_imports=False)


def _project(module: str) -> bool:
    return module.split(".", 1)[0] in PACKAGES


def test_the_kernel_imports_nothing_of_the_project_but_itself(graph: grimp.ImportGraph) -> None:
    kernel = {"console.core", *graph.find_descendants("console.core")}
    wrong = sorted(f"{module} -> {imported}" for module in kernel
                   for imported in graph.find_modules_directly_imported_by(module)
                   if _project(imported) and imported not in kernel)
    assert wrong == []


def test_product_code_never_imports_the_tests(graph: grimp.ImportGraph) -> None:
    wrong = sorted(f"{module} -> {imported}" for module in graph.modules if _project(module)
                   for imported in graph.find_modules_directly_imported_by(module)
                   if imported == "tests" or imported.startswith("tests."))
    assert wrong == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_anywhere(graph: grimp.ImportGraph) -> None:
    edges = {module: {m for m in graph.find_modules_directly_imported_by(module) if _project(m)}
             for module in graph.modules if _project(module)}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle_through_a_package() -> None:
    edges = {"a": {"a.b"}, "a.b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "a.b", "c"]]
