"""Whether a change's tests prove anything, read from git's objects (no checkout): the tests
it loses and a bug fix's own tests, which the route (``harness.validate.route``) turns into the
``tests_kept`` and ``bug_test_fails_before`` gates. A test is its id, never a count
(docs/gates.md, "Tests by identity")."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Protocol

from harness.globs import matching
from harness.pysource import parse

_CODE = (".py", ".js", ".ts", ".jsx", ".tsx")
_SPECS = tuple(f"*.{kind}{ext}" for kind in ("test", "spec") for ext in _CODE[1:])
TEST_FILES = ("test_*.py", "*_test.py", "tests.py", *_SPECS)
TEST_FOLDERS = ("tests", "test", "__tests__")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SKIPPED = ("skip", "skipif", "xfail")
_SKIPS = ("skip", "xfail", "skipTest")  # a body that starts by calling one skips itself
# a describe/it/test call and its title: x/f prefixes, .only/.skip/.todo… modifiers
_JS_CALL = re.compile(
    r"(?<![\w.$])(x|f)?(describe|it|test)((?:\.\w+)*)\s*(\()\s*(['\"`])((?:\\.|(?!\5).)*)\5", re.S
)
_JS_TOKENS = re.compile(
    r"//[^\n]*|/\*.*?\*/|'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"|`(?:\\.|[^`\\])*`|[()]", re.S
)
_JS_ASSERT = re.compile(r"(?<![\w.])(?:expect|assert)\s*[.(]")


class Blobs(Protocol):
    def read_blob(self, ref: str, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class Test:
    """One test: whether it runs (not skipped, expected to fail or left to do) and its
    assertions."""

    runs: bool
    assertions: int


def is_test_file(path: str) -> bool:
    *folders, name = path.split("/")
    in_folder = name.endswith(_CODE) and any(f in TEST_FOLDERS for f in folders)
    return in_folder or bool(matching(name, TEST_FILES))


def tests_in(path: str, data: bytes | None) -> dict[str, Test]:
    """The tests of file ``path`` holding ``data``, by id (none: absent or not code)."""
    text = "" if data is None else data.decode("utf-8", errors="replace")
    return _python(path, text) if path.endswith(".py") else _javascript(path, text)


def _python(path: str, text: str) -> dict[str, Test]:
    """Test functions at the top level or in classes (at any depth), as pytest finds them."""
    try:
        body = parse(text).body
    except (SyntaxError, ValueError):
        return {}
    found: dict[str, Test] = {}
    todo: list[tuple[str, bool, list[ast.stmt]]] = [(path, True, body)]
    while todo:
        where, runs, statements = todo.pop()
        for node in statements:
            if isinstance(node, ast.ClassDef):
                skipped = any(_marks_skip(d) for d in node.decorator_list)
                todo.append((f"{where}::{node.name}", runs and not skipped, node.body))
            elif isinstance(node, _FUNCTIONS) and node.name.startswith("test"):
                skipped = any(_marks_skip(d) for d in node.decorator_list) or _skips_itself(node)
                count = sum(_is_assertion(n) for n in ast.walk(node))
                found[f"{where}::{node.name}"] = Test(runs and not skipped, count)
    return found


def _javascript(path: str, text: str) -> dict[str, Test]:
    """Each ``it``/``test`` call whose title is a literal, by its title path through the
    ``describe`` calls around it (calls inside strings or comments are not code)."""
    close: dict[int, int] = {}
    opened: list[int] = []
    for token in _JS_TOKENS.finditer(text):
        if token.group() == "(":
            opened.append(token.start())
        elif token.group() == ")" and opened:
            close[opened.pop()] = token.start()
    calls = [m for m in _JS_CALL.finditer(text) if m.start(4) in close]
    found: dict[str, Test] = {}
    describes = [c for c in calls if c.group(2) == "describe"]
    for call in (c for c in calls if c.group(2) != "describe"):
        start = call.start(4)
        chain = [*(c for c in describes if c.start(4) < start < close[c.start(4)]), call]
        titles = [c.group(6) for c in chain]
        skipped = any(c[1] == "x" or re.search(r"\.(skip|todo)\b", c[3]) for c in chain)
        count = len(_JS_ASSERT.findall(text, start, close[start]))
        found[f"{path}::{' > '.join(titles)}"] = Test(not skipped, count)
    return found


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
    return isinstance(func, ast.Attribute) and func.attr in _SKIPS


def _is_assertion(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return True
    func = node.func if isinstance(node, ast.Call) else None
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return str(name).startswith(("assert", "expect"))


def tests_lost(repo: Blobs, before: str, after: str, paths: list[str]) -> list[str]:
    """Each existing test of the test files among ``paths`` (those that differ between the
    commits) that ran on ``before`` and is lost on ``after``: gone (removed or renamed),
    skipped, or with fewer assertions — one line each, naming it (empty: all are kept)."""
    lost = []
    for path in sorted(p for p in paths if is_test_file(p)):
        old, data = tests_in(path, repo.read_blob(before, path)), repo.read_blob(after, path)
        if old and data is None:
            named = ", ".join(list(old)[:5]) + (" …" if len(old) > 5 else "")
            lost.append(f"{path}: removed, with {len(old)} tests: {named}")
            continue
        new = tests_in(path, data)
        for name, test in ((n, t) for n, t in old.items() if t.runs):
            now = new.get(name)
            if now is None:
                lost.append(f"{name}: gone (removed or renamed)")
            elif not now.runs:
                lost.append(f"{name}: skipped")
            elif now.assertions < test.assertions:
                lost.append(f"{name}: {test.assertions} assertions before, {now.assertions} after")
    return lost


def new_tests(repo: Blobs, after: str, paths: list[str]) -> list[str]:
    """The test files among ``paths`` that hold at least one test on ``after``."""
    found = (p for p in sorted(paths) if is_test_file(p))
    return [p for p in found if tests_in(p, repo.read_blob(after, p))]
