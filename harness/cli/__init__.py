"""The ``factory`` command: a thin face over the engine.

Each command group lives in its own module and is registered here. Every error
becomes one line on stderr and an exit code (0 ok, 1 refused, 2 usage/config).
"""

from __future__ import annotations

import atexit
import errno
import gc
import importlib
import os
import re
import sqlite3
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import click

from harness.cli.common import PathText, undecodable_argument
from harness.errors import ConfigErrors, FactoryError
from harness.paths import clip

# module name -> attribute names of click commands/groups it contributes (each command's name
# is its attribute's, but ``run``); a command's module is imported only when it is run or the
# help lists it
_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("harness.cli.setup", ("init", "check")),
    ("harness.cli.issue", ("issue",)),
    (
        "harness.cli.work",
        ("triage", "implement", "validate", "run_command", "queue", "retry", "prune"),
    ),
    ("harness.cli.state", ("status", "runs", "report", "stop", "resume")),
    ("harness.cli.demo", ("demo",)),
    ("harness.cli.apply", ("apply",)),
    ("harness.cli.doctor", ("doctor",)),
    ("harness.cli.review", ("approve", "reject", "cancel", "diff")),
    ("harness.cli.serve", ("serve",)),
    ("harness.cli.ack", ("ack",)),
    ("harness.cli.backtest", ("backtest",)),
    ("harness.cli.lessons", ("lessons",)),
    ("harness.cli.mcp", ("mcp",)),
    ("harness.cli.audit", ("audit",)),
    ("harness.cli.heal", ("health", "flaky", "checks")),
)
_WHERE = MappingProxyType(
    {n.removesuffix("_command"): (m, n) for m, names in _COMMANDS for n in names}
)


class _Commands(click.Group):
    """The commands of ``_COMMANDS``, each module imported when its command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_WHERE)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _WHERE:
            return None
        module, name = _WHERE[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), name)
        return command


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--repo",
    type=PathText(file_okay=False),
    help="Target repository (default: the git repository around the current directory).",
)
@click.option(
    "--provider",
    type=click.Choice(["auto", "anthropic", "scripted", "replay"]),
    help="Model provider, overriding factory.yaml (auto: anthropic if ANTHROPIC_API_KEY is set).",
)
@click.option(
    "--plan",
    type=PathText(file_okay=False),
    envvar="FACTORY_PLAN_DIR",
    help="Plan mode (forge: github): write nothing to GitHub, record every write in this "
    "folder for 'factory apply' (lets agent jobs run with a read-only token).",
)
@click.version_option(package_name="dark-factory-harness", prog_name="factory")
@click.pass_context
def cli(ctx: click.Context, repo: str | None, provider: str | None, plan: str | None) -> None:
    """Dark factory harness: triage, implement, validate and merge issues inside hard limits."""
    # --plan: every forge this command builds plans instead of writing (given to it as such)
    ctx.obj = {"repo": repo, "provider": provider, "plan": Path(plan).resolve() if plan else None}


_LONG_WORD = re.compile(r"\S{241,}")


def _line(message: str) -> str:
    """An error line as printed: one line (a line break becomes a space), and a value given at
    any length (a 5,000-character run id or package URL echoed back) is shortened around an
    ellipsis, so the line stays one line."""
    return _LONG_WORD.sub(lambda m: clip(m.group(0), 200), message.replace("\n", " "))


def _fail(message: str, code: int) -> None:
    click.echo(f"factory: error: {_line(message)}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the console script and ``python -m harness``."""
    if argv is None:  # the process's own command: its exit need not free what it made (the
        # model SDK's classes, a second of the interpreter's finalization), frozen after
        # every other exit handler (docs/architecture.md, the ``harness/cli`` row)
        atexit.register(gc.freeze)
    args = list(sys.argv[1:] if argv is None else argv)
    bad_bytes = undecodable_argument(args)
    if bad_bytes:
        _fail(bad_bytes, 2)
    try:
        code = cli.main(args=args, prog_name="factory", standalone_mode=False)
        if isinstance(code, int) and code:  # ctx.exit(n) comes back as a return value
            sys.exit(code)
        return code
    except click.exceptions.Abort:
        _fail("aborted", 1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        sub = exc.ctx.command_path.partition(" ")[2] if exc.ctx else None
        hint = (
            "" if sub is None else f" (see 'factory {sub} --help')".replace("factory  ", "factory ")
        )
        _fail(exc.format_message() + hint, 2)
    except click.ClickException as exc:
        _fail(exc.format_message(), 2)
    except ConfigErrors as exc:
        for problem in exc.problems:
            click.echo(f"factory: error: {_line(str(problem))}", err=True)
        sys.exit(exc.exit_code)
    except FactoryError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # a bug: one line, the traceback only on request
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:  # a name given to us
            _fail(f"{clip(str(exc.filename))}: {exc.strerror}", 2)
        if isinstance(exc, sqlite3.Error):  # the state database failed mid-command: unusable?
            from harness.caches import PROCESS
            from harness.store.db import Opened
            from harness.store.health import explain

            opened = PROCESS.part(Opened).last
            if opened and (state := explain(exc, opened)):
                _fail(str(state), state.exit_code)
        if os.environ.get("FACTORY_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (FACTORY_DEBUG=1 shows where)", 1)
    return None
