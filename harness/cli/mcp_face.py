"""The tools ``factory mcp`` serves (docs/mcp.md): each a method of ``Face`` by the name
``workflows/mcp/tools.yaml`` gives it, answering the record the other faces show
(``harness/reports``) or what the command would print. Its own module: the SDK reads each
tool's signature, whose types are imported here, where serving starts, not when ``factory
--help`` lists the commands."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

from annotated_types import Interval

from harness.backtest.report import BacktestView
from harness.cli.common import Target
from harness.errors import FactoryError, UsageError
from harness.forge.base import IssueJson
from harness.reports.report import RunReport
from harness.reports.runs import RunLine
from harness.reports.status import Status

if TYPE_CHECKING:
    from harness.config.settings import Settings
    from harness.engine.context import Services
    from harness.store.db import Store

Count = Annotated[int, Interval(ge=1, le=1000)]
Issue = Annotated[int, Interval(ge=1, le=2**31 - 1)]


class Face:
    """The tools, each a method over the command's ``target``."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.one_at_a_time = threading.Lock()
        self.state: Store | None = None
        self.opened: Services | None = None
        self.landings: list[threading.Thread] = []

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The process's state, opened at the first call."""
        with self.one_at_a_time:
            self.state = self.state or self.target.store()
            yield self.state

    @contextmanager
    def services(self) -> Iterator[Services]:
        """The process's services, opened again when the production branch moved."""
        with self.store() as store:
            had = self.opened
            branch = f"refs/heads/{had.settings.config.production_branch}" if had else ""
            if had is None or had.repo.rev_parse(branch) != had.settings.governance.commit:
                had = self.target.services(store=store)
                self.opened = had
            yield had

    def status(self, window_days: Annotated[int, Interval(ge=1, le=3650)] = 30) -> Status:
        """The kill switch, runs by status and outcome, spend, earned trust, Autonomy Index."""
        from harness.cli.state import status_of

        with self.store() as s:
            return status_of(self.target, s, window_days)

    def queue(self) -> list[int]:
        """The accepted issues ready to implement, in the order a run takes them."""
        from harness.cycle import ready_to_implement

        with self.services() as s:
            return ready_to_implement(s)

    def runs(self, limit: Count = 20) -> list[RunLine]:
        """The newest runs: workflow, issue, status, outcome, reason, cost, tokens."""
        from harness.reports.runs import run_lines

        with self.store() as s:
            return run_lines(s, s.list_runs(limit=limit), time.time())

    def report(self, run_id: str) -> RunReport:
        """One run: its row, governance hashes, steps with outputs, the sealed validator's
        verdict per criterion, the reviewer's findings, and its issue's diff."""
        from harness.cli.state import report_of

        with self.store() as s:
            return report_of(self.target, s, run_id)

    def diff(self, issue: Issue) -> str:
        """The change the factory's pull request for an issue holds, as a unified diff."""
        from harness.review.change import required_change

        with self.store() as s:
            return required_change(s, self.target.repo(), issue).shown()

    def backtest_summary(self) -> BacktestView | None:
        """The newest `factory backtest`: its summary and a row per case (none: null)."""
        from harness.backtest.report import backtest_view

        with self.store() as s:
            return backtest_view(s)

    def file_issue(self, title: str, body: str = "") -> IssueJson:
        """File an issue on the local forge (on GitHub, people file them there), written by
        MCP's own author (factory.yaml's mcp.author, else "mcp"): never a trusted one."""
        from harness.cli.issue import checked_issue
        from harness.forge.local import LocalForge

        with self.services() as s:
            if not isinstance(s.forge, LocalForge):
                raise UsageError("file_issue: the local forge only (forge: github files on GitHub)")
            checked = checked_issue(title, body, s.settings.config.mcp.author)
            return s.forge.create_issue(*checked).to_json([])

    def approve(self, issue: Issue) -> str:
        """A person approves an issue waiting for review (it lands through validation, every
        gate holding) or for a person (re-queued). Answered once the landing has started;
        `runs` shows when it ends. Only with mcp.decisions: true."""
        return self._decide("approve", issue)

    def reject(self, issue: Issue, reason: str) -> str:
        """A person rejects an issue waiting for review or a person: it and its PR close with
        one comment giving the reason. Only with mcp.decisions: true."""
        return self._decide("reject", issue, reason)

    def cancel(self, issue: Issue, reason: str = "") -> str:
        """A person stops the factory's work on an accepted or in-progress issue: its runs
        end, it waits for a person with one comment; `factory retry` takes it back. Only with
        mcp.decisions: true."""
        return self._decide("cancel", issue, reason)

    def governance(self, name: str) -> str:
        from harness.config.governance import read_on_branch

        with self.services() as s:
            branch = s.settings.config.production_branch
            text = read_on_branch(s.repo, branch, name)
        if text is None:
            raise UsageError(f"{name}: not committed on {branch}")
        return text

    def _decide(self, action: str, issue: int, reason: str = "") -> str:
        from harness.decisions import decide

        with self.services() as s:
            if not s.settings.config.mcp.decisions:
                raise UsageError(
                    f"{action} through MCP is off: a maintainer turns it on by committing "
                    "'mcp: {decisions: true}' in factory.yaml"
                )
            if action != "approve":
                return decide(s, action, issue, None, reason, via="mcp").message
        return self._land(issue, s.settings, s.store)

    def _land(self, issue: int, settings: Settings, store: Store) -> str:
        """The approval in a thread of its own, with services of its own (as a cycle's
        worker has): answered with its first word, when validation starts (or with its end,
        when it re-queued the issue or refused). The server waits for the thread before it
        exits; killed meanwhile, the next ``factory run`` finishes the validation."""
        from harness.decisions import decide

        said: queue.Queue[str | FactoryError] = queue.Queue()

        def land() -> None:
            own = self.target.services(settings=settings, store=store)
            try:
                said.put(
                    decide(
                        own,
                        "approve",
                        issue,
                        None,
                        via="mcp",
                        say=said.put,
                        provider=self.target.provider,
                    ).message
                )
            except FactoryError as exc:
                said.put(exc)

        landing = threading.Thread(target=land, name=f"approve-{issue}")
        self.landings.append(landing)
        landing.start()
        first = said.get()
        if isinstance(first, FactoryError):
            raise first
        return f"{first} (`runs` shows when it ends)"
