"""SECURITY.md names tests for its promises: every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def named_tests() -> list[tuple[str, str | None]]:
    """(file, test) for each `tests/….py::test` or `::test` (same file as the one before)."""
    names = []
    for line in (ROOT / "SECURITY.md").read_text().splitlines():
        current = None
        for match in re.finditer(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", line):
            path, test = match.groups()
            if path is None and test is None:
                continue
            current = path or current
            assert current is not None, f"'::{test}' without a file before it: {line}"
            names.append((current, test))
    return names


def test_every_test_security_md_names_exists():
    names = named_tests()
    assert len(names) > 40
    missing = []
    for path, test in names:
        file = ROOT / path
        if not file.exists():
            missing.append(path)
        elif test and not re.search(rf"^def {test}\(", file.read_text(), re.MULTILINE):
            missing.append(f"{path}::{test}")
    assert missing == []
