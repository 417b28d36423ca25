"""The error hierarchy. The CLI turns each into one line on stderr and an exit code."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic is not imported by every command
    from pydantic import BaseModel


class ErrorKind(StrEnum):
    """What kind of failure an error is: stored next to a failed step's message, and what
    labels and routing read (never the message's words)."""

    LEASE = "lease"  # another runner holds the issue, or our lease was lost
    BUDGET = "budget"  # a spend cap from the rules
    QUOTA = "quota"  # the provider account is out of credit
    GATE = "gate"  # a gate computed in code said no
    TESTS = "tests"  # the project's tests failed
    DECLINED = "declined"  # an agent declined the work (a person decides)
    REFUSED = "refused"  # a step ran and said no for another reason
    CONFIG = "config"
    MODEL = "model"  # the model's service failed: unreachable, an error it answered
    AGENT = "agent"  # the model answered, but its agent did not finish the work with it
    FORGE = "forge"
    SANDBOX = "sandbox"
    GIT = "git"
    KILLED = "killed"  # the kill switch
    DEFERRED = "deferred"  # must wait (a long retry-after)
    INCONCLUSIVE = "inconclusive"  # the environment, not the work: tried again later
    INTERNAL = "internal"


class FactoryError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code = 1
    kind: ErrorKind = ErrorKind.INTERNAL

    def __init_subclass__(cls, kind: ErrorKind | None = None, exit_code: int = 0) -> None:
        """A subclass names its kind and exit code in its header (else it keeps its base's)."""
        super().__init_subclass__()
        cls.kind = kind or cls.kind
        cls.exit_code = exit_code or cls.exit_code


class ConfigErrors(FactoryError, kind=ErrorKind.CONFIG, exit_code=2):
    """Configuration problems (``factory check`` prints them all): several at once, or one,
    a ``ConfigError``, which is its own list of problems."""

    def __init__(self, problems: list[ConfigError]) -> None:
        self.problems = problems
        first = str(problems[0]) if problems else "configuration is invalid"
        more = f" (and {len(problems) - 1} more; run 'factory check')" if len(problems) > 1 else ""
        super().__init__(first + more)

    def first(self, where: str = "") -> ConfigError:
        """The first problem alone, ``where`` after its text and how many more follow (a
        command that reads one file in passing says one line, not a list)."""
        head = self.problems[0] if self.problems else ConfigError(where, "(file)", "is invalid")
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return ConfigError(
            head.file, head.key, f"{head.problem}{' ' + where if where else ''}{more}"
        )


class ConfigError(ConfigErrors):
    """Bad configuration or governance: ``file: key: what is wrong``."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        FactoryError.__init__(self, f"{file}: {key}: {problem}")
        self.problems = [self]


class UsageError(FactoryError, kind=ErrorKind.CONFIG, exit_code=2):
    """The command line asked for something that cannot be done."""


class NotFoundError(UsageError):
    """A named thing (issue, run, PR) does not exist."""


class StoppedError(FactoryError, kind=ErrorKind.KILLED):
    """The kill switch is engaged: no new step starts."""


class Cancelled(StoppedError):
    """A person stopped the run's issue (``factory cancel``, ``factory reject``): the run
    ends where it is, never resumed."""


class _Stop(threading.local):
    """Why this thread's run must stop at once (``stopping``), asked by ``stop_now``."""

    why: Callable[[], str | None] = staticmethod(lambda: None)


_STOP = _Stop()


@contextmanager
def stopping(why: Callable[[], str | None]) -> Iterator[None]:
    """While this thread runs a workflow: ``why()`` says why its run must stop at once (a
    person cancelled its issue), asked by the long waits below the engine (``stop_now``)."""
    before, _STOP.why = _STOP.why, why
    try:
        yield
    finally:
        _STOP.why = before


def carried() -> Callable[[], AbstractContextManager[None]]:
    """This thread's ``stopping``, for a thread it hands its run's work to (a check, a
    forwarded model call): its waits stop when this run must."""
    return partial(stopping, _STOP.why)


def stop_now() -> None:
    """Raise ``Cancelled`` when this thread's run must stop at once (``stopping``): the
    engine asks before each step and model call, a sandboxed command every half second (its
    processes end with it), a model answer every second (its request aborted)."""
    if said := _STOP.why():
        raise Cancelled(said)


class DeferredError(FactoryError, kind=ErrorKind.DEFERRED):
    """Work must wait (e.g. a long ``retry-after``); it is picked up again later."""

    def __init__(self, reason: str, not_before: float) -> None:
        self.reason = reason
        self.not_before = not_before
        super().__init__(reason)


class Inconclusive(DeferredError, kind=ErrorKind.INCONCLUSIVE):
    """The environment stopped a check, not the work (an app still starting when its time
    was up, set-up failing on production's own tree): never a verdict, tried again later."""


class ModelError(FactoryError, kind=ErrorKind.MODEL):
    """The model provider failed in a way retries did not fix."""


class AgentError(ModelError, kind=ErrorKind.AGENT):
    """An agent that did not finish: out of turns, answers it could not use, a refusal."""


class QuotaError(ModelError, kind=ErrorKind.QUOTA):
    """The account is out of credit or quota: fatal, never retried."""


class BudgetExceeded(FactoryError, kind=ErrorKind.BUDGET):
    """A call would take spend past a cap from the rules."""


class LeaseError(FactoryError, kind=ErrorKind.LEASE):
    """An issue is claimed by another runner, or our lease was lost (fencing)."""


class ForgeError(FactoryError, kind=ErrorKind.FORGE):
    """The forge refused or failed a request."""


class GitError(FactoryError, kind=ErrorKind.GIT):
    """A git operation failed."""


class SandboxError(FactoryError, kind=ErrorKind.SANDBOX):
    """The sandbox could not be set up (e.g. bubblewrap missing)."""


class ToolError(Exception):
    """A tool call failed; the message goes back to the model as a tool error."""


class StepFailed(FactoryError):
    """A step ran and said no (e.g. tests failed); ``outputs`` keeps the evidence: a dict, or
    an artifact (its type is recorded with it, so readers find it by type). The ground names
    no record: the engine asks whether the evidence is one."""

    def __init__(
        self,
        message: str,
        outputs: dict[str, object] | BaseModel,
        kind: ErrorKind = ErrorKind.REFUSED,
    ) -> None:
        self.outputs = outputs
        self.kind = kind
        super().__init__(message)


class BatchPending(StoppedError):
    """A model request was queued for a Message Batch; the step runs again when it is answered."""


class StateError(UsageError):
    """The state folder or its database cannot be used as it is (read-only, corrupt, from a
    newer harness): one line that says what to do; the file is left exactly as it was."""


# SQLite's INTEGER is 64-bit signed: every number a command or a form takes fits in it
MAX_INTEGER = 2**63 - 1


def check_one_line(option: str, text: str) -> None:
    """A one-line text (a title, a reason): no line breaks and no control characters, which a
    terminal would act on when the text is shown."""
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cc" and char != "\t":
            raise UsageError(
                f"{option}: control character U+{ord(char):04X} at position {index + 1}; "
                "give one line of plain text"
            )


_TERMINAL_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def terminal_safe(text: str) -> str:
    """Untrusted text as a terminal may print it: escape codes (ANSI colours, conceal, cursor
    moves, window titles, clipboard writes), other control characters and bidi controls are
    shown as escapes (``\\x1b``), never acted on. Newlines and tabs stay."""
    return _TERMINAL_UNSAFE.sub(lambda m: repr(m.group(0))[1:-1], text)
