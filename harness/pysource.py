"""Python source read as its syntax tree, one thread at a time.

CPython 3.11 keeps the AST constructor's recursion count in the interpreter's state, shared
by its threads (python/cpython#106905): two threads that build a tree at once can end one
of them with "SystemError: AST constructor recursion depth mismatch". A cycle's workers read
test files (``validate/proof.py``) and set-up files (``implement/security.py``) side by side,
so every parse of the harness goes through this one lock."""

from __future__ import annotations

import ast
import threading

_ONE_AT_A_TIME = threading.Lock()


def parse(text: str) -> ast.Module:
    """``ast.parse(text)``, never beside another thread's."""
    with _ONE_AT_A_TIME:
        return ast.parse(text)
