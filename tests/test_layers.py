"""Services know nothing of the web: they announce changes (services/changes.py) and the web layer listens."""

from __future__ import annotations

import ast
from pathlib import Path

import relationships

SERVICES = Path(relationships.__file__).parent / "services"
WEB = ("relationships.web", "django.http", "django.contrib.messages")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_service_imports_the_web_layer():
    found = {
        f"{path.relative_to(SERVICES)}: {name}"
        for path in SERVICES.rglob("*.py")
        for name in _imports(path)
        if any(name == web or name.startswith(web + ".") for web in WEB)
    }
    assert not found, sorted(found)
