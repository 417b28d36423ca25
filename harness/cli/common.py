"""Helpers shared by the command modules: locating the repository, printing JSON."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.decorators import FC

from harness.errors import MAX_INTEGER, UsageError, terminal_safe
from harness.paths import path_problem

if TYPE_CHECKING:
    from harness.config.settings import Settings
    from harness.engine.context import Services
    from harness.forge.github import GitHubForge
    from harness.git.repo import GitRepo
    from harness.store.db import Store


class PathText(click.Path):
    """A path option or argument, checked as text before anything looks it up: a path the
    system cannot take (too long, a name too long, a control character) is one line, exit 2."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        problem = path_problem(value) if isinstance(value, str) else None
        if problem:
            self.fail(problem, param, ctx)
        return super().convert(value, param, ctx)


@dataclasses.dataclass(frozen=True)
class Target:
    """What a command works on, resolved once from the global options (``target_of``): the
    repository, its state folder, ``--provider`` and ``--plan`` (plan mode: every forge a
    command opens records its writes there instead of making them)."""

    root: Path
    state: Path
    provider: str | None
    plan: Path | None

    def store(self) -> Store:
        from harness.store.db import Store

        return Store.open(self.state)

    def repo(self) -> GitRepo:
        """The repository, its state folder the harness's own (as ``open_services`` has it)."""
        from harness.git.repo import GitRepo

        return GitRepo(self.root, own=[self.state])

    def settings(self, sections: bool = True) -> Settings:
        """factory.yaml and the governance as committed, the ``--provider`` applied;
        ``sections``: whether mission.md's are checked (a command that reads no mission
        skips them)."""
        from harness.config.settings import load_settings

        return load_settings(self.root, self.state, self.provider, sections)

    def services(self, **options: Any) -> Services:
        """``open_services`` in plan mode as ``--plan`` says (``options``: its keywords)."""
        from harness.services import open_services

        return open_services(self.root, self.state, self.provider, plan=self.plan, **options)

    def github_forge(self, settings: Settings) -> GitHubForge:
        """The GitHub forge ``settings`` describe, whatever forge they name (``factory
        apply`` and the ``--github`` kill switch write there)."""
        from harness.services import github_forge

        return github_forge(settings, self.store(), self.repo())


def target_of(ctx: click.Context) -> Target:
    """The command's ``Target``: the repository is ``--repo`` or the git top level around
    the cwd."""
    options = ctx.find_root().obj or {}
    explicit = options.get("repo")
    start = Path(explicit).resolve() if explicit else Path.cwd().resolve()
    if explicit and not start.is_dir():
        raise UsageError(f"--repo: {explicit}: no such directory")
    root = next((up for up in (start, *start.parents) if (up / ".git").exists()), None)
    if root is None:
        raise UsageError(f"{start}: not inside a git repository (run 'git init' first)")
    return Target(root, state_dir(root), options.get("provider"), options.get("plan"))


def state_dir(root: Path) -> Path:
    """``FACTORY_STATE_DIR`` or ``<repo>/.factory``."""
    env = os.environ.get("FACTORY_STATE_DIR")
    if env and (problem := path_problem(env)):
        raise UsageError(f"FACTORY_STATE_DIR: {problem}")
    return Path(env).resolve() if env else root / ".factory"


def opened(ctx: click.Context, *, model: bool | str = False, **options: Any) -> Services:
    """The repository's services with ``--provider`` and ``--plan`` (``options``:
    ``open_services``'s); ``model``: the command calls one, so it must be configured (a
    workflow's name: when a step of that workflow, as production has it, is an agent's)."""
    from harness.engine.loader import load_workflow
    from harness.forge.journal import JournalForge
    from harness.model.provider import require_model

    target = target_of(ctx)
    services = target.services(**options)
    if isinstance(services.forge, JournalForge):  # the next job's part of this state, at the end
        ctx.call_on_close(services.forge.hand_off)
    if isinstance(model, str):
        model = any(step.agent for step in load_workflow(services, model).steps)
    if model:
        require_model(services.settings, target.provider)
    return services


def emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=plain))


def plain(value: object) -> object:
    """A record as JSON writes it (``json``'s ``default``): a dataclass's fields (its
    attributes, in their order: no record keeps anything else), a pydantic model's dump (its
    computed fields too), anything else as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return vars(value)
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if dump else str(value)


ISSUE_NUMBER = click.IntRange(1, MAX_INTEGER)
issue_argument = click.argument("number", type=ISSUE_NUMBER)  # the issue a command is about


def json_option(help_text: str) -> Callable[[FC], FC]:
    """``--json`` (``as_json``): the command prints its answer as JSON, ``help_text`` says what."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


class FiniteFloatRange(click.FloatRange):
    """A float range that also refuses ``nan`` and ``inf`` (which compare false to any bound)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def read_stdin_text(option: str) -> str:
    """Standard input as UTF-8 text (``--body -``); anything else is one clear error."""
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{option} -: standard input is not UTF-8 text (byte 0x{data[exc.start]:02x} "
            f"at offset {exc.start})"
        ) from None


def undecodable_argument(argv: list[str]) -> str | None:
    """The one line for the first argument that is not UTF-8 (Python keeps such bytes as lone
    surrogates, which nothing downstream can store or send), or None."""
    for index, arg in enumerate(argv):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            byte = ord(arg[exc.start]) - 0xDC00 if 0xDC80 <= ord(arg[exc.start]) <= 0xDCFF else 0
            name, _, _ = arg.partition("=")
            if arg.startswith("--") and "=" in arg:
                where = name
            elif index and argv[index - 1].startswith("-") and not arg.startswith("-"):
                where = argv[index - 1]
            else:
                where = f"argument {index + 1}"
            position = exc.start + 1 - (len(name) + 1 if where == name else 0)
            return (
                f"{where}: not UTF-8 text (byte 0x{byte:02x} at position {position}); "
                "give text and paths in UTF-8"
            )
    return None


def echo_report(template: str, **context: object) -> None:
    """Print what the text template ``workflows/report/<template>`` writes of the records
    ``context`` names (``harness/reports``): all of it as a terminal may print it
    (``terminal_safe``: a value a run or a stranger wrote cannot act on the terminal)."""
    from harness.reports.text import render

    click.echo(terminal_safe(render(template, **context)), nl=False)  # each line ends in a newline
