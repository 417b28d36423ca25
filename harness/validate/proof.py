"""Whether a change's tests prove anything, read from git's objects (no checkout): a change
that removes, skips or empties an existing test is never merged on its own; a bug fix must
bring a test that fails on production. The route (``harness.validate.route``) turns what is
found here into the ``tests_kept`` and ``bug_test_fails_before`` gates.

What counts as a test file, and as a test in it, is documented in docs/how-it-works.md, "How
validation works": Python files are parsed (``ast``), JavaScript and TypeScript files are counted by
their ``it(``/``test(`` calls and ``expect(`` assertions."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Protocol

from harness.config.globs import matching

TEST_FILES = (
    "test_*.py",
    "*_test.py",
    "tests.py",
    "*.test.js",
    "*.test.ts",
    "*.test.jsx",
    "*.test.tsx",
    "*.spec.js",
    "*.spec.ts",
    "*.spec.jsx",
    "*.spec.tsx",
)
TEST_FOLDERS = ("tests", "test", "__tests__")
_SKIPPED = ("skip", "skipif", "xfail")
_JS_TEST = re.compile(r"(?<![\w.])x?(?:it|test)(?:\.(?:only|skip|todo|concurrent))?\s*\(")
_JS_SKIPPED = re.compile(r"(?<![\w.])(?:(?:it|test)\.(?:skip|todo)|x(?:it|test))\s*\(")
_JS_ASSERT = re.compile(r"(?<![\w.])(?:expect|assert)\s*[.(]")


class Blobs(Protocol):
    def read_blob(self, ref: str, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class Count:
    """The tests a file holds that run (not skipped or expected to fail) and their
    assertions; ``None`` fields: the file could not be read as code."""

    tests: int
    assertions: int


def is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    if matching(name, TEST_FILES):
        return True
    folders = path.split("/")[:-1]
    return name.endswith((".py", ".js", ".ts", ".jsx", ".tsx")) and any(
        f in TEST_FOLDERS for f in folders
    )


def count_tests(path: str, data: bytes | None) -> Count:
    if data is None:
        return Count(0, 0)
    text = data.decode("utf-8", errors="replace")
    if path.endswith(".py"):
        return _python(text)
    skipped = len(_JS_SKIPPED.findall(text))
    return Count(max(0, len(_JS_TEST.findall(text)) - skipped), len(_JS_ASSERT.findall(text)))


def _python(text: str) -> Count:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return Count(0, 0)
    tests = assertions = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            if any(_marks_skip(d) for d in node.decorator_list) or _skips_itself(node):
                continue
            tests += 1
            assertions += sum(_is_assertion(n) for n in ast.walk(node))
    return Count(tests, assertions)


def _marks_skip(decorator: ast.expr) -> bool:
    """``@pytest.mark.skip``/``skipif``/``xfail`` (called or not), ``@unittest.skip…``."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return str(name).startswith(_SKIPPED)


def _skips_itself(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A body whose first statement is ``pytest.skip(…)``/``pytest.xfail(…)`` or ``return``."""
    first = fn.body[0] if fn.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):  # a docstring
        first = fn.body[1] if len(fn.body) > 1 else None
    if isinstance(first, ast.Return):
        return True
    call = first.value if isinstance(first, ast.Expr) else None
    func = call.func if isinstance(call, ast.Call) else None
    return isinstance(func, ast.Attribute) and func.attr in ("skip", "xfail")


def _is_assertion(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return True
    func = node.func if isinstance(node, ast.Call) else None
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return str(name).startswith(("assert", "expect"))


def tests_lost(repo: Blobs, before: str, after: str, paths: list[str]) -> list[str]:
    """For each test file among ``paths`` (those that differ between the commits): what it
    loses from ``before`` to ``after`` — a file removed, fewer tests that run, or fewer
    assertions — one line each (empty: every existing test is kept)."""
    lost = []
    for path in sorted(p for p in paths if is_test_file(p)):
        old, new = repo.read_blob(before, path), repo.read_blob(after, path)
        if old is None:
            continue  # a new file: nothing existed to lose
        was, now = count_tests(path, old), count_tests(path, new)
        if new is None:
            lost.append(f"{path}: removed ({was.tests} tests)")
        elif now.tests < was.tests:
            lost.append(f"{path}: {was.tests} tests that run before, {now.tests} after")
        elif now.assertions < was.assertions:
            lost.append(f"{path}: {was.assertions} assertions before, {now.assertions} after")
    return lost


def new_tests(repo: Blobs, after: str, paths: list[str]) -> list[str]:
    """The test files among ``paths`` that hold at least one test on ``after``."""
    found = (p for p in sorted(paths) if is_test_file(p))
    return [p for p in found if count_tests(p, repo.read_blob(after, p)).tests]
