"""Every page's first statement after its imports is the sign-in/role guard.

A file in `pages/` runs directly when its URL is opened on a freshly started server, before `app.py`;
imports draw nothing, so the guard must come before anything else the page does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PAGES = sorted((Path(__file__).resolve().parent.parent / "pages").glob("*.py"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_the_guard_is_the_first_statement_after_the_imports(page: Path):
    body = ast.parse(page.read_text()).body
    statements = [
        node
        for node in body
        if not isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
    ]
    first = statements[0]
    assert ast.unparse(first) == "user = require_access(__file__)", ast.unparse(first)
    imports_after = [
        node
        for node in body
        if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno > first.lineno
    ]
    assert not imports_after, "imports after the guard"
    assert "noqa: E402" not in page.read_text()


def test_every_page_is_checked():
    assert len(PAGES) >= 18
