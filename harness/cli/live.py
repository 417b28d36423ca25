"""A live status line on stderr for long steps: the stage, the time it has taken, and
(for commands that spend) the money spent so far.

On a terminal it is one line redrawn in place (rich); elsewhere each stage is printed once
(for multi-stage commands), so logs stay readable."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from harness.store.db import Store


class _Line:
    def __init__(self, title: str) -> None:
        self.title = title
        self.stage = "starting …"
        self.started = time.monotonic()
        self.spent: float | None = None  # read when the stage changes, in the caller's thread

    def __rich__(self) -> str:  # re-rendered on every refresh: the clock keeps moving
        text = f"{self.title}: {self.stage}  {time.monotonic() - self.started:.0f}s"
        if self.spent is not None:
            text += f"  ${self.spent:.4f} spent"
        return text


@contextmanager
def live_line(
    title: str, store: Store | None = None, quiet: bool = False, piped: bool = True
) -> Iterator[Callable[[str], None]]:
    """``with live_line("run") as say: say("triage …")`` — say() sets the current stage;
    ``store``: the money spent since the line started is shown, as the store counts it.
    ``quiet`` (the command prints JSON): nothing is said. Piped, stages are printed one per
    line (or not at all without ``piped``)."""
    if quiet:
        yield lambda _: None
        return
    from rich.console import Console  # when first needed: ``factory --help`` lists this module

    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        if piped:
            yield lambda line: click.echo(f"{title}: {line}", err=True)
        else:
            yield lambda _: None
        return
    from harness.store.base import utc_now

    spend = partial(store.spend, since=utc_now()) if store else None
    line = _Line(title)
    with console.status(line, refresh_per_second=2):

        def say(text: str) -> None:
            line.stage = text.strip()
            if spend is not None:
                line.spent = spend()

        yield say
