"""Work counted, not timed: how many Python lines a call executes (its own and every library's
in Python). A scan that grows with the square of its input shows it in this count on any
machine, however loaded; a timing would not. Work done inside C (a regular expression's
backtracking) is not counted: such scans are fed a megabyte under a timeout instead."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any


def lines_run(fn: Callable[..., Any], *args: Any) -> int:
    """The number of Python lines ``fn(*args)`` executes."""
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        fn(*args)
    finally:
        sys.settrace(previous)
    return count


def growth(fn: Callable[[str], Any], make: Callable[[int], str], small: int, factor: int) -> float:
    """How many times more lines ``fn`` runs on an input ``factor`` times larger: about
    ``factor`` for a linear scan, about ``factor`` squared for a quadratic one."""
    fn(make(small))  # first-use costs (caches, imports) out of the count
    return lines_run(fn, make(small * factor)) / lines_run(fn, make(small))
