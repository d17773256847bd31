"""The folder tree is the architecture: imports between dockovn's top-level packages run
one way only (cli -> plugin -> network -> ovn/host/cloud; the operator's tools in
diagnose/ and ui/ beside network/; metrics/ a leaf every layer may count in). A new import against the grain fails here, naming the file."""

from __future__ import annotations

import ast
import pathlib

import dockovn

ROOT = pathlib.Path(dockovn.__file__).parent
BASE = {"ovsdb", "deadline", "metrics", "__version__"}

# package -> the packages it may import (besides itself)
ALLOWED = {
    "__main__": {"cli"},
    "cli": {"plugin", "network", "diagnose", "deploy", "ovn", "host", "cloud", "balancer",
            "ui"},
    "plugin": {"network"},
    "diagnose": {"network", "ovn", "host", "deploy"},
    "ui": {"diagnose", "network", "ovn"},
    "balancer": {"network", "ovn"},
    "network": {"ovn", "host", "cloud"},
    "deploy": {"host", "ovn"},
    "ovn": set(),
    "host": set(),
    "cloud": set(),
    "ovsdb": {"deadline", "metrics"},
    "deadline": set(),
    "metrics": set(),
}


def _imported_packages(path: pathlib.Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "dockovn":
                names = [f"dockovn.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "dockovn" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_package_is_known():
    tops = {p.name.removesuffix(".py") for p in ROOT.iterdir()
            if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert tops <= set(ALLOWED), f"new top-level package(s) {tops - set(ALLOWED)}: place them in ALLOWED"


def test_imports_run_one_way():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        top = path.relative_to(ROOT).parts[0].removesuffix(".py")
        if top == "__init__":
            continue
        for imported in _imported_packages(path) - {top}:
            allowed = ALLOWED[top] | (BASE if top not in ("ovsdb", "deadline", "metrics")
                                      else ALLOWED[top])
            if imported not in allowed:
                wrong.append(f"{path.relative_to(ROOT)} imports dockovn.{imported}")
    assert not wrong, "\n".join(wrong)
