"""Finding workflows (a repository override or the shipped one) and checking what they name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.caches import Caches, Memo
from harness.config.models import ROLES
from harness.engine.actions import action_names
from harness.engine.context import Services
from harness.engine.handoffs import (
    Loaded,
    artifact_problems,
    handoff_problems,
    shipped,
    shipped_workflow_names,
    step_problems,
)
from harness.engine.workflow import Workflow, parse_workflow
from harness.errors import ConfigError, ConfigErrors
from harness.git.repo import GitRepo
from harness.model.tools import known_tools
from harness.paths import FLOWS


def read_override(services: Services, name: str) -> str | None:
    """A template or workflow from the repository's ``.factory/`` on the production branch, at
    the very commit the governance files were read from."""
    return overrides_at(services.repo, services.settings.governance.commit, services.caches)(name)


MAX_OVERRIDE_BYTES = 1 << 20


def overrides_at(repo: GitRepo, commit: str, caches: Caches) -> Callable[[str], str | None]:
    """What ``read_override`` reads, for a Jinja loader that outlives one run's services. A
    commit never changes: its ``.factory/`` is read whole, once per process, however many
    runs, threads and files ask (``caches.overrides``; a few git processes, none per file)."""

    def everything() -> dict[str, bytes | None]:
        names = repo.list_tree(commit, ".factory/")
        found = repo.read_blobs(commit, names, MAX_OVERRIDE_BYTES) if names else {}
        return {name: found.get(name) for name in names}  # None: over the limit

    def read(name: str) -> str | None:
        path = f".factory/{name}" if name.startswith("validators/") else f"{FLOWS}/{name}"
        files = caches.overrides.get((str(repo.path), commit), everything)
        if path not in files:
            return None
        data = files[path]
        if data is None:
            raise ConfigError(path, "(file)", f"over {MAX_OVERRIDE_BYTES:,} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(path, "(file)", "not UTF-8 text") from exc

    return read


def _load(services: Services, name: str) -> Loaded:
    override = read_override(services, f"{name}.yaml")
    if override is None:  # shipped: its names are checked by the tests
        return Loaded(shipped(name), f"workflows/{name}.yaml")
    source = f"{FLOWS}/{name}.yaml"
    workflow = parse_workflow(override, source)
    check_names(workflow, source)
    return Loaded(workflow, source)


class _Workflows(Memo[Workflow]):
    """Workflows checked per repository, governance commit and name: a commit never changes,
    so each is parsed and checked once however many runs start (a workflow is frozen)."""


def load_workflow(services: Services, name: str) -> Workflow:
    """Workflow ``name``: ``.factory/workflows/<name>.yaml`` on the production branch, else
    the shipped one; refused if it breaks a hand-off (its own steps', or an artifact another
    workflow takes from it or it takes from another)."""
    key = (str(services.repo.path), services.settings.governance.commit, name)
    return services.caches.part(_Workflows).get(key, lambda: _checked(services, name))


def _checked(services: Services, name: str) -> Workflow:
    loaded = _load(services, name)
    problems = step_problems(loaded)
    others = {n: _load(services, n) for n in shipped_workflow_names() if n != name}
    for broken in artifact_problems({**others, name: loaded}):
        if name in (broken.consumer, broken.producer):
            problems.append(broken.error)
    if problems:
        raise ConfigErrors(problems)
    return loaded.workflow


def check_names(workflow: Workflow, source: str) -> None:
    """Unknown actions, roles or tools are configuration errors, found before anything runs."""
    said: list[tuple[str, str]] = []  # (where, what is wrong)
    actions = set(action_names())
    tools = set(known_tools())
    for i, step in enumerate(workflow.steps):
        if step.action is not None and step.action not in actions:
            said.append((f"steps[{i}].action", f"unknown action {step.action!r}"))
        if step.agent is not None and step.agent not in ROLES:
            said.append((f"steps[{i}].agent", f"unknown role {step.agent!r} ({', '.join(ROLES)})"))
        if step.workflow is not None and step.workflow not in shipped_workflow_names():
            said.append((f"steps[{i}].workflow", f"unknown workflow {step.workflow!r}"))
        named = [*step.tools, *([step.output] if step.output else [])]  # an agent step's
        said += [(f"steps[{i}].tools", f"unknown tool {t!r}") for t in named if t not in tools]
    if said:
        raise ConfigErrors([ConfigError(source, where, what) for where, what in said])


def override_problems(folder: Path) -> list[ConfigError]:
    """Every problem of the workflow overrides in ``folder`` (a working tree's
    ``.factory/workflows``), each against the shipped workflows it joins: bad YAML, unknown
    names, and hand-offs an override breaks (``factory check``)."""
    problems: list[ConfigError] = []
    workflows = {
        name: Loaded(shipped(name), f"workflows/{name}.yaml") for name in shipped_workflow_names()
    }
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        source = f"{FLOWS}/{path.name}"
        try:
            workflow = parse_workflow(path.read_text(encoding="utf-8"), source)
            check_names(workflow, source)
        except ConfigErrors as exc:
            problems.extend(exc.problems)
            continue
        except (OSError, UnicodeDecodeError):
            problems.append(ConfigError(source, "(file)", "unreadable or not UTF-8 text"))
            continue
        workflows[path.stem] = Loaded(workflow, source)
    return problems + handoff_problems(workflows)
