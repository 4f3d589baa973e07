"""Every module of src/housing, benchmarks/, scripts/ and .ci/ fits in 300 lines and every
function in 50 (decorators and docstring included): a part too long to read in one
screenful is split by its jobs."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
CHECKED = (SRC, ROOT / "benchmarks", ROOT / "scripts", ROOT / ".ci")
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 50


def too_long(path: Path, root: Path = SRC) -> list[str]:
    """The module and each function of ``path`` over its limit, with its length."""
    text = path.read_text()
    found = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{path.relative_to(root)}: {lines} lines")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = node.end_lineno - start + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {length}")
    return found


def test_no_module_or_function_is_too_long():
    assert [f for folder in CHECKED for p in sorted(folder.rglob("*.py"))
            for f in too_long(p, ROOT)] == []


def test_a_long_function_is_caught(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    path = tmp_path / "probe.py"
    path.write_text(f"@decorated\ndef long():\n{body}\n")
    assert too_long(path, tmp_path) == [f"probe.py:2 long: {MAX_FUNCTION_LINES + 2}"]
