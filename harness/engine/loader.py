"""Finding workflows (a repository override or the shipped one) and checking what they name."""

from __future__ import annotations

from harness.engine.actions import action_names
from harness.engine.context import Services
from harness.engine.workflow import Workflow, builtin_workflow_text, parse_workflow
from harness.errors import ConfigError, ConfigErrors
from harness.model.tools import known_tools

OVERRIDE_DIR = ".factory/workflows"
ROLES = ("triage", "planner", "implementer", "reviewer", "validator")


def read_override(services: Services, name: str) -> str | None:
    """A template or workflow from the repository's ``.factory/`` on the production branch, at
    the very commit the governance files were read from. A commit never changes, so each
    file is read once per process however many runs and threads ask (``services.caches``)."""
    path = f".factory/{name}" if name.startswith("validators/") else f"{OVERRIDE_DIR}/{name}"
    commit = services.settings.governance.commit

    def read() -> str | None:
        data = services.repo.read_blob(commit, path)
        return data.decode("utf-8") if data is not None else None

    return services.caches.overrides.get((str(services.repo.path), commit, path), read)


def load_workflow(services: Services, name: str) -> Workflow:
    """Workflow ``name``: ``.factory/workflows/<name>.yaml`` on the production branch, else
    the shipped one."""
    override = read_override(services, f"{name}.yaml")
    source = f"{OVERRIDE_DIR}/{name}.yaml" if override is not None else f"workflows/{name}.yaml"
    workflow = parse_workflow(
        override if override is not None else builtin_workflow_text(name), source
    )
    check_names(workflow, source)
    return workflow


def check_names(workflow: Workflow, source: str) -> None:
    """Unknown actions, roles or tools are configuration errors, found before anything runs."""
    problems: list[ConfigError] = []
    actions, tools = set(action_names()), set(known_tools())
    for i, step in enumerate(workflow.steps):
        where = f"steps[{i}]"
        if step.action is not None and step.action not in actions:
            problems.append(
                ConfigError(source, f"{where}.action", f"unknown action {step.action!r}")
            )
        if step.agent is not None:
            if step.agent not in ROLES:
                problems.append(
                    ConfigError(
                        source,
                        f"{where}.agent",
                        f"unknown role {step.agent!r} ({', '.join(ROLES)})",
                    )
                )
            for tool in [*step.tools, *([step.output] if step.output else [])]:
                if tool not in tools:
                    problems.append(ConfigError(source, f"{where}.tools", f"unknown tool {tool!r}"))
    if problems:
        raise ConfigErrors(problems)
