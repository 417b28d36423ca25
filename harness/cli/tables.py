"""Tables on the terminal: as wide as the terminal, plain TSV when piped.

On a terminal a table takes the terminal's width (``COLUMNS`` when set) and folds long cells
instead of cutting them, never inside a word (an outcome, a workflow, a run id); colour
follows ``NO_COLOR`` (rich reads it). When the output is a pipe or a file, the same rows come
out as tab-separated values with a header line: one row per line, no truncation, nothing to
strip. ``TTY_COMPATIBLE=1`` forces the terminal form.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.errors import terminal_safe

_WORD = re.compile(r"[\w-]{1,24}")  # one word: an outcome, a workflow, a run id, a number


def _cell(value: object) -> str:
    """One cell on one line, escape codes shown, not acted on (cells hold issue titles and
    reasons: untrusted text)."""
    text = "" if value is None else str(value)
    text = " ".join(text.split()) if any(c in text for c in "\t\r\n") else text
    return terminal_safe(text)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """``rows`` under ``columns``: a folded table on a terminal, TSV otherwise."""
    target = Console(highlight=False, soft_wrap=False)
    if not target.is_terminal:
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join(_cell(v) for v in row))
        return
    table = Table(
        title=title, expand=False, title_justify="left", box=box.SIMPLE_HEAD, padding=0
    )  # columns one space apart: 80 columns hold a row of runs
    cells = [[_cell(v) for v in row] for row in rows]
    for i, name in enumerate(columns):
        # a column of single words (an outcome, a workflow, a run id, a number) is never
        # split; the others (times, costs, titles, reasons) fold to make room
        words = all(_WORD.fullmatch(row[i]) for row in cells if row[i])
        table.add_column(name, overflow="fold", no_wrap=bool(cells) and words)
    for row in cells:
        table.add_row(*(Text(cell) for cell in row))  # Text: no rich markup in cells
    target.print(table)
