"""The architecture's import rules, guarded by `make test` as well as by `make lint`.

- No import cycle at all between the modules of xiaozhi_hub, endpoints and
  chathistory. grimp (import-linter's graph builder) sees every import,
  including deferred ones inside functions, which are cycles all the same.
- The import-linter contracts in pyproject.toml ([tool.importlinter]) hold.
"""

import subprocess
from itertools import pairwise

import grimp

from tests.services import REPO, bin_path

ROOT_PACKAGES = ("xiaozhi_hub", "endpoints", "chathistory")


def strongly_connected_components(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm over the direct imports, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []

    for root in sorted(graph.modules):
        if root in index:
            continue
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        while work:
            module, imported = work[-1]
            for child in imported:
                if child not in index:
                    index[child] = lowlink[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    break
                if child in on_stack:
                    lowlink[module] = min(lowlink[module], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[module])
                if lowlink[module] == index[module]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.remove(member)
                        component.add(member)
                        if member == module:
                            break
                    components.append(component)
    return components


def one_cycle(graph: grimp.ImportGraph, component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module: [a, b, ..., a]."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for child in sorted(graph.find_modules_directly_imported_by(module) & component):
                if child == start:
                    path = [module]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in previous:
                    previous[child] = module
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    steps = []
    for importer, imported in pairwise(cycle):
        lines = sorted(
            detail["line_number"]
            for detail in graph.get_import_details(importer=importer, imported=imported)
        )
        steps.append(f"{importer} (l.{', '.join(map(str, lines))}) -> ")
    return "".join(steps) + cycle[-1]


def import_cycles(graph: grimp.ImportGraph) -> list[str]:
    cycles = []
    for component in strongly_connected_components(graph):
        if len(component) > 1 or any(
            m in graph.find_modules_directly_imported_by(m) for m in component
        ):
            cycles.append(describe(graph, one_cycle(graph, component)))
    return sorted(cycles)


def test_the_cycle_finder_finds_every_cycle_and_nothing_else():
    graph = grimp.ImportGraph()
    for importer, imported in [
        ("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"),  # a 3-cycle
        ("p.c", "p.d"), ("p.d", "p.e"),  # a tail out of it: no cycle
        ("q.x", "q.y"), ("q.y", "q.x"),  # a 2-cycle (say, one import deferred)
        ("r", "r"),  # a self-import
    ]:  # fmt: skip
        graph.add_import(
            importer=importer, imported=imported, line_number=7, line_contents="import it"
        )
    assert import_cycles(graph) == [
        "p.a (l.7) -> p.b (l.7) -> p.c (l.7) -> p.a",
        "q.x (l.7) -> q.y (l.7) -> q.x",
        "r (l.7) -> r",
    ]


def test_no_import_cycles_between_modules():
    cycles = import_cycles(grimp.build_graph(*ROOT_PACKAGES, cache_dir=None))
    assert not cycles, "import cycles (one path through each):\n" + "\n".join(cycles)


def test_import_linter_contracts_hold():
    result = subprocess.run(
        [bin_path("lint-imports"), "--no-logo", "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
