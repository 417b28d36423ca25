"""The harness parses Python one thread at a time (harness/pysource.py)."""

from __future__ import annotations

import ast
import threading
import time
from typing import Any

import pytest

from harness import pysource


def test_two_threads_never_build_a_syntax_tree_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython 3.11 shares the AST constructor's recursion count between threads: parses
    side by side can fail with "AST constructor recursion depth mismatch". A parse that
    waits inside shows whether another thread entered meanwhile (fault seen caught: the
    lock removed, two threads are inside at once)."""
    inside: list[int] = []
    most = [0]
    real = ast.parse

    def slow_parse(text: str, *args: Any, **kwargs: Any) -> ast.Module:
        inside.append(1)
        most[0] = max(most[0], len(inside))
        time.sleep(0.01)  # a window for another thread, not a timing assertion
        inside.pop()
        return real(text, *args, **kwargs)

    monkeypatch.setattr(ast, "parse", slow_parse)
    threads = [threading.Thread(target=pysource.parse, args=("x = 1",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1


def test_a_parse_is_python_s_own() -> None:
    assert ast.dump(pysource.parse("def test_a(): assert 1")) == ast.dump(
        ast.parse("def test_a(): assert 1")
    )
