"""The console is an app of its own, and its dependencies on the apps are visible ones.

Where it sits in the graph (only the composition roots import it, it imports
no cycle) is import-linter's job (tests/test_architecture.py). What import-linter
cannot see is an import by name at run time; these tests read the source (ast)
to keep those out.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.apps import apps

from tests.services import REPO

CONSOLE = REPO / "xiaozhi_hub" / "console"
APPS = {"endpoints", "chathistory"}


def imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """(module imported, inside a function?) for every absolute import of a module."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, nested) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.append(("." * child.level + (child.module or ""), nested))
            visit(child, nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(tree, False)
    return found


def called_names(tree: ast.Module) -> set[str]:
    return {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }


def test_the_console_is_a_django_app_of_its_own():
    config = apps.get_app_config("console")
    assert config.name == "xiaozhi_hub.console"
    assert Path(config.path) == CONSOLE


def test_the_console_reaches_the_apps_through_plain_imports_in_one_module():
    """A renamed selector or service breaks the console when it loads, not when a page asks."""
    reaching = {}
    for path in sorted(CONSOLE.glob("*.py")):
        tree = ast.parse(path.read_text())
        found = imports(tree)
        # At the top of the module: none of them is there for app-loading order.
        assert [m for m, nested in found if nested] == [], path.name
        assert "importlib" not in {m.split(".")[0] for m, _ in found}, path.name
        assert not called_names(tree) & {"import_module", "get_model", "__import__"}, path.name
        reached = {m.split(".")[0] for m, _ in found} & APPS
        if reached:
            reaching[path.name] = reached
    assert reaching == {"data.py": APPS}


def test_the_layering_check_sees_deferred_and_dynamic_imports():
    tree = ast.parse(
        "import importlib\n"
        "from . import protocol\n"
        "def later():\n"
        "    from endpoints.models import Endpoint\n"
        "    return importlib.import_module('chathistory.selectors')\n"
    )
    assert imports(tree) == [("importlib", False), (".", False), ("endpoints.models", True)]
    assert "import_module" in called_names(tree)
