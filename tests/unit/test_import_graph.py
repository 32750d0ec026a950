"""The import graph: the domain never imports a web framework or Redis, and RDKit stays in chem/.

Parsed with ``ast`` (nothing is imported), so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.paths import SRC

DOMAIN = ("query", "execution", "steps", "chem", "library")
WEB_OR_REDIS = {"fastapi", "starlette", "redis"}
CHEMISTRY = {"rdkit", "chembl_structure_pipeline"}
# FPSim2 is the fingerprint engine: written by the index builder, searched by similarity.
FPSIM2_ALLOWED = {"library/similarity.py", "library/build.py"}


def _literal_import(node: ast.AST) -> str | None:
    """The module named by ``__import__("x")`` or ``importlib.import_module("x")``."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    named = (isinstance(func, ast.Name) and func.id == "__import__") or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    first = node.args[0]
    if named and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def imported_roots(path: Path) -> set[str]:
    """Top-level package names imported anywhere in ``path`` (absolute imports only)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (name := _literal_import(node)) is not None:
            roots.add(name.split(".")[0])
    return roots


def modules(*packages: str) -> list[Path]:
    found: list[Path] = []
    for package in packages:
        found.extend(sorted((SRC / package).rglob("*.py")))
    return found


def relative(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def test_source_tree_found() -> None:
    domain = modules(*DOMAIN)
    assert len(domain) >= 25, "the domain packages look empty: is SRC right?"
    assert any(relative(p) == "chem/molecule.py" for p in domain)


def test_parser_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os.path\nfrom redis.asyncio import Redis\nfrom . import sibling\n"
        "def lazy():\n    from fastapi import FastAPI\n    __import__('starlette')\n"
        "    importlib.import_module('rdkit.Chem')\n",
        encoding="utf-8",
    )
    assert imported_roots(sample) == {"os", "redis", "fastapi", "starlette", "rdkit"}


@pytest.mark.parametrize("path", modules(*DOMAIN), ids=relative)
def test_domain_imports_no_web_framework_or_redis(path: Path) -> None:
    assert not imported_roots(path) & WEB_OR_REDIS


def test_only_chem_imports_rdkit() -> None:
    offenders = {
        relative(path): sorted(imported_roots(path) & CHEMISTRY)
        for path in modules(".")
        if not relative(path).startswith("chem/") and imported_roots(path) & CHEMISTRY
    }
    assert offenders == {}


def test_fpsim2_only_in_library() -> None:
    users = {relative(p) for p in modules(".") if "FPSim2" in imported_roots(p)}
    assert users <= FPSIM2_ALLOWED
    assert "library/similarity.py" in users
