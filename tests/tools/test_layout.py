"""The structure docs/architecture.md describes: small modules, and no two service/ packages
importing each other (the full layering is import-linter's contract in pyproject.toml, which
`make lint` checks; this walks every import, also those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"
MAX_LINES = 500


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def _package(name: str) -> str | None:
    """The service/ sub-package `name` belongs to (None for top-level modules)."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "service" or not (SERVICE / parts[1]).is_dir():
        return None
    return parts[1]


def test_no_module_under_service_is_longer_than_500_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in SERVICE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_two_service_packages_import_each_other():
    edges: dict[str, set[str]] = {}
    for path in SERVICE.rglob("*.py"):
        source = _package(_module(path))
        if source is None:
            continue
        for name in _imports(path):
            target = _package(name)
            if target is not None and target != source:
                edges.setdefault(source, set()).add(target)
    pairs = sorted(
        {tuple(sorted((a, b))) for a, targets in edges.items() for b in targets if a in edges.get(b, set())}
    )
    assert pairs == []
