"""The error hierarchy. The CLI turns each into one line on stderr and an exit code."""

from __future__ import annotations


class FactoryError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code = 1


class ConfigError(FactoryError):
    """Bad configuration or governance: ``file: key: what is wrong``."""

    exit_code = 2

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}")


class ConfigErrors(FactoryError):
    """Several configuration problems at once (``factory check`` prints them all)."""

    exit_code = 2

    def __init__(self, problems: list[ConfigError]) -> None:
        self.problems = problems
        first = str(problems[0]) if problems else "configuration is invalid"
        more = f" (and {len(problems) - 1} more; run 'factory check')" if len(problems) > 1 else ""
        super().__init__(first + more)


class UsageError(FactoryError):
    """The command line asked for something that cannot be done."""

    exit_code = 2


class NotFoundError(UsageError):
    """A named thing (issue, run, PR) does not exist."""


class StoppedError(FactoryError):
    """The kill switch is engaged: no new step starts."""


class DeferredError(FactoryError):
    """Work must wait (e.g. a long ``retry-after``); it is picked up again later."""

    def __init__(self, reason: str, not_before: float) -> None:
        self.reason, self.not_before = reason, not_before
        super().__init__(reason)


class ModelError(FactoryError):
    """The model provider failed in a way retries did not fix."""


class QuotaError(ModelError):
    """The account is out of credit or quota: fatal, never retried."""


class BudgetExceeded(FactoryError):
    """A call would take spend past a cap from the rules."""


class LeaseError(FactoryError):
    """An issue is claimed by another runner, or our lease was lost (fencing)."""


class ForgeError(FactoryError):
    """The forge refused or failed a request."""


class GitError(FactoryError):
    """A git operation failed."""


class SandboxError(FactoryError):
    """The sandbox could not be set up (e.g. bubblewrap missing)."""


class ToolError(Exception):
    """A tool call failed; the message goes back to the model as a tool error."""


class StepFailed(FactoryError):
    """A step ran and said no (e.g. tests failed); ``outputs`` keeps the evidence."""

    def __init__(self, message: str, outputs: dict[str, object]) -> None:
        self.outputs = outputs
        super().__init__(message)


class BatchPending(StoppedError):
    """A model request was queued for a Message Batch; the step runs again when it is answered."""


class StateError(UsageError):
    """The state folder or its database cannot be used as it is (read-only, corrupt, from a
    newer harness): one line that says what to do; the file is left exactly as it was."""
